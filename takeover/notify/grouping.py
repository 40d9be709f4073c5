"""When a group of alerts is (re)notified and escalated: Alertmanager's rules, pure.

A group flushes `group_wait` after it first fires, then at most every `group_interval` when
something changed (new firing alerts, new resolved ones, everything resolved), and again every
`repeat_interval` while it fires. Escalation re-notifies unacknowledged `page` groups.

A group holding an alert that takes over an agent is urgent: takeover has already acted, so the
news goes out at once — no `group_wait`, and each change (including a hold released by a
human) at once rather than after `group_interval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from takeover.notify.routing import Escalation, Routing


@dataclass(frozen=True)
class GroupState:
    first_seen: float  # when the group first had a firing alert
    last_flush: float | None = None
    sent_firing: frozenset[str] = frozenset()  # alert fingerprints in the last message
    sent_resolved: frozenset[str] = frozenset()
    acked_by: str | None = None
    escalated: int = 0  # escalation steps already taken
    sent_held: frozenset[str] = frozenset()  # holds (alert refs) the last message showed as held


def needs_flush(state: GroupState, *, firing: frozenset[str], resolved: frozenset[str],
                now: float, routing: Routing, urgent: bool = False,
                held: frozenset[str] = frozenset()) -> bool:
    """Should the group's message be sent (or updated) now?"""
    if state.last_flush is None:
        return bool(firing) and (urgent or now - state.first_seen >= routing.group_wait)
    if urgent and held != state.sent_held:
        return True  # a hold began or was released
    if now - state.last_flush < routing.group_interval and not urgent:
        return False
    if not firing <= state.sent_firing:
        return True  # new firing alerts
    if not firing and state.sent_firing:
        return True  # everything resolved
    if not resolved <= state.sent_resolved:
        return True  # newly resolved alerts
    return bool(firing) and now - state.last_flush >= routing.repeat_interval


def escalation_due(state: GroupState, *, steps: Sequence[Escalation], firing: bool,
                   page: bool, now: float) -> Escalation | None:
    """The next escalation step if its delay passed without an acknowledgement."""
    if not (page and firing) or state.acked_by or state.last_flush is None or state.escalated >= len(steps):
        return None
    step = steps[state.escalated]
    return step if now - state.first_seen >= step.after else None
