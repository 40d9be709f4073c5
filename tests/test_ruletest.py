"""`takeover test rules` against `promtool test rules`: the parity suite in tests/rules/.

tests/rules/*.test.yml must pass in both; tests/rules/failing/ must fail in both with the very
same report; tests/rules/divergent/ are known differences (strict xfail: fixing one fails the
test, so the file moves to tests/rules/); tests/rules/unsupported/ are what takeover refuses.
"""

from __future__ import annotations

import io
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from takeover.rules.evaluate import Sample
from takeover.rules.format import Group, RecordingRule, Rule
from takeover.rules.query import QueryError, QueryFunc
from takeover.rules.replay import run
from takeover.tools.ruletest import (
    AlertCheck,
    ExpectedAlert,
    ExpectedSample,
    InputSeries,
    Placed,
    PromqlCheck,
    TestFileError,
    TestGroup,
    api_error,
    check_alerts,
    check_promql,
    evaluation_order,
    go_duration,
    go_float_e,
    go_quote,
    layers,
    load_test_file,
    model_duration,
    openmetrics,
    parse_metric,
    parse_series,
    parse_values,
    reads,
    run_test_files,
    unordered_read,
    values_read,
    written,
)

RULES = Path(__file__).resolve().parent / "rules"
CONVENTION_ENDINGS = ('is required (who owns this alert?)', 'annotation "runbook_url" is required',
                      'annotation "first_check" is required')


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def promtool(path: str, cwd: Path) -> Result:
    done = subprocess.run(["promtool", "test", "rules", path], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    return Result(done.returncode, done.stdout, done.stderr)


def takeover(path: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, *, strict: bool = False) -> Result:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.chdir(cwd)  # both tools print the path as given
    code = run_test_files([path], strict=strict, out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue())


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.test.yml"))


# ---------------------------------------------------------------- parity with promtool

@pytest.mark.parametrize("name", files(RULES))
@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_passes_in_promtool_and_in_takeover(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = promtool(name, RULES)
    assert (expected.code, expected.out) == (0, f"Unit Testing:  {name}\n  SUCCESS\n\n"), expected.err
    got = takeover(name, RULES, monkeypatch)
    assert (got.code, got.out) == (0, expected.out)
    # stderr: nothing, but for a warning of each convention (owner, runbook_url, first_check) a rule lacks
    assert all(line.startswith("  WARNING: ") and line.endswith(CONVENTION_ENDINGS) for line in got.err.splitlines())


@pytest.mark.parametrize("name", files(RULES / "failing"))
@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_wrong_expectations_fail_in_both_with_the_same_report(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = promtool(name, RULES / "failing")
    assert expected.code == 1 and "FAILED:" in expected.err
    assert takeover(name, RULES / "failing", monkeypatch) == expected


def _divergent() -> list[object]:
    params: list[object] = []
    for name in files(RULES / "divergent"):
        reason = " ".join(line.lstrip("# ") for line in (RULES / "divergent" / name).read_text().splitlines()
                          if line.startswith("#"))
        params.append(pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason)))
    return params


@pytest.mark.parametrize("name", _divergent())
@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_known_divergence(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = promtool(name, RULES / "divergent")
    assert takeover(name, RULES / "divergent", monkeypatch) == expected


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_a_rule_reading_what_is_recorded_after_it_is_reported_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert promtool("recorded_later.test.yml", RULES / "unsupported").code == 0
    got = takeover("recorded_later.test.yml", RULES / "unsupported", monkeypatch)
    assert (got.code, got.out) == (1, "Unit Testing:  recorded_later.test.yml\n\n\n")
    assert got.err == ("  UNSUPPORTED (takeover could not run these; they did not pass):\n"
                       "    not run: rule ReadsLater reads later:requests, recorded by a rule evaluated after "
                       "it: Prometheus gives it the value of the step before, which a range query over recorded "
                       "series cannot\n")


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_stale_inputs_are_reported_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert promtool("stale.test.yml", RULES / "unsupported").code == 0
    got = takeover("stale.test.yml", RULES / "unsupported", monkeypatch)
    assert got.code == 1
    assert "not run: input series empty_test use stale" in got.err


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_rule_file_errors_stop_the_file_with_file_line_and_column(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad.rules.yml").write_text(
        "groups:\n  - name: bad\n    rules:\n      - alert: NoOwner\n        expr: up ==\n")
    (tmp_path / "bad.test.yml").write_text(
        "rule_files: [bad.rules.yml]\ntests:\n  - alert_rule_test:\n"
        "      - {eval_time: 0s, alertname: NoOwner, exp_alerts: []}\n")
    assert promtool("bad.test.yml", tmp_path).code == 1
    parse_error = "bad.rules.yml:5:15: could not parse expression: invalid promql query"
    got = takeover("bad.test.yml", tmp_path, monkeypatch)
    assert (got.code, got.err.splitlines()) == (1, ["  FAILED:", parse_error])
    strict = takeover("bad.test.yml", tmp_path, monkeypatch, strict=True)
    assert (strict.code, strict.err.splitlines()) == (1, [
        "  FAILED:",
        "bad.rules.yml:4:9: alert \"NoOwner\": label \"owner\" is required (who owns this alert?)",
        "bad.rules.yml:4:9: alert \"NoOwner\": annotation \"runbook_url\" is required",
        "bad.rules.yml:4:9: alert \"NoOwner\": annotation \"first_check\" is required",
        parse_error,
    ])


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_rules_without_takeover_conventions_pass_with_a_warning_each_and_fail_with_strict(
        monkeypatch: pytest.MonkeyPatch) -> None:
    name, rule = "no_conventions.test.yml", 'no_conventions.rules.yml:8:9: alert "NodeCPUBusy"'
    got = takeover(name, RULES, monkeypatch)
    assert (got.code, got.out) == (0, f"Unit Testing:  {name}\n  SUCCESS\n\n")
    assert got.err == (f'  WARNING: {rule}: label "owner" is required (who owns this alert?)\n'
                       f'  WARNING: {rule}: annotation "runbook_url" is required\n'
                       f'  WARNING: {rule}: annotation "first_check" is required\n')
    strict = takeover(name, RULES, monkeypatch, strict=True)
    assert (strict.code, strict.out) == (1, f"Unit Testing:  {name}\n\n\n\n\n")
    assert strict.err == "  FAILED:\n" + got.err.replace("  WARNING: ", "")


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_input_series_of_ten_million_samples_cost_only_the_evaluation_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.yml").write_text(f"""\
rule_files: [{RULES / "states.rules.yml"}]
tests:
  - interval: 1m
    input_series:
      - {{series: 'for_test{{agent="a1"}}', values: 0+1x10000000}}
      - {{series: 'for_test{{agent="a2"}}', values: 1x100000000}}
    alert_rule_test:
      - eval_time: 50m
        alertname: ForTwoMinutes
        exp_alerts:
          - exp_labels: {{owner: team-states, agent: a1}}
            exp_annotations: {{runbook_url: https://runbooks.example.com/states,
                              first_check: Check the test series., value: "50"}}
          - exp_labels: {{owner: team-states, agent: a2}}
            exp_annotations: {{runbook_url: https://runbooks.example.com/states,
                              first_check: Check the test series., value: "1"}}
""")
    assert takeover("t.yml", tmp_path, monkeypatch) == Result(0, "Unit Testing:  t.yml\n  SUCCESS\n\n", "")


def test_a_test_file_error_is_reported_as_failed(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text("tests:\n  - interval: 1m\n    input_serie: []\n")
    out, err = io.StringIO(), io.StringIO()
    assert run_test_files([str(tmp_path / "t.yml")], out=out, err=err) == 1
    assert err.getvalue() == ("  FAILED:\nyaml: unmarshal errors:\n"
                              "  line 3: field input_serie not found in type main.testGroup\n")


# ---------------------------------------------------------------- the test file format

def test_load_test_file_resolves_rule_files_reads_scalars_as_written_and_merges(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text("""\
rule_files: [r.yml, /abs/r.yml]
evaluation_interval: 30s
group_eval_order: [b, a]
tests:
  - name: n
    interval: 15s
    external_labels: {env: prod}
    external_url: https://x
    input_series:
      - {series: 'up{job="a"}', values: 1+1x2}
    alert_rule_test:
      - eval_time: 1m
        alertname: A
        exp_alerts:
          - exp_labels: &labels {n: 3.0}
            exp_annotations: {<<: *labels, empty: , t: true}
    promql_expr_test:
      - {expr: up, eval_time: 2m, exp_samples: []}
""")
    f = load_test_file(str(tmp_path / "t.yml"))
    assert f.rule_files == (str(tmp_path / "r.yml"), "/abs/r.yml")
    assert (f.evaluation_interval, f.group_eval_order) == (30.0, ("b", "a"))
    (t,) = f.tests
    assert t == TestGroup(
        name="n", interval=15.0,
        input_series=(InputSeries('up{job="a"}', {"__name__": "up", "job": "a"}, (1.0, 2.0, 3.0)),),
        alert_checks=(AlertCheck(60.0, "A", (ExpectedAlert({"n": "3.0"}, {"n": "3.0", "empty": "", "t": "true"}),)),),
        promql_checks=(PromqlCheck("up", 120.0, ()),), external_labels={"env": "prod"}, external_url="https://x")
    assert t.max_eval_time == 120.0


def test_exp_samples_values_are_read_as_yaml_v2_reads_a_float64(tmp_path: Path) -> None:
    values = ["1e3", "0x10", "010", "1_000", ".inf", "-.Inf", "", "+1.5"]
    samples = "".join(f"          - {{labels: x, value: {v}}}\n" for v in values)
    (tmp_path / "t.yml").write_text(f"tests:\n  - promql_expr_test:\n      - expr: x\n        exp_samples:\n{samples}")
    (test,) = load_test_file(str(tmp_path / "t.yml")).tests
    assert [s.value for s in test.promql_checks[0].exp_samples] == [1000.0, 16.0, 8.0, 1000.0, math.inf,
                                                                     -math.inf, 0.0, 1.5]
    for value, tag in (('"1"', "str"), ("Inf", "str"), ("true", "bool")):
        (tmp_path / "t.yml").write_text(f"tests:\n  - promql_expr_test:\n      - exp_samples:\n"
                                        f"          - value: {value}\n")
        with pytest.raises(TestFileError) as raised:
            load_test_file(str(tmp_path / "t.yml"))
        assert str(raised.value) == (f"yaml: unmarshal errors:\n  line 4: cannot unmarshal !!{tag} "
                                     f"`{value.strip(chr(34))}` into float64")


def test_a_series_defined_again_replaces_the_earlier_definition_like_promtool(tmp_path: Path) -> None:
    (tmp_path / "t.yml").write_text("""\
tests:
  - interval: 1m
    input_series:
      - {series: 'up{a="1", b="2"}', values: 1 1}
      - {series: 'up{c="3"}', values: 7}
      - {series: 'up{b="2", a="1"}', values: 0 0 0}
    alert_rule_test: [{eval_time: 2m, alertname: A}]
""")
    (test,) = load_test_file(str(tmp_path / "t.yml")).tests
    assert [(s.text, s.values) for s in test.input_series] == [('up{c="3"}', (7.0,)),
                                                              ('up{b="2", a="1"}', (0.0, 0.0, 0.0))]


@pytest.mark.parametrize(("text", "message"), [
    ("tests: [{alert_rule_test: [{eval_time: 1m}]}]",
     "an item under alert_rule_test misses required attribute alertname at eval_time 1m"),
    ("group_eval_order: [a, a]", "group name repeated in evaluation order: a"),
    ("bogus: 1", "field bogus not found in type main.unitTestFile"),
    ("tests: [{input_series: [{series: up, values: '1 x'}]}]", 'bad item "x" in series values'),
])
def test_load_test_file_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "t.yml").write_text(text)
    with pytest.raises(TestFileError, match=message.replace("[", r"\[")):
        load_test_file(str(tmp_path / "t.yml"))


# ---------------------------------------------------------------- expanding notation

@pytest.mark.parametrize(("text", "points"), [
    ("1+1x3", [1.0, 2.0, 3.0, 4.0]),  # a+bxN is N+1 samples
    ("10-2x2", [10.0, 8.0, 6.0]),
    ("-1-1x1", [-1.0, -2.0]),
    ("5x2", [5.0, 5.0, 5.0]),
    ("1 _ 3", [1.0, None, 3.0]),
    ("_x3 1", [None, None, None, 1.0]),  # _xN is N missing samples
    ("1 stale 2", [1.0, "stale", 2.0]),
    ("1e3 .5 +Inf -Inf inf", [1000.0, 0.5, math.inf, -math.inf, math.inf]),
    ("1e+3+1x1", [1000.0, 1001.0]),
    ("0x3", [0.0, 0.0, 0.0, 0.0]),  # not hex: series values disallow it
    ("  1   2 ", [1.0, 2.0]),
    ("", []),
])
def test_parse_values(text: str, points: list[object]) -> None:
    assert parse_values(text) == points


def test_parse_values_checks_every_item_but_expands_only_up_to_the_limit() -> None:
    assert parse_values("0+1x10000000 _x100000000 1x100000000", limit=3) == [0.0, 1.0, 2.0]
    assert parse_values("1 _x100000000 2", limit=4) == [1.0, None, None, None]
    with pytest.raises(ValueError, match='bad item "x"'):
        parse_values("0+1x10000000 x", limit=1)


@pytest.mark.parametrize(("text", "interval", "end", "points"), [
    ("0+1x10000000", 60.0, 3000.0, [float(i) for i in range(51)]),  # 0s..50m: floor(end / interval) + 1
    ("0+1x10000000", 60.0, 3059.0, [float(i) for i in range(51)]),
    ("1 2 3", 60.0, 3000.0, [1.0, 2.0, 3.0]),
    ("_x100000000 7 8", 0.0, 3000.0, [7.0]),  # interval 0: all at 0s, where the first sample wins
    ("_x3", 0.0, 60.0, []),
    ("1x10000000", 0.5, 1.0, [1.0, 1.0, 1.0]),
])
def test_values_read_stop_at_the_last_evaluation(text: str, interval: float, end: float,
                                                 points: list[object]) -> None:
    assert values_read(text, interval=interval, end=end) == points


def test_parse_values_adds_steps_one_by_one_like_go() -> None:
    assert parse_values("0+0.1x3")[-1] == 0.1 + 0.1 + 0.1 != 0.3


def test_parse_values_nan() -> None:
    (nan,) = parse_values("NaN")
    assert isinstance(nan, float) and math.isnan(nan)


@pytest.mark.parametrize("text", ["1+1", "stalex2", "x3", "1x", "1+1x1.5", "1++1x2", "Infinity", "1,2", "abc"])
def test_parse_values_rejects_what_promtool_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="in series values"):
        parse_values(text)


def test_parse_series() -> None:
    assert parse_series('up{job="a\\"b", instance=\'i\',}') == {"__name__": "up", "job": 'a"b', "instance": "i"}
    assert parse_series('{__name__="up"}') == {"__name__": "up"}
    with pytest.raises(ValueError, match="labels must be given with ="):
        parse_series('up{job=~"a"}')
    with pytest.raises(ValueError, match="bad series"):
        parse_series("up{")


# ---------------------------------------------------------------- OpenMetrics for the backfill

def series(text: str, values: str) -> InputSeries:
    return InputSeries(text, parse_series(text), tuple(parse_values(values)))


def test_openmetrics_puts_sample_i_at_i_times_interval_seconds() -> None:
    text = openmetrics([series('up{job="a\\\\\\"\\n",b="1"}', "1 _ NaN +Inf 0.1"), series("x", "1.5")],
                       interval=0.5)
    assert text == ('up{b="1",job="a\\\\\\"\\n"} 1.0 0.000\n'
                    'up{b="1",job="a\\\\\\"\\n"} NaN 1.000\n'
                    'up{b="1",job="a\\\\\\"\\n"} +Inf 1.500\n'
                    'up{b="1",job="a\\\\\\"\\n"} 0.1 2.000\n'
                    "x 1.5 0.000\n# EOF\n")


def test_openmetrics_interval_zero_keeps_the_first_sample_and_start_shifts() -> None:
    assert openmetrics([series("x", "_ 7 8")], interval=0) == "x 7.0 0.000\n# EOF\n"
    assert openmetrics([series("x", "1 2")], interval=60, start=1_700_000_000) == (
        "x 1.0 1700000000.000\nx 2.0 1700000060.000\n# EOF\n")


def test_openmetrics_refuses_what_it_cannot_hold() -> None:
    with pytest.raises(TestFileError, match="no metric name"):
        openmetrics([series('{job="a"}', "1")], interval=60)
    with pytest.raises(TestFileError, match="stale markers cannot be backfilled"):
        openmetrics([series("x", "1 stale")], interval=60)


# ---------------------------------------------------------------- promtool's text

@pytest.mark.parametrize(("seconds", "model", "go"), [
    (0, "0s", "0s"), (60, "1m", "1m0s"), (90, "1m30s", "1m30s"), (3600, "1h", "1h0m0s"),
    (86400 * 8, "8d", "192h0m0s"), (86400 * 14, "2w", "336h0m0s"), (0.5, "500ms", "500ms"),
    (61.25, "1m1s250ms", "1m1.25s"),
])
def test_durations_print_like_go(seconds: float, model: str, go: str) -> None:
    assert (model_duration(seconds), go_duration(seconds)) == (model, go)


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1E+00"), (0.1 + 0.2, "3.0000000000000004E-01"), (1.5e7, "1.5E+07"), (-1.23e-05, "-1.23E-05"),
    (0.0, "0E+00"), (-0.0, "-0E+00"), (1e100, "1E+100"), (5e-324, "5E-324"), (math.nan, "NaN"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"),
])
def test_floats_print_like_go_formatfloat_e(value: float, text: str) -> None:
    assert go_float_e(value) == text


def test_parse_metric_reads_exp_samples_labels_like_prometheus() -> None:
    assert parse_metric("") == parse_metric(" {} ") == []
    assert parse_metric('x{b="1", a="",}') == [("__name__", "x"), ("a", ""), ("b", "1")]  # empty kept
    assert parse_metric('{__name__="x", a="1", a="2"}') == [("__name__", "x"), ("a", "1"), ("a", "2")]
    with pytest.raises(ValueError, match="labels must be given with ="):
        parse_metric('x{a=~"1"}')
    with pytest.raises(ValueError):
        parse_metric("x y")


def test_api_errors_are_prometheus_own_words() -> None:
    body = b'{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": 1:7: parse error"}'
    assert api_error(f"HTTP Status Code 400 ({body!r})") == "1:7: parse error"
    assert api_error("HTTP Status Code 503 (b'not json')") == "HTTP Status Code 503 (b'not json')"


def test_go_quote() -> None:
    assert go_quote('a"b\\c\nd\té\x01') == '"a\\"b\\\\c\\nd\\té\\x01"'


# ---------------------------------------------------------------- the comparison, without Prometheus

def rule(name: str, expr: str, **labels: str) -> Rule:
    return Rule(name=name, expr=expr, labels={"owner": "t", **labels}, annotations={"v": "{{ $value }}"})


def table(results: Mapping[tuple[str, float], list[Sample]]) -> QueryFunc:
    def query(expr: str, ts: float) -> list[Sample]:
        if (expr, ts) not in results:
            raise QueryError(f"no data for {expr} at {ts}")
        return results[(expr, ts)]

    return query


def check(groups: list[Group], test: TestGroup, query: QueryFunc, *, interval: float = 60.0) -> list[str]:
    plan = [(t * interval, g) for t in range(int(test.max_eval_time // interval) + 1) for g in groups]
    return check_alerts(test, evaluation_interval=interval, history=run(plan, query=query))


def test_checks_see_the_last_evaluation_at_or_before_eval_time_across_groups() -> None:
    groups = [Group("g1", "f", 60.0, (rule("A", "a"),)), Group("g2", "f", 60.0, (rule("A", "b"),))]
    one = [Sample({"__name__": "a", "x": "1"}, 1.0)]
    query = table({("a", 0.0): one, ("b", 0.0): [], ("a", 60.0): one, ("b", 60.0): [Sample({}, 2.0)]})
    exp_a = ExpectedAlert({"owner": "t", "x": "1"}, {"v": "1"})
    ok = TestGroup(alert_checks=(AlertCheck(59.0, "A", (exp_a,)),
                                 AlertCheck(60.0, "A", (ExpectedAlert({"owner": "t"}, {"v": "2"}), exp_a))))
    assert check(groups, ok, query) == []
    wrong = TestGroup(name="n", alert_checks=(AlertCheck(30.0, "A", ()),))
    assert check(groups, wrong, query) == [
        "    name: n,\n    alertname: A, time: 30s, \n        exp:[], \n        got:[\n"
        "            0:\n"
        '              Labels:{alertname="A", owner="t", x="1"}\n'
        '              Annotations:{v="1"}\n'
        "            ]"]


def test_an_evaluation_error_stops_the_checks_at_that_time() -> None:
    groups = [Group("g", "f", 60.0, (rule("A", "a"), rule("B", "b")))]
    query = table({("a", 0.0): [], ("b", 0.0): [], ("b", 60.0): []})  # `a` fails at 60s
    test = TestGroup(alert_checks=(AlertCheck(0.0, "A", (ExpectedAlert({}, {}),)), AlertCheck(120.0, "A", ())))
    errors = check(groups, test, query)
    assert len(errors) == 2 and errors[0].startswith("    alertname: A, time: 0s")
    assert errors[1] == "    rule: A, time: 1m0s, err: no data for a at 60.0"


def test_checks_are_made_even_without_rule_groups() -> None:
    test = TestGroup(alert_checks=(AlertCheck(60.0, "A", (ExpectedAlert({}, {}),)), AlertCheck(0.0, "B", ())))
    (error,) = check([], test, table({}))
    assert error.startswith("    alertname: A, time: 1m, \n        exp:[\n")


# ---------------------------------------------------------------- recording rules, without Prometheus

def recording(name: str, expr: str, line: int, **labels: str) -> RecordingRule:
    return RecordingRule(name, expr, labels, line=line)


def test_rules_are_ordered_by_group_then_line_and_layered_by_what_they_read() -> None:
    first = Group("a", "f", 60.0, (Rule("Alert", "r2 > 1", line=3),), limit=2,
                  records=(recording("r1", "sum(x)", 1), recording("r2", "r1 * 2", 5)))
    second = Group("b", "f", 60.0, (), records=(recording("r3", '{__name__=~"r[12]"}', 1),
                                                recording("r4", "y", 2)))
    order = evaluation_order([first, second])
    assert [(p.rule.name, p.place, p.limit) for p in order] == [
        ("r1", (0, 1), 2), ("Alert", (0, 3), 2), ("r2", (0, 5), 2), ("r3", (1, 1), 0), ("r4", (1, 2), 0)]
    assert unordered_read(order) == ("rule Alert reads r2, recorded by a rule evaluated after it: Prometheus "
                                     "gives it the value of the step before, which a range query over "
                                     "recorded series cannot")
    in_order = [p for p in order if p.rule.name != "Alert"]
    assert unordered_read(in_order) is None
    assert [[p.rule.name for p in layer] for layer in layers(in_order)] == [["r1", "r4"], ["r2"], ["r3"]]
    assert unordered_read(evaluation_order([Group("g", "f", 60.0, (), records=(recording("c", "c + 1", 1),))]))


@pytest.mark.parametrize(("expr", "name", "read"), [
    ("rate(job:x[5m] offset 1m)", "job:x", True),
    ('{__name__="job:x"}', "job:x", True),
    ('{__name__=~"job:.*", __name__!="job:y"}', "job:x", True),
    ('{__name__!~"job:.*"}', "job:x", False),
    ('{job="a"}', "job:x", True),  # no name: it may read anything
    ("sum by (job) (other)", "job:x", False),
    ("sum(", "job:x", False),  # does not parse: reads nothing
])
def test_reads_tells_whether_a_selector_can_match_a_name(expr: str, name: str, read: bool) -> None:
    assert reads(expr, name) is read


def test_a_recording_rule_writes_its_name_and_labels_and_fails_as_prometheus_does() -> None:
    placed = Placed(recording("r", "x", 4, env="prod", drop=""), group=0, limit=2)
    a, b = (("__name__", "x"), ("drop", "1"), ("i", "a")), (("__name__", "x"), ("i", "b"))
    done = written(placed, {a: {0: 1.0, 1: math.nan}, b: {1: 2.0, 2: 3.0}}, last=2, interval=60.0)
    ra, rb = (("__name__", "r"), ("env", "prod"), ("i", "a")), (("__name__", "r"), ("env", "prod"), ("i", "b"))
    assert done.failure is None and done.series.keys() == {ra, rb}
    assert done.series[rb] == {1: 2.0, 2: 3.0} and done.series[ra][0] == 1.0 and math.isnan(done.series[ra][1])
    assert done.ends() == [(2, ra)]  # b is still there at the last step
    same = Placed(recording("r", "x", 4, i="same"), group=1)
    failed = written(same, {(("__name__", "x"), ("i", "a")): {0: 1.0, 1: 1.0}, b: {1: 2.0}}, last=2, interval=60.0)
    assert failed.failure is not None and (failed.failure.step, failed.failure.place) == (1, (1, 4))
    assert failed.failure.text == ("    rule: r, time: 1m0s, err: vector contains metrics with the same "
                                   "labelset after applying rule labels")
    assert failed.ends() == []  # a failed step writes nothing and marks nothing stale
    limited = written(Placed(recording("r", "x", 4), group=0, limit=1), {a: {0: 1.0, 1: 1.0}, b: {1: 2.0}},
                      last=2, interval=60.0)
    assert limited.failure is not None and limited.failure.text.endswith("err: exceeded limit of 1 with 2 series")


def test_promql_checks_compare_exactly_and_print_like_promtool() -> None:
    from takeover.rules.query import static_query
    from takeover.tools.ruletest import PromqlCheck

    query = static_query({"x": [Sample({"__name__": "x", "b": "1"}, math.nan), Sample({"__name__": "x"}, 0.3)]})
    exact = PromqlCheck("x", 60.0, (ExpectedSample("x", 0.3), ExpectedSample('x{b="1"}', math.nan)))
    assert check_promql([exact, PromqlCheck("y", 0.0), PromqlCheck("x", 0.0, (ExpectedSample("x{", 1),))], query) == [
        '    expr: "x", time: 1m,\n'
        '        exp: {__name__="x"} 3E-01, {__name__="x", b="1"} NaN\n'
        '        got: {__name__="x"} 3E-01, {__name__="x", b="1"} NaN',
        "    expr: \"y\", time: 0s, err: no result for 'y'",
        '    expr: "x", time: 0s, err: labels "x{": unexpected end of input inside braces']


@pytest.mark.prometheus
@pytest.mark.usefixtures("prometheus_binaries")
def test_remote_write_puts_samples_and_staleness_markers_behind_the_backfilled_inputs() -> None:
    from takeover.tools.ruletest import instant_query, openmetrics, tsdb, writable_prometheus
    from takeover.tools.ruletest.remotewrite import STALE, write

    inputs = openmetrics([series("x", "1x100")], interval=60)  # blocks up to 100m
    many = [(ms, float(ms)) for ms in range(0, 6_000_000, 200)]  # more than one request, bodies over 64 KiB
    with tsdb(inputs) as data, writable_prometheus(data, evaluation_interval=60, until=6000) as url:
        write(url, [((("__name__", "written"),), many), ((("__name__", "x"),), [(90_000, STALE)])])
        query = instant_query(url)
        assert [s.value for s in query("count_over_time(written[1d])", 6000)] == [30_000]
        assert [s.value for s in query("x", 89.0)] == [1.0]
        assert query("x", 90.0) == query("x", 119.0) == []  # stale until the next sample
        assert [s.value for s in query("x", 120.0)] == [1.0]
        assert query("takeover_ruletest_head_end", 6000) == []  # the sentinel sits after the window
