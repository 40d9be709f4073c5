"""A replay of a candidate policy file over the recorded action decisions: the pure core as a
table; then a set of actions written through the real API, replayed by the CLI and the API,
against a table computed by hand; and actions recorded while an alert fired, replayed with the
firing state they had."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover.app import agents
from takeover.app.policies import replay_candidate
from takeover.config.mode import Mode
from takeover.control.policy import Situation
from takeover.control.policyfile import parse_policies
from takeover.control.policyreplay import Recorded, recorded, replay
from takeover.control.principal import Principal, Role
from takeover.control.sources import Decision
from takeover.notify.routing import Routing
from takeover.notify.slack import ConsoleNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.format import parse_rule_file
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.conftest import Server, start_server, stop_server, takeover_cli
from tests.test_approvals import bearer, server_env

ROOT = Path(__file__).resolve().parent.parent
SERVED = """\
policies:
  - name: big-refunds
    action: refund
    when: ["amount > 500"]
    decision: require_approval
  - name: deletes
    action: "delete_*"
    decision: deny
"""
CANDIDATE = """\
policies:
  - name: big-refunds
    action: refund
    when: ["amount > 250"]
    decision: require_approval
  - name: deletes
    action: "delete_*"
    decision: require_approval
    shadow: true
  - name: no-email
    agent: pay-bot
    action: send_email
    decision: deny
"""
A, D, Q = Decision.allow, Decision.deny, Decision.approval_required


def record(audit_id: int, decision: Decision, action: str = "refund", **overrides: Any) -> Recorded:
    base: dict[str, Any] = {"agent": "pay-bot", "action": action, "kind": "write", "risk": "low", "args": {},
                            "mode": Mode.normal}
    return Recorded(audit_id, 0.0, Situation(**{**base, **overrides}), decision)


def test_the_replay_reports_each_changed_decision_by_policy_and_action_and_prices_the_new_asks() -> None:
    candidate = parse_policies(CANDIDATE, filename="c.yml")
    records = [record(1, A, args={"amount": 100}), record(2, A, args={"amount": 400}),
               record(3, Q, args={"amount": 900}), record(4, D, "delete_user"), record(5, A, "send_email"),
               record(6, A, "send_email", agent="other-bot"), record(7, D, args={"amount": 600}, mode=Mode.read_only),
               None]
    report = replay(candidate, records, decision_seconds=[60.0, 120.0, 600.0])
    assert [(c.policy, c.action, c.before, c.after, c.count, [e.audit_id for e in c.examples])
            for c in report.changes] == [("no-email", "send_email", A, D, 1, [5]),
                                         ("big-refunds", "refund", A, Q, 1, [2]),
                                         ("deletes", "delete_user", D, Q, 1, [4])]
    assert (report.replayed, report.skipped, report.changed, report.unchanged) == (7, 1, 3, 4)
    assert (report.new_asks, report.decision_seconds, report.human_hours, report.allowed_now_denied) == (
        2, 120.0, 2 * 120 / 3600, 1)


def test_a_row_that_lacks_what_the_decision_read_is_skipped_not_guessed() -> None:
    old = {"action": "refund", "kind": "write", "risk": "low", "mode": "normal", "args": {"amount": 1}}
    assert recorded(audit_id=1, at=0.0, subject="agent:a", action="action.allow", detail=old) is None
    full = recorded(audit_id=1, at=0.0, subject="agent:a", action="action.allow",
                    detail={**old, "alert_firing": True, "variant": {"name": "canary", "release": 3}})
    assert full is not None and (full.situation.alert_firing, full.situation.variant) == (True, "canary")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    (tmp_path / "policies.yml").write_text(SERVED)
    env = {**server_env(tmp_path, database_url), "TAKEOVER_POLICIES": str(tmp_path / "policies.yml")}
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


@pytest.mark.slow
def test_a_replay_of_recorded_actions_reports_exactly_the_decisions_the_candidate_changes(
        server: Server, tmp_path: Path) -> None:
    pay = bearer(server.token("--role", "agent", "--agent", "pay-bot", "--agent", "other-bot"))
    operator = bearer(server.token("--role", "operator", "--name", "olga"))

    def act(action: str, args: dict[str, Any], agent: str = "pay-bot", kind: str = "write") -> dict[str, Any]:
        answer = httpx.post(f"{server.url}/v1/agents/{agent}/actions", headers=pay,
                            json={"action": action, "kind": kind, "args": args})
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    # what happened, under SERVED:
    assert act("refund", {"amount": 100})["decision"] == "allow"  # unchanged
    assert act("refund", {"amount": 400})["decision"] == "allow"  # → ask: big-refunds now starts at 250
    asked = act("refund", {"amount": 900})  # asked then, asks now
    assert asked["decision"] == "approval_required"
    assert act("delete_user", {"id": 7})["decision"] == "deny"  # → ask (deletes asks in the candidate)
    assert act("send_email", {"to": "c@x"})["decision"] == "allow"  # → deny (no-email)
    assert act("read_orders", {}, kind="read")["decision"] == "allow"  # unchanged
    assert act("refund", {"amount": 300}, agent="other-bot")["decision"] == "allow"  # → ask
    held = httpx.put(f"{server.url}/v1/agents/pay-bot/control", headers=operator,
                     json={"mode": "read_only", "reason": "looking"})
    assert held.status_code == 200, held.text
    assert act("refund", {"amount": 400})["decision"] == "deny"  # read_only then: still a deny under the candidate
    assert httpx.post(f"{server.url}/v1/agents/pay-bot/release", headers=operator,
                      json={"reason": "fine"}).status_code == 200
    decided = httpx.post(f"{server.url}/v1/approvals/{asked['approval']['id']}/approve", headers=operator)
    assert decided.status_code == 200, decided.text
    (tmp_path / "candidate.yml").write_text(CANDIDATE)

    by_api = httpx.post(f"{server.url}/v1/policies/replay", headers=operator,
                        json={"policies": CANDIDATE, "since": "1d"})
    assert by_api.status_code == 200, by_api.text
    cli = takeover_cli("policy", "replay", str(tmp_path / "candidate.yml"), "--since", "1d", "--json", env=server.env)
    assert cli.returncode == 1, cli.stderr  # an allowed action would now be denied
    for report in (by_api.json(), json.loads(cli.stdout)):
        table = [(c["policy"], c["action"], c["from"], c["to"], c["count"],
                  sorted((e["agent"], e["args"]["amount"] if "amount" in e["args"] else None) for e in c["examples"]))
                 for c in report["changes"]]
        assert table == [("no-email", "send_email", "allow", "deny", 1, [("pay-bot", None)]),
                         ("big-refunds", "refund", "allow", "approval_required", 2,
                          [("other-bot", 300), ("pay-bot", 400)]),
                         ("deletes", "delete_user", "deny", "approval_required", 1, [("pay-bot", None)])]
        assert (report["replayed"], report["skipped"], report["changed"], report["new_asks"]) == (8, 0, 4, 3)
        assert report["median_decision_seconds"] > 0
        assert report["human_hours"] == pytest.approx(3 * report["median_decision_seconds"] / 3600)

    one = takeover_cli("policy", "replay", str(tmp_path / "candidate.yml"), "--since", "1d", "--agent", "other-bot",
                       env=server.env)
    assert one.returncode == 0, one.stderr
    assert "1 decisions replayed, 1 would change" in one.stdout and "big-refunds\trefund\tallow → ask\t1" in one.stdout
    refused = httpx.post(f"{server.url}/v1/policies/replay", headers=operator,
                         json={"policies": "policies:\n  - name: x\n    decision: maybe\n"})
    assert refused.status_code == 422 and "candidate.yml:3:15: decision must be one of" in refused.text


RULES = """\
groups:
  - name: svc
    interval: 10s
    rules:
      - alert: Errors
        expr: 'errors{job="bot"} > 1'
        labels: {owner: team}
        annotations: {runbook_url: "https://r", first_check: "look"}
