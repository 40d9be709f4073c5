"""Running a test group: replay the rule groups against the served inputs and check every alert test."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from takeover.rules.evaluate import Expand, Labels
from takeover.rules.format import Group
from takeover.rules.group import GroupSlot, RuleResult, run, slots
from takeover.rules.query import prometheus_query
from takeover.tools.ruletest.gotext import alerts_string, go_duration, indent_lines, model_duration
from takeover.tools.ruletest.testfile import AlertCheck, TestFileError, TestGroup
from takeover.tools.ruletest.tsdb import openmetrics, serving

QUERY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Outcome:
    """What one test group produced: failures (promtool's texts) and checks takeover could not run."""

    errors: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()


def run_test_group(test: TestGroup, *, groups: Sequence[Group], evaluation_interval: float) -> Outcome:
    """Backfill the inputs, serve them, replay the groups and check every alert_rule_test."""
    prefix = f"    name: {test.name},\n" if test.name else ""
    unsupported = []
    if test.promql_checks:
        n = len(test.promql_checks)
        unsupported.append(f"{prefix}    promql_expr_test not run ({n} check{'s' * (n != 1)}): takeover "
                           "tests alerting rules, not PromQL expressions; use promtool test rules for these")
    if stale := [s.text for s in test.input_series if "stale" in s.values]:
        reason = (f"{prefix}    not run: input series {', '.join(stale)} use stale, and a staleness "
                  "marker cannot be backfilled into a TSDB")
        return Outcome(unsupported=(*unsupported, reason))
    try:
        text = openmetrics(test.input_series, interval=test.interval)
    except TestFileError as exc:
        return Outcome(unsupported=(*unsupported, f"{prefix}    not run: {exc}"))
    plan = _plan(test, groups, evaluation_interval)
    with serving(text) as url:
        history = run(plan, query=prometheus_query(url, timeout=QUERY_TIMEOUT), expand=_expander(test))
        errors = check_alerts(test, evaluation_interval=evaluation_interval, history=history)
    return Outcome(tuple(errors), tuple(unsupported))


def _plan(test: TestGroup, groups: Sequence[Group], interval: float) -> list[tuple[float, Group]]:
    """Every group at every slot from 0 to the last eval_time (promtool ignores group intervals)."""
    return [(t, g) for t in slots(start=0.0, end=test.max_eval_time, interval=interval) for g in groups]


def _expander(test: TestGroup) -> Expand:
    from takeover.rules.gotemplate import render_text

    def expand(text: str, labels: Mapping[str, str], value: float, name: str = "") -> str:
        return render_text(text, labels=labels, value=value, external_labels=test.external_labels,
                           external_url=test.external_url, name=name)

    return expand


def check_alerts(test: TestGroup, *, evaluation_interval: float,
                 history: Iterable[GroupSlot]) -> list[str]:
    """Compare the firing alerts with each check after the last evaluation at or before its
    eval_time; stop at the first timestamp where a rule fails to evaluate, reporting every rule
    that failed there (as promtool does). `history` is consumed lazily."""
    checks = deque(sorted(test.alert_checks, key=lambda c: c.eval_time))  # stable: file order
    latest: dict[tuple[str, int], RuleResult] = {}
    errors: list[str] = []
    for at, batch in itertools.groupby(history, key=lambda s: s.at):
        evaluated = list(batch)
        failed = [f"    rule: {r.rule.name}, time: {go_duration(at)}, err: {r.error}"
                  for s in evaluated for r in s.errors]
        if failed:
            return errors + failed
        latest.update(((s.group.key, r.index), r) for s in evaluated for r in s.rules)
        while checks and at <= checks[0].eval_time < at + evaluation_interval:
            errors.extend(_compare(checks.popleft(), test.name, latest.values()))
    for check in checks:  # left only when there was nothing to evaluate (no rule groups)
        errors.extend(_compare(check, test.name, latest.values()))
    return errors



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
