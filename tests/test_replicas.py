"""Two real `takeover serve` processes on one PostgreSQL: one leader, shared long-polls, failover."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Exporter, Server, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_e2e import ROUTING, RULES, poll

pytestmark = pytest.mark.slow


def leader(server: Server) -> bool:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("takeover_leader "):
            return float(line.split()[1]) == 1.0
    raise AssertionError("takeover_leader missing")


def test_two_replicas_share_changes_and_fail_over(tmp_path: Path, postgres_url: str, prometheus: str,
                                                  exporter: Exporter, fake_slack: FakeSlack) -> None:
    (tmp_path / "rules.yml").write_text(RULES.replace('case="e2e"', 'case="replica"'))
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {"TAKEOVER_DATABASE_URL": postgres_url, "TAKEOVER_PROMETHEUS_URL": prometheus,
           "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
           "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
           "TAKEOVER_DELIVER_INTERVAL": "0.2"}
    a = start_server(env, log=tmp_path / "a.log")
    b = start_server(env, log=tmp_path / "b.log")
    servers = {"a": a, "b": b}
    try:
        poll(lambda: [leader(a), leader(b)], until=lambda flags: sorted(flags) == [False, True])
        op = {"Authorization": f"Bearer {a.token('--role', 'operator', '--name', 'op')}"}
        bot = {"Authorization": f"Bearer {a.token('--role', 'agent', '--agent', 'agent-rep')}"}

        # a change made through A wakes a long-poll held by B
        first = httpx.get(f"{b.url}/v1/agents/agent-rep/control", headers=bot)
        result: dict[str, Any] = {}

        def hold() -> None:
            result["r"] = httpx.get(f"{b.url}/v1/agents/agent-rep/control", params={"wait": "20s"},
                                    headers={**bot, "If-None-Match": first.headers["ETag"]}, timeout=30)
            result["at"] = time.monotonic()

        poller = threading.Thread(target=hold)
        poller.start()
        poller.join(0.5)
        assert poller.is_alive()
        changed_at = time.monotonic()
        assert httpx.put(f"{a.url}/v1/agents/agent-rep/control", headers=op,
                         json={"mode": "pause_writes", "reason": "replica test"}).status_code == 200
        poller.join(25)
        assert result["r"].status_code == 200 and result["r"].json()["mode"] == "pause_writes"
        assert result["at"] - changed_at < 5  # woken by the change, not the deadline

        # the alert fires once, wherever the leader is
        exporter.set(77, case="replica", agent="agent-rep")
        fake_slack.wait_for(lambda f: len(f.posts("[FIRING]")) >= 1)
        name = "a" if leader(a) else "b"
        os.kill(servers[name].process.pid, signal.SIGKILL)
        servers[name].process.wait()
        survivor = servers["b" if name == "a" else "a"]
        killed_at = time.monotonic()
        poll(lambda: leader(survivor), until=bool, timeout=15)
        took_over = time.monotonic() - killed_at
        exporter.set(0, case="replica", agent="agent-rep")
        fake_slack.wait_for(lambda f: len(f.of("chat.update")) >= 1)
        pages = fake_slack.posts("[FIRING]")
        assert len(pages) == 1, [p["text"] for p in pages]  # posted once across both replicas
        fired = httpx.get(f"{survivor.url}/v1/audit", headers=op, params={"action": "mode.alert"}).json()["rows"]
        assert len(fired) == 1  # the alert's takeover happened once
        assert took_over < 10, took_over
    finally:
        exporter.set(0, case="replica", agent="agent-rep")
        for srv in servers.values():
            if srv.process.poll() is None:
                stop_server(srv)
