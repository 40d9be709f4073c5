"""Rule files: what Prometheus accepts, plus takeover's conventions, errors as file:line:column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from takeover.config.duration import parse_duration
from takeover.config.mode import Mode
from takeover.config.yamlfile import ConfigError
from takeover.rules.format import load_rules, parse_rule_file

ROOT = Path(__file__).resolve().parent.parent
GOOD = """\
groups:
  - name: g
    interval: 15s
    rules:
      - alert: A
        expr: up == 0
        for: 1m30s
        labels: {owner: team, takeover: read_only}
        annotations: {runbook_url: "https://r", first_check: "look", summary: "{{ $labels.job }} down"}
"""


def errors(text: str) -> list[str]:
    return [str(e) for e in parse_rule_file(text, filename="f.yml")[1]]


def test_a_good_file_parses_into_groups_and_rules() -> None:
    groups, errs = parse_rule_file(GOOD, filename="f.yml")
    assert errs == []
    (group,) = groups
    assert (group.name, group.interval) == ("g", 15.0)
    (rule,) = group.rules
    assert (rule.name, rule.for_, rule.takeover, rule.line) == ("A", 90.0, Mode.read_only, 5)


@pytest.mark.parametrize(("text", "duration"), [("0", 0.0), ("15s", 15.0), ("1h30m", 5400.0),
                                                ("100ms", 0.1), ("1d", 86400.0), ("2w", 1209600.0)])
def test_durations(text: str, duration: float) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "1", "1x", "5m1h", "-1s", "1.5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_every_problem_is_reported_with_file_line_and_column() -> None:
    bad = GOOD.replace("up == 0", "up ==").replace("for: 1m30s", "for: soon").replace(
        "takeover: read_only", "takeover: panic").replace('first_check: "look", ', "")
    assert errors(bad) == [
        'f.yml:5:9: alert "A": annotation "first_check" is required',
        "f.yml:6:15: could not parse expression: invalid promql query",
        'f.yml:7:14: for: not a valid duration string: "soon"',
        'f.yml:8:41: alert "A": label takeover must be one of require_approval, pause_writes, '
        "read_only, handoff (or rollback: roll back the agent's release); got \"panic\"",
    ]


def test_templates_that_do_not_compile_are_errors() -> None:
    bad = GOOD.replace("{{ $labels.job }} down", "{{ query `up` }}")
    (error,) = errors(bad)
    assert error.startswith("f.yml:9:") and 'function "query" is not supported' in error


def test_unknown_fields_owner_and_recording_rules() -> None:
    text = GOOD.replace("    interval: 15s\n", "    interval: 15s\n    flavour: x\n").replace(
        "owner: team, ", "") + "      - record: r\n        expr: up\n"
    found = errors(text)
    assert "f.yml:4:5: field flavour not found in type rulefmt.RuleGroup" in found
    assert 'f.yml:6:9: alert "A": label "owner" is required (who owns this alert?)' in found
    assert not any("record" in e for e in found)


def test_recording_rules_are_checked_then_skipped_with_one_line_each() -> None:
    text = GOOD + "      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {a: b}\n"
    (group,), errs = parse_rule_file(text, filename="f.yml")
    assert errs == [] and [r.name for r in group.rules] == ["A"]
    assert [str(p) for p in group.skipped] == [
        "f.yml:10:9: recording rule job:up:sum skipped: Prometheus evaluates recording rules, takeover only "
        "alerting rules"]
    bad = GOOD + "      - record: not a name\n        expr: up[5m\n        for: 1m\n        alert: B\n"
    assert errors(bad) == ["f.yml:10:9: only one of 'record' and 'alert' must be set"]
    bad = GOOD + "      - record: not a name\n        expr: up[5m\n        for: 1m\n"
    assert [e.split(": ", 1)[1] for e in errors(bad)] == [
        "invalid recording rule name: not a name",
        "could not parse expression: unexpected end of input inside brackets",
        "invalid field 'for' in recording rule"]


def test_takeover_check_lists_each_skipped_recording_rule_and_loads_the_rest(tmp_path: Path) -> None:
    (tmp_path / "shared.yml").write_text(GOOD + "      - record: job:up:sum\n        expr: sum by (job) (up)\n")
    result = subprocess.run([sys.executable, "-m", "takeover", "check", str(tmp_path)], capture_output=True,
                            text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "TAKEOVER_TEMPLATES": str(ROOT / "templates")})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "SUCCESS: 1 rules in 1 groups are valid (1 recording rules skipped)\n"
    assert result.stderr == (f"{tmp_path}/shared.yml:10:9: recording rule job:up:sum skipped: Prometheus "
                             "evaluates recording rules, takeover only alerting rules\n")


def test_invalid_yaml_names_the_position() -> None:
    assert errors("groups:\n  - name: [\n") [0].startswith("f.yml:3:1: invalid YAML")


def test_load_rules_raises_with_every_file_error(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD.replace("up == 0", "up =="))
    (tmp_path / "b.yml").write_text(GOOD.replace("name: g", "name: h").replace("owner: team, ", ""))
    with pytest.raises(ConfigError) as exc:
        load_rules([tmp_path])
    assert [e.file for e in exc.value.errors] == [str(tmp_path / "a.yml"), str(tmp_path / "b.yml")]


@pytest.mark.usefixtures("prometheus_binaries")
def test_the_shipped_rules_pass_promtool_and_takeover() -> None:
    result = subprocess.run(["promtool", "check", "rules", *map(str, (ROOT / "rules").glob("*.yml"))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    groups = load_rules([ROOT / "rules"])
    names = {r.name for g in groups for r in g.rules}
    assert {"AgentErrorRateHigh", "AgentTimeoutRateHigh", "AgentCostOffNormal", "HighRiskToolCallsSpiking"} <= names


@pytest.mark.parametrize("expr", ["up[5m]", "(up[5m])", "rate(up[5m])[10m:1m]", "'\"text\"'"])
def test_expressions_that_can_never_alert_are_refused(expr: str) -> None:
    (error,) = errors(GOOD.replace("up == 0", expr))
    assert error.startswith("f.yml:6:15: the expression gives a ") and "needs a vector or a scalar" in error


def test_yaml_merge_keys_merge_like_prometheus_and_a_written_key_wins() -> None:
    text = GOOD + """\
      - <<: *rule
        alert: B
        labels: {<<: *labels, takeover: pause_writes}
