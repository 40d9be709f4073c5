"""Approvals and the audit trail over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from takeover.tools.promproc import free_port
from tests.conftest import Server, start_server, stop_server, takeover_cli

pytestmark = pytest.mark.slow


def server_env(tmp: Path, database_url: str) -> dict[str, str]:
    (tmp / "rules.yml").write_text("groups: []\n")
    return {"TAKEOVER_DATABASE_URL": database_url, "TAKEOVER_RULES": str(tmp / "rules.yml"),
            "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}


WIRES = """\
policies:
  - name: wires-by-alice
    action: wire
    decision: require_approval
    approvers: [operator:alice]
"""


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    (tmp_path / "policies.yml").write_text(WIRES)
    env = {**server_env(tmp_path, database_url), "TAKEOVER_POLICIES": str(tmp_path / "policies.yml")}
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def request_refund(server: Server, agent_token: str, **extra: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=bearer(agent_token), json={
        "action": "refund", "kind": "write", "risk": "high", "args": {"order": "A-1", "amount": 120},
        "idempotency_key": "order-A-1", **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "approval_required"
    return body["approval"]  # type: ignore[no-any-return]


def test_one_hundred_concurrent_decisions_record_exactly_one(server: Server, database_url: str) -> None:
    agent = server.token("--role", "agent", "--agent", "pay-bot")
    operators = [server.token("--role", "operator", "--name", f"op{i}") for i in range(2)]
    approval = request_refund(server, agent)
    again = request_refund(server, agent)  # the same idempotency key: the same request
    assert again["id"] == approval["id"]

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=100)) as client:
            calls = []
            for i in range(100):
                verb = "approve" if i % 2 == 0 else "reject"
                calls.append(client.post(f"/v1/approvals/{approval['id']}/{verb}",
                                         headers=bearer(operators[i % 2]), json={"comment": f"call {i}"}))
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(storm())
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1 and codes.count(409) == 99, codes
    winner = next(r.json() for r in responses if r.status_code == 200)
    loser = next(r.json() for r in responses if r.status_code == 409)
    assert loser["detail"]["approval"]["status"] == winner["status"]
    assert loser["detail"]["message"].startswith(f"already {winner['status']}")

    op = bearer(operators[0])
    trail = httpx.get(f"{server.url}/v1/audit", headers=op, params={"action": "approval.", "limit": 1000}).json()["rows"]
    decisions = [r for r in trail if r["action"] in ("approval.approved", "approval.rejected")]
    assert len(decisions) == 1 and decisions[0]["actor"] == winner["decided_by"]
    assert [r["action"] for r in trail].count("approval.request") == 1
    verify = takeover_cli("audit", "verify", env=server.env)
    assert verify.returncode == 0 and "audit chain verified" in verify.stdout, verify.stderr


def test_expiry_denies_and_says_it_expired(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "pay-bot")
    operator = server.token("--role", "operator", "--name", "op")
    created = httpx.post(f"{server.url}/v1/approvals", headers=bearer(agent), json={
        "agent": "pay-bot", "action": "delete_user", "args": {"user": 7}, "expires_in": "1s"})
    assert created.status_code == 201, created.text
    approval = created.json()
    waited = httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=bearer(agent),
                       params={"wait": "10s"}, timeout=20).json()
    assert waited["status"] == "expired" and waited["decided_by"] == "system:expiry"
    late = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(operator))
    assert late.status_code == 409 and "already expired" in late.text


def test_approve_with_edits_keeps_proposed_approved_and_effective_apart(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "pay-bot")
    operator = server.token("--role", "operator", "--name", "op")
    approval = request_refund(server, agent)
    bad = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(operator),
                     json={"args": {"amount": 50, "to_account": "attacker"}})
    assert bad.status_code == 422 and "to_account" in bad.text
    reject_without_comment = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/reject",
                                        headers=bearer(operator), json={})
    assert reject_without_comment.status_code == 422 and "comment" in reject_without_comment.text
    ok = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(operator),
                    json={"args": {"amount": 50}, "comment": "partial refund"}).json()
    assert ok["args"] == {"proposed": {"order": "A-1", "amount": 120}, "approved": {"amount": 50},
                          "effective": {"order": "A-1", "amount": 50}}
    seen = httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=bearer(agent)).json()
    assert seen["status"] == "approved" and seen["args"]["effective"]["amount"] == 50


def test_only_the_responders_the_policy_names_may_answer_and_the_agent_names_none(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "pay-bot")
    alice = server.token("--role", "operator", "--name", "alice")
    bob = server.token("--role", "operator", "--name", "bob")
    own = httpx.post(f"{server.url}/v1/approvals", headers=bearer(agent), json={
        "agent": "pay-bot", "action": "wire", "responders": ["operator:bob"]})
    assert own.status_code == 422 and "decided by the policies" in own.text and "operator:alice" in own.text
    approval = httpx.post(f"{server.url}/v1/approvals", headers=bearer(agent), json={
        "agent": "pay-bot", "action": "wire"}).json()
    assert approval["responders"] == ["operator:alice"] and approval["policy"].startswith("wires-by-alice (")
    refused = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(bob))
    assert refused.status_code == 403 and "operator:alice" in refused.text
    assert httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(alice)).status_code == 200
    assert httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(agent)).status_code == 403


def test_audit_verify_names_the_row_edited_by_hand(server: Server, database_url: str) -> None:
    server.token("--role", "operator", "--name", "op")
    agent = server.token("--role", "agent", "--agent", "pay-bot")
    request_refund(server, agent)
    rows = httpx.get(f"{server.url}/v1/audit", headers=bearer(server.token("--role", "operator", "--name", "op2"))).json()["rows"]
    assert len(rows) >= 4
    target = rows[2]["id"]
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit SET actor = 'operator:mallory' WHERE id = :id"), {"id": target})
    engine.dispose()
    result = takeover_cli("audit", "verify", env=server.env)
    assert result.returncode == 1
    assert f"audit chain broken at row {target} " in result.stderr


def test_pending_approvals_survive_kill_9(tmp_path: Path, database_url: str) -> None:
    env = server_env(tmp_path, database_url)
    first = start_server(env, log=tmp_path / "first.log")
    agent = first.token("--role", "agent", "--agent", "pay-bot")
    operator = first.token("--role", "operator", "--name", "op")
    keep = request_refund(first, agent)
    short = httpx.post(f"{first.url}/v1/approvals", headers=bearer(agent), json={
        "agent": "pay-bot", "action": "short", "expires_in": "1s"}).json()
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    second = start_server(env, log=tmp_path / "second.log")
    try:
        assert httpx.get(f"{second.url}/v1/approvals/{keep['id']}", headers=bearer(agent)).json()["status"] == "pending"
        expired = httpx.get(f"{second.url}/v1/approvals/{short['id']}", headers=bearer(agent),
                            params={"wait": "10s"}, timeout=20).json()
        assert expired["status"] == "expired"
        pending = httpx.get(f"{second.url}/v1/approvals", headers=bearer(operator), params={"status": "pending"}).json()
        assert [a["id"] for a in pending] == [keep["id"]]
    finally:
        stop_server(second)


def test_a_reused_idempotency_key_for_another_action_is_refused_and_operators_do_not_cancel(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "pay-bot")
    operator = server.token("--role", "operator", "--name", "op")
    approval = request_refund(server, agent)
    other = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=bearer(agent), json={
        "action": "refund", "kind": "write", "risk": "high", "args": {"order": "A-1", "amount": 9999},
        "idempotency_key": "order-A-1"})
    assert other.status_code == 409 and "use a new key" in other.text
    refused = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/cancel", headers=bearer(operator))
    assert refused.status_code == 403 and "operators reject" in refused.text
    cancelled = httpx.post(f"{server.url}/v1/approvals/{approval['id']}/cancel", headers=bearer(agent))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_many_first_polls_of_a_new_agent_at_once_all_succeed(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "race-bot")

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=50)) as client:
            calls = [client.get("/v1/agents/race-bot/control", headers=bearer(agent)) for _ in range(50)]
            calls += [client.post("/v1/agents/race-bot/actions", headers=bearer(agent),
                                  json={"action": "look", "kind": "read"}) for _ in range(20)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert set(asyncio.run(storm())) == {200}


def test_racing_requests_with_one_idempotency_key_open_one_approval(server: Server) -> None:
    agent = server.token("--role", "agent", "--agent", "pay-bot")

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60,
                                     limits=httpx.Limits(max_connections=30)) as client:
            return list(await asyncio.gather(*[client.post("/v1/approvals", headers=bearer(agent), json={
                "agent": "pay-bot", "action": "wire", "args": {"to": "x"}, "idempotency_key": "wire-1"})
                for _ in range(30)]))

    responses = asyncio.run(storm())
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
