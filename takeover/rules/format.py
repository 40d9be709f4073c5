"""The rule file format: Prometheus alerting-rule YAML plus takeover's conventions.

Parsing is separate from evaluation (like Prometheus's rulefmt): this module turns files into
frozen `Group`/`Rule` values and reports every problem as `file:line:column: message`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from takeover.config.mode import ROLLBACK, SHADOW, TAKEOVER_MODES, Mode, shadow_mode
from takeover.config.yamlfile import (
    ConfigError,
    ErrorSink,
    Problem,
    compose_yaml,
    duration,
    is_null,
    keys,
    mapping,
    scalar,
    value_node,
)
from takeover.rules.conventions import Defaults, fill, missing

DEFAULT_INTERVAL = 60.0
GROUP_FIELDS = {"name", "interval", "limit", "rules"}
RULE_FIELDS = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class Rule:
    """One alerting rule; durations in seconds."""

    name: str
    expr: str
    for_: float = 0.0
    keep_firing_for: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    column: int = 0
    defaults: Mapping[str, str] = field(default_factory=dict)  # label/annotation -> the default that set it

    @property
    def takeover(self) -> Mode | None:
        """The mode this rule puts its agent into while firing, when written as a literal."""
        value = self.labels.get("takeover")
        return Mode[value] if value in TAKEOVER_MODES else None

    @property
    def acts(self) -> bool:
        """The rule may take over an agent: a `takeover` label, literal or templated (a
        template's value is checked after expansion, at each evaluation)."""
        return "takeover" in self.labels

    @property
    def release_on_resolve(self) -> bool:
        """The rule opts in to hand control back when its alert resolves."""
        return self.annotations.get("takeover_release") == "on_resolve"

    @property
    def query(self) -> str:
        """What is sent to Prometheus: Prometheus 2.42 queries an alerting rule's re-printed
        expression, whose label matchers are sorted, and `absent()` takes its labels from them in
        that order (`absent(x{job="a", job!~"b"})` keeps job="a"); elsewhere the order is moot
        and the expression goes as written."""
        if "absent" not in self.expr:
            return self.expr
        import promql_parser

        return str(promql_parser.parse(self.expr).prettify())

    @property
    def key(self) -> str:
        """Stable identity across reloads: name plus its labels (as Prometheus matches rules)."""
        digest = hashlib.sha256(repr(sorted(self.labels.items())).encode()).hexdigest()[:12]
        return f"{self.name}/{digest}"


@dataclass(frozen=True)
class RecordingRule:
    """A recording rule: Prometheus's to evaluate (`takeover serve` skips it); `takeover test
    rules` evaluates it, as promtool does, so the alerting rules that read it can be tested."""

    name: str  # the recorded metric name
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    column: int = 0

    @property
    def skipped(self) -> Problem:
        return Problem(self.file, self.line, self.column, f"recording rule {self.name} skipped: Prometheus "
                       "evaluates recording rules, takeover only alerting rules")


@dataclass(frozen=True)
class Group:
    """A rule group: its rules run in order at one timestamp every `interval` seconds."""

    name: str
    file: str
    interval: float
    rules: tuple[Rule, ...]
    limit: int = 0
    records: tuple[RecordingRule, ...] = ()  # in file order; `rules` and `records` interleave by line

    @property
    def skipped(self) -> tuple[Problem, ...]:
        """One line per recording rule: Prometheus evaluates them, takeover does not."""
        return tuple(r.skipped for r in self.records)

    @property
    def key(self) -> str:
        return f"{self.file}:{self.name}"


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to their `*.yml`/`*.yaml` files, sorted; keep files as given."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yml", ".yaml")))
        else:
            files.append(p)
    return files


def load_rules(paths: Iterable[str | Path], *, defaults: Defaults | None = None,
               conventions: bool = True) -> list[Group]:
    """Load every rule file under `paths`, filling missing conventions from `defaults`; raise
    ConfigError listing every problem. `conventions=False` loads rules that still lack an owner,
    runbook or first check (`takeover test rules` warns of them, as promtool would not)."""
    groups: list[Group] = []
    errors: list[Problem] = []
    files = rule_files(paths)
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            errors.append(Problem(str(path), 1, 1, f"cannot read rule file: {exc.strerror}"))
            continue
        file_groups, file_errors = parse_rule_file(text, filename=str(path), defaults=defaults,
                                                   conventions=conventions)
        groups.extend(file_groups)
        errors.extend(file_errors)
    seen: dict[str, str] = {}
    for g in groups:
        if g.name in seen:
            errors.append(Problem(g.file, 1, 1, f'group "{g.name}" also defined in {seen[g.name]}'))
        seen[g.name] = g.file
    if errors:
        raise ConfigError(errors)
    return groups


