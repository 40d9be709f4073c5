"""What routes ask for, as `Annotated` aliases: the caller (`PrincipalDep`, `OperatorDep`,
`AdminDep`, `AlertmanagerDep`), the service and a database session, and the checked path and query parameters.

They read the `ApiState` that `create_app` puts on `app.state.api`, so the routers are plain
module-level `APIRouter`s and one process may run several apps (the tests do).
"""

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer
from sqlmodel import Session

from takeover import store
from takeover.app import tokens as token_ops
from takeover.app.context import App
from takeover.control.principal import Principal, Role
from takeover.control.validation import AGENT_RULE, APPROVAL_ID_PATTERN, MAX_ID, AgentName, AgentScope
from takeover.server.auth import BAD_TOKEN, MISSING_TOKEN, TokenCache, bearer_token
from takeover.server.edge import CheckToken, Refused
from takeover.server.interactions import SlackInteractions
from takeover.server.lastseen import LastSeen
from takeover.server.service import Service
from takeover.server.throttle import Throttle


@dataclass(frozen=True)
class ApiState:
    """What the routes of one app serve: the service, its token cache, Slack's verifier and
    the agents' last polls."""

    service: Service
    tokens: TokenCache
    slack: SlackInteractions | None  # None: TAKEOVER_SLACK_SIGNING_SECRET is unset
    last_seen: LastSeen


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


async def get_service(request: Request) -> Service:
    return api_state(request).service


async def get_tokens(request: Request) -> TokenCache:
    return api_state(request).tokens


async def get_last_seen(request: Request) -> LastSeen:
    return api_state(request).last_seen


bearer = HTTPBearer(auto_error=False, description="a takeover token (`takeover token create`)")


def principal(request: Request, _: Annotated[Any, Security(bearer)]) -> Principal:
    """The caller named by the bearer token; 401 without a valid one."""
    token = bearer_token(request.headers.get("authorization"))
    found = api_state(request).tokens.principal(token) if token else None
    if found is None:
        raise HTTPException(401, BAD_TOKEN if token else MISSING_TOKEN, headers={"WWW-Authenticate": "Bearer"})
    return found


def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_operator():
        raise HTTPException(403, f"{who.actor} is not an operator")
    return who


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role != Role.admin:
        raise HTTPException(403, f"{who.actor} is not an admin")
    return who


def alertmanager(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """An Alertmanager's webhook token: its own role, so the credential in alertmanager.yml can
    post notifications and do nothing else (and no person's token posts alerts)."""
    if who.role != Role.alertmanager:
        raise HTTPException(403, f"{who.actor} is not an alertmanager token: create one with "
                                 "`takeover token create --role alertmanager --name NAME`")
    return who


def session(request: Request) -> Iterator[Session]:
    """A session for reading; the operations of `takeover.app` open and commit their own."""
    with api_state(request).service.sessions() as s:
        yield s


PrincipalDep = Annotated[Principal, Depends(principal)]
OperatorDep = Annotated[Principal, Depends(operator)]
AdminDep = Annotated[Principal, Depends(admin)]
AlertmanagerDep = Annotated[Principal, Depends(alertmanager)]
ServiceDep = Annotated[Service, Depends(get_service)]
TokensDep = Annotated[TokenCache, Depends(get_tokens)]
LastSeenDep = Annotated[LastSeen, Depends(get_last_seen)]
SessionDep = Annotated[Session, Depends(session)]
AgentPath = Annotated[AgentName, Path(description=AGENT_RULE)]
ScopePath = Annotated[AgentScope, Path(description=f"{AGENT_RULE}; * for every agent")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
ApprovalId = Annotated[str, Path(pattern=APPROVAL_ID_PATTERN, max_length=64)]
Seconds = Annotated[float | None, Query(allow_inf_nan=False, ge=0, le=1e12)]


def may_act_for(who: Principal, agent: str) -> None:
    """Agent routes are for agent tokens bound to the agent: operators set modes and answer
    approvals, they do not ask on an agent's behalf (README: Control modes and the API)."""
    if who.role != Role.agent:
        raise HTTPException(403, f"{who.actor} is not an agent: only agent tokens ask for decisions and approvals")
    if not who.may_read(agent):
        raise HTTPException(403, f"{who.actor} may not act for agent {agent!r}")


def token_check(tokens: TokenCache, throttle: Throttle, app: App) -> CheckToken:
    """The edge's check, before the body is read: why the token is refused, or None. An address
    that sent too many bad tokens waits (429, `Retry-After`; audited when the wait starts); a
    token already known to be good still passes, so an agent's polls go on."""
    challenge = {"WWW-Authenticate": "Bearer"}

    async def check_token(authorization: str | None, address: str) -> Refused | None:
        token = bearer_token(authorization)
        if token is None:
            return Refused(401, MISSING_TOKEN, challenge)
        if tokens.cached(token):
            return None
        wait = throttle.retry_after(address)
        if wait is not None:
            return Refused(429, f"too many invalid tokens from {address}: retry after {wait}s",
                           {"Retry-After": str(wait)})
        if await run_in_threadpool(tokens.principal, token):
            return None
        started = throttle.failed(address, store.hash_token(token))
        if started is not None:
            await run_in_threadpool(functools.partial(token_ops.throttled, app, address=address, what="bearer token",
                                                      wait=started))
        return Refused(401, BAD_TOKEN, challenge)

    return check_token
