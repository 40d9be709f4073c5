"""Rule reload on a running server: refused files change nothing; removed rules resolve."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Exporter, Server, start_server, stop_server, takeover_cli
from tests.fakeslack import FakeSlack
from tests.test_e2e import ROUTING, RULES, poll

pytestmark = pytest.mark.slow
SECOND = """\
  - name: second
    interval: 1s
    rules:
      - alert: AlwaysOn
        expr: vector(1)
        labels: {owner: team-2}
        annotations: {runbook_url: "https://r/2", first_check: "nothing"}
"""


@pytest.fixture
def server(tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> Iterator[Server]:
    (tmp_path / "rules.yml").write_text(RULES.replace('case="e2e"', 'case="reload"'))
    (tmp_path / "routing.yml").write_text(ROUTING)
    srv = start_server({
        "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}",
        "TAKEOVER_PROMETHEUS_URL": prometheus, "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
        "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
        "TAKEOVER_DELIVER_INTERVAL": "0.2"}, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def test_reload_refuses_broken_files_and_resolves_removed_rules(
        server: Server, tmp_path: Path, exporter: Exporter, fake_slack: FakeSlack) -> None:
    op = {"Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'op')}"}
    rules_file = tmp_path / "rules.yml"

    def status() -> dict[str, Any]:
        return httpx.get(f"{server.url}/v1/rules", headers=op).json()  # type: ignore[no-any-return]

    exporter.set(50, case="reload", agent="agent-r")
    fake_slack.wait_for(lambda f: len(f.posts("[FIRING]")) == 1)
    (group,) = poll(status, until=lambda s: s["groups"][0]["rules"][0]["health"] == "ok")["groups"]
    assert group["rules"][0]["name"] == "TestValueHigh" and group["rules"][0]["lastEvaluation"] > 0

    rules_file.write_text(rules_file.read_text().replace("> 10", "> ) 10"))
    refused = httpx.post(f"{server.url}/v1/rules/reload", headers=op)
    assert refused.status_code == 422
    assert f"{rules_file}:6:" in refused.json()["detail"]["errors"][0]
    assert [r["name"] for r in status()["groups"][0]["rules"]] == ["TestValueHigh"]

    # SIGHUP: the first group is gone, a second appears; the removed rule's alert resolves in place
    rules_file.write_text("groups:\n" + SECOND)
    os.kill(server.process.pid, signal.SIGHUP)
    poll(status, until=lambda s: [g["name"] for g in s["groups"]] == ["second"])
    fake_slack.wait_for(lambda f: len(f.of("chat.update")) == 1)
    assert fake_slack.of("chat.update")[0].params["text"].startswith("[RESOLVED]")
    fake_slack.wait_for(lambda f: len(f.posts("[FIRING] AlwaysOn")) == 1)
    audit = httpx.get(f"{server.url}/v1/audit", headers=op, params={"action": "rules.reload"}).json()["rows"]
    assert [r["actor"] for r in audit] == ["system:sighup"]


def test_metrics_and_readiness(server: Server) -> None:
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"]["ok"] is True
    text = httpx.get(f"{server.url}/metrics").text
    for name in ("takeover_alerts", "takeover_notifications_queued", "takeover_outbox_oldest_age_seconds",
                 "takeover_approvals_pending", "takeover_long_polls_in_flight", "takeover_leader",
                 "takeover_rule_group_duration_seconds", "takeover_mode_changes_total"):
        assert name in text, name


def test_readyz_reports_an_unreachable_prometheus(tmp_path: Path) -> None:
    from takeover.tools.promproc import free_port

    (tmp_path / "rules.yml").write_text(RULES)
    srv = start_server({"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
                        "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
                        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}, log=tmp_path / "log")
    try:
        not_ready = poll(lambda: httpx.get(f"{srv.url}/readyz"), until=lambda r: r.status_code == 503)
        assert "queries failing" in not_ready.json()["checks"]["prometheus"]["detail"]
    finally:
        stop_server(srv)


def test_check_command_reports_every_problem_and_a_summary(tmp_path: Path) -> None:
    good = takeover_cli("check", "rules/", env={})
    assert good.returncode == 0 and good.stdout.startswith("SUCCESS: 5 rules in 3 groups")
    broken = tmp_path / "b.yml"
    broken.write_text(RULES.replace("> 10", "> ) 10").replace("owner: team-e2e", "team: x"))
    bad = takeover_cli("check", str(broken), "rules/", env={})
    assert bad.returncode == 1
    lines = bad.stderr.splitlines()
    assert lines[0].startswith(f"{broken}:5:9: ") and "owner" in lines[0]
    assert lines[1].startswith(f"{broken}:6:15: could not parse expression")


def test_silence_cli_add_list_expire(tmp_path: Path) -> None:
    env = {"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"}
    bad = takeover_cli("silence", "add", "--matcher", "alertname=~(", "--comment", "x", env=env)
    assert bad.returncode == 1 and "invalid regex" in bad.stderr
    added = takeover_cli("silence", "add", "--matcher", "alertname=Errors", "--matcher", "agent=~bot-.*",
                         "--comment", "deploy", "--duration", "2h", env=env)
    assert added.returncode == 0 and added.stdout.startswith("silence 1 until")
    listed = takeover_cli("silence", "list", env=env).stdout
    assert 'alertname="Errors" agent=~"bot-.*"' in listed and "deploy" in listed
    assert takeover_cli("silence", "expire", "1", env=env).returncode == 0
    assert takeover_cli("silence", "list", env=env).stdout == ""


def test_logs_are_json_lines_with_the_request_id(tmp_path: Path) -> None:
    import json

    from takeover.tools.promproc import free_port

    (tmp_path / "rules.yml").write_text("groups: []\n")
    srv = start_server({"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}", "TAKEOVER_LOG_FORMAT": "json",
                        "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
                        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}, log=tmp_path / "log")
    try:
        op = {"Authorization": f"Bearer {srv.token('--role', 'operator', '--name', 'op')}", "X-Request-ID": "req-42"}
        assert httpx.post(f"{srv.url}/v1/rules/reload", headers=op).headers["X-Request-ID"] == "req-42"
        events = poll(lambda: [json.loads(line) for line in srv.output().splitlines() if line.startswith("{")],
                      until=lambda evs: any(e.get("request_id") == "req-42" for e in evs))
        (reload,) = [e for e in events if e.get("request_id") == "req-42"]
        assert reload["message"].startswith("rules reloaded") and reload["level"] == "info"
        assert all(line.startswith("{") for line in srv.output().splitlines() if line.strip())
    finally:
        stop_server(srv)
