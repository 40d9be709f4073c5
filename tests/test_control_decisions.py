"""Control that cannot be talked around (issue 24, items 2-7), tried as an attacker would against a
real `takeover serve` with a routing file and a policy file, on SQLite and PostgreSQL: a grant
never beats a deny nor covers larger arguments, any takeover ends grants, one person is one vote
(API, console and Slack alike), a direct approval request is decided as an action is, an approval
runs once, and a console stream ends with its session while guessing backs off."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.test_approvals import bearer, server_env
from tests.test_console import csrf_of
from tests.test_e2e import poll
from tests.test_slack import SECRET, click, signed

pytestmark = pytest.mark.slow

POLICIES = """\
policies:
  - name: huge-refunds
    action: refund
    when: ["amount > 100000"]
    decision: deny
    reason: huge refunds are never automatic
  - name: refunds
    action: refund
    when: ["amount > 100"]
    decision: require_approval
    grant_max: 1h
  - name: two-for-wires
    action: wire_out
    decision: require_approval
    reason: wires need two people
    quorum: 2
    owner_may_approve: false
"""
ROUTING = """\
owners:
  carol: {channel: "#payments"}
agents:
  "pay-*": carol
slack_users: {U_ALICE: alice}
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
           "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"), "TAKEOVER_SLACK_SIGNING_SECRET": SECRET}
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


@pytest.fixture
def token(server: Server) -> Tokens:
    return Tokens(server)


