"""Releases: a new agent version takes a growing canary share while analysis is healthy, and is
rolled back by analysis, an alert or a human. Pure: the plan, the checks' verdicts and the
state machine — (plan, progress, observation, now) → (progress, what happened); no I/O, no clock.

States (like Flagger's canary phases):
  progressing        at a step: the canary has `weight_bp` of the keys
  waiting_promotion  the last step before 100 % passed and a promotion gate is set: a human decides
  paused             a human paused it, or analysis stayed inconclusive too long: nothing moves
  promoted           the canary is the stable version now (end)
  rolled_back        weight 0: every key goes to stable (end); its writes are reported for reconciling
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from takeover.config.mode import Mode

FULL = 10_000  # basis points: 100 %


class State(str, enum.Enum):
    progressing = "progressing"
    waiting_promotion = "waiting_promotion"
    paused = "paused"
    promoted = "promoted"
    rolled_back = "rolled_back"

    @property
    def active(self) -> bool:
        return self not in (State.promoted, State.rolled_back)


class Verdict(str, enum.Enum):
    healthy = "healthy"
    failed = "failed"
    inconclusive = "inconclusive"  # too little canary traffic to tell: never counts as healthy


@dataclass(frozen=True)
class Check:
    """Canary vs stable on one metric: `query` with `$variant` (replaced by canary and by
    stable) must give canary <= stable * max_ratio + max_delta; `samples` (with `$variant`)
    counts the canary's traffic, below `min_samples` the check is inconclusive."""

    name: str
    query: str
    max_ratio: float = 1.0
    max_delta: float = 0.0
    samples: str = ""
    min_samples: float = 0.0
    failure_limit: int = 1  # consecutive failed analyses of this check before rollback

    def for_variant(self, text: str, variant: str) -> str:
        return text.replace("$variant", variant)


def check_problems(check: Check) -> list[str]:
    """What is wrong with a check, as messages a person can act on."""
    import promql_parser

    problems = []
    for field_name, text in (("query", check.query), ("samples", check.samples)):
        if not text and field_name == "samples":
            continue
        if "$variant" not in text:
            problems.append(f"{check.name}: {field_name} must select the variant with $variant, e.g. "
                            f'rate(agent_errors_total{{variant="$variant"}}[5m])')
        try:
            promql_parser.parse(check.for_variant(text, "canary"))
        except (ValueError, TypeError, UnicodeError) as exc:
            problems.append(f"{check.name}: {field_name} does not parse: {exc}")
    if check.failure_limit < 1:
        problems.append(f"{check.name}: failure_limit must be at least 1")
    if not (math.isfinite(check.max_ratio) and math.isfinite(check.max_delta) and check.max_ratio >= 0):
        problems.append(f"{check.name}: max_ratio must be a finite number >= 0 and max_delta finite")
    if check.min_samples and not check.samples:
        problems.append(f"{check.name}: min_samples needs a samples query (the canary's traffic)")
    return problems


@dataclass(frozen=True)
class Reading:
    """What Prometheus answered for one check at one analysis: None = no value (no series)."""

    canary: float | None
    stable: float | None
    samples: float | None = None
    error: str = ""


def judge(check: Check, reading: Reading) -> tuple[Verdict, str]:
    """The check's verdict on one reading, and why (shown in the release's history)."""
    if reading.error:
        return Verdict.inconclusive, f"{check.name}: query failed: {reading.error}"
    if check.samples and (reading.samples is None or reading.samples < check.min_samples):
        got = "no" if reading.samples is None else f"{reading.samples:g}"
        return Verdict.inconclusive, f"{check.name}: {got} canary samples (needs {check.min_samples:g})"
    if reading.canary is None or reading.stable is None or math.isnan(reading.canary) or math.isnan(reading.stable):
        return Verdict.inconclusive, f"{check.name}: no value for {'canary' if reading.canary is None else 'stable'}"
    limit = reading.stable * check.max_ratio + check.max_delta
    if reading.canary <= limit:
        return Verdict.healthy, f"{check.name}: canary {reading.canary:.4g} <= {limit:.4g}"
    return Verdict.failed, f"{check.name}: canary {reading.canary:.4g} > {limit:.4g} (stable {reading.stable:.4g})"


@dataclass(frozen=True)
class Plan:
    steps_bp: tuple[int, ...]  # increasing weights, the last 10000 (promotion)
    every: float  # seconds at a step (with healthy analysis) before the next
    checks: tuple[Check, ...] = ()
    gate: bool = False  # a human approves the promotion to 100 %
    hold: Mode | None = None  # mode the agent is held in after a rollback, until released
    inconclusive_limit: int = 10  # analyses in a row without a verdict before pausing for a human


