"""The API assembled in one place: `create_app` builds the FastAPI app over one running
`Service` (state, lifespan, error handlers, routers, the edge), and `asgi_app` puts the control
poll's fast path in front of it for uvicorn."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy.exc import SQLAlchemyError

from takeover.app.tokens import TOKENS_SIGNAL
from takeover.server.api import (
    agents,
    alertmanager,
    alerts,
    approvals,
    audit,
    notifications,
    policies,
    releases,
    rules,
    silences,
    tokens,
)
from takeover.server.api.deps import ApiState, token_check
from takeover.server.api.errors import ERRORS, HANDLERS
from takeover.server.api.fastpath import ASGIApp, ControlFastPath
from takeover.server.api.system import add_system_routes
from takeover.server.auth import TokenCache
from takeover.server.console import create_console
from takeover.server.edge import Edge
from takeover.server.interactions import SlackInteractions
from takeover.server.lastseen import FLUSH_SECONDS, LastSeen
from takeover.server.service import Service
from takeover.server.throttle import Throttle

log = logging.getLogger(__name__)
# one router per resource, in the order of the OpenAPI document
RESOURCES = (agents.router, releases.router, approvals.router, policies.router, audit.router, tokens.router, rules.router, silences.router,
             alerts.router, notifications.router, alertmanager.router)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ApiState = app.state.api
    state.service.hub.bind(asyncio.get_running_loop())
    # the startup heap is long-lived: keep it out of full collections (measured: they
    # took ~100 ms each, freed nothing, and made the poll's p99)
    gc.freeze()
    writing = asyncio.create_task(write_last_polls(state.last_seen))
    yield
    writing.cancel()
    await asyncio.get_running_loop().run_in_executor(None, state.last_seen.flush_on_stop)


async def write_last_polls(last_seen: LastSeen) -> None:
    """The polls this API marks, written to the database every few seconds until shutdown."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await loop.run_in_executor(None, last_seen.flush)
        except SQLAlchemyError as exc:  # kept, and written by the next flush
            log.warning("could not write the agents' last polls (%s); retrying in %.0fs", exc, FLUSH_SECONDS)


def create_app(service: Service) -> FastAPI:
    """The API over one running `Service`."""
    cache = TokenCache(service.sessions)
    service.hub.on_signal(TOKENS_SIGNAL, cache.forget)
    last_seen = LastSeen(service.hub, service.sessions, silent_after=service.settings.silent_after,
                         leading=lambda: service.leadership.leader)
    service.metrics.registry.register(last_seen.collector())
    secret = service.settings.slack_signing_secret
    slack = SlackInteractions(service, signing_secret=secret.get_secret_value()) if secret else None

    docs = service.settings.api_docs  # off by default: FastAPI's pages load their scripts from a CDN
    app = FastAPI(title="takeover", summary="Alerting and human takeover for AI agents",
                  lifespan=lifespan, docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None)
    app.state.api = ApiState(service=service, tokens=cache, slack=slack, last_seen=last_seen)
    for exc, handler in HANDLERS:
        app.exception_handler(exc)(handler)
    add_system_routes(app)
    v1 = APIRouter(prefix="/v1", responses=ERRORS)
    for router in RESOURCES:
        v1.include_router(router)
    app.include_router(v1)
    throttle = Throttle()  # bad tokens and failed sign-ins, per source address: one count for both doors
    app.mount("/ui", create_console(service, throttle=throttle))  # session cookie, not in the OpenAPI document
    app.add_middleware(Edge, check_token=token_check(cache, throttle, service.app),
                       max_body_bytes=service.settings.max_body_bytes)
    return app


def asgi_app(service: Service) -> ASGIApp:
    """What uvicorn serves: the control poll's fast path outside FastAPI's whole middleware
    stack (measured: it halves the CPU of a 304), FastAPI for everything else."""
    app = create_app(service)
    state: ApiState = app.state.api
    return ControlFastPath(app, hub=service.hub, tokens=state.tokens, metrics=service.metrics)
