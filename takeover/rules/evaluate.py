"""The alert state machine, as Prometheus 2.42 runs it (rules/alerting.go), as a pure function.

`evaluate(rule, samples, now=ts, previous=alerts)` takes the query result at `ts` and the
rule's alerts from the previous evaluation and returns the new alerts and the transitions.
No clock, no query, no database: the caller passes them in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from takeover.rules.format import Rule

RESOLVED_RETENTION = 15 * 60.0  # resolved alerts are kept this long, then forgotten

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable and ordered


class State(str, enum.Enum):
    inactive = "inactive"  # resolved (kept RESOLVED_RETENTION so the resolve is reported)
    pending = "pending"  # matching, waiting out `for`
    firing = "firing"  # matching for at least `for` (or held by keep_firing_for)


@dataclass(frozen=True)
class Sample:
    """One element of an instant-query result; a scalar result is one Sample with no labels."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Alert:
    """One labelset of a rule; each transition has its own timestamp (seconds since epoch)."""

    labels: Labels
    annotations: Mapping[str, str]
    state: State
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Transition:
    """A state change of one alert at one evaluation; `before` is None for a new alert."""

    alert: Alert
    before: State | None
    after: State | None  # None: the alert was forgotten (pending dropped or retention ended)


@dataclass(frozen=True)
class Evaluation:
    alerts: dict[Labels, Alert]
    transitions: list[Transition] = field(default_factory=list)


class EvaluationError(Exception):
    """The evaluation failed as a whole: nothing changes (like a query error)."""


# (template text, sample labels, value, template name) -> expanded text
Expand = Callable[[str, Mapping[str, str], float, str], str]


def expand_plain(text: str, labels: Mapping[str, str], value: float, name: str = "") -> str:
    """The real expander: Prometheus's Go-template dialect."""
    from takeover.rules.gotemplate import render_text

    return render_text(text, labels=labels, value=value, name=name)


def alert_labels(rule: Rule, sample: Sample, expand: Expand) -> Labels:
    """Sample labels minus `__name__`, plus the rule's expanded labels, plus `alertname`."""
    labels = {k: v for k, v in sample.labels.items() if k != "__name__"}
    for name, text in rule.labels.items():
        value = expand(text, sample.labels, sample.value, f"__alert_{rule.name}")
        if value:
            labels[name] = value
        else:
            labels.pop(name, None)  # a label that renders empty is dropped
    labels["alertname"] = rule.name
    return tuple(sorted(labels.items()))


def evaluate(
    rule: Rule,
    samples: Sequence[Sample],
    *,
    now: float,
    previous: Mapping[Labels, Alert],
    expand: Expand = expand_plain,
    limit: int = 0,
) -> Evaluation:
    """One evaluation of `rule` at `now`: the new alert set and what changed."""
    current: dict[Labels, Alert] = {}
    for sample in samples:
        labels = alert_labels(rule, sample, expand)
        if labels in current:
            raise EvaluationError(
                "vector contains metrics with the same labelset after applying alert labels"
            )
        annotations = {k: expand(v, sample.labels, sample.value, f"__alert_{rule.name}")
                       for k, v in rule.annotations.items()}
        current[labels] = Alert(labels, annotations, State.pending, sample.value, active_at=now)

    alerts: dict[Labels, Alert] = {}
    transitions: list[Transition] = []
    for labels, old in previous.items():
        if labels in current and old.state != State.inactive:
            new = current.pop(labels)
            alerts[labels] = replace(old, value=new.value, annotations=new.annotations,
                                     keep_firing_since=None)
        elif labels not in current:
            kept = _missing(rule, old, now)
            if kept is not None:
                alerts[labels] = kept
            if kept is None or kept.state != old.state:
                transitions.append(Transition(kept or old, old.state, kept.state if kept else None))
    # new labelsets (and resolved ones that reappear, which start fresh)
    for labels, new in current.items():
        old_state = previous[labels].state if labels in previous else None
        alerts[labels] = new
        transitions.append(Transition(new, old_state, State.pending))

    for labels, alert in alerts.items():
        if alert.state == State.pending and now - alert.active_at >= rule.for_:
            fired = replace(alert, state=State.firing, fired_at=now)
            alerts[labels] = fired
            transitions = [t for t in transitions if t.alert.labels != labels or t.after != State.pending]
            before = previous[labels].state if labels in previous else None
            transitions.append(Transition(fired, State.pending if before == State.pending else before,
                                          State.firing))
    active = sum(1 for a in alerts.values() if a.state != State.inactive)
    if limit and active > limit:
        raise EvaluationError(f"exceeded limit of {limit} with {active} alerts")
    return Evaluation(alerts, transitions)


def _missing(rule: Rule, alert: Alert, now: float) -> Alert | None:
    """The alert whose labelset is absent from the result at `now`; None when forgotten."""
    if alert.state == State.pending:
        return None  # a pending alert is dropped at once; keep_firing_for does not apply
    if alert.state == State.inactive:
        assert alert.resolved_at is not None
        return None if now - alert.resolved_at > RESOLVED_RETENTION else alert
    since = alert.keep_firing_since if alert.keep_firing_since is not None else now
    if rule.keep_firing_for > 0 and now - since < rule.keep_firing_for:
        return replace(alert, keep_firing_since=since)
    return replace(alert, state=State.inactive, resolved_at=now, keep_firing_since=None)
