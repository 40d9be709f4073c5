"""When each agent last polled: marked by the poll, written to the database in batches, shown by
the API, /metrics and `takeover agents`, kept across a restart and shared by replicas; and the
shipped optional rule that pages on a silent agent."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from takeover import store
from takeover.store.agents import last_polls, record_polls
from tests.conftest import Server, start_server, stop_server, takeover_cli
from tests.test_approvals import server_env
from tests.test_e2e import poll

ROOT = Path(__file__).resolve().parent.parent
RULE = ROOT / "rules" / "optional" / "silent-agents.yml"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metric(server: Server, name: str) -> dict[str, float]:
    """Every series of `name` on /metrics: its label text → value."""
    found = {}
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            found[series[len(name):]] = float(value)
    return found


def last_seen(server: Server, operator: str, agent: str) -> float | None:
    seen: float | None = httpx.get(f"{server.url}/v1/agents/{agent}", headers=bearer(operator)).json()["last_seen"]
    return seen


def test_records_of_polls_keep_the_latest_time_whichever_replica_writes_last(database_url: str) -> None:
    engine = store.make_engine(database_url)
    with Session(engine) as s:
        for name in ("a", "b", "never"):
            store.ensure_agent(session=s, name=name, now=1.0)
        s.commit()
        record_polls(session=s, seen={"a": 200.0, "b": 100.0, "unknown": 5.0})
        s.commit()
        record_polls(session=s, seen={"a": 150.0, "b": 300.0})  # a replica that heard "a" earlier
        s.commit()
        assert last_polls(session=s) == {"a": 200.0, "b": 300.0}
    engine.dispose()


@pytest.mark.slow
def test_an_agent_that_polls_shows_its_last_poll_in_the_api_metrics_and_cli_and_keeps_it_across_a_restart(
        tmp_path: Path, database_url: str) -> None:
    env = {**server_env(tmp_path, database_url), "TAKEOVER_SILENT_AFTER": "1"}
    server = start_server(env, log=tmp_path / "serve.log")
    try:
        operator = server.token("--role", "operator", "--name", "op")
        agent_token = server.token("--role", "agent", "--agent", "seen-bot")
        bot = bearer(agent_token)
        httpx.post(f"{server.url}/v1/agents", headers=bearer(operator), json={"name": "quiet-bot"}).raise_for_status()
        assert last_seen(server, operator, "quiet-bot") is None
        before = time.time()
        first = httpx.get(f"{server.url}/v1/agents/seen-bot/control", headers=bot)  # through FastAPI
        assert first.status_code == 200
        again = httpx.get(f"{server.url}/v1/agents/seen-bot/control",  # the fast path
                          headers={**bot, "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
        after = time.time()
        # an operator reading the document is not the agent asking
        httpx.get(f"{server.url}/v1/agents/quiet-bot/control", headers=bearer(operator)).raise_for_status()

        seen = last_seen(server, operator, "seen-bot")
        assert seen is not None and before <= seen <= after
        listing = {a["agent"]: a for a in httpx.get(f"{server.url}/v1/agents", headers=bearer(operator)).json()}
        assert listing["seen-bot"]["last_seen"] == seen and listing["quiet-bot"]["last_seen"] is None
        assert metric(server, "takeover_agent_last_poll_timestamp_seconds") == {'{agent="seen-bot"}': seen}
        # silent for longer than TAKEOVER_SILENT_AFTER (1 s); quiet-bot never polled, so it is not counted
        poll(lambda: metric(server, "takeover_agents_silent"), until=lambda m: m == {"": 1.0})
        assert httpx.get(f"{server.url}/v1/agents/seen-bot", headers=bot).status_code == 403
        assert httpx.get(f"{server.url}/v1/agents/no-such-bot", headers=bearer(operator)).status_code == 404
    finally:
        stop_server(server)  # a clean stop writes the marks not yet written

    cli = takeover_cli("agents", env=env)
    assert cli.returncode == 0, cli.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in cli.stdout.splitlines()[1:]}
    assert rows["seen-bot"][3].endswith("s ago (silent)") and rows["quiet-bot"][3] == "never"

    server = start_server(env, log=tmp_path / "again.log")
    try:
        assert last_seen(server, operator, "seen-bot") == seen
    finally:
        stop_server(server)


@pytest.mark.slow
def test_a_poll_answered_by_one_replica_shows_on_the_other(tmp_path: Path, postgres_url: str) -> None:
    env = server_env(tmp_path, postgres_url)
    a = start_server(env, log=tmp_path / "a.log")
    b = start_server(env, log=tmp_path / "b.log")
    try:
        operator = a.token("--role", "operator", "--name", "op")
        bot = bearer(a.token("--role", "agent", "--agent", "rep-bot"))
        assert httpx.get(f"{a.url}/v1/agents/rep-bot/control", headers=bot).status_code == 200
        seen = last_seen(a, operator, "rep-bot")
        assert seen is not None
        # B learns it from the database once A has written its marks (every few seconds)
        poll(lambda: last_seen(b, operator, "rep-bot"), until=lambda at: at == seen)
        assert metric(b, "takeover_agent_last_poll_timestamp_seconds") == {'{agent="rep-bot"}': seen}
        later = httpx.get(f"{b.url}/v1/agents/rep-bot/control", headers=bot)
        assert later.status_code == 200
        newer = last_seen(b, operator, "rep-bot")
        assert newer is not None and newer > seen
        poll(lambda: last_seen(a, operator, "rep-bot"), until=lambda at: at == newer)
    finally:
        stop_server(a)
        stop_server(b)


RULE_TEST = """
rule_files: [{rule}]
evaluation_interval: 30s
tests:
  - interval: 30s
    input_series:
      # polled at 0 s, then never again, as seen by two replicas
      - series: 'takeover_agent_last_poll_timestamp_seconds{{agent="gone-bot", instance="a"}}'
        values: '0x40'
      - series: 'takeover_agent_last_poll_timestamp_seconds{{agent="gone-bot", instance="b"}}'
        values: '0x40'
      # polls every 30 s
      - series: 'takeover_agent_last_poll_timestamp_seconds{{agent="busy-bot", instance="a"}}'
        values: '0+30x40'
    alert_rule_test:
      - eval_time: 4m
        alertname: AgentStoppedPolling
        exp_alerts: []
      - eval_time: 10m
        alertname: AgentStoppedPolling
        exp_alerts:
          - exp_labels: {{agent: gone-bot, owner: agents-oncall, severity: ticket}}
            exp_annotations:
              summary: "gone-bot has not polled takeover for 10m 0s: it is not governed"
              runbook_url: https://runbooks.example.com/agents/stopped-polling
              first_check: "Is the agent still running (its own health and logs)? If it is, can it reach takeover (token revoked, network, TAKEOVER_URL)? If it was retired, ignore this agent."
"""


@pytest.mark.slow
def test_the_shipped_silent_agent_rule_passes_both_checkers_and_fires_for_the_silent_agent_only(
        tmp_path: Path, prometheus_binaries: None) -> None:
    check = subprocess.run([sys.executable, "-m", "takeover", "check", str(RULE)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    (tmp_path / "silent.test.yml").write_text(RULE_TEST.format(rule=RULE))
    for command in (["promtool", "test", "rules"], [sys.executable, "-m", "takeover", "test", "rules"]):
        result = subprocess.run([*command, str(tmp_path / "silent.test.yml")], capture_output=True, text=True)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
