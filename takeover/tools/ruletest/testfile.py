"""promtool's unit-test file format: the test file, its groups, series and alert checks, read from YAML."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from takeover.config.duration import parse_duration
from takeover.tools.ruletest.gotext import go_quote, model_duration
from takeover.tools.ruletest.series import Point, parse_series, values_read

DEFAULT_EVALUATION_INTERVAL = 60.0


class TestFileError(ValueError):
    """A test file (or a part of it) that cannot be read; the message says where and why."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class InputSeries:
    """An input series: its values up to the group's last eval_time (nothing later is read)."""

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
class ExpectedSample:
    labels: str  # as written; parsed when checked (a bad one fails that check only, as in promtool)
    value: float


@dataclass(frozen=True)
class PromqlCheck:
    expr: str
    eval_time: float
    exp_samples: tuple[ExpectedSample, ...] = ()


@dataclass(frozen=True)
class TestGroup:
    """One entry of `tests:`: input series and the checks against them."""

    __test__ = False

    name: str = ""
    interval: float = 0.0
    input_series: tuple[InputSeries, ...] = ()
    alert_checks: tuple[AlertCheck, ...] = ()
    promql_checks: tuple[PromqlCheck, ...] = ()
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""

    @property
    def max_eval_time(self) -> float:
        return max((*(c.eval_time for c in self.alert_checks), *(c.eval_time for c in self.promql_checks)),
                   default=0.0)


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
    "sample": {"labels", "value"},
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
    name, interval = _text(fields.get("name")), _duration(fields.get("interval"))
    checks: list[AlertCheck] = []
    for c in _list(fields.get("alert_rule_test")):
        cf = _struct(c, "alertTestCase")
        eval_time, alertname = _duration(cf.get("eval_time")), _text(cf.get("alertname"))
        expected = []
        for a in _list(cf.get("exp_alerts")):
            af = _struct(a, "alert")
            expected.append(ExpectedAlert(_string_map(af.get("exp_labels")),
                                          _string_map(af.get("exp_annotations"))))
        checks.append(AlertCheck(eval_time, alertname, tuple(expected)))
    promql = []
    for p in _list(fields.get("promql_expr_test")):
        pf = _struct(p, "promqlTestCase")
        samples = tuple(ExpectedSample(_text(sf.get("labels")), _float(sf.get("value")))
                        for sf in (_struct(n, "sample") for n in _list(pf.get("exp_samples"))))
        promql.append(PromqlCheck(_text(pf.get("expr")), _duration(pf.get("eval_time")), samples))
    end = max((*(c.eval_time for c in checks), *(c.eval_time for c in promql)), default=0.0)
    series: dict[frozenset[tuple[str, str]], InputSeries] = {}
    for s in _list(fields.get("input_series")):
        sf = _struct(s, "series")
        text, values = _text(sf.get("series")), _text(sf.get("values"))
        try:
            labels = parse_series(text)
            key = frozenset(labels.items())
            series.pop(key, None)  # a series defined again replaces the earlier one, as in promtool
            series[key] = InputSeries(text, labels, tuple(values_read(values, interval=interval, end=end)))
        except ValueError as exc:
            raise TestFileError(f"{_where(s)}: {exc}") from None
    if missing := next((c for c in checks if not c.alertname), None):
        in_group = f" (in TestGroup {name})" if name else ""
        raise TestFileError("an item under alert_rule_test misses required attribute alertname "
                            f"at eval_time {model_duration(missing.eval_time)}{in_group}")
    return TestGroup(name, interval, tuple(series.values()), tuple(checks), tuple(promql),
                     _string_map(fields.get("external_labels")), _text(fields.get("external_url")))


def _where(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _struct(node: yaml.Node | None, kind: str) -> dict[str, yaml.Node]:
    """A mapping node as {key: value node}; unknown keys and keys given twice (a merged one
    too) fail like yaml.v2's UnmarshalStrict."""
    if node is None or _is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise TestFileError(f"yaml: {_where(node)}: cannot unmarshal into main.{kind}")
    out = {}
    for key, value in _pairs(node):
        if key.value not in _FIELDS[kind]:
            raise TestFileError(f"yaml: unmarshal errors:\n  {_where(key)}: field {key.value} "
                                f"not found in type main.{kind}")
        if key.value in out:
            raise TestFileError(f"yaml: unmarshal errors:\n  {_where(key)}: field {key.value} "
                                f"already set in type main.{kind}")
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
    out: dict[str, str] = {}
    for key, value in _pairs(node):
        if _text(key) in out:  # yaml.v2's UnmarshalStrict: a key twice, a merged one too
            raise TestFileError(f"yaml: unmarshal errors:\n  {_where(key)}: key {go_quote(_text(key))} "
                                "already set in map")
        out[_text(key)] = _text(value)
    return out


def _pairs(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """The key/value nodes with YAML merge keys (`<<: *base`) applied, as yaml.v2 does."""
    yaml.SafeLoader("").flatten_mapping(node)
    return list(node.value)


_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_YAML_SPECIAL = {f"{sign}.{word}": float(f"{sign}inf") for sign in ("", "+", "-") for word in ("inf", "Inf", "INF")}
_YAML_SPECIAL |= {f".{word}": math.nan for word in ("nan", "NaN", "NAN")}
_YAML_BOOLS = {"y", "yes", "n", "no", "true", "false", "on", "off"}


def _float(node: yaml.Node | None) -> float:
    """A number as yaml.v2 decodes it into a float64 (`1e3`, `0x10`, `010`, `1_000`, `.inf`;
    null is 0); a quoted or other scalar fails as it does there."""
    if node is None or _is_null(node):
        return 0.0
    text = _text(node)
    plain = isinstance(node, yaml.ScalarNode) and node.style is None
    if plain and text in _YAML_SPECIAL:
        return _YAML_SPECIAL[text]
    digits = text.replace("_", "")
    if plain and re.fullmatch(r"[-+]?0[0-7]+", digits):  # Go's ParseInt(text, 0): a leading 0 is octal
        return float(int(digits, 8))
    if plain and re.fullmatch(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+)", digits):
        return float(int(digits, 0))
    if plain and _YAML_FLOAT.fullmatch(digits):
        return float(digits)
    tag = "bool" if plain and text.lower() in _YAML_BOOLS else "str"
    raise TestFileError(f"yaml: unmarshal errors:\n  {_where(node)}: cannot unmarshal !!{tag} `{text}` into float64")


def _duration(node: yaml.Node | None) -> float:
    text = _text(node)
    try:
        return parse_duration(text) if text else 0.0
    except ValueError as exc:
        raise TestFileError(f"yaml: {text!r}: {exc}") from None
