"""Recording rules, evaluated as promtool evaluates them: at every step (every
evaluation_interval from 0), every group in order and every rule of a group in file order, a
rule's result written as series named `record` with the rule's labels set, seen by the rules
after it at the same step, and a staleness marker written where a series ends.

One range query gives a rule's results at every step. A rule reading what another records needs
that written first, so recording rules run in layers (`layers`). What a range query cannot
reproduce is found and refused (`unordered_read`): a rule reading what is recorded after it in
the order, or by itself, to which Prometheus gives the value of the step before.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from takeover.config.regex import RegexError, compile_anchored
from takeover.rules.evaluate import Labels
from takeover.rules.format import Group, RecordingRule, Rule
from takeover.rules.query import QueryError, QueryFunc
from takeover.tools.ruletest.gotext import go_duration
from takeover.tools.ruletest.queries import Matrix, RangeFunc, not_a_vector


@dataclass(frozen=True)
class Placed:
    """A rule at its place in the evaluation: the group's place in the order, then the line."""

    rule: Rule | RecordingRule
    group: int
    limit: int = 0  # the group's limit

    @property
    def place(self) -> tuple[int, int]:
        return (self.group, self.rule.line)


@dataclass(frozen=True)
class Failure:
    """A rule failing to evaluate: promtool stops the test at the first step where one does."""

    step: int
    place: tuple[int, int]
    text: str  # promtool's `    rule: NAME, time: T, err: ERROR`


@dataclass(frozen=True)
class Recorded:
    """What one recording rule wrote at steps 0..last: its series (each labelset: step -> value),
    up to its failure, if any."""

    placed: Placed
    last: int
    series: Matrix = field(default_factory=dict)
    failure: Failure | None = None

    def ends(self) -> list[tuple[int, Labels]]:
        """(step, labels) of each series written at the step before and not at this one (where
        Prometheus marks it stale); a failed step writes nothing and marks nothing stale."""
        end = self.last if self.failure is None else self.failure.step - 1
        return sorted((k + 1, labels) for labels, points in self.series.items() for k in points
                      if k + 1 not in points and k + 1 <= end)


def evaluation_order(groups: Sequence[Group]) -> list[Placed]:
    """Every rule, alerting and recording, in the order promtool evaluates them at each step."""
    order: list[Placed] = []
    for i, group in enumerate(groups):
        rules: list[Rule | RecordingRule] = [*group.rules, *group.records]
        order += [Placed(rule, i, group.limit) for rule in sorted(rules, key=lambda r: r.line)]
    return order


def reads(expr: str, name: str) -> bool:
    """Whether a selector in `expr` can match series named `name` (one without a name can)."""
    return any(all(match(name) for match in selector) for selector in _selectors(expr))


@functools.lru_cache(maxsize=1024)
def _selectors(expr: str) -> list[list[Callable[[str], bool]]]:
    """Each vector selector in `expr` as the tests its name matchers make of a metric name."""
    import promql_parser

    selectors: list[list[Callable[[str], bool]]] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            tests: list[Callable[[str], bool]] = [node.name.__eq__] if node.name else []
            tests += [_name_test(m) for m in node.matchers.matchers if m.name == "__name__"]
            selectors.append(tests)

    try:
        promql_parser.walk(promql_parser.parse(expr), visit)
    except ValueError:  # Prometheus will say why; it reads nothing
        return []
    return selectors


def _name_test(matcher: object) -> Callable[[str], bool]:
    import promql_parser

    op, value = getattr(matcher, "op"), str(getattr(matcher, "value"))
    if op == promql_parser.MatchOp.Equal:
        return value.__eq__
    if op == promql_parser.MatchOp.NotEqual:
        return value.__ne__
    try:
        pattern = compile_anchored(value)
    except RegexError:  # Prometheus will say why; assume it may match
        return lambda name: True
    if op == promql_parser.MatchOp.Re:
        return pattern.search
    return lambda name: not pattern.search(name)


def unordered_read(order: Sequence[Placed]) -> str | None:
    """The first rule reading what a recording rule at or after its place records, said as a
    reason not to run the test; None when every rule reads only what is recorded before it."""
    for i, reader in enumerate(order):
        for later in order[i:]:
            if isinstance(later.rule, RecordingRule) and reads(reader.rule.expr, later.rule.name):
                where = "itself" if later is reader else "a rule evaluated after it"
                return (f"rule {reader.rule.name} reads {later.rule.name}, recorded by {where}: Prometheus "
                        "gives it the value of the step before, which a range query over recorded series "
                        "cannot")
    return None


