"""`takeover test rules`: promtool's rule unit-test files, run through takeover's evaluator.

Each test group's input series are backfilled into a throwaway TSDB (`promtool tsdb
create-blocks-from openmetrics`), a Prometheus is started on it, and takeover's replay core steps
every group from time 0 (the Unix epoch, as in promtool) every `evaluation_interval`, querying
that Prometheus. The firing alerts at the last evaluation at or before each `eval_time` are
compared with `exp_alerts` exactly as promtool 2.42 does (cmd/promtool/unittest.go), and the
report has promtool's shape. What takeover cannot run (`promql_expr_test`, `stale` inputs) is
reported as UNSUPPORTED, which fails the run: a check that was not made never passes.
"""

from __future__ import annotations

import glob
import itertools
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TextIO

import yaml

from takeover.config.duration import parse_duration
from takeover.config.yamlfile import ConfigError
from takeover.rules.evaluate import Expand, Labels
from takeover.rules.format import Group, load_rules
from takeover.rules.group import GroupSlot, RuleResult, run, slots
from takeover.rules.query import prometheus_query
from takeover.tools.promproc import binary, running_prometheus

DEFAULT_EVALUATION_INTERVAL = 60.0
QUERY_TIMEOUT = 10.0
# Prometheus deletes blocks older than retention relative to the *newest* block: keep them all
PROMETHEUS_ARGS = ("--storage.tsdb.retention.time=100y",)

Point = float | None | Literal["stale"]  # a sample value, a missing sample (`_`), a stale marker


class TestFileError(ValueError):
    """A test file (or a part of it) that cannot be read; the message says where and why."""

    __test__ = False  # not a pytest class


# ---------------------------------------------------------------- the test file format

@dataclass(frozen=True)
class InputSeries:
    text: str  # as written, e.g. `up{job="api"}`
    labels: Mapping[str, str]
    values: tuple[Point, ...]


@dataclass(frozen=True)
class ExpectedAlert:
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class AlertCheck:
    eval_time: float
    alertname: str
    exp_alerts: tuple[ExpectedAlert, ...]


@dataclass(frozen=True)
class TestGroup:
    """One entry of `tests:`: input series and the checks against them."""

    __test__ = False

    name: str = ""
    interval: float = 0.0
    input_series: tuple[InputSeries, ...] = ()
    alert_checks: tuple[AlertCheck, ...] = ()
    promql_checks: tuple[float, ...] = ()  # eval_time of each promql_expr_test (not run)
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""

    @property
    def max_eval_time(self) -> float:
        return max((*(c.eval_time for c in self.alert_checks), *self.promql_checks), default=0.0)


@dataclass(frozen=True)
class TestFile:
    __test__ = False

    path: str
    rule_files: tuple[str, ...]
    evaluation_interval: float
    group_eval_order: tuple[str, ...]
    tests: tuple[TestGroup, ...]


_FIELDS = {
    "unitTestFile": {"rule_files", "evaluation_interval", "group_eval_order", "tests"},
    "testGroup": {"interval", "input_series", "alert_rule_test", "promql_expr_test",
                  "external_labels", "external_url", "name"},
    "series": {"series", "values"},
    "alertTestCase": {"eval_time", "alertname", "exp_alerts"},
    "alert": {"exp_labels", "exp_annotations"},
    "promqlTestCase": {"expr", "eval_time", "exp_samples"},
}


def load_test_file(path: str) -> TestFile:
    """Read a promtool test file; rule file patterns are resolved against its directory."""
    try:
        node = yaml.compose(Path(path).read_text(), Loader=yaml.SafeLoader)
    except OSError as exc:
        raise TestFileError(f"open {path}: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        raise TestFileError(f"yaml: {exc}") from None
    top = _struct(node, "unitTestFile")
    base = os.path.dirname(path)
    patterns = [p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))  # Go's filepath.Join
                for p in _strings(top.get("rule_files"))]
    order = _strings(top.get("group_eval_order"))
    for i, name in enumerate(order):
        if name in order[:i]:
            raise TestFileError(f"group name repeated in evaluation order: {name}")
    interval = _duration(top.get("evaluation_interval")) or DEFAULT_EVALUATION_INTERVAL
    tests = tuple(_test_group(t) for t in _list(top.get("tests")))
    return TestFile(path, tuple(patterns), interval, tuple(order), tests)


