"""Who is at the console: the session cookie (HttpOnly, SameSite=Lax so a link from Slack lands
signed in, Secure over HTTPS), the CSRF token every form carries (what refuses a cross-site
form: Lax sends the cookie on a top-level GET from another site, never on its POST), and form
bodies. Pages take `VisitDep`; forms take
`ActorDep`, which also checks the CSRF token and that the person may act (not a viewer)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Path, Request
from starlette.responses import Response

from takeover.app import console, notifications
from takeover.control.principal import Principal
from takeover.control.validation import AGENT_RULE, APPROVAL_ID_PATTERN, MAX_ID, AgentName
from takeover.server.service import Service

COOKIE = "takeover_session"
SIGN_IN_COOKIE = "takeover_sign_in"  # the sign-in form's CSRF token (double submit: no session yet)
MAX_FIELDS = 20


class SignInNeeded(Exception):
    """No live session: a page sends the browser to sign in, a form is refused (401)."""


class Refused(Exception):
    """A request the console answers with a page saying why (403 CSRF or role, 400/415 a bad body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Visit:
    """A signed-in request: who, the session's secret (from the cookie) and its CSRF token."""

    who: Principal
    secret: str
    expires_at: float
    notice: str | None
    notice_error: bool
    undelivered: notifications.Undelivered | None = None  # every page's banner (not the live stream's)

    @cached_property
    def csrf(self) -> str:
        return csrf_token(self.secret)

    @property
    def may_act(self) -> bool:
        return self.who.is_operator()


def csrf_token(secret: str) -> str:
    """Derived from the session's secret, so it needs no storage and cannot be read from the database."""
    return hashlib.sha256(f"csrf:{secret}".encode()).hexdigest()


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/ui", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/ui", httponly=True, samesite="lax", secure=request.url.scheme == "https")


def visit(request: Request) -> Visit:
    """The live session named by the cookie; SignInNeeded without one. A whole page takes the
    notice a form left; a fragment htmx fetches (not a boosted page) leaves it for that page."""
    whole = request.headers.get("hx-request") != "true" or request.headers.get("hx-boosted") == "true"
    stream = request.url.path.rstrip("/") == "/ui/live"
    found = session_of(request, take_notice=whole and not stream)
    if stream:
        return found
    return replace(found, undelivered=notifications.undelivered(service_of(request).app))


def session_of(request: Request, *, take_notice: bool) -> Visit:
    secret = request.cookies.get(COOKIE, "")
    signed = console.signed_in(service_of(request).app, secret=secret, take_notice=take_notice) if secret else None
    if signed is None:
        raise SignInNeeded()
    return Visit(signed.who, secret, signed.expires_at, signed.notice, signed.notice_error)


async def form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (the console's forms send nothing else)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "the console's forms send application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "the form's body is not valid UTF-8 form data") from None
    return dict(pairs)


VisitDep = Annotated[Visit, Depends(visit)]
# path parameters as the API's (server.api.deps), defined here so the console does not import the API
AgentPath = Annotated[AgentName, Path(description=AGENT_RULE)]
ApprovalId = Annotated[str, Path(pattern=APPROVAL_ID_PATTERN, max_length=64)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
FormDep = Annotated[dict[str, str], Depends(form)]


def actor(who: VisitDep, fields: FormDep) -> Visit:
    """A form's sender: a live session, the right CSRF token, and a person who may act."""
    if not hmac.compare_digest(fields.get("csrf", ""), who.csrf):
        raise Refused(403, "the form's CSRF token is missing or wrong: reload the page and try again")
    if not who.may_act:
        raise Refused(403, f"{who.who.actor} reads the console and may not act: sign in with an operator's token")
    return who


ActorDep = Annotated[Visit, Depends(actor)]


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(target, safe='/')}"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console page only (never another site)."""
    if (value and (value == "/ui" or value.startswith(("/ui/", "/ui?"))) and "//" not in value
            and "\\" not in value and value.isprintable()):
        return value
    return "/ui/"
