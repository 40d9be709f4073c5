"""How the API refuses: the `Problem` answer every 4xx has, the `ERRORS` documented on every
`/v1` route, and the handlers that turn exceptions into those answers."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from takeover.app.errors import Refusal
from takeover.server.hub import Stale


class Issue(BaseModel):
    loc: list[str | int] = Field(description="where: body, query or path, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx answer: a message, the list of invalid fields (422), or an object with a message."""

    detail: str | list[Issue] | dict[str, Any]


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in {
        400: "the body is not UTF-8 JSON", 401: "no valid bearer token", 403: "the token's role or agents do not allow this",
        404: "no such resource", 409: "already decided, or an idempotency key reused",
        413: "request body larger than TAKEOVER_MAX_BODY_BYTES", 422: "invalid input",
        429: "too many invalid tokens from this address: retry after Retry-After seconds",
    }.items()
}


def safe_text(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters and made encodable (a lone surrogate becomes `\\ud800`)."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


async def stale(request: Request, exc: Stale) -> Response:
    """503: this replica cannot vouch for its documents (`Stale`)."""
    return JSONResponse({"detail": f"{exc}; ask another replica"}, status_code=503, headers={"Retry-After": "1"})


async def refused(request: Request, exc: Refusal) -> Response:
    """An operation's `Refusal`, with its status and detail."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


# routes whose callers should hear more than where and why: Alertmanager never retries a 4xx
HINTS = {"alertmanager_webhook": "not an Alertmanager webhook payload (version 4); Alertmanager does not retry "
                                 "a 4xx: fix the payload or the receiver's configuration"}


async def invalid(request: Request, exc: RequestValidationError) -> Response:
    """422 with where and why, never the input (it may be huge, NaN or not valid Unicode)."""
    issues = [{"loc": [safe_text(p) if isinstance(p, str) else p for p in e.get("loc", ())],
               "msg": safe_text(str(e.get("msg", ""))), "type": str(e.get("type", ""))}
              for e in exc.errors()]
    hint = HINTS.get(getattr(request.scope.get("route"), "name", ""))
    if hint:
        issues.insert(0, {"loc": ["body"], "msg": hint, "type": "payload"})
    return JSONResponse({"detail": issues}, status_code=422)


HANDLERS: list[tuple[type[Exception], Callable[..., Awaitable[Response]]]] = [
    (Stale, stale), (Refusal, refused), (RequestValidationError, invalid)]