def _test_group(node: yaml.Node) -> TestGroup:
    fields = _struct(node, "testGroup")
    name = _text(fields.get("name"))
    series = []
    for s in _list(fields.get("input_series")):
        sf = _struct(s, "series")
        text, values = _text(sf.get("series")), _text(sf.get("values"))
        try:
            series.append(InputSeries(text, parse_series(text), tuple(parse_values(values))))
        except ValueError as exc:
            raise TestFileError(f"{_where(s)}: {exc}") from None
    checks = []
    for c in _list(fields.get("alert_rule_test")):
        cf = _struct(c, "alertTestCase")
        eval_time, alertname = _duration(cf.get("eval_time")), _text(cf.get("alertname"))
        if not alertname:
            in_group = f" (in TestGroup {name})" if name else ""
            raise TestFileError("an item under alert_rule_test misses required attribute alertname "
                                f"at eval_time {model_duration(eval_time)}{in_group}")
        expected = []
        for a in _list(cf.get("exp_alerts")):
            af = _struct(a, "alert")
            expected.append(ExpectedAlert(_string_map(af.get("exp_labels")),
                                          _string_map(af.get("exp_annotations"))))
        checks.append(AlertCheck(eval_time, alertname, tuple(expected)))
    promql = tuple(_duration(_struct(p, "promqlTestCase").get("eval_time"))
                   for p in _list(fields.get("promql_expr_test")))
    return TestGroup(name, _duration(fields.get("interval")), tuple(series), tuple(checks), promql,
                     _string_map(fields.get("external_labels")), _text(fields.get("external_url")))


