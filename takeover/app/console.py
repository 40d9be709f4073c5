"""Signing in to the browser console and out again: a session opened by an operator's, admin's
or viewer's token (never an agent's), read on every page, and the one-line notice a form leaves
for the next page. The secret goes to the browser; the database keeps only its hash."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from takeover import store
from takeover.app import approvals
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.control.approval import check_args, effective_args
from takeover.control.principal import Principal, Role
from takeover.store import console as watch

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


def edited_args(app: App, who: Principal, *, approval_id: str, text: str) -> dict[str, Any] | None:
    """The edits an approver typed over the proposed arguments (the JSON object in the approve
    form), as the API's `args`: only the values that changed; None when nothing did. 422 for text
    that is not a JSON object."""
    with app.sessions() as s:
        proposed = approvals.approval_for(s, who, approval_id).args_proposed
    edits = changed_args(proposed, parse_args(text))
    return edits or None


def preview_args(app: App, who: Principal, *, approval_id: str, text: str) -> tuple[list[ArgChange], str | None]:
    """The diff the approve form shows while arguments are edited, and what is wrong with them
    (not JSON, or a key the agent did not propose: the API would refuse it)."""
    with app.sessions() as s:
        proposed = approvals.approval_for(s, who, approval_id).args_proposed
    try:
        edits = changed_args(proposed, parse_args(text))
    except Refusal as exc:
        return args_diff(proposed, None), str(exc.detail)
    return args_diff(proposed, edits), check_args(edits, proposed=proposed)


def parse_args(text: str) -> dict[str, Any]:
    """The approve form's arguments field: a JSON object (422 otherwise, saying where)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Refusal(422, f"arguments: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Refusal(422, "arguments: a JSON object, like the proposed one")
    return value


def changed_args(proposed: Mapping[str, Any], edited: Mapping[str, Any]) -> dict[str, Any]:
    """The keys whose value differs from the proposal (a removed key keeps its proposed value)."""
    return {k: v for k, v in edited.items() if k not in proposed or proposed[k] != v}


@dataclass(frozen=True)
class ArgChange:
    """One argument in the diff an approver sees: proposed value, the value approved, changed?"""

    name: str
    proposed: str
    approved: str
    changed: bool
    added: bool = False


def args_diff(proposed: Mapping[str, Any], edits: Mapping[str, Any] | None) -> list[ArgChange]:
    """Proposed against proposed-with-edits, key by key (values as compact JSON)."""
    effective = effective_args(proposed, edits)

    def shown(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    return [ArgChange(name, shown(proposed[name]) if name in proposed else "—", shown(effective[name]),
                      name not in proposed or proposed[name] != effective[name], name not in proposed)
            for name in [*proposed, *(k for k in effective if k not in proposed)]]


# what a page shows, by the audit action that changes it (an action's first word)
TOPICS = {"approval": ("approvals", "agents"), "mode": ("agents",), "agent": ("agents",), "release": ("agents",),
          "action": ("agents",), "alert": ("alerts",), "silence": ("alerts",), "rules": ("rules",)}


@dataclass(frozen=True)
class Mark:
    """Where the console's change watch stands: the last audit row seen, the alerts' digest."""

    audit_id: int
    alerts: tuple[tuple[Any, ...], ...]


def change_mark(app: App) -> Mark:
    with app.sessions() as s:
        return Mark(watch.last_audit_id(session=s), watch.alerts_mark(session=s))


def changes_since(app: App, mark: Mark) -> tuple[Mark, set[str]]:
    """What changed since `mark`, as the topics of the pages it shows on (every replica writes
    the same database, so this sees their changes too), and the new mark."""
    with app.sessions() as s:
        rows = watch.audit_actions_after(session=s, after_id=mark.audit_id)
        alerts = watch.alerts_mark(session=s)
    topics = {"audit"} if rows else set()
    for _, action in rows:
        topics.update(TOPICS.get(action.split(".", 1)[0], ()))
    if alerts != mark.alerts:
        topics.add("alerts")
    return Mark(rows[-1][0] if rows else mark.audit_id, alerts), topics
