"""Is the hold in effect? Each SDK instance sends its id with its polls; after a takeover the
API, the console and /metrics say how many of the agent's running instances hold the document
that holds it, and which do not (issue 28)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from takeover.control.instances import confirmation
from takeover.sdk import Client
from tests.conftest import start_server, stop_server
from tests.test_approvals import bearer, server_env
from tests.test_console import signed_in
from tests.test_e2e import poll

pytestmark = pytest.mark.slow


def test_a_takeover_with_one_of_three_instances_stopped_is_confirmed_by_two_and_names_the_silent_one(
        tmp_path: Path, database_url: str) -> None:
    env = {**server_env(tmp_path, database_url), "TAKEOVER_SILENT_AFTER": "1"}
    server = start_server(env, log=tmp_path / "serve.log")
    try:
        bot = server.token("--role", "agent", "--agent", "pay-bot")
        operator = server.token("--role", "operator", "--name", "olga")
        pods = {name: Client(server.url, token=bot, agent="pay-bot", wait=1.0, instance=name).start()
                for name in ("pod-a", "pod-b", "pod-c")}
        pods["pod-c"].close()  # stopped: it never hears of the takeover
        assert httpx.put(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(operator),
                         json={"mode": "read_only", "reason": "refunds look wrong"}).status_code == 200
        poll(lambda: [pods[p].mode() for p in ("pod-a", "pod-b")], until=lambda m: m == ["read_only"] * 2)
        detail = poll(lambda: httpx.get(f"{server.url}/v1/agents/pay-bot", headers=bearer(operator)).json(),
                      until=lambda d: d["confirmation"].startswith("confirmed by 2 of 3"), timeout=20)
        assert detail["confirmation"] == "confirmed by 2 of 3 instance(s); not yet: pod-c (silent)"
        stopped = detail["instances"][0]  # the unconfirmed first
        assert (stopped["id"], stopped["confirmed"], stopped["silent"]) == ("pod-c", False, True)
        assert stopped["version"] < detail["version"]

        page = signed_in(server, operator).get("/ui/agents/pay-bot").text
        assert re.search(r"confirmed by 2 of 3 instance\(s\)</span>; not yet: <code>pod-c</code> \(silent since", page)
        overview = signed_in(server, operator).get("/ui/").text
        assert "confirmed by 2 of 3 instance(s)" in overview
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'takeover_agent_instances_unconfirmed{agent="pay-bot"} 1.0' in metrics

        # handing back: the two running instances confirm normal, the stopped one stays behind
        assert httpx.put(f"{server.url}/v1/agents/pay-bot/control", headers=bearer(operator),
                         json={"mode": "normal", "reason": "fixed"}).status_code == 200
        poll(lambda: httpx.get(f"{server.url}/v1/agents/pay-bot", headers=bearer(operator)).json()["confirmation"],
             until=lambda c: c.startswith("confirmed by 2 of 3"), timeout=20)
        for pod in ("pod-a", "pod-b"):
            pods[pod].close()
    finally:
        stop_server(server)


def test_when_every_running_instance_holds_the_takeover_the_audit_trail_says_when(
        tmp_path: Path, database_url: str) -> None:
    server = start_server(server_env(tmp_path, database_url), log=tmp_path / "serve.log")
    try:
        bot = server.token("--role", "agent", "--agent", "ship-bot")
        operator = bearer(server.token("--role", "operator", "--name", "olga"))
        pods = [Client(server.url, token=bot, agent="ship-bot", wait=1.0, instance=f"ship-{i}").start() for i in (1, 2)]
        done = httpx.put(f"{server.url}/v1/agents/ship-bot/control", headers=operator,
                         json={"mode": "pause_writes", "reason": "checking shipments"})
        assert done.status_code == 200
        version = done.json()["version"]
        rows = poll(lambda: httpx.get(f"{server.url}/v1/audit", headers=operator,
                                      params={"agent": "ship-bot", "action": "agent.confirmed"}).json()["rows"],
                    until=lambda found: len(found) == 1, timeout=20)
        assert rows[0]["after"] == {"version": version, "instances": 2}
        assert rows[0]["reason"] == f"all 2 instance(s) hold version {version}"
        for pod in pods:
            assert pod.mode() == "pause_writes"
            pod.close()
    finally:
        stop_server(server)


def test_an_sdk_instance_id_outside_the_recorded_characters_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="instance"):
        Client("http://127.0.0.1:9", token="t", agent="a", instance="pod a/<b>")
    assert re.fullmatch(r"i-[0-9a-f]{12}", Client("http://127.0.0.1:9", token="t", agent="a").instance)


def test_confirmation_counts_instances_holding_the_current_version_and_marks_the_silent() -> None:
    seen = [("a", 100.0, 7), ("b", 95.0, 6), ("c", 10.0, 5)]
    held = confirmation(seen, version=7, now=100.0, silent_after=30.0)
    assert (held.confirmed, [i.id for i in held.unconfirmed]) == (1, ["c", "b"])  # longest silent first
    assert held.summary() == "confirmed by 1 of 3 instance(s); not yet: c (silent), b"
    assert confirmation([], version=7, now=100.0, silent_after=30.0).summary() == ""
