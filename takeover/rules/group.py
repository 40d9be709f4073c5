"""One evaluation of a rule group, as Prometheus's `Group.Eval`: every rule in order at one
timestamp, each rule's alerts carried to its next evaluation, a query or evaluation error
changing nothing for that rule. The live service, `takeover test rules` and `takeover backtest`
all run this. Also the slot arithmetic: when each group is evaluated.

Pure except for the `QueryFunc` handed in (and the `map` that may run the queries concurrently).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from takeover.rules.evaluate import (
    Alert,
    EvaluationError,
    Expand,
    Labels,
    Sample,
    State,
    Transition,
    evaluate,
    expand_plain,
)
from takeover.rules.format import Group, Rule
from takeover.rules.query import Combined, QueryError, QueryFunc, combinable

Plan = Iterable[tuple[float, Group]]  # the evaluations to run, in order: (timestamp, group)
Previous = Mapping[int, Mapping[Labels, Alert]]  # each rule's alerts (by position) before the slot
T = TypeVar("T")
R = TypeVar("R")


class Mapper(Protocol):
    """`map`, or a pool's `map`: how a group's requests are run (the service runs them concurrently)."""

    def __call__(self, func: Callable[[T], R], items: Iterable[T], /) -> Iterable[R]: ...


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


# ---------------------------------------------------------------- when groups are evaluated

def group_offset(group: Group) -> float:
    """A stable offset within the interval, so groups spread out as Prometheus spreads them."""
    digest = hashlib.sha256(group.key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % int(group.interval * 1000) / 1000.0


def slot_at(now: float, *, interval: float, offset: float) -> float:
    """The latest slot `offset + k * interval` at or before `now` (a late run skips the missed ones)."""
    return math.floor((now - offset) / interval) * interval + offset


def evaluator(group_key: str, replicas: Sequence[str]) -> str:
    """Which of `replicas` evaluates the group (rendezvous hashing): every replica computes the
    same answer from the same list, and when a replica joins or leaves only the groups it takes
    or gives up move. "" when there is no replica."""
    return max(replicas, default="",
               key=lambda r: hashlib.sha256(f"{group_key}\x00{r}".encode()).digest())


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


# ---------------------------------------------------------------- one evaluation

Answer = list[Sample] | QueryError  # what the query of one rule gave


def query_group(group: Group, *, at: float, query: QueryFunc, mapper: Mapper = map,
                combine: bool = True) -> list[Answer]:
    """Query every rule of the group at `at`. The rules that can share a query are asked in
    combined requests (`Combined`, up to 50 rules each); the others, and every rule of a combined
    request that failed, are asked one by one, so a bad rule fails only itself. The requests go
    through `mapper` (the live service sends them at once). A failed query is its error, for
    that rule only."""
    rules = group.rules
    answers: dict[int, Answer] = {}
    parts = [(i, r.query) for i, r in enumerate(rules) if combine and combinable(r.query)]

    def ask_combined(combined: Combined) -> dict[int, list[Sample]]:
        try:
            return combined.split(query(combined.expr, at))
        except QueryError:
            return {}  # one bad rule fails the whole query: each of its rules is asked alone

    def ask(rule: Rule) -> Answer:
        try:
            return query(rule.query, at)
        except QueryError as exc:
            return exc

    if len(parts) > 1:
        for rows in mapper(ask_combined, Combined.batches(parts)):
            answers.update(rows)
    alone = [i for i in range(len(rules)) if i not in answers]
    answers.update(zip(alone, mapper(ask, [rules[i] for i in alone])))
    return [answers[i] for i in range(len(rules))]


def evaluate_answers(group: Group, *, at: float, previous: Previous, answers: Sequence[Answer],
                     expand: Expand = expand_plain) -> GroupSlot:
    """Evaluate the rules in order on their answers; a rule whose query or evaluation failed
    keeps its alerts."""
    results = []
    for index, (rule, answer) in enumerate(zip(group.rules, answers)):
        before = previous.get(index, {})
        if isinstance(answer, QueryError):
            results.append(RuleResult(index, rule, before, error=str(answer)))
            continue
        try:
            evaluation = evaluate(rule, answer, now=at, previous=before, expand=expand, limit=group.limit)
        except EvaluationError as exc:
            results.append(RuleResult(index, rule, before, error=str(exc)))
            continue
        results.append(RuleResult(index, rule, evaluation.alerts, tuple(evaluation.transitions)))
    return GroupSlot(group, at, tuple(results))


def evaluate_group(group: Group, *, at: float, previous: Previous, query: QueryFunc,
                   expand: Expand = expand_plain, mapper: Mapper = map) -> GroupSlot:
    """Query, then evaluate, every rule of the group at `at`."""
    answers = query_group(group, at=at, query=query, mapper=mapper)
    return evaluate_answers(group, at=at, previous=previous, answers=answers, expand=expand)


def run(plan: Plan, *, query: QueryFunc, expand: Expand = expand_plain) -> Iterator[GroupSlot]:
    """Evaluate each (timestamp, group) of `plan` in order, carrying every rule's alerts forward."""
    state: dict[str, dict[int, Mapping[Labels, Alert]]] = {}
    for at, group in plan:
        slot = evaluate_group(group, at=at, previous=state.get(group.key, {}), query=query, expand=expand)
        state[group.key] = {r.index: r.alerts for r in slot.rules}
        yield slot