def _where(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _struct(node: yaml.Node | None, kind: str) -> dict[str, yaml.Node]:
    """A mapping node as {key: value node}; unknown keys fail like yaml.v2's UnmarshalStrict."""
    if node is None or _is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise TestFileError(f"yaml: {_where(node)}: cannot unmarshal into main.{kind}")
    out = {}
    for key, value in _pairs(node):
        if key.value not in _FIELDS[kind]:
            raise TestFileError(f"yaml: unmarshal errors:\n  {_where(key)}: field {key.value} "
                                f"not found in type main.{kind}")
        out[str(key.value)] = value
    return out


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _text(node: yaml.Node | None) -> str:
    """A scalar's text as written (yaml.v2 decodes `3.0` into a string as "3.0"); null is ""."""
    if node is None or _is_null(node):
        return ""
    if not isinstance(node, yaml.ScalarNode):
        raise TestFileError(f"yaml: {_where(node)}: cannot unmarshal a collection into a string")
    return str(node.value)


def _list(node: yaml.Node | None) -> list[yaml.Node]:
    if node is None or _is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise TestFileError(f"yaml: {_where(node)}: expected a list")
    return list(node.value)


def _strings(node: yaml.Node | None) -> list[str]:
    return [_text(n) for n in _list(node)]


def _string_map(node: yaml.Node | None) -> dict[str, str]:
    if node is None or _is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise TestFileError(f"yaml: {_where(node)}: expected a mapping of strings")
    return {_text(k): _text(v) for k, v in _pairs(node)}


def _pairs(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """The key/value nodes with YAML merge keys (`<<: *base`) applied, as yaml.v2 does."""
    yaml.SafeLoader("").flatten_mapping(node)
    return list(node.value)


def _duration(node: yaml.Node | None) -> float:
    text = _text(node)
    try:
        return parse_duration(text) if text else 0.0
    except ValueError as exc:
        raise TestFileError(f"yaml: {text!r}: {exc}") from None


# ---------------------------------------------------------------- series notation

_NUMBER = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF]|[nN][aA][nN]"
_ITEM = re.compile(rf"(?P<a>[+-]?(?:{_NUMBER})|stale)(?:(?P<b>[+-](?:{_NUMBER}))?x(?P<n>[0-9]+))?")
_BLANK = re.compile(r"_(?:x(?P<n>[0-9]+))?")


def parse_values(text: str) -> list[Point]:
    """promtool's expanding notation: `a+bxN` is N+1 values a, a+b, ..., `axN` N+1 times a,
    `_` one missing sample, `_xN` N missing samples, `stale` a staleness marker."""
    points: list[Point] = []
    for item in text.split():
        if blank := _BLANK.fullmatch(item):
            points.extend([None] * (int(blank["n"]) if blank["n"] else 1))
            continue
        match = _ITEM.fullmatch(item)
        if match is None or (match["a"] == "stale" and match["n"] is not None):
            raise ValueError(f'bad item "{item}" in series values: expected a number, "stale", '
                             '"_", "_xN", "axN", "a+bxN" or "a-bxN"')
        if match["a"] == "stale":
            points.append("stale")
            continue
        value = float(match["a"])
        step = float(match["b"]) if match["b"] else 0.0
        for _ in range(int(match["n"]) + 1 if match["n"] else 1):
            points.append(value)
            value += step  # repeated addition, as the Go parser does: 0.1 steps drift alike
    return points


def parse_series(text: str) -> dict[str, str]:
    """`name{label="value", ...}` (PromQL metric notation) as labels, `__name__` included."""
    import promql_parser

    try:
        expr = promql_parser.parse(text)
    except ValueError as exc:
        raise ValueError(f"bad series {text!r}: {exc}") from None
    if not isinstance(expr, promql_parser.VectorSelector) or expr.offset or expr.at:
        raise ValueError(f"bad series {text!r}: expected name{{label=\"value\", ...}}")
    labels = {"__name__": expr.name} if expr.name else {}
    for m in expr.matchers.matchers:
        if m.op != promql_parser.MatchOp.Equal:
            raise ValueError(f"bad series {text!r}: labels must be given with =")
        labels[m.name] = m.value
    return labels


# ---------------------------------------------------------------- backfill and serve

def openmetrics(series: Sequence[InputSeries], *, interval: float, start: float = 0.0) -> str:
    """The series as OpenMetrics text, sample i at `start + i * interval` (seconds since the
    epoch), `# EOF` last. With interval 0 every sample lands on `start`: the first one wins there
    (as in promtool)."""
    lines = []
    step_ms, start_ms = round(interval * 1000), round(start * 1000)
    for s in series:
        if "__name__" not in s.labels:
            raise TestFileError(f"series {s.text} has no metric name: OpenMetrics cannot hold it")
        rest = ",".join(f'{k}="{_om_escape(v)}"' for k, v in sorted(s.labels.items()) if k != "__name__")
        head = s.labels["__name__"] + (f"{{{rest}}}" if rest else "")
        seen: set[int] = set()
        for i, value in enumerate(s.values):
            ms = start_ms + i * step_ms
            if value is None or ms in seen:
                continue
            if value == "stale":
                raise TestFileError(f"series {s.text}: stale markers cannot be backfilled")
            seen.add(ms)
            lines.append(f"{head} {_om_value(value)} {ms // 1000}.{ms % 1000:03d}")
    return "\n".join([*lines, "# EOF"]) + "\n"


def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _om_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def backfill(text: str, *, data_dir: Path) -> None:
    """Write OpenMetrics `text` into TSDB blocks under `data_dir` with promtool."""
    source = data_dir.parent / f"{data_dir.name}.om"
    source.write_text(text)
    result = subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "-q",
                             str(source), str(data_dir)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"promtool tsdb create-blocks-from openmetrics failed: {result.stderr.strip()}")


@contextmanager
def serving(text: str) -> Iterator[str]:
    """A throwaway Prometheus serving the OpenMetrics `text`; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="takeover-backfill-") as tmp:
        data = Path(tmp) / "data"
        backfill(text, data_dir=data)
        with running_prometheus("global: {}\n", data_dir=data, extra_args=PROMETHEUS_ARGS) as url:
            yield url


# ---------------------------------------------------------------- running a test group

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


AlertPair = tuple[Labels, Labels]  # labels and annotations, both sorted by name


def _compare(check: AlertCheck, test_name: str, latest: Iterable[RuleResult]) -> list[str]:
    got = sorted((a.labels, _sorted(a.annotations))
                 for r in latest if r.rule.name == check.alertname for a in r.firing())
    exp = sorted((_sorted({**e.labels, "alertname": check.alertname}), _sorted(e.annotations))
                 for e in check.exp_alerts)
    if exp == got:
        return []
    name = f"    name: {test_name},\n" if test_name else ""
    return [f"{name}    alertname: {check.alertname}, time: {model_duration(check.eval_time)}, \n"
            f"        exp:{_indent(alerts_string(exp), ' ' * 12)}, \n"
            f"        got:{_indent(alerts_string(got), ' ' * 12)}"]


def _sorted(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


# ---------------------------------------------------------------- promtool's text

def alerts_string(alerts: Sequence[AlertPair]) -> str:
    """promtool's labelsAndAnnotations.String()."""
    if not alerts:
        return "[]"
    items = [f"{i}:" + _indent(f"\nLabels:{labels_string(lb)}\nAnnotations:{labels_string(an)}", "  ")
             for i, (lb, an) in enumerate(alerts)]
    return "[\n" + ",\n".join(items) + "\n]"


