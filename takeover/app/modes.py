"""Taking over and handing back: what a person does to an agent's mode, from the API, Slack or
the CLI. Each operation is one transaction with its audit rows and its messages."""

from __future__ import annotations

from sqlmodel import Session

from takeover import store
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.sources import ModeChange, Source, SourceKind


def commit_changes(app: App, session: Session, changes: list[ModeChange | None], *, now: float,
                   announce: bool = True) -> None:
    """Queue the changes' messages (unless an alert's own message announces them), commit,
    then tell the shell whose documents changed."""
    done = [c for c in changes if c is not None]
    if announce:
        app.messages.mode_changes(session, done, now=now)
    session.commit()
    app.changed(sorted({a for c in done for a in c.agents}))
    if any(c.mode_changed for c in done):
        app.wake("deliver")


def take_over(app: App, *, agent: str, mode: Mode, reason: str, actor: str,
              expires_at: float | None = None) -> None:
    """Replace every hold on the agent with this person's mode (`normal` hands control back)."""
    now = app.clock()
    with app.sessions() as s:
        if agent != ALL_AGENTS:
            store.ensure_agent(session=s, name=agent, now=now)
        changes = [store.release_sources(session=s, agent=agent, actor=actor, reason=reason, now=now)]
        if mode != Mode.normal:
            changes.append(store.add_source(session=s, now=now, source=Source(
                agent=agent, mode=mode, kind=SourceKind.override, ref=actor, reason=reason,
                actor=actor, since=now, expires_at=expires_at)))
        commit_changes(app, s, changes, now=now)


def add_override(app: App, *, agent: str, mode: Mode, reason: str, actor: str,
                 expires_at: float | None = None) -> None:
    """Hold the agent in `mode` beside its other sources (the strictest wins)."""
    if mode == Mode.normal:
        raise Refusal(422, "an override holds a mode stricter than normal; to hand back, release sources instead")
    now = app.clock()
    with app.sessions() as s:
        change = store.add_source(session=s, now=now, source=Source(
            agent=agent, mode=mode, kind=SourceKind.override, ref=actor, reason=reason, actor=actor,
            since=now, expires_at=expires_at))
        commit_changes(app, s, [change], now=now)


def release(app: App, *, agent: str, reason: str, actor: str, source_id: int | None = None) -> None:
    """Release one source by id, or every source held on the agent (`*`: the global ones)."""
    now = app.clock()
    with app.sessions() as s:
        change = store.release_sources(session=s, agent=agent, source_id=source_id, actor=actor,
                                       reason=reason, now=now)
        if source_id is not None and change is None:
            raise Refusal(404, f"no active source {source_id} on {agent!r}")
        commit_changes(app, s, [change], now=now)
