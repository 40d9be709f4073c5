"""Running a test group: record the recording rules, replay the alerting rules against the inputs
and what was recorded, and check every alert test and promql_expr_test."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from takeover.rules.evaluate import Expand, Labels
from takeover.rules.format import Group
from takeover.rules.group import GroupSlot, RuleResult, run
from takeover.tools.ruletest.gotext import (
    alerts_string,
    go_duration,
    indent_lines,
    model_duration,
)
from takeover.tools.ruletest.promql import check_promql
from takeover.tools.ruletest.queries import instant_query, range_query, stepped_query
from takeover.tools.ruletest.record import (
    Failure,
    Placed,
    Recorded,
    clashing,
    evaluation_order,
    first_failure,
    layers,
    record,
    unordered_read,
)
from takeover.tools.ruletest.remotewrite import STALE, Point, Series, write
from takeover.tools.ruletest.testfile import AlertCheck, TestFileError, TestGroup
from takeover.tools.ruletest.tsdb import openmetrics, tsdb, writable_prometheus


@dataclass(frozen=True)
class Outcome:
    """What one test group (or file) produced: failures (promtool's texts), checks takeover could
    not run, and warnings (rules lacking takeover's conventions)."""

    errors: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def run_test_group(test: TestGroup, *, groups: Sequence[Group], evaluation_interval: float) -> Outcome:
    """Backfill the inputs, record the recording rules layer by layer, replay the alerting rules
    and check every alert_rule_test, then every promql_expr_test (unless a rule failed)."""
    prefix = f"    name: {test.name},\n" if test.name else ""
    if stale := [s.text for s in test.input_series if "stale" in s.values]:
        return Outcome(unsupported=(f"{prefix}    not run: input series {', '.join(stale)} use stale, and a "
                                    "staleness marker cannot be backfilled into a TSDB",))
    try:
        text = openmetrics(test.input_series, interval=test.interval)
    except TestFileError as exc:
        return Outcome(unsupported=(f"{prefix}    not run: {exc}",))
    order = evaluation_order(groups)
    if reason := unordered_read(order):
        return Outcome(unsupported=(f"{prefix}    not run: {reason}",))
    interval = evaluation_interval
    with tsdb(text) as data, writable_prometheus(data, evaluation_interval=interval,
                                                 until=test.max_eval_time) as url:
        query = instant_query(url)
        recorded, last = _record(order, url, last=round(test.max_eval_time * 1000) // round(interval * 1000),
                                 interval=interval, inputs=_inputs(test))
        plan = [(k * interval, g) for k in range(last + 1) for g in groups]
        stepped = stepped_query(range_query(url, interval=interval), query, last=last, interval=interval)
        history = run(plan, query=stepped, expand=_expander(test))
        failures = [r.failure for r in recorded if r.failure is not None]
        errors, failed = _check_alerts(test, evaluation_interval=interval, history=history, failures=failures)
        if not failed:  # promtool stops a test group at a failed evaluation, before these
            errors += check_promql(test.promql_checks, query)
    return Outcome(tuple(errors))


def _record(order: Sequence[Placed], url: str, *, last: int, interval: float,
            inputs: Mapping[Labels, Mapping[int, float]]) -> tuple[list[Recorded], int]:
    """Evaluate the recording rules layer by layer, each layer's series written (with a staleness
    marker where one ends, as Prometheus writes it) before the next reads them; stop where a rule
    fails. Returns what each rule recorded and the last step to evaluate."""
    recorded: list[Recorded] = []
    query, instant = range_query(url, interval=interval), instant_query(url)
    for layer in layers(order):
        done = [clashing(record(placed, last=last, interval=interval, query=query, instant=instant), inputs,
                         interval=interval) for placed in layer]
        write(url, _written(done, interval=interval))
        recorded += done
        if (failed := first_failure(done)) is not None:
            last = min(last, failed)
    return recorded, last


def _inputs(test: TestGroup) -> dict[Labels, dict[int, float]]:
    """The input samples: labels -> milliseconds -> value (the first one where several meet)."""
    step_ms = round(test.interval * 1000)
    inputs: dict[Labels, dict[int, float]] = {}
    for s in test.input_series:
        points = inputs.setdefault(tuple(sorted(s.labels.items())), {})
        for i, value in enumerate(s.values):
            if isinstance(value, float):
                points.setdefault(i * step_ms, value)
    return inputs


def _written(recorded: Iterable[Recorded], *, interval: float) -> Iterator[Series]:
    """Each recorded series' samples, and a staleness marker at each step where it ends."""
    step_ms = round(interval * 1000)
    for r in recorded:
        ends: dict[Labels, list[int]] = {}
        for step, labels in r.ends():
            ends.setdefault(labels, []).append(step)
        for labels, points in r.series.items():
            written: list[Point] = [(k * step_ms, v) for k, v in points.items()]
            written += [(k * step_ms, STALE) for k in ends.get(labels, [])]
            yield labels, sorted(written, key=lambda p: p[0])


def _expander(test: TestGroup) -> Expand:
    from takeover.rules.gotemplate import render_text

    def expand(text: str, labels: Mapping[str, str], value: float, name: str = "") -> str:
        return render_text(text, labels=labels, value=value, external_labels=test.external_labels,
                           external_url=test.external_url, name=name)

    return expand


def check_alerts(test: TestGroup, *, evaluation_interval: float, history: Iterable[GroupSlot],
                 failures: Sequence[Failure] = ()) -> list[str]:
    """Compare the firing alerts with each check after the last evaluation at or before its
    eval_time; stop at the first timestamp where a rule fails to evaluate, reporting every rule
    that failed there (as promtool does). `history` is consumed lazily; `failures` are the
    recording rules' (step, place in the order, text)."""
    return _check_alerts(test, evaluation_interval=evaluation_interval, history=history, failures=failures)[0]


def _check_alerts(test: TestGroup, *, evaluation_interval: float, history: Iterable[GroupSlot],
                  failures: Sequence[Failure]) -> tuple[list[str], bool]:
    """check_alerts, and whether it stopped at a failed evaluation."""
    checks = deque(sorted(test.alert_checks, key=lambda c: c.eval_time))  # stable: file order
    latest: dict[tuple[str, int], RuleResult] = {}
    errors: list[str] = []
    for at, batch in itertools.groupby(history, key=lambda s: s.at):
        evaluated = list(batch)
        step = round(at / evaluation_interval)
        failed = [((i, r.rule.line), f"    rule: {r.rule.name}, time: {go_duration(at)}, err: {r.error}")
                  for i, s in enumerate(evaluated) for r in s.errors]
        failed += [(f.place, f.text) for f in failures if f.step == step]
        if failed:  # in the order the rules were evaluated in: group, then line
            return errors + [text for _, text in sorted(failed, key=lambda f: f[0])], True
        latest.update(((s.group.key, r.index), r) for s in evaluated for r in s.rules)
        while checks and at <= checks[0].eval_time < at + evaluation_interval:
            errors.extend(_compare(checks.popleft(), test.name, latest.values()))
    for check in checks:  # left only when there was nothing to evaluate (no rule groups)
        errors.extend(_compare(check, test.name, latest.values()))
    return errors, False


def _compare(check: AlertCheck, test_name: str, latest: Iterable[RuleResult]) -> list[str]:
    got = sorted((a.labels, _sorted(a.annotations))
                 for r in latest if r.rule.name == check.alertname for a in r.firing())
    exp = sorted((_sorted({**e.labels, "alertname": check.alertname}), _sorted(e.annotations))
                 for e in check.exp_alerts)
    if exp == got:
        return []
    name = f"    name: {test_name},\n" if test_name else ""
    return [f"{name}    alertname: {check.alertname}, time: {model_duration(check.eval_time)}, \n"
            f"        exp:{indent_lines(alerts_string(exp), ' ' * 12)}, \n"
            f"        got:{indent_lines(alerts_string(got), ' ' * 12)}"]


def _sorted(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))
