"""Shadow policies: judged beside the enforcing ones as if each alone were promoted, recorded,
never obeyed. The pure core as tables, then the real server: a shadow deny changes no decision,
is in the audit detail, the metric and the policy view, and promoting it is one audited reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover.config.mode import Mode
from takeover.config.yamlfile import ConfigError
from takeover.control.grants import judge_action
from takeover.control.policy import Situation
from takeover.control.policyfile import parse_policies
from takeover.control.shadow import shadow_verdicts
from takeover.control.sources import Decision
from tests.conftest import Server, start_server, stop_server
from tests.test_approvals import bearer, server_env

FILE = """\
policies:
  - name: wires
    action: wire
    decision: require_approval
  - name: no-big-refunds
    action: refund
    when: ["amount > 500"]
    decision: deny
    shadow: true
  - name: refunds-ask
    action: refund
    decision: require_approval
    shadow: true
  - name: wires-deny
    action: wire
    decision: deny
    shadow: true
"""
POLICIES = parse_policies(FILE, filename="p.yml")


def situation(**overrides: Any) -> Situation:
    base: dict[str, Any] = {"agent": "pay-bot", "action": "refund", "kind": "write", "risk": "low",
                            "args": {"amount": 900}, "mode": Mode.normal}
    return Situation(**{**base, **overrides})


@pytest.mark.parametrize(("overrides", "actual", "shadow"), [
    ({}, Decision.allow, [("no-big-refunds", Decision.deny, True), ("refunds-ask", Decision.approval_required, True)]),
    ({"args": {"amount": 10}}, Decision.allow, [("refunds-ask", Decision.approval_required, True)]),
    # a policy never loosens the mode, shadow or not: promoted, it would deny what read_only denies
    ({"mode": Mode.read_only}, Decision.deny, [("no-big-refunds", Decision.deny, False),
                                              ("refunds-ask", Decision.deny, False)]),
    # an enforcing policy above it decides: promoting wires-deny changes nothing, so it says nothing
    ({"action": "wire"}, Decision.approval_required, []),
    ({"action": "read_orders", "kind": "read"}, Decision.allow, []),
])
def test_a_shadow_policy_changes_no_decision_and_says_what_promoting_it_would(
        overrides: dict[str, Any], actual: Decision, shadow: list[tuple[str, Decision, bool]]) -> None:
    s = situation(**overrides)
    verdict = judge_action(POLICIES, s)
    assert verdict.decision == actual
    assert verdict.policy is None or not verdict.policy.shadow
    found = shadow_verdicts(POLICIES, s, (), actual=verdict.decision)
    assert [(v.policy.name, v.decision, v.changes) for v in found] == shadow


def test_a_whole_file_marked_shadow_enforces_nothing_and_the_mark_is_checked() -> None:
    whole = parse_policies("shadow: true\n" + FILE.replace("    shadow: true\n", ""), filename="p.yml")
    assert all(p.shadow for p in whole)
    assert judge_action(whole, situation(action="wire")).decision == Decision.allow
    with pytest.raises(ConfigError) as exc:
        parse_policies(FILE.replace("shadow: true", "shadow: maybe", 1), filename="p.yml")
    assert [str(e) for e in exc.value.errors] == ["p.yml:9:13: shadow must be one of true, false; got 'maybe'"]


SERVED = """\
policies:
  - name: no-big-refunds
    action: refund
    when: ["amount > 500"]
    decision: deny
    reason: refunds over 500 are off
    shadow: true
"""


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    (tmp_path / "policies.yml").write_text(SERVED)
    env = {**server_env(tmp_path, database_url), "TAKEOVER_POLICIES": str(tmp_path / "policies.yml")}
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


@pytest.mark.slow
def test_a_shadow_deny_allows_the_agent_records_its_verdict_and_promoting_it_is_an_audited_reload(
        server: Server, tmp_path: Path) -> None:
    agent = bearer(server.token("--role", "agent", "--agent", "pay-bot"))
    operator = bearer(server.token("--role", "operator", "--name", "olga"))
    refund = {"action": "refund", "kind": "write", "args": {"amount": 900, "order": "A-1"}}
    answer = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=agent, json=refund).json()
    assert (answer["decision"], answer["approval"]) == ("allow", None)

    row = httpx.get(f"{server.url}/v1/audit", headers=operator, params={"action": "action."}).json()["rows"][-1]
    assert row["action"] == "action.allow"
    assert row["after"]["shadow"] == [{"policy": "no-big-refunds", "where": f"{tmp_path / 'policies.yml'}:2",
                                       "decision": "deny", "would": "would-deny", "changes": True,
                                       "reason": f"refunds over 500 are off (policy no-big-refunds, "
                                                 f"{tmp_path / 'policies.yml'}:2)"}]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'takeover_policy_shadow_decisions_total{decision="would-deny",policy="no-big-refunds"} 1.0' in metrics
    shown = httpx.get(f"{server.url}/v1/policies", headers=operator).json()["policies"]
    assert [(p["name"], p["shadow"], p["last_24h"]) for p in shown] == [
        ("no-big-refunds", True, {"allow": 0, "approval_required": 0, "deny": 1})]
    assert [e["audit_id"] for e in shown[0]["examples"]] == [row["id"]]

    (tmp_path / "policies.yml").write_text(SERVED.replace("    shadow: true\n", ""))
    assert httpx.post(f"{server.url}/v1/rules/reload", headers=operator).status_code == 200
    promoted = httpx.get(f"{server.url}/v1/audit", headers=operator, params={"action": "policies."}).json()["rows"]
    where = f"({tmp_path / 'policies.yml'}:2)"
    assert [(r["actor"], r["before"], r["after"]) for r in promoted] == [
        ("operator:olga", {"no-big-refunds": f"shadow deny {where}"}, {"no-big-refunds": f"enforcing deny {where}"})]
    assert httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=agent, json=refund).json()["decision"] == "deny"