def labels_string(labels: Labels) -> str:
    """Prometheus's labels.Labels.String(): `{a="1", b="2"}`."""
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in labels) + "}"


def _indent(text: str, indent: str) -> str:
    return ("\n" + indent).join(text.split("\n"))


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's strconv.Quote."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


_MODEL_UNITS = (("y", 365 * 86_400_000, True), ("w", 7 * 86_400_000, True), ("d", 86_400_000, False),
                ("h", 3_600_000, False), ("m", 60_000, False), ("s", 1000, False), ("ms", 1, False))


def model_duration(seconds: float) -> str:
    """prometheus/common model.Duration.String(): `1m`, `1h30m`, `0s`."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in _MODEL_UNITS:
        if (exact and ms % size) or ms < size:
            continue
        out += f"{ms // size}{unit}"
        ms %= size
    return out


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for a non-negative duration: `0s`, `1m0s`, `1h0m30s`, `500ms`."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1000), ("ns", 1)):
            if ns >= size:
                return _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if hours or minutes else ""
    return text + _decimal(rest, 1_000_000_000) + "s"


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0") if frac else ""
    return f"{whole}.{digits}" if digits else str(whole)


# ---------------------------------------------------------------- the command

def run_test_files(files: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`takeover test rules FILE...`: promtool's report and exit status (0 success, 1 otherwise)."""
    out, err = out or sys.stdout, err or sys.stderr
    failed = False
    for path in files:
        print("Unit Testing: ", path, file=out)
        outcome = run_test_file(path, err=err)
        if outcome.errors:
            print("  FAILED:", file=err)
            for text in outcome.errors:
                print(text, file=err)
                print(file=out)
        if outcome.unsupported:
            print("  UNSUPPORTED (takeover could not run these; they did not pass):", file=err)
            for text in outcome.unsupported:
                print(text, file=err)
                print(file=out)
        if not outcome.errors and not outcome.unsupported:
            print("  SUCCESS", file=out)
        failed = failed or bool(outcome.errors or outcome.unsupported)
        print(file=out)
    return 1 if failed else 0


def run_test_file(path: str, *, err: TextIO) -> Outcome:
    """Every test group of one file; a file or rule-file error stops the file."""
    try:
        test_file = load_test_file(path)
    except TestFileError as exc:
        return Outcome(errors=(str(exc),))
    rule_files = []
    for pattern in test_file.rule_files:
        matched = sorted(glob.glob(pattern))
        if not matched:
            print("  WARNING: no file match pattern", pattern, file=err)
        rule_files.extend(matched)
    try:
        groups = load_rules(rule_files) if rule_files else []
    except ConfigError as exc:
        return Outcome(errors=tuple(str(e) for e in exc.errors))
    order = {name: i for i, name in enumerate(test_file.group_eval_order)}
    groups = sorted(groups, key=lambda g: order.get(g.name, 0))
    errors: list[str] = []
    unsupported: list[str] = []
    for test in test_file.tests:
        try:
            outcome = run_test_group(test, groups=groups, evaluation_interval=test_file.evaluation_interval)
        except (RuntimeError, TimeoutError) as exc:  # promtool or Prometheus itself failed
            outcome = Outcome(errors=(f"    {exc}",))
        errors.extend(outcome.errors)
        unsupported.extend(outcome.unsupported)
    return Outcome(tuple(errors), tuple(unsupported))