def ask(server: Server, agent: str, action: str, args: dict[str, Any], key: str) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=bearer(agent), json={
        "action": action, "kind": "write", "args": args, "idempotency_key": key})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def approve(server: Server, operator: str, approval_id: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/approvals/{approval_id}/approve", headers=bearer(operator), json=body)


def audit(server: Server, operator: str, action: str) -> list[dict[str, Any]]:
    rows = httpx.get(f"{server.url}/v1/audit", headers=bearer(operator), params={"action": action, "limit": 500})
    return rows.json()["rows"]  # type: ignore[no-any-return]


def granted_refund(server: Server, agent: str, operator: str) -> dict[str, Any]:
    """A refund of 600 approved with "and allow refunds for 30 minutes"."""
    asked = ask(server, agent, "refund", {"amount": 600, "order": "A-1"}, "grant-600")
    assert asked["decision"] == "approval_required"
    given = approve(server, operator, asked["approval"]["id"], grant_for="30m")
    assert given.status_code == 200, given.text
    return given.json()  # type: ignore[no-any-return]


def test_a_grant_never_beats_a_deny_policy_nor_covers_larger_arguments(server: Server, token: Tokens) -> None:
    agent, op = token("agent", "pay-bot"), token("operator", "alice")
    granted_refund(server, agent, op)
    for amount in (600, 450, 101):  # within what the approver saw
        answer = ask(server, agent, "refund", {"amount": amount, "order": "B-2"}, f"in-{amount}")
        assert answer["decision"] == "allow" and answer["reason"].startswith("granted: operator:alice allowed refund")
    beyond = ask(server, agent, "refund", {"amount": 90_000, "order": "B-2"}, "beyond")
    assert beyond["decision"] == "approval_required" and "amount = 90000 is beyond the approved 600" in beyond["reason"]
    huge = ask(server, agent, "refund", {"amount": 5_000_000, "order": "B-2"}, "huge")
    assert huge["decision"] == "deny" and huge["reason"].startswith("huge refunds are never automatic")
    unbounded = ask(server, agent, "refund", {"amount": 500, "fee": 10**9}, "fee")
    assert unbounded["decision"] == "approval_required" and "fee was not in the approved arguments" in unbounded["reason"]
    assert ask(server, agent, "wire_out", {"amount": 1}, "wire")["decision"] == "approval_required"  # only refund
    doc = httpx.get(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(agent)).json()
    assert [(s["kind"], s["ref"]) for s in doc["sources"]] == [("grant", "refund")]
    assert "amount ≤ 600" in doc["sources"][0]["reason"]


def test_a_takeover_through_sources_ends_the_agents_grants(server: Server, token: Tokens) -> None:
    agent, op = token("agent", "pay-bot"), token("operator", "alice")
    granted_refund(server, agent, op)
    assert ask(server, agent, "refund", {"amount": 500}, "before")["decision"] == "allow"
    held = httpx.post(f"{server.url}/v1/agents/pay-bot/sources", headers=bearer(op),
                      json={"mode": "pause_writes", "reason": "looks odd"})
    assert held.status_code in (200, 201, 204), held.text
    assert ask(server, agent, "refund", {"amount": 500}, "held")["decision"] == "deny"
    pause = next(s["id"] for s in httpx.get(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(agent)).json()[
        "sources"] if s["kind"] == "override")
    released = httpx.post(f"{server.url}/v1/agents/pay-bot/sources/{pause}/release", headers=bearer(op),
                          json={"reason": "fine"})  # the pause alone, not every source
    assert released.status_code in (200, 204), released.text
    after = ask(server, agent, "refund", {"amount": 500}, "after")
    assert after["decision"] == "approval_required"  # the grant ended with the takeover
    doc = httpx.get(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(agent)).json()
    assert doc["mode"] == "normal" and doc["sources"] == []
    ended = audit(server, op, "mode.grant_ended")
    assert len(ended) == 1 and ended[0]["reason"].startswith("a takeover ends grants: override pause_writes")

    # a grant is not given while a takeover holds the agent (it would outlive the hold)
    httpx.post(f"{server.url}/v1/agents/pay-bot/sources", headers=bearer(op), json={"mode": "require_approval",
                                                                                     "reason": "watching"})
    pending = after["approval"]["id"]
    refused = approve(server, op, pending, grant_for="10m")
    assert refused.status_code == 409 and "a takeover ends grants" in refused.text
    assert httpx.get(f"{server.url}/v1/approvals/{pending}", headers=bearer(op)).json()["status"] == "pending"


def test_two_tokens_of_one_person_are_one_vote_in_the_api_the_console_and_slack(server: Server, token: Tokens) -> None:
    agent = token("agent", "pay-bot")
    as_operator, as_admin, bob = token("operator", "operator:alice"), token("admin", "admin:alice"), token("operator", "bob")
    wire = ask(server, agent, "wire_out", {"to": "DE89", "amount": 10}, "w-1")["approval"]
    assert wire["quorum"] == 2
    first = approve(server, as_operator, wire["id"])
    assert first.status_code == 200 and first.json()["status"] == "pending"
    second = approve(server, as_admin, wire["id"])
    assert second.status_code == 409 and "one person is one vote" in second.text
    assert "alice (as operator:operator:alice)" in second.text

    # the console: a session opened with another of alice's tokens is alice too
    browser = httpx.Client(base_url=server.url, timeout=10)
    with browser:
        form = browser.get("/ui/login")
        assert browser.post("/ui/login", data={"csrf": csrf_of(form.text), "token": token("operator", "alice"),
                                               "next": "/ui/approvals"}).status_code == 303
        page = browser.get("/ui/approvals")
        browser.post(f"/ui/approvals/{wire['id']}/approve", data={"csrf": csrf_of(page.text)})
        assert "one person is one vote" in browser.get("/ui/approvals").text

    decided = approve(server, bob, wire["id"])
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert [v["by"] for v in decided.json()["approvals"]] == ["operator:operator:alice", "operator:bob"]

    # Slack: U_ALICE is alice in the routing file's slack_users
    other = ask(server, agent, "wire_out", {"to": "DE89", "amount": 20}, "w-2")["approval"]
    pressed = click("approve", other["id"], user="U_ALICE")
    assert httpx.post(f"{server.url}/slack/interactions", content=pressed, headers=signed(pressed)).status_code == 200
    poll(lambda: httpx.get(f"{server.url}/v1/approvals/{other['id']}", headers=bearer(bob)).json(),
         until=lambda a: len(a["approvals"]) == 1)
    again = approve(server, as_admin, other["id"])
    assert again.status_code == 409 and "alice (as operator:alice) approved already" in again.text


def test_a_direct_approval_request_is_decided_as_an_action_is(server: Server, token: Tokens) -> None:
    agent, carol, op = token("agent", "pay-bot"), token("operator", "carol"), token("operator", "alice")
    url = f"{server.url}/v1/approvals"
    own = httpx.post(url, headers=bearer(agent), json={"agent": "pay-bot", "action": "wire_out",
                                                       "args": {"amount": 10}, "responders": ["operator:carol"]})
    assert own.status_code == 422 and "decided by the policies, not by the agent" in own.text
    made = httpx.post(url, headers=bearer(agent), json={"agent": "pay-bot", "action": "wire_out", "args": {"amount": 10}})
    assert made.status_code == 201, made.text
    wire = made.json()
    assert (wire["quorum"], wire["responders"], wire["policy"].split(" (")[0]) == (2, ["role:operator"], "two-for-wires")
    owner = approve(server, carol, wire["id"])
    assert owner.status_code == 403 and "its owner may not approve" in owner.text
    assert approve(server, op, wire["id"]).json()["status"] == "pending"  # one of two

    taken = httpx.put(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(op),
                      json={"mode": "read_only", "reason": "incident"})
    assert taken.status_code in (200, 204), taken.text
    denied = httpx.post(url, headers=bearer(agent), json={"agent": "pay-bot", "action": "delete_db"})
    assert denied.status_code == 403 and "the agent is read-only" in denied.text
    deny_policy = httpx.put(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(op),
                            json={"mode": "normal", "reason": "over"})
    assert deny_policy.status_code in (200, 204)
    huge = httpx.post(url, headers=bearer(agent), json={"agent": "pay-bot", "action": "refund",
                                                        "args": {"amount": 5_000_000}})
    assert huge.status_code == 403 and "huge refunds are never automatic" in huge.text
    assert [r["after"]["action"] for r in audit(server, op, "action.deny")] == ["delete_db", "refund"]


def test_an_approval_executes_once_and_a_replay_says_when_and_by_whom(server: Server, token: Tokens) -> None:
    agent, op = token("agent", "pay-bot"), token("operator", "alice")
    asked = ask(server, agent, "refund", {"amount": 600, "order": "A-1"}, "once")["approval"]
    assert approve(server, op, asked["id"]).json()["status"] == "approved"
    url = f"{server.url}/v1/approvals/{asked['id']}/execute"
    args = {"args": {"amount": 600, "order": "A-1"}}

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            return list(await asyncio.gather(*(client.post(url, headers=bearer(agent), json=args) for _ in range(10))))

    answers = asyncio.run(race())
    assert sorted(r.status_code for r in answers) == [200] + [409] * 9
    ran = next(r.json() for r in answers if r.status_code == 200)
    assert ran["executed_by"] == "agent:pay-bot" and ran["executed_at"] is not None
    for _ in range(5):
        replay = httpx.post(url, headers=bearer(agent), json=args)
        assert replay.status_code == 409
        detail = replay.json()["detail"]
        assert (detail["executed_at"], detail["executed_by"]) == (ran["executed_at"], "agent:pay-bot")
        assert "it ran already" in detail["message"] and "an approval runs once" in detail["message"]
    assert len(audit(server, op, "approval.executed")) == 1
    assert len(audit(server, op, "approval.execution_refused")) == 14


def live_events(client: httpx.Client, seen: list[str], stop: threading.Event) -> None:
    with client.stream("GET", "/ui/live", timeout=httpx.Timeout(10, read=60)) as stream:
        for line in stream.iter_lines():
            seen.append(line)
            if stop.is_set() or line == "event: ended":
                return


def open_stream(server: Server, secret: str) -> tuple[httpx.Client, list[str], threading.Thread]:
    client = httpx.Client(base_url=server.url, timeout=10)
    form = client.get("/ui/login")
    assert client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": secret}).status_code == 303
    seen: list[str] = []
    reader = threading.Thread(target=live_events, args=(client, seen, threading.Event()), daemon=True)
    reader.start()
    poll(lambda: list(seen), until=lambda lines: "event: hello" in lines, timeout=10)
    return client, seen, reader


def test_an_open_live_stream_ends_at_sign_out_and_when_its_token_is_revoked(server: Server, token: Tokens) -> None:
    client, seen, reader = open_stream(server, token("viewer", "vera"))
    try:
        out = client.post("/ui/logout", data={"csrf": csrf_of(client.get("/ui/").text)})
        assert out.status_code == 303
        poll(lambda: list(seen), until=lambda lines: "event: ended" in lines, timeout=10)
        reader.join(timeout=10)
        assert not reader.is_alive()
    finally:
        client.close()

    client, seen, reader = open_stream(server, token("operator", "otto"))
    try:
        tokens = httpx.get(f"{server.url}/v1/tokens", headers=bearer(token.admin)).json()
        otto = next(t["id"] for t in tokens if t["name"] == "otto")
        assert httpx.post(f"{server.url}/v1/tokens/{otto}/revoke", headers=bearer(token.admin)).status_code == 200
        poll(lambda: list(seen), until=lambda lines: "event: ended" in lines, timeout=10)
        reader.join(timeout=10)
        assert not reader.is_alive()
    finally:
        client.close()


def test_guessed_sign_ins_and_tokens_back_off_per_address_with_retry_after_and_are_audited(server: Server, token: Tokens) -> None:
    agent, op, late = token("agent", "pay-bot"), token("operator", "alice"), token("operator", "late")
    doc = f"{server.url}/v1/agents/pay-bot/control"
    assert httpx.get(doc, headers=bearer(agent)).status_code == 200  # known before the guessing starts
    assert httpx.get(f"{server.url}/v1/agents", headers=bearer(op)).status_code == 200

    with httpx.Client(base_url=server.url, timeout=10) as browser:
        csrf = csrf_of(browser.get("/ui/login").text)
        statuses = []
        for i in range(20):
            answer = browser.post("/ui/login", data={"csrf": csrf, "token": f"tko_sign-in-{i}"})
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) >= 1 and "too many failed sign-ins" in answer.text
                break
        assert statuses[:10] == [401] * 10 and statuses[-1] == 429, statuses
    assert len(audit(server, op, "auth.sign_in_refused")) == len(statuses) - 1
    assert [r["after"]["what"] for r in audit(server, op, "auth.throttled")] == ["console sign-in"]

    # one count for both doors: guessed bearer tokens from the same address wait too
    guess = iter(range(10**6))
    blocked = httpx.get(doc, headers=bearer(f"tko_guess-{next(guess)}"))
    assert blocked.status_code == 429 and "too many invalid tokens" in blocked.text
    assert int(blocked.headers["Retry-After"]) >= 1
    assert httpx.get(doc, headers=bearer(agent)).status_code == 200  # a token known to be good still polls
    assert httpx.get(f"{server.url}/v1/agents", headers=bearer(op)).status_code == 200
    assert httpx.get(f"{server.url}/v1/agents", headers=bearer(late)).status_code == 429  # one not seen yet waits
    # past the wait, the next wrong guess is counted and the wait doubles (audited)
    poll(lambda: httpx.get(doc, headers=bearer(f"tko_guess-{next(guess)}")).status_code, until=lambda c: c == 401)
    again = httpx.get(doc, headers=bearer(f"tko_guess-{next(guess)}"))
    assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 1
    throttled = audit(server, op, "auth.throttled")
    assert [r["after"]["what"] for r in throttled] == ["console sign-in", "bearer token"]
    assert all(r["actor"] == "address:127.0.0.1" for r in throttled)
