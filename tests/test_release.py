"""The release state machine, check verdicts, plans and analysis files: pure, as tables."""

from __future__ import annotations

import pytest

from takeover.config.yamlfile import ConfigError
from takeover.control.analysis import load_analysis
from takeover.control.release import (
    Check,
    Observation,
    Plan,
    Reading,
    State,
    Verdict,
    advance,
    check_problems,
    judge,
    pause,
    plan_problems,
    resume,
    start,
)

ERRORS = Check("errors", 'rate(e{v="$variant"}[1m])', max_ratio=1.5, max_delta=0.01,
               samples='sum(r{v="$variant"})', min_samples=20, failure_limit=2)
PLAN = Plan((100, 500, 10_000), every=60.0, checks=(ERRORS,), inconclusive_limit=3)
HEALTHY = Observation({"errors": (Verdict.healthy, "ok")})
FAILED = Observation({"errors": (Verdict.failed, "errors: canary 0.5 > 0.02")})
UNSURE = Observation({"errors": (Verdict.inconclusive, "errors: 3 canary samples (needs 20)")})


@pytest.mark.parametrize(("reading", "verdict"), [
    (Reading(0.01, 0.01, 100), Verdict.healthy),
    (Reading(0.025, 0.01, 100), Verdict.healthy),  # 0.01 * 1.5 + 0.01 = 0.025: at the limit
    (Reading(0.026, 0.01, 100), Verdict.failed),
    (Reading(0.5, 0.01, 19), Verdict.inconclusive),  # too little traffic: never a verdict, even a bad one
    (Reading(0.01, 0.01, None), Verdict.inconclusive),  # no samples series at all
    (Reading(None, 0.01, 100), Verdict.inconclusive),
    (Reading(0.01, float("nan"), 100), Verdict.inconclusive),
    (Reading(None, None, None, error="timeout"), Verdict.inconclusive),
])
def test_a_check_judges_canary_against_stable_and_too_little_traffic_is_inconclusive(
        reading: Reading, verdict: Verdict) -> None:
    assert judge(ERRORS, reading)[0] == verdict


def test_healthy_analysis_steps_up_only_after_the_steps_time() -> None:
    p = start(PLAN, now=0.0)
    assert (p.state, p.weight_bp) == (State.progressing, 100)
    assert advance(PLAN, p, HEALTHY, now=59.0).weight_bp == 100
    p = advance(PLAN, p, HEALTHY, now=60.0)
    assert (p.state, p.step, p.weight_bp, p.step_since) == (State.progressing, 1, 500, 60.0)
    p = advance(PLAN, p, HEALTHY, now=120.0)
    assert (p.state, p.weight_bp) == (State.promoted, 10_000)
    assert advance(PLAN, p, FAILED, now=180.0) == p  # an ended release never moves


def test_a_gate_waits_for_a_human_before_the_last_step() -> None:
    plan = Plan((500, 10_000), every=60.0, gate=True)
    p = advance(plan, start(plan, now=0.0), Observation(), now=60.0)
    assert (p.state, p.weight_bp) == (State.waiting_promotion, 500)
    assert advance(plan, p, Observation(), now=600.0) == p


def test_failures_in_a_row_up_to_the_limit_roll_back_and_a_healthy_one_resets_the_count() -> None:
    p = start(PLAN, now=0.0)
    p = advance(PLAN, p, FAILED, now=10.0)
    assert (p.state, p.failures) == (State.progressing, {"errors": 1})
    p = advance(PLAN, p, HEALTHY, now=20.0)
    assert p.failures == {"errors": 0}
    p = advance(PLAN, advance(PLAN, p, FAILED, now=30.0), FAILED, now=40.0)
    assert (p.state, p.weight_bp) == (State.rolled_back, 0)
    assert p.reason == "analysis failed: errors: canary 0.5 > 0.02"


def test_inconclusive_analysis_never_promotes_and_pauses_for_a_human_at_its_limit() -> None:
    p = start(PLAN, now=0.0)
    p = advance(PLAN, p, UNSURE, now=100.0)
    p = advance(PLAN, p, UNSURE, now=200.0)
    assert (p.state, p.weight_bp, p.inconclusive) == (State.progressing, 100, 2)
    p = advance(PLAN, p, UNSURE, now=300.0)
    assert (p.state, p.weight_bp) == (State.paused, 100)
    assert "inconclusive 3 times in a row" in p.reason
    assert advance(PLAN, p, HEALTHY, now=400.0) == p  # paused: nothing moves on its own
    p = resume(p, reason="traffic is back", now=500.0)
    assert (p.state, p.inconclusive, p.step_since) == (State.progressing, 0, 500.0)


def test_a_rollback_alert_rolls_back_at_once_even_a_paused_release() -> None:
    p = pause(start(PLAN, now=0.0), reason="lunch")
    p = advance(PLAN, p, Observation(rollback_alert="CanaryRefundsSpike"), now=5.0)
    assert (p.state, p.weight_bp, p.reason) == (State.rolled_back, 0, "alert CanaryRefundsSpike fired")


@pytest.mark.parametrize(("steps", "problem"), [
    ([], "at least one weight"),
    ([100, 50, 10_000], "weights must increase"),
    ([100, 100, 10_000], "weights must increase"),
    ([0, 10_000], "above 0 and at most 100"),
    ([100, 20_000], "above 0 and at most 100"),
    ([100, 5000], "the last weight must be 100"),
    ([10_000], "the first weight must be below 100"),
])
def test_bad_steps_are_refused_with_what_to_write_instead(steps: list[int], problem: str) -> None:
    assert any(problem in p for p in plan_problems(steps, 60.0))


def test_good_steps_have_no_problems() -> None:
    assert plan_problems([100, 500, 2000, 5000, 10_000], 600.0) == []


def test_a_check_must_select_the_variant_and_parse() -> None:
    assert check_problems(ERRORS) == []
    assert check_problems(Check("c", "rate(e[1m])"))[0].startswith("c: query must select the variant")
    assert "does not parse" in check_problems(Check("c", 'rate(e{v="$variant"}[1m]'))[0]


def test_an_analysis_file_reports_each_problem_at_its_line() -> None:
    text = """\
checks:
  - name: errors
    query: rate(e{v="$variant"}[1m]) > 
    max_ratio: lots
  - name: latency
    query: histogram_quantile(0.9, rate(l_bucket[5m]))
    colour: blue
"""
    with pytest.raises(ConfigError) as exc:
        load_analysis(text, filename="a.yml")
    assert [str(e).split(": ", 1)[0] for e in exc.value.errors] == ["a.yml:3:12", "a.yml:4:16", "a.yml:6:12",
                                                                     "a.yml:7:13"]
    messages = [e.message for e in exc.value.errors]
    assert "does not parse" in messages[0] and "max_ratio must be a number" in messages[1]
    assert "must select the variant" in messages[2] and "unknown field colour" in messages[3]
    checks, limit = load_analysis("inconclusive_limit: 4\nchecks:\n  - {name: e, query: 'up{v=\"$variant\"}'}\n",
                                  filename="a.yml")
    assert (checks, limit) == ((Check("e", 'up{v="$variant"}'),), 4)
