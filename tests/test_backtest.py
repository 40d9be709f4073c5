"""The replay core and `takeover backtest`: pure steps with a table of results, then a real
Prometheus serving backfilled history."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from takeover.config.mode import Mode
from takeover.rules.evaluate import Sample, State
from takeover.rules.format import Group, Rule, load_rules
from takeover.rules.group import schedule, slots
from takeover.rules.query import Combined, QueryError, QueryFunc
from takeover.rules.replay import Episode, replay
from takeover.tools.backtest import (
    RELEASE_NOTE,
    ModeTime,
    mode_times,
    pages,
    parse_time,
    rfc3339,
    run_backtest,
    short_duration,
)
from takeover.tools.ruletest import (
    InputSeries,
    openmetrics,
    parse_series,
    parse_values,
    serving,
)

T0 = 1_700_000_000.0


def rule(name: str = "A", expr: str = "x", *, for_: float = 0.0, keep_firing_for: float = 0.0,
         **labels: str) -> Rule:
    return Rule(name=name, expr=expr, for_=for_, keep_firing_for=keep_firing_for,
                labels={"owner": "team", **labels}, annotations={"runbook_url": "r", "first_check": "c"})


def series_by_time(values: dict[float, list[Sample]], *, failing: frozenset[float] = frozenset(),
                   calls: list[tuple[str, float]] | None = None) -> QueryFunc:
    """Every expression answers from `values` by timestamp (empty when absent); fails at `failing`."""
    def query(expr: str, ts: float) -> list[Sample]:
        if calls is not None:
            calls.append((expr, ts))
        if ts in failing:
            raise QueryError("connection refused")
        return values.get(ts, [])

    return query


ONE = [Sample({"__name__": "x", "agent": "a1"}, 1.0)]


# ---------------------------------------------------------------- replay: slots and order

def test_slots_are_offset_multiples_of_the_interval_within_start_and_end() -> None:
    assert slots(start=100, end=220, interval=60, offset=10) == [130, 190]
    assert slots(start=130, end=190, interval=60, offset=10) == [130, 190]  # both ends included


def test_schedule_merges_groups_in_time_order_and_keeps_group_order_at_one_time() -> None:
    a, b = Group("a", "f", 60.0, ()), Group("b", "f", 30.0, ())
    plan = schedule([a, b], start=0, end=60, offset=lambda g: 0.0)
    assert [(t, g.name) for t, g in plan] == [(0, "a"), (0, "b"), (30, "b"), (60, "a"), (60, "b")]
    assert [t for t, _ in schedule([a], start=0, end=60, interval=20)] == [0, 20, 40, 60]


def test_rules_of_a_group_run_in_order_at_one_timestamp() -> None:
    calls: list[tuple[str, float]] = []
    group = Group("g", "f", 60.0, (rule("A", "first"), rule("B", "second")))
    replay([(0.0, group), (60.0, group)], query=series_by_time({}, calls=calls))
    assert [t for _, t in calls] == [0.0, 60.0]  # one combined query per slot, its parts in rule order
    assert [[e for _, e in Combined.parse(expr) or []] for expr, _ in calls] == [["first", "second"]] * 2


# ---------------------------------------------------------------- replay: state and episodes

def steps(r: Rule, times: list[float], query: QueryFunc) -> list[tuple[float, Group]]:
    return [(t, Group("g", "f", 60.0, (r,))) for t in times]


def test_a_query_error_changes_nothing_for_that_rule() -> None:
    query = series_by_time({0.0: ONE, 120.0: ONE}, failing=frozenset({60.0}))
    result = replay(steps(rule(), [0.0, 60.0, 120.0], query), query=query)
    states = [[a.state for a in s.rules[0].alerts.values()] for s in result.slots]
    assert states == [[State.firing]] * 3
    assert [s.rules[0].error for s in result.slots] == ["", "connection refused", ""]
    assert [(e.pending_at, e.fired_at, e.resolved_at) for e in result.episodes] == [(0.0, 0.0, None)]


def test_a_failed_evaluation_keeps_the_previous_alerts() -> None:
    twins = [Sample({"agent": "a1"}, 1.0), Sample({"agent": "a2"}, 1.0)]
    r = rule(agent="same")
    query = series_by_time({0.0: ONE, 60.0: twins})
    result = replay(steps(r, [0.0, 60.0], query), query=query)
    assert "same labelset" in result.slots[1].rules[0].error
    assert result.slots[1].rules[0].alerts == result.slots[0].rules[0].alerts


def test_episodes_pending_dropped_fired_resolved_restarted_and_still_active() -> None:
    on = {t: ONE for t in (0.0, 60.0, 120.0, 180.0, 300.0, 360.0)}  # off at 240 and 420
    query = series_by_time({**on, 600.0: ONE})
    result = replay(steps(rule(for_=120.0), [float(t) for t in range(0, 660, 60)], query), query=query)
    assert [(e.pending_at, e.fired_at, e.resolved_at) for e in result.episodes] == [
        (0.0, 120.0, 240.0),  # fired at exactly `for`, resolved when missing
        (300.0, None, 420.0),  # pending, dropped when missing: never paged
        (600.0, None, None),  # still pending at the end
    ]
    assert [e.paged for e in result.episodes] == [True, False, False]
    assert result.episodes[0].end(until=999.0) == 240.0 and result.episodes[2].end(until=999.0) == 999.0


def test_keep_firing_for_extends_the_episode() -> None:
    query = series_by_time({0.0: ONE})
    result = replay(steps(rule(keep_firing_for=120.0), [0.0, 60.0, 120.0, 180.0], query), query=query)
    assert [(e.pending_at, e.fired_at, e.resolved_at) for e in result.episodes] == [(0.0, 0.0, 180.0)]


# ---------------------------------------------------------------- backtest: pages and modes

def episode(r: Rule, *, fired: float | None, resolved: float | None, **labels: str) -> Episode:
    all_labels = tuple(sorted({**r.labels, **labels, "alertname": r.name}.items()))
    return Episode("f:g", r, all_labels, pending_at=fired or 0.0, fired_at=fired, resolved_at=resolved)


def test_pages_count_episodes_that_fired_per_owner_and_list_quiet_owners() -> None:
    loud, quiet = rule(owner="team-a"), rule("B", owner="team-b")
    found = [episode(loud, fired=10.0, resolved=20.0), episode(loud, fired=None, resolved=5.0)]
    assert pages(found, groups=[Group("g", "f", 60.0, (loud, quiet))]) == {"team-a": 1, "team-b": 0}


def test_mode_times_take_the_strictest_mode_and_include_all_agent_alerts() -> None:
    one = rule("One", takeover="read_only")
    released = Rule(name="All", expr="x", labels={"owner": "team", "takeover": "handoff"},
                    annotations={"takeover_release": "on_resolve"})
    found = [episode(one, fired=0.0, resolved=100.0, agent="a1"),
             episode(released, fired=50.0, resolved=80.0),
             episode(one, fired=10.0, resolved=None, agent="a2")]
    assert mode_times(found, end=200.0) == (
        ModeTime("*", Mode.handoff, 30.0, until_release=False),
        ModeTime("a1", Mode.handoff, 30.0, until_release=False),
        ModeTime("a1", Mode.read_only, 70.0, until_release=True),
        ModeTime("a2", Mode.handoff, 30.0, until_release=False),
        ModeTime("a2", Mode.read_only, 160.0, until_release=True),
    )


# ---------------------------------------------------------------- backtest: times

@pytest.mark.parametrize(("text", "expected"), [
    ("now", T0), ("-6h", T0 - 6 * 3600), ("now-1d", T0 - 86400), ("1699990000", 1_699_990_000.0),
    ("1699990000.5", 1_699_990_000.5), ("2023-11-14T22:13:20Z", T0), ("2023-11-15T00:13:20+02:00", T0),
])
def test_parse_time(text: str, expected: float) -> None:
    assert parse_time(text, now=T0) == expected


@pytest.mark.parametrize(("text", "message"), [("yesterday", "not a time"),
                                               ("2023-11-14T22:13:20", "no time zone"),
                                               ("-6x", "not a valid duration")])
def test_parse_time_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_time(text, now=T0)


def test_rfc3339_and_short_duration() -> None:
    assert (rfc3339(T0), rfc3339(T0 + 0.25)) == ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20.250Z")
    assert [short_duration(s) for s in (0, 45, 3723, 7200)] == ["0s", "45s", "1h2m3s", "2h"]


# ---------------------------------------------------------------- against a real Prometheus

RULES = """\
groups:
  - name: agents
    interval: 1m
    rules:
      - alert: AgentErrors
        expr: errors > 0
        for: 2m
        labels: {owner: team-a, takeover: read_only}
        annotations: {runbook_url: https://r/agents, first_check: Read the agent log.}
  - name: latency
    interval: 30s
    rules:
      - alert: SlowEverything
        expr: latency > 0
        labels: {owner: team-b, takeover: require_approval}
        annotations: {runbook_url: https://r/latency, first_check: Check the backend., takeover_release: on_resolve}
"""


def history(text: str, values: str) -> InputSeries:
    return InputSeries(text, parse_series(text), tuple(parse_values(values)))


def first_slot(at: float, group: Group) -> float:
    from takeover.server.service import group_offset

    offset = group_offset(group)
    return math.ceil((at - offset) / group.interval) * group.interval + offset


@pytest.fixture(scope="module")
def prometheus_with_history(prometheus_binaries: None) -> Iterator[str]:
    """An hour of history from T0, a sample every 10s."""
    text = openmetrics([
        history('errors{agent="a1"}', "0x59 1x59 0x240"),  # 1 in [T0+600, T0+1200)
        history('errors{agent="a2"}', "0x149 1x5 0x204"),  # 1 in [T0+1500, T0+1560): one slot
        history("latency", "0x299 1x60"),  # 1 from T0+3000 to the end
    ], interval=10, start=T0)
    with serving(text) as url:
        yield url


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_backtest_reports_episodes_pages_and_modes_exactly(
        prometheus_with_history: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    agents, latency = load_rules([tmp_path / "rules.yml"])
    code = run_backtest([str(tmp_path / "rules.yml")], start=str(int(T0)), end="2023-11-14T23:13:20Z",
                        prometheus_url=prometheus_with_history, timeout=5, as_json=True)
    report = json.loads(capsys.readouterr().out)
    assert code == 0

    a1 = first_slot(T0 + 600, agents)
    a2 = first_slot(T0 + 1500, agents)
    slow = first_slot(T0 + 3000, latency)
    end = T0 + 3600
    assert report["episodes"] == [
        {"group": agents.key, "rule": "AgentErrors", "pending_at": rfc3339(a1), "fired_at": rfc3339(a1 + 120),
         "resolved_at": rfc3339(first_slot(T0 + 1200, agents)),
         "labels": {"agent": "a1", "alertname": "AgentErrors", "owner": "team-a", "takeover": "read_only"},
         "duration_seconds": round(first_slot(T0 + 1200, agents) - a1, 3),
         "firing_seconds": round(first_slot(T0 + 1200, agents) - a1 - 120, 3)},
        {"group": agents.key, "rule": "AgentErrors", "pending_at": rfc3339(a2), "fired_at": None,
         "resolved_at": rfc3339(a2 + 60),
         "labels": {"agent": "a2", "alertname": "AgentErrors", "owner": "team-a", "takeover": "read_only"},
         "duration_seconds": 60.0, "firing_seconds": None},
        {"group": latency.key, "rule": "SlowEverything", "pending_at": rfc3339(slow), "fired_at": rfc3339(slow),
         "resolved_at": None,
         "labels": {"alertname": "SlowEverything", "owner": "team-b", "takeover": "require_approval"},
         "duration_seconds": round(end - slow, 3), "firing_seconds": round(end - slow, 3)},
    ]
    assert report["pages"] == {"team-a": 1, "team-b": 1}
    assert report["takeover"] == [
        {"agent": "*", "mode": "require_approval", "seconds": round(end - slow, 3), "until_release": False},
        {"agent": "a1", "mode": "read_only", "seconds": round(first_slot(T0 + 1200, agents) - a1 - 120, 3),
         "until_release": True},
        {"agent": "a1", "mode": "require_approval", "seconds": round(end - slow, 3), "until_release": False},
    ]
    assert report["takeover_note"] == RELEASE_NOTE and report["errors"] == []
    from takeover.server.service import group_offset

    assert report["evaluations"] == sum(len(slots(start=T0, end=end, interval=g.interval, offset=group_offset(g)))
                                        for g in (agents, latency))
    assert (report["start"], report["end"]) == (rfc3339(T0), rfc3339(end))


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_backtest_text_output(prometheus_with_history: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    code = run_backtest([str(tmp_path / "rules.yml")], start="now-1h", end="now", now=T0 + 3600,
                        prometheus_url=prometheus_with_history, timeout=5)
    out = capsys.readouterr().out
    assert code == 0
    assert "3 alert episodes" in out and "team-a" in out and "read_only" in out
    assert "would have stayed longer" in out and "still active" in out


def test_backtest_exits_1_on_rule_file_errors_time_errors_and_query_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yml").write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n")
    assert run_backtest([str(tmp_path / "bad.yml")], start="-1h", end="now", prometheus_url="", timeout=1) == 1
    assert 'bad.yml:4:9: alert "A": label "owner" is required' in capsys.readouterr().err
    (tmp_path / "rules.yml").write_text(RULES)
    assert run_backtest([str(tmp_path / "rules.yml")], start="now", end="-1h", prometheus_url="", timeout=1) == 1
    assert "must be before --end" in capsys.readouterr().err

    from takeover.tools.promproc import free_port

    code = run_backtest([str(tmp_path / "rules.yml")], start="-2m", end="now", as_json=True,
                        prometheus_url=f"http://127.0.0.1:{free_port()}", timeout=1)
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["episodes"] == []
    assert {(e["rule"], e["count"] > 0) for e in report["errors"]} == {("AgentErrors", True),
                                                                       ("SlowEverything", True)}