"""
    text = text.replace("      - alert: A\n", "      - &rule\n        alert: A\n").replace(
        "labels: {owner: team", "labels: &labels {owner: team")
    groups, errs = parse_rule_file(text, filename="f.yml")
    assert errs == []
    a, b = groups[0].rules
    assert (b.name, b.expr, b.for_, b.takeover, b.annotations) == ("B", "up == 0", 90.0, Mode.pause_writes,
                                                                    a.annotations)
    assert (a.takeover, b.labels["owner"], b.line) == (Mode.read_only, "team", 11)


def test_a_bad_merge_is_an_error_at_its_position() -> None:
    assert errors(GOOD.replace("for: 1m30s", "<<: 5")) == [
        "f.yml:7:13: invalid YAML: expected a mapping or list of mappings for merging, but found scalar"]
    assert errors(GOOD.replace("for: 1m30s", "<<: *nowhere"))[0].startswith("f.yml:7:13: invalid YAML: found "
                                                                            "undefined alias")


@pytest.mark.parametrize("name", ["Cert-managerAbsent", "Database backup and sync operation failed", "ÄÖ ü/1"])
def test_an_alert_name_is_any_non_empty_string_and_reads_so_downstream(name: str) -> None:
    from takeover.app.alerts import alert_ref
    from takeover.notify.templates import SAMPLES, render_message, template_env

    (group,), errs = parse_rule_file(GOOD.replace("alert: A", f"alert: {name}"), filename="f.yml")
    assert errs == []
    (rule,) = group.rules
    assert rule.name == name and rule.key.startswith(f"{name}/")
    assert alert_ref(rule, (("alertname", name), ("job", "api"), ("owner", "team"))) == f'{name}{{job="api"}}'
    env = template_env(ROOT / "templates")
    alert = {**SAMPLES["alert_firing"]["first"], "name": name, "id": f"{name}{{}}", "summary": name}
    firing = render_message(env, "alert_firing", {**SAMPLES["alert_firing"], "alerts": [alert],
                                                  "firing": [alert], "first": alert})
    mode = render_message(env, "mode_changed", {**SAMPLES["mode_changed"], "actor": f"rule:{name}"})
    assert name in firing["text"] and f"rule:{name}" in mode["text"]


def test_an_empty_alert_name_is_still_refused() -> None:
    assert errors(GOOD.replace("alert: A", "alert: ''")) == ["f.yml:5:9: one of 'record' or 'alert' must be set"]


def test_the_silence_of_a_group_whose_alert_name_holds_a_comma_or_a_quote_matches_that_group() -> None:
    from takeover.control.silence import parse_matcher
    from takeover.notify.routing import Routing

    labels = {"alertname": 'Backup, "sync" failed', "owner": "o", "agent": "a"}
    key = Routing().group_key(labels, channel="#c")
    matchers = [parse_matcher(m) for m in key.matchers()]
    assert [m.name for m in matchers] == ["alertname", "owner"]
    assert all(m.matches(labels) for m in matchers)
    assert not all(m.matches({**labels, "alertname": "Backup"}) for m in matchers)


@pytest.mark.parametrize("text", ["", "null\n", "~\n", "groups:\n", "groups: null\n",
                                  "groups:\n  - name: g\n    rules:\n", "groups:\n  - name: g\n    rules: ~\n"])
def test_a_file_or_group_with_no_rules_is_accepted_like_prometheus(text: str) -> None:
    groups, errs = parse_rule_file(text, filename="f.yml")
    assert errs == [] and sum(len(g.rules) for g in groups) == 0


@pytest.mark.parametrize(("text", "error"), [
    ("groups:\n  - name: g\n    rules: up\n", "f.yml:3:12: rules must be a list"),
    ("groups: 5\n", "f.yml:1:9: groups must be a list"),
    ("5\n", "f.yml:1:1: rule file must be a mapping"),
    ("groups:\n  - rules:\n", "f.yml:2:5: groupname must not be empty"),
])
def test_files_that_are_not_empty_but_wrong_are_still_refused(text: str, error: str) -> None:
    assert errors(text) == [error]
