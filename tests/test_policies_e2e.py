"""Approval policies over real HTTP on SQLite and PostgreSQL: quorum under concurrency, reject
against late approvals, no self-approval, grants, arguments bound to the approval; and
escalation to the next target in the fake Slack with a clock the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover import store
from takeover.app import agents, approvals
from takeover.control.policyfile import parse_policies
from takeover.control.principal import Principal, Role
from takeover.notify.routing import load_routing
from takeover.notify.slack import SlackNotifier
from takeover.rules.query import static_query
from takeover.sdk import Client, RequestRejected
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.conftest import Server, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_approvals import bearer, server_env
from tests.test_e2e import poll

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

POLICIES = """\
policies:
  - name: two-for-wires
    action: wire_transfer
    decision: require_approval
    reason: wires need two people
    approvers: [operator:a, operator:b, operator:c]
    quorum: 2
  - name: refunds
    action: refund
    when: ["amount > 100"]
    decision: require_approval
    owner_may_approve: false
    grant_max: 1h
    escalation: [{after: 5m, target: "#payments-leads"}, {after: 10m, target: U0LEAD}]
"""
ROUTING = """\
owners:
  carol: {channel: "#payments"}
agents:
  "pay-*": carol
"""


class Tokens:
    """Tokens made over the API with one admin token (a CLI run per token costs seconds)."""

    def __init__(self, server: Server) -> None:
        self.url, self.admin = server.url, server.token("--role", "admin", "--name", "root")

    def __call__(self, role: str, name: str) -> str:
        body = {"role": role, "name": name, "agents": [name] if role == "agent" else []}
        made = httpx.post(f"{self.url}/v1/tokens", headers=bearer(self.admin), json=body)
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    (tmp_path / "policies.yml").write_text(POLICIES)
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {**server_env(tmp_path, database_url), "TAKEOVER_POLICIES": str(tmp_path / "policies.yml"),
           "TAKEOVER_ROUTING": str(tmp_path / "routing.yml")}
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


@pytest.fixture
def token(server: Server) -> Tokens:
    return Tokens(server)


def ask(server: Server, token: str, action: str, args: dict[str, Any], key: str) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=bearer(token), json={
        "action": action, "kind": "write", "args": args, "idempotency_key": key})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_two_of_three_under_fifty_concurrent_approvals_decides_once_with_the_first_two(server: Server, token: Tokens) -> None:
    agent = token("agent", "pay-bot")
    ops = {name: token("operator", name) for name in "abc"}
    answer = ask(server, agent, "wire_transfer", {"to": "DE89", "amount": 10}, "w-1")
    assert answer["decision"] == "approval_required"
    assert answer["reason"].startswith("wires need two people (policy two-for-wires, ")
    approval = answer["approval"]
    assert (approval["quorum"], approval["responders"]) == (2, ["operator:a", "operator:b", "operator:c"])

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return list(await asyncio.gather(*(
                client.post(f"/v1/approvals/{approval['id']}/approve", headers=bearer(ops["abc"[i % 3]]))
                for i in range(50))))

    responses = asyncio.run(storm())
    assert sorted(r.status_code for r in responses).count(200) == 2  # one vote, then the deciding one
    final = httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=bearer(ops["a"])).json()
    voters = [v["by"] for v in final["approvals"]]
    assert final["status"] == "approved" and len(voters) == 2 and len(set(voters)) == 2
    assert final["decided_by"] == voters[1]
    trail = httpx.get(f"{server.url}/v1/audit", headers=bearer(ops["a"]),
                      params={"action": "approval.", "limit": 500}).json()["rows"]
    assert [r["action"] for r in trail] == ["approval.request", "approval.vote", "approval.approved"]
    assert [r["actor"] for r in trail[1:]] == voters


def test_a_reject_wins_over_a_late_approval_and_the_owner_may_not_approve(server: Server, token: Tokens) -> None:
    agent = token("agent", "pay-bot")
    a, b, c = (token("operator", n) for n in "abc")
    approval = ask(server, agent, "wire_transfer", {"to": "DE89", "amount": 10}, "w-2")["approval"]
    url = f"{server.url}/v1/approvals/{approval['id']}"
    one = httpx.post(f"{url}/approve", headers=bearer(a)).json()
    assert (one["status"], [v["by"] for v in one["approvals"]]) == ("pending", ["operator:a"])
    assert httpx.post(f"{url}/approve", headers=bearer(a)).status_code == 409  # a second vote by a
    assert httpx.post(f"{url}/reject", headers=bearer(b), json={"comment": "wrong account"}).status_code == 200
    late = httpx.post(f"{url}/approve", headers=bearer(c))
    assert late.status_code == 409 and late.json()["detail"]["message"] == "already rejected by operator:b"

    carol = token("operator", "carol")  # owns pay-* in the routing file
    refund = ask(server, agent, "refund", {"amount": 500}, "r-1")["approval"]
    refused = httpx.post(f"{server.url}/v1/approvals/{refund['id']}/approve", headers=bearer(carol))
    assert refused.status_code == 403 and "its owner may not approve" in refused.text


def test_a_grant_allows_the_action_until_it_ends(server: Server, token: Tokens) -> None:
    agent = token("agent", "pay-bot")
    op = token("operator", "a")
    refund = ask(server, agent, "refund", {"amount": 500}, "r-2")["approval"]
    over = httpx.post(f"{server.url}/v1/approvals/{refund['id']}/approve", headers=bearer(op),
                      json={"grant_for": "2h"})
    assert over.status_code == 422 and "grant_max" in over.text
    granted = httpx.post(f"{server.url}/v1/approvals/{refund['id']}/approve", headers=bearer(op),
                         json={"grant_for": "3s"})
    assert granted.status_code == 200, granted.text
    later = ask(server, agent, "refund", {"amount": 400}, "r-3")
    assert later["decision"] == "allow" and later["reason"].startswith("granted: operator:a allowed refund")
    doc = httpx.get(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(agent)).json()
    assert [(s["kind"], s["ref"], s["mode"]) for s in doc["sources"]] == [("grant", "refund", "normal")]
    assert ask(server, agent, "wire_transfer", {"to": "x"}, "w-3")["decision"] == "approval_required"  # only refund
    poll(lambda: ask(server, agent, "refund", {"amount": 400}, "r-4")["decision"], until=lambda d: d != "allow")
    assert ask(server, agent, "refund", {"amount": 400}, "r-5")["decision"] == "approval_required"


def test_an_approved_action_runs_only_with_the_approved_arguments(server: Server, token: Tokens) -> None:
    agent = token("agent", "pay-bot")
    op = token("operator", "a")
    refund = ask(server, agent, "refund", {"amount": 500, "order": "A-1"}, "r-6")["approval"]
    decided = httpx.post(f"{server.url}/v1/approvals/{refund['id']}/approve", headers=bearer(op),
                         json={"args": {"amount": 450}}).json()
    assert decided["args"]["effective"] == {"amount": 450, "order": "A-1"} and decided["args_digest"]
    url = f"{server.url}/v1/approvals/{refund['id']}/execute"
    wrong = httpx.post(url, headers=bearer(agent), json={"args": {"amount": 500, "order": "A-1"}})
    assert wrong.status_code == 409 and "not run: the approval covers" in wrong.text
    assert httpx.post(url, headers=bearer(op), json={"args": {"amount": 450, "order": "A-1"}}).status_code == 403
    right = httpx.post(url, headers=bearer(agent), json={"args": {"amount": 450, "order": "A-1"}})
    assert right.status_code == 200 and right.json()["executed_at"] is not None
    trail = httpx.get(f"{server.url}/v1/audit", headers=bearer(op), params={"action": "approval.ex"}).json()["rows"]
    assert [r["action"] for r in trail] == ["approval.execution_refused", "approval.executed"]
    assert trail[0]["reason"] == "the arguments differ from the approved ones"

    # the SDK's guard confirms the approved arguments before it runs the tool, once
    again = ask(server, agent, "refund", {"amount": 500, "order": "A-1"}, "r-7")["approval"]
    httpx.post(f"{server.url}/v1/approvals/{again['id']}/approve", headers=bearer(op), json={"args": {"amount": 450}})
    with Client(server.url, token=agent, agent="pay-bot", wait=2.0) as client:
        ran = []
        with client.guard(action="refund", args={"amount": 500, "order": "A-1"}, idempotency_key="r-7") as permit:
            ran.append(dict(permit.args))  # the approver's edit
        assert ran == [{"amount": 450, "order": "A-1"}]
        with pytest.raises(RequestRejected, match="an approval runs once"):  # no replay of the approval
            with client.guard(action="refund", args={"amount": 500, "order": "A-1"}, idempotency_key="r-7"):
                ran.append({})
        with pytest.raises(RequestRejected):  # the same key for other arguments is another action
            with client.guard(action="refund", args={"amount": 999, "order": "A-1"}, idempotency_key="r-7"):
                pass
    assert len(ran) == 1


def test_an_unanswered_request_escalates_step_by_step_before_it_expires(tmp_path: Path, fake_slack: FakeSlack) -> None:
    now = [1_000_000.0]
    (tmp_path / "routing.yml").write_text(ROUTING)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", templates=str(ROOT / "templates"))
    service = Service(settings, groups=[], notifier=SlackNotifier(token="xoxb-t", base_url=fake_slack.url),
                      query=static_query({}), clock=lambda: now[0],
                      routing=load_routing(tmp_path / "routing.yml", default_channel="#alerts"),
                      policies=parse_policies(POLICIES, filename="p.yml"))
    try:
        bot = Principal("pay-bot", Role.agent, ("pay-bot",))
        answer = agents.ask(service.app, bot, agent="pay-bot", action="refund", kind="write", risk="low",
                            args={"amount": 300}, idempotency_key="r-1")
        assert answer["decision"] == "approval_required"
        service.deliver()
        assert [p["channel"] for p in fake_slack.posts("[APPROVAL]")] == ["#payments"]
        now[0] += 299
        assert approvals.escalate(service.app) == 0
        now[0] += 1
        assert approvals.escalate(service.app) == 1 and approvals.escalate(service.app) == 0  # once per step
        service.deliver()
        assert [p["channel"] for p in fake_slack.posts("[ESCALATED]")] == ["#payments-leads"]
        now[0] += 300
        assert approvals.escalate(service.app) == 1
        service.deliver()
        assert [p["channel"] for p in fake_slack.posts("[ESCALATED]")] == ["#payments-leads", "U0LEAD"]
        now[0] += 300  # the default expiry (15 minutes): no still means no
        approvals.expire(service.app)
        assert approvals.escalate(service.app) == 0
        with service.sessions() as s:
            row = store.get_approval(session=s, approval_id=answer["approval"]["id"])
            assert row is not None and (row.status, row.escalated) == ("expired", 2)
    finally:
        service.stop()


def test_a_broken_policy_file_on_reload_keeps_the_running_policies(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "policies.yml").write_text(POLICIES)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", templates=str(ROOT / "templates"),
                        rules=[str(tmp_path / "rules.yml")], policies=str(tmp_path / "policies.yml"))
    service = Service(settings, groups=[], notifier=SlackNotifier(token="xoxb-t", base_url="http://127.0.0.1:9"),
                      query=static_query({}), policies=parse_policies(POLICIES, filename=str(tmp_path / "policies.yml")))
    try:
        (tmp_path / "policies.yml").write_text(POLICIES.replace("quorum: 2", "quorum: two"))
        problems = service.reload(actor="operator:a")
        assert [str(p) for p in problems] == [
            f"{tmp_path / 'policies.yml'}:7:13: quorum must be a whole number from 1 to 10; got 'two'"]
        assert [p.name for p in service.app.policies] == ["two-for-wires", "refunds"]
        assert service.app.policies[0].approval.quorum == 2
        (tmp_path / "policies.yml").write_text(POLICIES.replace("quorum: 2", "quorum: 3"))
        assert service.reload(actor="operator:a") == []
        assert service.app.policies[0].approval.quorum == 3
    finally:
        service.stop()