def plan_problems(steps_bp: Sequence[int], every: float) -> list[str]:
    """What is wrong with a plan's steps, as messages a person can act on."""
    problems = []
    if not steps_bp:
        problems.append("steps: give at least one weight, e.g. 1,5,20,50,100")
    if any(not 0 < s <= FULL for s in steps_bp):
        problems.append("steps: every weight must be above 0 and at most 100 (%)")
    if any(b <= a for a, b in zip(steps_bp, steps_bp[1:], strict=False)):
        problems.append("steps: weights must increase")
    if steps_bp and steps_bp[-1] != FULL:
        problems.append("steps: the last weight must be 100 (the promotion)")
    if steps_bp and steps_bp[0] >= FULL:
        problems.append("steps: the first weight must be below 100 (the canary's first share)")
    if every <= 0:
        problems.append("every: the time at a step must be positive")
    return problems


@dataclass(frozen=True)
class Progress:
    state: State
    step: int  # index into plan.steps_bp of the current weight
    weight_bp: int
    step_since: float
    failures: Mapping[str, int] = field(default_factory=dict)  # check name -> consecutive failures
    inconclusive: int = 0
    reason: str = ""


def start(plan: Plan, *, now: float) -> Progress:
    return Progress(State.progressing, 0, plan.steps_bp[0], now, reason="started")


@dataclass(frozen=True)
class Observation:
    """What the analysis saw at one tick: each check's verdict and why, and a firing rollback alert."""

    verdicts: Mapping[str, tuple[Verdict, str]] = field(default_factory=dict)
    rollback_alert: str = ""  # the alert that demands a rollback, if any


def advance(plan: Plan, progress: Progress, seen: Observation, *, now: float) -> Progress:
    """One analysis tick. Rollback on a rollback alert or a check failed `failure_limit` times in
    a row; next step when every check is healthy and the step's time has passed; pause after
    `inconclusive_limit` ticks without a verdict. Only an active, unpaused release moves (a
    rollback alert rolls back a paused one too)."""
    if not progress.state.active:
        return progress
    if seen.rollback_alert:
        return rolled_back(progress, reason=f"alert {seen.rollback_alert} fired", now=now)
    if progress.state == State.paused:
        return progress
    failures = {name: (progress.failures.get(name, 0) + 1 if verdict == Verdict.failed else 0)
                for name, (verdict, _) in seen.verdicts.items()}
    limits = {c.name: c.failure_limit for c in plan.checks}
    over = [name for name, n in failures.items() if n >= limits.get(name, 1)]
    if over:
        why = "; ".join(seen.verdicts[name][1] for name in over)
        return rolled_back(progress, reason=f"analysis failed: {why}", now=now)
    progress = replace(progress, failures=failures)
    if any(v == Verdict.failed for v, _ in seen.verdicts.values()):
        return replace(progress, reason="; ".join(w for v, w in seen.verdicts.values() if v == Verdict.failed))
    if any(v == Verdict.inconclusive for v, _ in seen.verdicts.values()):
        why = "; ".join(w for v, w in seen.verdicts.values() if v == Verdict.inconclusive)
        count = progress.inconclusive + 1
        if count >= plan.inconclusive_limit:
            return replace(progress, state=State.paused, inconclusive=count,
                           reason=f"paused: analysis inconclusive {count} times in a row ({why}); a human decides")
        return replace(progress, inconclusive=count, reason=f"waiting: inconclusive ({why})")
    progress = replace(progress, inconclusive=0)
    if progress.state != State.progressing or now - progress.step_since < plan.every:
        return progress
    nxt = progress.step + 1
    if plan.steps_bp[nxt] == FULL:
        if plan.gate:
            return replace(progress, state=State.waiting_promotion, reason="analysis healthy: waiting for promotion")
        return promoted(progress, reason="analysis healthy at every step", now=now)
    return replace(progress, step=nxt, weight_bp=plan.steps_bp[nxt], step_since=now,
                   reason=f"analysis healthy: {plan.steps_bp[nxt] / 100:g} %")


def rolled_back(progress: Progress, *, reason: str, now: float) -> Progress:
    return replace(progress, state=State.rolled_back, weight_bp=0, step_since=now, reason=reason)


def promoted(progress: Progress, *, reason: str, now: float) -> Progress:
    return replace(progress, state=State.promoted, weight_bp=FULL, step_since=now, reason=reason)


def pause(progress: Progress, *, reason: str) -> Progress:
    return replace(progress, state=State.paused, reason=reason)


def resume(progress: Progress, *, reason: str, now: float) -> Progress:
    """Back to progressing at the same step, its time and counters restarted (a gated release
    reaches the gate again after a healthy step)."""
    return replace(progress, state=State.progressing, step_since=now, failures={}, inconclusive=0, reason=reason)