def layers(order: Sequence[Placed]) -> list[list[Placed]]:
    """The recording rules in layers: each reads only what earlier layers record."""
    level: dict[int, int] = {}
    for i, placed in enumerate(order):
        if isinstance(placed.rule, RecordingRule):
            level[i] = 1 + max((level[j] for j in level if reads(placed.rule.expr, order[j].rule.name)),
                               default=-1)
    return [[order[i] for i in sorted(level) if level[i] == n] for n in range(max(level.values(), default=-1) + 1)]


def record(placed: Placed, *, last: int, interval: float, query: RangeFunc, instant: QueryFunc) -> Recorded:
    """Evaluate one recording rule at steps 0..last with one range query; when it fails, find
    the first failing step by halving (a range fails when any of its steps does) and report the
    error an instant query gives there, as promtool evaluates one step at a time."""
    rule = placed.rule
    assert isinstance(rule, RecordingRule)
    expr = _query_text(rule.expr)
    if not_a_vector(expr):
        return Recorded(placed, last, failure=_failure(placed, 0, interval, "rule result is not a vector or scalar"))
    try:
        return written(placed, query(expr, 0, last), last=last, interval=interval)
    except QueryError as exc:
        error = str(exc)
    low, high = 0, last  # the range 0..high fails; find the first step where it does
    while low < high:
        mid = (low + high) // 2
        try:
            query(expr, 0, mid)
            low = mid + 1
        except QueryError as exc:
            high, error = mid, str(exc)
    matrix = query(expr, 0, low - 1) if low > 0 else {}
    done = written(placed, matrix, last=low - 1, interval=interval)
    if done.failure is not None:
        return done
    try:  # promtool prints the instant query's error at that step; the range's when there is none
        instant(expr, low * interval)
    except QueryError as exc:
        error = str(exc)
    return Recorded(placed, last, done.series, _failure(placed, low, interval, error))


def written(placed: Placed, matrix: Matrix, *, last: int, interval: float) -> Recorded:
    """What a recording rule writes at steps 0..last from its query's results, as Prometheus's
    RecordingRule.Eval: name and labels set (an empty value removes the label), then a labelset
    twice or more series than the group's limit fail the rule at that step."""
    rule = placed.rule
    assert isinstance(rule, RecordingRule)
    steps: dict[int, list[tuple[Labels, float]]] = {}
    for labels, points in matrix.items():
        named = {**dict(labels), "__name__": rule.name, **rule.labels}
        out = tuple(sorted((k, v) for k, v in named.items() if v != ""))
        for k, value in points.items():
            steps.setdefault(k, []).append((out, value))
    series: Matrix = {}
    for k in sorted(s for s in steps if s <= last):
        vector = steps[k]
        error = ""
        if len({labels for labels, _ in vector}) < len(vector):
            error = "vector contains metrics with the same labelset after applying rule labels"
        elif 0 < placed.limit < len(vector):
            error = f"exceeded limit of {placed.limit} with {len(vector)} series"
        if error:
            return Recorded(placed, last, series, _failure(placed, k, interval, error))
        for labels, value in vector:
            series.setdefault(labels, {})[k] = value
    return Recorded(placed, last, series)


def clashing(recorded: Recorded, inputs: Mapping[Labels, Mapping[int, float]], *, interval: float) -> Recorded:
    """A recorded series an input series is too (`inputs`: labels -> milliseconds -> value): at
    the first step where the input has another value, Prometheus refuses the rule's sample and
    the rule fails ("duplicate sample for timestamp"); the same value is no conflict."""
    step_ms = round(interval * 1000)
    clashes = [k for labels, points in recorded.series.items() for k, value in points.items()
               if (other := inputs.get(labels, {}).get(k * step_ms)) is not None
               and other != value and not (math.isnan(other) and math.isnan(value))]
    if not clashes or (recorded.failure is not None and recorded.failure.step <= min(clashes)):
        return recorded
    step = min(clashes)
    series = {labels: kept for labels, points in recorded.series.items()
              if (kept := {k: v for k, v in points.items() if k < step})}
    failure = _failure(recorded.placed, step, interval, "duplicate sample for timestamp")
    return Recorded(recorded.placed, recorded.last, series, failure)


def first_failure(recorded: Iterable[Recorded]) -> int | None:
    return min((r.failure.step for r in recorded if r.failure is not None), default=None)


def _failure(placed: Placed, step: int, interval: float, error: str) -> Failure:
    return Failure(step, placed.place, f"    rule: {placed.rule.name}, time: {go_duration(step * interval)}, "
                                       f"err: {error}")


def _query_text(expr: str) -> str:
    """The expression as Prometheus 2.42 queries it: re-printed (absent() takes its labels from
    the sorted matchers); as written where the order is moot."""
    if "absent" not in expr:
        return expr
    import promql_parser

    return str(promql_parser.parse(expr).prettify())
