"""Adopting existing rule files: the routing file's defaults give rules their owner, runbook and
first check, `takeover check` lists which rule took which, and a rule still without an owner is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from takeover.config.matchers import parse_matcher
from takeover.config.yamlfile import ConfigError
from takeover.notify.routing import load_routing
from takeover.rules.conventions import Defaults, OwnerDefault, fill
from takeover.rules.format import convention_problems, load_rules
from takeover.server.run import build_service
from takeover.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# as a team keeps them for Prometheus: recording and alerting rules together, no takeover conventions
UPSTREAM = """\
groups:
  - name: node
    rules:
      - record: instance:cpu:rate5m
        expr: sum by (instance, team) (rate(cpu_seconds_total[5m]))
      - alert: NodeCPUHigh
        expr: instance:cpu:rate5m > 0.9
        for: 10m
        labels: {team: sre, severity: page}
        annotations: {summary: "CPU high on {{ $labels.instance }}"}
      - alert: CertExpiring
        expr: cert_expiry_seconds < 86400
        labels: {team: payments-web}
        annotations: {runbook_url: "https://wiki.example.com/certs"}
      - alert: Cert-managerAbsent
        expr: absent(up{job="cert-manager"})
        labels: {team: platform, owner: platform-oncall}
        annotations: {first_check: "Is the cert-manager pod running?"}
"""

ROUTING = """\
default_channel: "#alerts"
runbook_url: "https://runbooks.example.com/{{ $labels.team }}/{{ $labels.alertname }}"
owners:
  sre:
    channel: "#sre"
    matchers: ['team="sre"']
    first_check: "Open the node dashboard for the instance."
  payments:
    channel: "#payments"
    matchers: ['team=~"payments-.*"', 'severity!="page"']
    first_check: "Check the payment provider's status page."
  platform-oncall:
    channel: "#platform"
    first_check: "Look at the platform cluster's events."
