"""The console assembled: a FastAPI app mounted at /ui (outside the OpenAPI document), its
templates and static files, and how it answers a missing session or a refused request."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from takeover.server.console.door import Refused, SignInNeeded, Visit, session_of, sign_in_url
from takeover.server.console.forms import router as forms
from takeover.server.console.live import Pulse
from takeover.server.console.pages import router as pages
from takeover.server.console.view import render, templates
from takeover.server.service import Service
from takeover.server.throttle import Throttle

HERE = Path(__file__).parent


async def sign_in_needed(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        return RedirectResponse(sign_in_url(request), status_code=303)
    return render(request, "refused.html", {"status": 401, "message": "your session has ended: sign in again",
                                            "visit": None}, status=401)


def signed_in_or_none(request: Request) -> Visit | None:
    """Who is signed in, for a refusal page's header (its notice stays for the next page)."""
    try:
        return session_of(request, take_notice=False)
    except SignInNeeded:
        return None


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    who = await run_in_threadpool(signed_in_or_none, request)
    return render(request, "refused.html", {"status": exc.status, "message": exc.message, "visit": who},
                  status=exc.status)


async def invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
    who = await run_in_threadpool(signed_in_or_none, request)
    return render(request, "refused.html", {"status": 422, "message": where[:500], "visit": who}, status=422)


def create_console(service: Service, *, throttle: Throttle | None = None) -> FastAPI:
    """The console over one running `Service`, to be mounted at /ui; `throttle` counts failed
    sign-ins per source address (shared with the API's bad tokens)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.throttle = throttle or Throttle()
    app.state.templates = templates()
    app.state.pulse = Pulse(service)
    if service.settings.public_url:  # Slack messages link to the console's pages (templates: console_url)
        service.app.messages.templates.globals["console_url"] = service.settings.public_url.rstrip("/")
    app.exception_handler(SignInNeeded)(sign_in_needed)
    app.exception_handler(Refused)(refused)
    app.exception_handler(RequestValidationError)(invalid)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(pages)
    app.include_router(forms)
    return app
