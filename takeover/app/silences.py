"""Silences: mute notifications of matching alerts for a while (not their takeover, unless
asked); created and expired with an audit row."""

from __future__ import annotations

from typing import Any

from takeover import store
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.control.silence import parse_matcher


def silence(app: App, *, matchers: list[str], duration: float, comment: str, actor: str,
            suppress_takeover: bool = False, starts_at: float | None = None) -> dict[str, Any]:
    """Mute notifications of matching alerts for `duration` seconds."""
    try:
        for m in matchers:
            parse_matcher(m)
    except ValueError as exc:
        raise Refusal(422, str(exc)) from None
    if not matchers:
        raise Refusal(422, "a silence needs at least one matcher, e.g. alertname=AgentErrorRateHigh")
    if duration <= 0:
        raise Refusal(422, "a silence must last more than 0s")
    now = app.clock()
    start = starts_at if starts_at is not None else now
    with app.sessions() as s:
        row = store.create_silence(session=s, matchers=matchers, starts_at=start, ends_at=start + duration,
                                   created_by=actor, comment=comment, suppress_takeover=suppress_takeover,
                                   now=now)
        s.commit()
    app.wake("dispatch")
    return row.model_dump()


def expire(app: App, *, silence_id: int, actor: str) -> dict[str, Any]:
    with app.sessions() as s:
        row = store.expire_silence(session=s, silence_id=silence_id, actor=actor, now=app.clock())
        if row is None:
            raise Refusal(404, f"no silence {silence_id}")
        s.commit()
    app.wake("dispatch")
    return row.model_dump()