"""
EXPR = 'errors{job="bot"} > 1'
INCIDENT = """\
policies:
  - name: writes-during-an-incident
    kind: write
    alert_firing: true
    decision: require_approval
"""


def test_a_replay_judges_actions_recorded_while_an_alert_fired_with_that_firing_state(database_url: str) -> None:
    now = [1_700_000_000.0]
    results: dict[str, list[Sample]] = {EXPR: []}
    groups, errors = parse_rule_file(RULES, filename="svc.yml")
    assert errors == []
    service = Service(Settings(database_url=database_url, templates=str(ROOT / "templates")),  # type: ignore[arg-type]
                      groups=groups, notifier=ConsoleNotifier(io.StringIO()), query=static_query(results),
                      clock=lambda: now[0], routing=Routing(group_wait=0, group_interval=0))
    assert service.lead()
    bot = Principal("bot-1", Role.agent, ("bot-1",))

    def refund(amount: int) -> str:
        answer = agents.ask(service.app, bot, agent="bot-1", action="refund", kind="write", risk="low",
                            args={"amount": amount}, idempotency_key=None)
        return str(answer["decision"])

    def step(samples: list[Sample]) -> None:
        results[EXPR] = samples
        now[0] += 10
        service.evaluate_group(service.groups[0], now=now[0])

    try:
        assert refund(1) == "allow"
        step([Sample({"agent": "bot-1", "job": "bot"}, 5)])
        assert refund(2) == "allow"  # firing: no enforcing policy reads it
        step([])
        assert refund(3) == "allow"
        report = replay_candidate(service.app, parse_policies(INCIDENT, filename="c.yml"),
                                  since=now[0] - 3600, until=now[0] + 1)
        assert [(c.policy, c.before, c.after, [e.args for e in c.examples]) for c in report.changes] == [
            ("writes-during-an-incident", A, Q, [{"amount": 2}])]
        assert (report.replayed, report.changed) == (3, 1)
    finally:
        service.stop()
