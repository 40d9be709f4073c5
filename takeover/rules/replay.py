"""Replay rule groups over a plan of slots and record the alert episodes: the history analysis
behind `takeover test rules` and `takeover backtest` (the evaluation itself is `rules.group`'s,
the same the live service runs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from takeover.rules.evaluate import Expand, Labels, State, expand_plain
from takeover.rules.format import Rule
from takeover.rules.group import GroupSlot, Plan, run
from takeover.rules.query import QueryFunc


@dataclass(frozen=True)
class Episode:
    """One alert from pending (or firing at once) until it resolved or was dropped."""

    group: str  # Group.key
    rule: Rule
    labels: Labels
    pending_at: float
    fired_at: float | None = None  # None: it never fired (it was dropped while pending)
    resolved_at: float | None = None  # resolved, or dropped while pending; None: still active

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def paged(self) -> bool:
        """An episode pages its owner when it reaches firing."""
        return self.fired_at is not None

    def end(self, *, until: float) -> float:
        """When the episode ended, or `until` when it was still active then."""
        return self.resolved_at if self.resolved_at is not None else until


@dataclass(frozen=True)
class Replay:
    slots: tuple[GroupSlot, ...]
    episodes: tuple[Episode, ...]


def episodes(history: Iterable[GroupSlot]) -> list[Episode]:
    """The alert episodes of a replay, in the order they began."""
    open_: dict[tuple[str, int, Labels], Episode] = {}
    done: list[Episode] = []
    for slot in history:
        for result in slot.rules:
            for t in result.transitions:
                key = (slot.group.key, result.index, t.alert.labels)
                started = t.before in (None, State.inactive) and t.after in (State.pending, State.firing)
                if started:
                    open_[key] = Episode(slot.group.key, result.rule, t.alert.labels,
                                         pending_at=t.alert.active_at, fired_at=t.alert.fired_at)
                elif t.before == State.pending and t.after == State.firing and key in open_:
                    open_[key] = replace(open_[key], fired_at=t.alert.fired_at)
                elif t.before in (State.pending, State.firing) and key in open_:
                    # a dropped pending alert has no resolved_at: it ended at this slot
                    resolved = t.alert.resolved_at
                    done.append(replace(open_.pop(key), resolved_at=slot.at if resolved is None else resolved))
    return sorted([*done, *open_.values()], key=lambda e: (e.pending_at, e.group, e.labels))


def replay(plan: Plan, *, query: QueryFunc,
           expand: Expand = expand_plain) -> Replay:
    """Run the whole plan and return every slot and every episode."""
    history = tuple(run(plan, query=query, expand=expand))
    return Replay(history, tuple(episodes(history)))
