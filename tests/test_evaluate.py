"""The `for` state machine as a pure function: samples in, transitions out, time stepped by hand."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from takeover.rules.evaluate import (
    RESOLVED_RETENTION,
    Alert,
    EvaluationError,
    Labels,
    Sample,
    State,
    evaluate,
)
from takeover.rules.format import Rule

T0 = 1_700_000_000.0


def plain(text: str, labels: Mapping[str, str], value: float, name: str = "") -> str:
    """A stand-in expander: `$agent` and `$value` only, enough for state-machine tests."""
    return text.replace("$agent", labels.get("agent", "")).replace("$value", f"{value:g}")


class Stepper:
    """Feeds one rule a result per evaluation, carrying the alert state forward."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.alerts: dict[Labels, Alert] = {}

    def step(self, now: float, *samples: Sample) -> list[tuple[State | None, State | None]]:
        result = evaluate(self.rule, samples, now=now, previous=self.alerts, expand=plain)
        self.alerts = result.alerts
        return [(t.before, t.after) for t in result.transitions]

    def only(self) -> Alert:
        (alert,) = self.alerts.values()
        return alert


def sample(value: float = 1.0, **labels: str) -> Sample:
    return Sample({"__name__": "errors", "agent": "a1", **labels}, value)


def rule(**kw: object) -> Rule:
    base: dict[str, object] = dict(name="ErrorsHigh", expr="errors > 0", labels={"owner": "team"},
                                   annotations={"summary": "$agent at $value"})
    return Rule(**{**base, **kw})  # type: ignore[arg-type]


def test_for_zero_fires_on_the_first_evaluation() -> None:
    s = Stepper(rule())
    assert s.step(T0, sample()) == [(None, State.firing)]
    assert s.only().fired_at == T0 and s.only().active_at == T0


def test_pending_until_for_has_passed_then_firing() -> None:
    s = Stepper(rule(for_=30.0))
    assert s.step(T0, sample()) == [(None, State.pending)]
    assert s.step(T0 + 15, sample()) == []
    assert s.only().state == State.pending
    assert s.step(T0 + 30, sample()) == [(State.pending, State.firing)]  # >= for, same evaluation
    assert s.only().active_at == T0 and s.only().fired_at == T0 + 30


def test_pending_alert_is_dropped_at_once_when_missing_even_with_keep_firing_for() -> None:
    s = Stepper(rule(for_=60.0, keep_firing_for=300.0))
    s.step(T0, sample())
    assert s.step(T0 + 10) == [(State.pending, None)]
    assert s.alerts == {}


def test_firing_resolves_when_missing_and_is_forgotten_after_retention() -> None:
    s = Stepper(rule())
    s.step(T0, sample())
    assert s.step(T0 + 10) == [(State.firing, State.inactive)]
    assert s.only().resolved_at == T0 + 10
    assert s.step(T0 + 10 + RESOLVED_RETENTION) == []  # still kept at exactly the retention
    assert s.step(T0 + 20 + RESOLVED_RETENTION) == [(State.inactive, None)]
    assert s.alerts == {}


def test_resolved_alert_that_reappears_starts_fresh() -> None:
    s = Stepper(rule(for_=20.0))
    s.step(T0, sample())
    s.step(T0 + 20, sample())
    s.step(T0 + 30)
    assert s.step(T0 + 40, sample()) == [(State.inactive, State.pending)]
    assert s.only().active_at == T0 + 40 and s.only().fired_at is None


def test_keep_firing_for_holds_a_missing_alert_and_reappearing_resets_it() -> None:
    s = Stepper(rule(keep_firing_for=30.0))
    s.step(T0, sample())
    assert s.step(T0 + 10) == []
    assert s.only().state == State.firing and s.only().keep_firing_since == T0 + 10
    assert s.step(T0 + 20, sample()) == []
    assert s.only().keep_firing_since is None
    s.step(T0 + 30)  # missing again: the clock restarts here
    assert s.step(T0 + 50) == []
    assert s.step(T0 + 60) == [(State.firing, State.inactive)]  # 60 - 30 >= 30


def test_value_and_annotations_refresh_while_active_at_stays() -> None:
    s = Stepper(rule(for_=60.0))
    s.step(T0, sample(1))
    s.step(T0 + 10, sample(7))
    assert s.only().value == 7 and s.only().annotations == {"summary": "a1 at 7"}
    assert s.only().active_at == T0


def test_alert_labels_drop_name_add_rule_labels_and_alertname() -> None:
    s = Stepper(rule(labels={"owner": "team", "agent": "overridden", "empty": ""}))
    s.step(T0, sample())
    assert dict(s.only().labels) == {"agent": "overridden", "alertname": "ErrorsHigh", "owner": "team"}


def test_scalar_result_is_one_alert_with_only_rule_labels() -> None:
    s = Stepper(rule(expr="1"))
    s.step(T0, Sample({}, 1.0))
    assert dict(s.only().labels) == {"alertname": "ErrorsHigh", "owner": "team"}


def test_duplicate_labelsets_fail_the_whole_evaluation() -> None:
    r = rule(labels={"owner": "team", "agent": "same"})
    with pytest.raises(EvaluationError, match="same labelset"):
        evaluate(r, [sample(agent="x"), sample(agent="y")], now=T0, previous={}, expand=plain)


def test_limit_counts_active_alerts() -> None:
    with pytest.raises(EvaluationError, match="exceeded limit of 1 with 2 alerts"):
        evaluate(rule(), [sample(agent="x"), sample(agent="y")], now=T0, previous={}, expand=plain, limit=1)


def test_empty_result_resolves_everything() -> None:
    s = Stepper(rule())
    s.step(T0, sample(agent="x"), sample(agent="y"))
    assert sorted(s.step(T0 + 1)) == [(State.firing, State.inactive)] * 2
