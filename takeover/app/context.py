"""The handle every operation takes: sessions, the clock, messages, limits, and the effects the
shell performs after a commit. The effects are handed in (as Prometheus hands `NotifyFunc` to
its rule manager), so this layer never imports the server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

from takeover.app.auditcheck import AuditCheck
from takeover.app.messages import Messages
from takeover.control.policy import Policy


def _nothing(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Limits:
    approval_expiry: float = 900.0  # seconds an approval waits by default
    approval_max_expiry: float = 86400.0  # the longest a request may ask for


@dataclass
class App:
    sessions: Callable[[], Session]
    clock: Callable[[], float]
    messages: Messages
    limits: Limits = field(default_factory=Limits)
    policies: tuple[Policy, ...] = ()  # TAKEOVER_POLICIES, in order; replaced whole on a reload
    # after a commit: control documents of these agents changed (wake long-polls, tell replicas)
    changed: Callable[[Sequence[str]], None] = _nothing
    # after a commit: wake who waits on this key (`approval:<id>`), here and on other replicas
    signal: Callable[[str], None] = _nothing
    # run a periodic job now: "dispatch" (alert state → messages) or "deliver" (the outbox)
    wake: Callable[[str], None] = _nothing
    # an approval was decided this many seconds after it was requested
    decided_after: Callable[[float], None] = _nothing
    audit: AuditCheck = field(default_factory=AuditCheck)  # the chain verified so far
    # a shadow policy's would-be verdict on an action (policy name, would-allow|would-ask|would-deny)
    shadow_decided: Callable[[str, str], None] = _nothing