"""


@pytest.fixture
def adopted(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "node.yml").write_text(UPSTREAM)
    (tmp_path / "routing.yml").write_text(ROUTING)
    return tmp_path


def test_matchers_match_as_alertmanager_matchers_do() -> None:
    labels = {"team": "payments-web", "severity": "ticket"}
    assert parse_matcher('team="payments-web"').matches(labels)
    assert parse_matcher("team=payments-web").matches(labels)  # unquoted, as Alertmanager allows
    assert parse_matcher('team=~"payments-.*"').matches(labels)
    assert not parse_matcher('team=~"payments"').matches(labels)  # a regex matches the whole value
    assert parse_matcher('severity!="page"').matches(labels)
    assert parse_matcher('zone!~".+"').matches(labels)  # a missing label is the empty string
    with pytest.raises(ValueError, match="invalid regex"):
        parse_matcher('team=~"("')
    with pytest.raises(ValueError, match="expected name="):
        parse_matcher("team")


def test_a_rule_keeps_what_it_says_and_takes_only_what_it_lacks() -> None:
    defaults = Defaults(owners=(OwnerDefault("sre", (parse_matcher('team="sre"'),), "r.yml:4"),),
                        runbook_url="https://r/{{ $labels.alertname }}", first_checks={"sre": "look", "web": "peek"},
                        where="r.yml")
    filled = fill("A", {"team": "sre"}, {}, defaults)
    assert filled.labels == {"team": "sre", "owner": "sre"}
    assert filled.annotations == {"runbook_url": "https://r/A", "first_check": "look"}
    assert filled.applied == {"owner": 'r.yml:4 (team="sre")', "runbook_url": "r.yml runbook_url",
                              "first_check": "r.yml owners.sre.first_check"}
    own = fill("A", {"team": "sre", "owner": "web"}, {"runbook_url": "mine"}, defaults)
    assert (own.labels["owner"], own.annotations, own.applied) == (
        "web", {"runbook_url": "mine", "first_check": "peek"}, {"first_check": "r.yml owners.web.first_check"})


def test_rules_load_with_the_routing_files_defaults(adopted: Path) -> None:
    routing = load_routing(adopted / "routing.yml", default_channel="#alerts")
    (group,) = load_rules([adopted / "rules"], defaults=routing.rule_defaults)
    cpu, cert, absent = group.rules
    assert [r.name for r in group.records] == ["instance:cpu:rate5m"]
    assert (cpu.labels["owner"], cpu.annotations["runbook_url"], cpu.annotations["first_check"]) == (
        "sre", "https://runbooks.example.com/sre/NodeCPUHigh", "Open the node dashboard for the instance.")
    assert (cert.labels["owner"], cert.annotations["runbook_url"]) == ("payments", "https://wiki.example.com/certs")
    assert absent.annotations == {"first_check": "Is the cert-manager pod running?",
                                  "runbook_url": "https://runbooks.example.com/platform/Cert-managerAbsent"}
    assert "owner" not in absent.defaults and "first_check" not in absent.defaults


def test_a_rule_no_default_covers_is_refused_with_its_place(adopted: Path) -> None:
    (adopted / "rules" / "node.yml").write_text(UPSTREAM.replace("team: payments-web", "team: search"))
    routing = load_routing(adopted / "routing.yml", default_channel="#alerts")
    with pytest.raises(ConfigError) as exc:
        load_rules([adopted / "rules"], defaults=routing.rule_defaults)
    assert [str(e) for e in exc.value.errors] == [
        f'{adopted}/rules/node.yml:11:9: alert "CertExpiring": label "owner" is required (who owns this alert?)',
        f'{adopted}/rules/node.yml:11:9: alert "CertExpiring": annotation "first_check" is required']
    groups = load_rules([adopted / "rules"], conventions=False)  # what `takeover test rules` reports as warnings
    assert len(convention_problems(groups)) == 6


def test_bad_defaults_in_the_routing_file_are_named_with_their_place(tmp_path: Path) -> None:
    bad = ROUTING.replace("['team=\"sre\"']", "['team=~\"(\"', 'team']").replace(
        "{{ $labels.team }}", "{{ $labels.team ").replace('first_check: "Look at the platform', 'first_check: ["Look"]#')
    (tmp_path / "routing.yml").write_text(bad)
    with pytest.raises(ConfigError) as exc:
        load_routing(tmp_path / "routing.yml", default_channel="#alerts")
    messages = [str(e).split(":", 1)[1] for e in exc.value.errors]
    assert messages[0].startswith("2:") and "runbook_url: template:" in messages[0]
    assert messages[1].startswith("6:16: owner sre: bad matcher 'team=~\"(\"': invalid regex")
    assert messages[2] == "6:29: owner sre: bad matcher 'team': expected name=\"value\", name!=\"value\", " \
                          "name=~\"regex\" or name!~\"regex\""
    assert messages[3].startswith("14:18: owner platform-oncall: first_check must be a sentence")


def test_takeover_check_lists_each_default_a_rule_took_and_each_recording_rule_skipped(adopted: Path) -> None:
    env = {"PATH": os.environ["PATH"], "TAKEOVER_TEMPLATES": str(ROOT / "templates"),
           "TAKEOVER_ROUTING": str(adopted / "routing.yml"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "takeover", "check", str(adopted / "rules")],
                            capture_output=True, text=True, cwd=adopted, env=env)
    assert result.returncode == 0, result.stderr
    routing, node = adopted / "routing.yml", adopted / "rules" / "node.yml"
    assert result.stdout.splitlines() == [
        f"{node}:6:9: alert \"NodeCPUHigh\" takes owner='sre' from {routing}:6 (team=\"sre\"); "
        f"runbook_url='https://runbooks.example.com/sre/NodeCPUHigh' from {routing} runbook_url; "
        f"first_check='Open the node dashboard for the instance.' from {routing} owners.sre.first_check",
        f"{node}:11:9: alert \"CertExpiring\" takes owner='payments' from {routing}:10 "
        f"(team=~\"payments-.*\", severity!=\"page\"); first_check=\"Check the payment provider's status page.\" "
        f"from {routing} owners.payments.first_check",
        f"{node}:15:9: alert \"Cert-managerAbsent\" takes "
        f"runbook_url='https://runbooks.example.com/platform/Cert-managerAbsent' from {routing} runbook_url",
        "SUCCESS: 3 rules in 1 groups are valid (3 took defaults from the routing file, 1 recording rules skipped)"]
    assert result.stderr == (f"{node}:4:9: recording rule instance:cpu:rate5m skipped: Prometheus evaluates "
                             "recording rules, takeover only alerting rules\n")


def test_the_server_evaluates_rules_with_their_defaults(adopted: Path) -> None:
    settings = Settings(rules=[str(adopted / "rules")], routing=str(adopted / "routing.yml"),
                        database_url=f"sqlite:///{adopted}/t.db", templates=str(ROOT / "templates"))
    service = build_service(settings)
    try:
        owners = {r.name: r.labels["owner"] for g in service.groups for r in g.rules}
        assert owners == {"NodeCPUHigh": "sre", "CertExpiring": "payments", "Cert-managerAbsent": "platform-oncall"}
        assert service.routing.destination(owners["CertExpiring"]).channel == "#payments"
    finally:
        service.stop()
