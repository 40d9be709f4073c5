"""Signing in to the browser console and out again: a session opened by an operator's, admin's
or viewer's token (never an agent's), read on every page, and the one-line notice a form leaves
for the next page. The secret goes to the browser; the database keeps only its hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from takeover import store
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.control.principal import Principal, Role

SESSION_SECONDS = 12 * 3600.0  # a working day: sign in again after it


@dataclass(frozen=True)
class SignedIn:
    """Who a live session belongs to, and the notice left for this page (shown once)."""

    who: Principal
    expires_at: float
    notice: str | None = None
    notice_error: bool = False


def sign_in(app: App, *, token: str, ttl: float = SESSION_SECONDS) -> tuple[str, Principal]:
    """A new session for the holder of `token`: (the cookie's secret, who). 401 for a token
    that is unknown, revoked or expired; 403 for an agent's token."""
    now = app.clock()
    with app.sessions() as s:
        row = store.find_token(session=s, token=token)
        if row is None or not store.token_usable(row, now=now):
            raise Refusal(401, "invalid, expired or revoked token")
        who = Principal(row.name, Role(row.role))
        if who.role == Role.agent:
            raise Refusal(403, "an agent's token does not open the console: sign in with an operator, "
                               "admin or viewer token")
        secret = secrets.token_urlsafe(32)
        store.create_console_session(session=s, token=row, secret=secret, now=now, expires_at=now + ttl,
                                     actor=who.actor)
        s.commit()
    return secret, who


def signed_in(app: App, *, secret: str) -> SignedIn | None:
    """The live session for `secret`, taking its notice; None when it ended or never was."""
    now = app.clock()
    with app.sessions() as s:
        found = store.console_session(session=s, secret=secret, now=now)
        if found is None:
            return None
        row, token = found
        signed = SignedIn(Principal(token.name, Role(token.role)), row.expires_at, row.notice, row.notice_error)
        if row.notice is not None:
            row.notice, row.notice_error = None, False
            s.add(row)
            s.commit()
    return signed


def leave_notice(app: App, *, secret: str, text: str, error: bool = False) -> None:
    """What a form did (or why it was refused), for the page the browser goes to next."""
    with app.sessions() as s:
        found = store.console_session(session=s, secret=secret, now=app.clock())
        if found is not None:
            row = found[0]
            row.notice, row.notice_error = text[:2000], error
            s.add(row)
            s.commit()


def sign_out(app: App, *, secret: str, who: Principal) -> None:
    """End the session (audited)."""
    with app.sessions() as s:
        store.end_console_session(session=s, secret=secret, now=app.clock(), actor=who.actor)
        s.commit()