def convention_problems(groups: Iterable[Group]) -> list[Problem]:
    """Each alerting rule's missing owner, runbook or first check (after defaults)."""
    return [Problem(r.file, r.line, r.column, message) for g in groups for r in g.rules
            for message in missing(r.name, r.labels, r.annotations)]


def parse_rule_file(text: str, *, filename: str, defaults: Defaults | None = None,
                    conventions: bool = True) -> tuple[list[Group], list[Problem]]:
    """Parse one rule file's text; returns the valid groups and every error found."""
    fills = defaults or Defaults()
    root, errors, err = compose_yaml(text, filename=filename)
    if root is None or is_null(root):  # an empty file, or only `null`: no groups (as in Prometheus)
        return [], errors
    top = mapping(root, err, "rule file")
    groups_node = top.get("groups")
    for key, (knode, _) in keys(root).items():
        if key != "groups":
            err(knode, f"field {key} not found in type rulefmt.RuleGroups")
    if is_null(groups_node):
        return [], errors
    if not isinstance(groups_node, yaml.SequenceNode):
        err(groups_node, "groups must be a list")
        return [], errors
    groups = []
    names: set[str] = set()
    for gnode in groups_node.value:
        group = _parse_group(gnode, filename, err, fills, conventions)
        if group is None:
            continue
        if group.name in names:
            err(gnode, f'groupname: "{group.name}" is repeated in the same file')
        names.add(group.name)
        groups.append(group)
    return groups, sorted(errors, key=lambda e: (e.line, e.column))


def _string_map(node: yaml.Node | None, err: ErrorSink, what: str) -> dict[str, str]:
    if node is None:
        return {}
    out: dict[str, str] = {}
    if not isinstance(node, yaml.MappingNode):
        err(node, f"{what} must be a mapping of strings")
        return out
    for k, v in node.value:
        if what == "labels" and not LABEL_NAME_RE.match(str(k.value)):
            err(k, f'invalid label name: "{k.value}"')
        value = scalar(v, err, f"{what}.{k.value}")
        if value is not None:
            out[str(k.value)] = value
    return out


def _parse_group(node: yaml.Node, filename: str, err: ErrorSink, defaults: Defaults,
                 conventions: bool) -> Group | None:
    fields = mapping(node, err, "group")
    for key, (knode, _) in keys(node).items():
        if key not in GROUP_FIELDS:
            err(knode, f"field {key} not found in type rulefmt.RuleGroup")
    name = scalar(fields.get("name"), err, "name")
    if not name:
        err(node, "groupname must not be empty")
        return None
    interval = DEFAULT_INTERVAL
    if "interval" in fields:
        interval = duration(fields["interval"], err, "interval")
        if interval <= 0:
            err(fields["interval"], "interval must be greater than 0")
            interval = DEFAULT_INTERVAL
    limit_text = scalar(fields.get("limit"), err, "limit") or "0"
    if not limit_text.isdigit():
        err(fields.get("limit"), f"limit must be a non-negative integer, got {limit_text!r}")
        limit_text = "0"
    rules_node = fields.get("rules")
    rules: list[Rule] = []
    records: list[RecordingRule] = []
    if not is_null(rules_node) and not isinstance(rules_node, yaml.SequenceNode):
        err(rules_node, "rules must be a list")  # `rules:` with no value is no rules, as in Prometheus
    elif isinstance(rules_node, yaml.SequenceNode):
        for rnode in rules_node.value:
            if "record" in keys(rnode):
                if (record := _parse_recording_rule(rnode, filename, err)) is not None:
                    records.append(record)
                continue
            rule = _parse_rule(rnode, filename, err, defaults, conventions)
            if rule is not None:
                rules.append(rule)
    return Group(name, filename, interval, tuple(rules), int(limit_text), tuple(records))


