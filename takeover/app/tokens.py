"""Bearer tokens: created (shown once, stored hashed) and revoked, each with an audit row."""

from __future__ import annotations

from typing import Any

from takeover import store
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.control.principal import new_token, person_of

TOKENS_SIGNAL = "tokens"  # a token was revoked: every replica drops its cached lookups


def create(app: App, *, actor: str, name: str, role: str, agents: list[str],
           expires_in: float | None, person: str | None = None) -> dict[str, Any]:
    """A new token; the answer is the only place its secret appears. `person`: who holds it
    (default: the name without a role prefix): two tokens of one person are one vote."""
    if role == "agent" and not agents:
        raise Refusal(422, "an agent token needs agents: the agent names it may act for")
    if role != "agent" and agents:
        raise Refusal(422, f"only agent tokens are bound to agents; a {role} token takes none")
    now = app.clock()
    token = new_token()
    with app.sessions() as s:
        row = store.create_token(session=s, name=name, role=role, agents=agents, token=token, now=now,
                                 actor=actor, expires_at=now + expires_in if expires_in is not None else None,
                                 person=person_of(name, person))
        s.commit()
        return {**store.token_public(row), "token": token}


def revoke(app: App, *, actor: str, token_id: int) -> dict[str, Any]:
    with app.sessions() as s:
        row = store.revoke_token(session=s, token_id=token_id, actor=actor, now=app.clock())
        if row is None:
            raise Refusal(404, f"no token {token_id}")
        s.commit()
    app.signal(TOKENS_SIGNAL)  # this replica and the others drop their cached lookups
    return store.token_public(row)


def throttled(app: App, *, address: str, what: str, wait: int, reason: str = "") -> None:
    """Audit that `address` has to wait `wait` seconds after too many failed attempts at `what`."""
    with app.sessions() as s:
        store.record_audit(session=s, now=app.clock(), actor=f"address:{address}", action="auth.throttled",
                           subject=f"address:{address}", after={"what": what, "retry_after": wait},
                           reason=reason or f"too many failed {what}s: back off")
        s.commit()


def refused_sign_in(app: App, *, address: str, why: str, wait: int | None) -> None:
    """Audit a failed console sign-in (and the wait it started, if any)."""
    with app.sessions() as s:
        now = app.clock()
        store.record_audit(session=s, now=now, actor=f"address:{address}", action="auth.sign_in_refused",
                           subject=f"address:{address}", reason=why)
        if wait is not None:
            store.record_audit(session=s, now=now, actor=f"address:{address}", action="auth.throttled",
                               subject=f"address:{address}", after={"what": "console sign-in", "retry_after": wait},
                               reason="too many failed sign-ins: back off")
        s.commit()
