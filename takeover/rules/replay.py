"""Replay rule groups over evaluation slots, as the live evaluator runs them, and record it.

The shared core of `takeover test rules` and `takeover backtest`: each group is evaluated at its
slots, all its rules in order at one timestamp, each rule's alerts carried to its next
evaluation; a query or evaluation error changes nothing for that rule. Pure except for the
`QueryFunc` handed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from takeover.rules.evaluate import (
    Alert,
    EvaluationError,
    Expand,
    Labels,
    State,
    Transition,
    evaluate,
    expand_plain,
)
from takeover.rules.format import Group, Rule
from takeover.rules.query import QueryError, QueryFunc

# the evaluations to run, in order: (timestamp, group)
Plan = Iterable[tuple[float, Group]]


@dataclass(frozen=True)
class RuleResult:
    """What one rule did at one slot: its alerts afterwards and the transitions, or the error."""

    index: int  # the rule's position in its group (two rules may share a name)
    rule: Rule
    alerts: Mapping[Labels, Alert]
    transitions: tuple[Transition, ...] = ()
    error: str = ""  # query or evaluation error: the alerts are carried over unchanged

    def firing(self) -> list[Alert]:
        """The alerts in state firing (pending and resolved ones left out)."""
        return [a for a in self.alerts.values() if a.state == State.firing]


@dataclass(frozen=True)
class GroupSlot:
    """One evaluation of a group: every rule, in order, at `at`."""

    group: Group
    at: float
    rules: tuple[RuleResult, ...]

    @property
    def errors(self) -> list[RuleResult]:
        return [r for r in self.rules if r.error]


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


def slots(*, start: float, end: float, interval: float, offset: float = 0.0) -> list[float]:
    """Every slot `offset + k * interval` with start <= slot <= end."""
    first = math.ceil((start - offset) / interval)
    last = math.floor((end - offset) / interval)
    return [offset + k * interval for k in range(first, last + 1)]


def schedule(groups: Sequence[Group], *, start: float, end: float,
             offset: Callable[[Group], float] = lambda g: 0.0,
             interval: float | None = None) -> list[tuple[float, Group]]:
    """All group evaluations between start and end in time order; groups in the given order at
    one timestamp. `interval` overrides every group's own (as promtool's evaluation_interval)."""
    steps = [(t, i, g) for i, g in enumerate(groups)
             for t in slots(start=start, end=end, interval=interval or g.interval, offset=offset(g))]
    return [(t, g) for t, _, g in sorted(steps, key=lambda s: (s[0], s[1]))]


def run(plan: Plan, *, query: QueryFunc,
        expand: Expand = expand_plain) -> Iterator[GroupSlot]:
    """Evaluate each (timestamp, group) of `plan` in order, carrying every rule's alerts forward."""
    state: dict[tuple[str, int], Mapping[Labels, Alert]] = {}
    for at, group in plan:
        results = []
        for index, rule in enumerate(group.rules):
            key = (group.key, index)
            result = evaluate_rule(rule, index=index, at=at, previous=state.get(key, {}),
                                   query=query, expand=expand, limit=group.limit)
            state[key] = result.alerts
            results.append(result)
        yield GroupSlot(group, at, tuple(results))


def evaluate_rule(rule: Rule, *, index: int, at: float, previous: Mapping[Labels, Alert],
                  query: QueryFunc, expand: Expand, limit: int) -> RuleResult:
    """Query and evaluate one rule at `at`; on any error its alerts stay as they were."""
    try:
        evaluation = evaluate(rule, query(rule.expr, at), now=at, previous=previous,
                              expand=expand, limit=limit)
    except (QueryError, EvaluationError) as exc:
        return RuleResult(index, rule, previous, error=str(exc))
    return RuleResult(index, rule, evaluation.alerts, tuple(evaluation.transitions))


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