def _parse_recording_rule(node: yaml.Node, filename: str, err: ErrorSink) -> RecordingRule | None:
    """A recording rule, checked like any rule (Prometheus's to evaluate; the server skips it
    with one line saying so, so a rules directory shared with Prometheus loads)."""
    fields = mapping(node, err, "rule")
    for key, (knode, _) in keys(node).items():
        if key not in RULE_FIELDS:
            err(knode, f"field {key} not found in type rulefmt.Rule")
    record = scalar(fields["record"], err, "record")
    if "alert" in fields:
        err(node, "only one of 'record' and 'alert' must be set")
        return None
    if not record:
        err(node, "one of 'record' or 'alert' must be set")
        return None
    expr = scalar(fields.get("expr"), err, "expr") or ""
    if not expr.strip():
        err(node, "field 'expr' must be set in rule")
    else:
        _check_promql(expr, fields["expr"], err, alerting=False)
    if not METRIC_NAME_RE.match(record):
        err(fields["record"], f"invalid recording rule name: {record}")
    for field_name in ("annotations", "for", "keep_firing_for"):
        if field_name in fields:
            err(fields[field_name], f"invalid field '{field_name}' in recording rule")
    labels = _string_map(fields.get("labels"), err, "labels")
    mark = node.start_mark
    return RecordingRule(record, expr, labels, filename, mark.line + 1, mark.column + 1)


def _parse_rule(node: yaml.Node, filename: str, err: ErrorSink, defaults: Defaults,
                conventions: bool) -> Rule | None:
    from takeover.rules.gotemplate import TemplateSyntaxError, compile_template

    fields = mapping(node, err, "rule")
    for key, (knode, _) in keys(node).items():
        if key not in RULE_FIELDS:
            err(knode, f"field {key} not found in type rulefmt.Rule")
    name = scalar(fields.get("alert"), err, "alert")
    if not name:
        err(node, "one of 'record' or 'alert' must be set")
        return None
    expr = scalar(fields.get("expr"), err, "expr") or ""
    if not expr.strip():
        err(node, "field 'expr' must be set in rule")
    else:
        _check_promql(expr, fields["expr"], err)
    labels = _string_map(fields.get("labels"), err, "labels")
    annotations = _string_map(fields.get("annotations"), err, "annotations")
    for where, values, wnode in (("labels", labels, fields.get("labels")),
                                 ("annotations", annotations, fields.get("annotations"))):
        for key, value in values.items():
            try:
                compile_template(value)
            except TemplateSyntaxError as exc:
                err(value_node(wnode, key), f"{where}.{key}: template: {exc.message}")
    filled = fill(name, labels, annotations, defaults)
    for message in missing(name, filled.labels, filled.annotations) if conventions else ():
        err(node, message)
    mode = labels.get("takeover")
    if mode is None or "{{" in mode or mode in (*TAKEOVER_MODES, ROLLBACK) or shadow_mode(mode) is not None:
        pass  # a mode, a shadow of one, or a template: its expansion is checked at each evaluation
    elif mode.startswith(SHADOW):
        err(value_node(fields.get("labels"), "takeover"),
            f'alert "{name}": label takeover {SHADOW}<mode> must shadow one of {", ".join(TAKEOVER_MODES)}; '
            f'got "{mode}"')
    else:
        err(value_node(fields.get("labels"), "takeover"),
            f'alert "{name}": label takeover must be one of {", ".join(TAKEOVER_MODES)} (or {ROLLBACK}: '
            f'roll back the agent\'s release); got "{mode}"')
    release = annotations.get("takeover_release")
    if release is not None and release != "on_resolve":
        err(value_node(fields.get("annotations"), "takeover_release"),
            f'alert "{name}": annotation takeover_release must be "on_resolve"; got "{release}"')
    return Rule(
        name=name,
        expr=expr,
        for_=duration(fields.get("for"), err, "for"),
        keep_firing_for=duration(fields.get("keep_firing_for"), err, "keep_firing_for"),
        labels=filled.labels,
        annotations=filled.annotations,
        file=filename,
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        defaults=filled.applied,
    )


def _check_promql(expr: str, node: yaml.Node, err: ErrorSink, *, alerting: bool = True) -> None:
    import promql_parser

    try:
        tree = promql_parser.parse(expr)
    except (ValueError, TypeError) as exc:
        err(node, f"could not parse expression: {exc}")
        return
    if not alerting:
        return
    while isinstance(tree, promql_parser.ParenExpr):
        tree = tree.expr
    kind = {promql_parser.MatrixSelector: "a range vector", promql_parser.SubqueryExpr: "a range vector",
            promql_parser.StringLiteral: "a string"}.get(type(tree))
    if kind is not None:  # promtool accepts it, but Prometheus fails every evaluation of it
        err(node, f"the expression gives {kind}; an alerting rule needs a vector or a scalar")