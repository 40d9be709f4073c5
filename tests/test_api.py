"""The control API over real HTTP: long-poll, 304, overrides, expiry, decisions, access."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from takeover.tools.promproc import free_port
from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("api")
    (tmp / "rules.yml").write_text("groups: []\n")
    srv = start_server({
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp / 'takeover.db'}",
        "TAKEOVER_RULES": str(tmp / "rules.yml"),
        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
    }, log=tmp / "serve.log")
    yield srv
    stop_server(srv)


OPEN: list[httpx.Client] = []


def client(server: Server, token: str) -> httpx.Client:
    OPEN.append(httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}))
    return OPEN[-1]


@pytest.fixture(scope="module", autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


@pytest.fixture(scope="module")
def operator(server: Server) -> httpx.Client:
    return client(server, server.token("--role", "operator", "--name", "op"))


def agent_client(server: Server, name: str) -> httpx.Client:
    return client(server, server.token("--role", "agent", "--agent", name))


def set_mode(operator: httpx.Client, agent: str, mode: str, **extra: Any) -> dict[str, Any]:
    response = operator.put(f"/v1/agents/{agent}/control", json={"mode": mode, "reason": "test", **extra})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_long_poll_returns_on_change_and_304_at_the_deadline(server: Server, operator: httpx.Client) -> None:
    bot = agent_client(server, "lp-bot")
    first = bot.get("/v1/agents/lp-bot/control")
    etag = first.headers["ETag"]
    started = time.monotonic()
    timeout = bot.get("/v1/agents/lp-bot/control", params={"wait": "1s"}, headers={"If-None-Match": etag})
    assert timeout.status_code == 304 and time.monotonic() - started >= 0.85  # jitter: 0.9-1.0 of wait

    result: dict[str, Any] = {}

    def poll() -> None:
        r = bot.get("/v1/agents/lp-bot/control", params={"wait": "20s"}, headers={"If-None-Match": etag}, timeout=30)
        result["response"], result["at"] = r, time.monotonic()

    poller = threading.Thread(target=poll)
    poller.start()
    poller.join(0.5)
    assert poller.is_alive()  # the server is holding the poll: nothing changed yet
    changed_at = time.monotonic()
    set_mode(operator, "lp-bot", "read_only")
    poller.join(25)
    response = result["response"]
    assert response.status_code == 200 and response.json()["mode"] == "read_only"
    assert response.headers["ETag"] != etag
    assert result["at"] - changed_at < 5  # woken by the change, not by the 20 s deadline

    by_version = bot.get("/v1/agents/lp-bot/control", params={"wait": "5s", "version": first.json()["version"]})
    assert by_version.status_code == 200  # a stale version returns at once


def test_overrides_combine_expire_and_release_one_by_one(server: Server, operator: httpx.Client) -> None:
    bot = agent_client(server, "ov-bot")
    assert bot.get("/v1/agents/ov-bot/control").json()["mode"] == "normal"
    held = operator.post("/v1/agents/ov-bot/sources", json={"mode": "pause_writes", "reason": "deploy", "expires_in": "1s"})
    assert held.status_code == 201 and held.json()["mode"] == "pause_writes"
    strict = operator.post("/v1/agents/ov-bot/sources", json={"mode": "read_only", "reason": "incident"}).json()
    assert strict["mode"] == "read_only" and len(strict["sources"]) == 2
    # the expired pause disappears by itself (and the version moves on)
    deadline = time.monotonic() + 10
    while len((doc := bot.get("/v1/agents/ov-bot/control").json())["sources"]) != 1:
        assert time.monotonic() < deadline, doc
        time.sleep(0.1)
    assert doc["mode"] == "read_only" and doc["version"] > strict["version"]
    (source,) = doc["sources"]
    released = operator.post(f"/v1/agents/ov-bot/sources/{source['id']}/release", json={"reason": "over"})
    assert released.status_code == 200 and released.json()["mode"] == "normal"
    again = operator.post(f"/v1/agents/ov-bot/sources/{source['id']}/release", json={"reason": "over"})
    assert again.status_code == 404


def test_global_override_applies_to_every_agent(server: Server, operator: httpx.Client) -> None:
    bot = agent_client(server, "g-bot")
    bot.get("/v1/agents/g-bot/control")
    operator.post("/v1/agents/*/sources", json={"mode": "require_approval", "reason": "model outage"})
    try:
        assert bot.get("/v1/agents/g-bot/control").json()["mode"] in ("require_approval", "read_only")
        assert bot.post("/v1/agents/g-bot/actions", json={"action": "send", "kind": "write"}).json()["decision"] == "approval_required"
    finally:
        assert operator.post("/v1/agents/*/release", json={"reason": "model back"}).status_code == 200
    assert bot.get("/v1/agents/g-bot/control").json()["mode"] == "normal"


@pytest.mark.parametrize(("mode", "kind", "risk", "decision"), [
    ("normal", "read", "low", "allow"), ("normal", "write", "low", "allow"),
    ("normal", "write", "high", "approval_required"),
    ("require_approval", "read", "high", "allow"), ("require_approval", "write", "low", "approval_required"),
    ("pause_writes", "read", "low", "allow"), ("pause_writes", "write", "low", "deny"),
    ("read_only", "read", "low", "allow"), ("read_only", "write", "high", "deny"),
    ("handoff", "read", "low", "deny"), ("handoff", "write", "low", "deny"),
])
def test_every_row_of_the_decision_table(server: Server, operator: httpx.Client,
                                         mode: str, kind: str, risk: str, decision: str) -> None:
    bot = agent_client(server, "dt-bot")
    set_mode(operator, "dt-bot", mode)
    answer = bot.post("/v1/agents/dt-bot/actions", json={"action": "refund", "kind": kind, "risk": risk,
                                                         "args": {"amount": 5}, "idempotency_key": "k1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["decision"], body["mode"]) == (decision, mode)
    assert (body["retry_after"] is not None) == (mode == "pause_writes" and kind == "write")


def test_agent_tokens_cannot_read_or_act_for_another_agent(server: Server, operator: httpx.Client) -> None:
    bot = agent_client(server, "mine")
    assert bot.get("/v1/agents/theirs/control").status_code == 403
    assert bot.post("/v1/agents/theirs/actions", json={"action": "x", "kind": "read"}).status_code == 403
    assert bot.put("/v1/agents/mine/control", json={"mode": "normal", "reason": "x"}).status_code == 403
    assert bot.get("/v1/agents").status_code == 403
    assert httpx.get(f"{server.url}/v1/agents/mine/control").status_code == 401


def test_bad_requests_get_a_4xx_that_says_what_to_fix(server: Server, operator: httpx.Client) -> None:
    bot = agent_client(server, "bad-bot")
    wait = bot.get("/v1/agents/bad-bot/control", params={"wait": "soon"})
    assert wait.status_code == 422 and "wait" in wait.text
    kind = bot.post("/v1/agents/bad-bot/actions", json={"action": "x", "kind": "delete"})
    assert kind.status_code == 422 and "kind" in kind.text
    expiry = operator.put("/v1/agents/bad-bot/control", json={"mode": "read_only", "reason": "x", "expires_in": "later"})
    assert expiry.status_code == 422 and "expires_in" in expiry.text
    unknown = operator.get("/v1/agents/nobody/control")
    assert unknown.status_code == 404 and "unknown agent" in unknown.text
