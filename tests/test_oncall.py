"""On-call hears a takeover at once, from the alert's owner route, with the runbook in the first
message (issue #13): real Prometheus, real `takeover serve`, the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Exporter, Server, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_e2e import poll

pytestmark = pytest.mark.slow

RULES = """\
groups:
  - name: heldout
    interval: 1s
    rules:
      - alert: HeldoutBadRatio
        expr: takeover_test_value{case="oncall"} > 0.5
        for: 0s
        labels: {owner: team-heldout, severity: page, takeover: read_only}
        annotations:
          summary: "{{ $labels.agent }} bad ratio is {{ $value }}"
          runbook_url: https://runbooks.example.com/heldout
          first_check: Open the agent's last ten tool calls.
      - alert: TemplatedTakeover
        expr: takeover_test_value{case="oncall-template"} > 0
        labels:
          owner: team-heldout
          takeover: '{{ if eq $labels.agent "tmpl-prod" }}pause_writes{{ else }}{{ $labels.agent }}{{ end }}'
        annotations: {runbook_url: https://runbooks.example.com/t, first_check: Look.}
"""


def serve(tmp_path: Path, prometheus: str, fake_slack: FakeSlack, routing: str | None) -> Server:
    (tmp_path / "rules.yml").write_text(RULES)
    env = {"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}", "TAKEOVER_PROMETHEUS_URL": prometheus,
           "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_SLACK_TOKEN": "xoxb-test",
           "TAKEOVER_SLACK_API_URL": fake_slack.url, "TAKEOVER_DELIVER_INTERVAL": "0.2"}
    if routing is not None:
        (tmp_path / "routing.yml").write_text(routing)
        env["TAKEOVER_ROUTING"] = str(tmp_path / "routing.yml")
    return start_server(env, log=tmp_path / "serve.log")


@pytest.fixture
def plain(tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> Iterator[Server]:
    server = serve(tmp_path, prometheus, fake_slack, routing=None)  # Alertmanager's default timings
    yield server
    stop_server(server)


def audit(server: Server, op: dict[str, str], action: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = httpx.get(f"{server.url}/v1/audit", headers=op, params={"action": action}).json()["rows"]
    return rows


def test_a_takeover_reaches_on_call_at_once_with_the_runbook_and_its_resolve_at_once(
        plain: Server, exporter: Exporter, fake_slack: FakeSlack) -> None:
    op = {"Authorization": f"Bearer {plain.token('--role', 'operator', '--name', 'alice')}"}
    bot = {"Authorization": f"Bearer {plain.token('--role', 'agent', '--agent', 'heldout-agent')}"}
    control = f"{plain.url}/v1/agents/heldout-agent/control"
    exporter.set(0.9, case="oncall", agent="heldout-agent")
    poll(lambda: httpx.get(control, headers=bot).json()["mode"], until=lambda m: m == "read_only")
    (flip,) = audit(plain, op, "mode.alert")
    fake_slack.wait_for(lambda f: len(f.of("chat.postMessage")) >= 1, timeout=10)
    first = fake_slack.of("chat.postMessage")[0]
    body = str(first.params["blocks"])
    # the first message is the incident: runbook, first check, owner, the takeover before → after
    assert first.params["text"].startswith("[FIRING]")
    assert "https://runbooks.example.com/heldout" in body and "Open the agent's last ten tool calls." in body
    assert "team-heldout" in body and "normal → *read_only*" in body
    assert first.at - flip["at"] < 2.0  # no group_wait when takeover has already acted
    assert fake_slack.posts("[MODE]") == []  # and no separate context-free post

    exporter.set(0.1, case="oncall", agent="heldout-agent")
    fake_slack.wait_for(lambda f: len(f.of("chat.update")) >= 1, timeout=10)  # not group_interval (5m)
    update = fake_slack.of("chat.update")[0].params
    assert (update["channel"], update["ts"]) in fake_slack.messages
    assert update["text"].startswith("[RESOLVED]") and "held until someone releases it" in str(update["blocks"])
    assert httpx.get(control, headers=bot).json()["mode"] == "read_only"  # still held

    assert httpx.post(f"{plain.url}/v1/agents/heldout-agent/release", headers=op,
                      json={"reason": "ratio is fine"}).status_code == 200
    fake_slack.wait_for(lambda f: len(f.of("chat.update")) >= 2, timeout=10)
    released = fake_slack.of("chat.update")[1].params
    assert released["ts"] == update["ts"] and "`heldout-agent` released" in str(released["blocks"])


def test_a_templated_takeover_acts_when_it_names_a_mode_and_marks_the_rule_err_when_not(
        plain: Server, exporter: Exporter) -> None:
    op = {"Authorization": f"Bearer {plain.token('--role', 'operator', '--name', 'alice')}"}
    exporter.set(1, case="oncall-template", agent="tmpl-prod")
    exporter.set(1, case="oncall-template", agent="tmpl-dev")  # expands to "tmpl-dev": not a mode

    def rule() -> dict[str, Any]:
        groups = httpx.get(f"{plain.url}/v1/rules", headers=op).json()["groups"]
        return next(r for g in groups for r in g["rules"] if r["name"] == "TemplatedTakeover")

    broken = poll(rule, until=lambda r: r["health"] == "err")
    assert 'label takeover expanded to "tmpl-dev", which is not a mode' in broken["lastError"]
    exporter.set(0, case="oncall-template", agent="tmpl-dev")
    healthy = poll(rule, until=lambda r: r["health"] == "ok")
    assert healthy["lastError"] == ""
    prod = poll(lambda: httpx.get(f"{plain.url}/v1/agents/tmpl-prod/control", headers=op),
                until=lambda r: r.status_code == 200 and r.json()["mode"] == "pause_writes")
    assert prod.json()["sources"][0]["actor"] == "rule:TemplatedTakeover"
    answer = httpx.get(f"{plain.url}/v1/agents/tmpl-dev/control", headers=op)
    assert answer.status_code == 404 or answer.json()["mode"] == "normal"  # the bad value changed nothing
    exporter.set(0, case="oncall-template", agent="tmpl-prod")


OWNED = """\
owners:
  refunds-team: {channel: "#refunds", mention: S0REFUND}
agents:
  refund-*: refunds-team
"""


def test_agents_have_owners_whose_route_hears_human_takeovers_and_approval_requests(
        tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> None:
    server = serve(tmp_path, prometheus, fake_slack, routing=OWNED)
    try:
        op = {"Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'alice')}"}
        bot = {"Authorization": f"Bearer {server.token('--role', 'agent', '--agent', 'refund-bot')}"}
        assert httpx.put(f"{server.url}/v1/agents/refund-bot/control", headers=op,
                         json={"mode": "require_approval", "reason": "checking refunds"}).status_code == 200
        asked = httpx.post(f"{server.url}/v1/approvals", headers=bot, json={  # the mode asks a human
            "agent": "refund-bot", "action": "refund", "args": {"amount": 900}, "reason": "customer asked"})
        assert asked.status_code == 201, asked.text
        assert httpx.put(f"{server.url}/v1/agents/other-bot/control", headers=op,
                         json={"mode": "read_only", "reason": "no owner"}).status_code == 200
        fake_slack.wait_for(lambda f: len(f.of("chat.postMessage")) >= 3)
        mode, approval = fake_slack.posts("[MODE] refund-bot"), fake_slack.posts("[APPROVAL] refund-bot")
        assert [m["channel"] for m in mode + approval] == ["#refunds", "#refunds"]
        assert all("<!subteam^S0REFUND>" in str(m["blocks"]) for m in mode + approval)
        (orphan,) = fake_slack.posts("[MODE] other-bot")  # no owner: the default channel, with a warning
        assert orphan["channel"] == "#alerts" and "has no owner" in str(orphan["blocks"])
    finally:
        stop_server(server)


def test_the_check_refuses_an_agent_owner_with_no_route(tmp_path: Path) -> None:
    from takeover.config.yamlfile import ConfigError
    from takeover.notify.routing import load_routing

    (tmp_path / "routing.yml").write_text("owners: {a: {channel: '#a'}}\nagents:\n  bot-*: nobody\n")
    with pytest.raises(ConfigError) as refused:
        load_routing(tmp_path / "routing.yml", default_channel="#alerts")
    assert str(refused.value) == (f"{tmp_path / 'routing.yml'}:3:10: agents: bot-* is owned by 'nobody', "
                                  "which has no route under owners")
