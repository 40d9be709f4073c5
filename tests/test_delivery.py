"""A kill -9 with notifications still in the outbox: they are delivered, once, after restart."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import Exporter, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_e2e import ROUTING, RULES, poll

pytestmark = pytest.mark.slow


def queued(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("takeover_notifications_queued "):
            return float(line.split()[1])
    raise AssertionError("takeover_notifications_queued missing from /metrics")


def test_undelivered_notifications_survive_kill_9(tmp_path: Path, prometheus: str, exporter: Exporter,
                                                  fake_slack: FakeSlack) -> None:
    (tmp_path / "rules.yml").write_text(RULES.replace('case="e2e"', 'case="kill"'))
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}",
           "TAKEOVER_PROMETHEUS_URL": prometheus, "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
           "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"), "TAKEOVER_SLACK_TOKEN": "xoxb-test",
           "TAKEOVER_SLACK_API_URL": fake_slack.url, "TAKEOVER_DELIVER_INTERVAL": "0.2"}
    fake_slack.fail_next(1_000_000, status=500)  # Slack is down
    first = start_server(env, log=tmp_path / "first.log")
    try:
        exporter.set(99, case="kill", agent="agent-kill")
        poll(lambda: queued(first.url), until=lambda n: n >= 1)
        fake_slack.wait_for(lambda f: len(f.calls) >= 2)  # delivery was tried and failed
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
    assert fake_slack.messages == {}

    fake_slack.faults.clear()  # Slack is back
    second = start_server(env, log=tmp_path / "second.log")
    try:
        fake_slack.wait_for(lambda f: len(f.messages) >= 1)
        poll(lambda: queued(second.url), until=lambda n: n == 0)
        fake_slack.wait_for(lambda f: len(f.messages) >= 2)
        # each queued message delivered exactly once: the page, and its takeover in its thread
        by_kind = sorted(str(p["text"]).split("]")[0] + "]" if "thread_ts" not in p else "thread: " + p["text"][:1]
                         for p in fake_slack.messages.values())
        assert by_kind == ["[FIRING]", "thread: 🛑"]
        (posted,) = [p for p in fake_slack.messages.values() if str(p["text"]).startswith("[FIRING]")]
        assert "agent-kill" in str(posted["blocks"])
    finally:
        exporter.set(0, case="kill", agent="agent-kill")
        stop_server(second)
