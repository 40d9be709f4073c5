"""The embedded default (SQLite, one `takeover serve`) behaves like the cluster: what the CLI
writes is served within a second (the data-version watch), and the CLI builds the same
operations as the server (routing, policies, templates), so its changes are announced alike."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover.sdk import Client
from tests.conftest import Server, start_server, stop_server, takeover_cli
from tests.fakeslack import FakeSlack

pytestmark = pytest.mark.slow

WITHIN = 1.0  # seconds: what another process writes is served within this long
RULES = """\
groups:
  - name: embedded
    interval: 5s
    rules:
      - alert: EmbeddedNever
        expr: vector(0) > 1
        labels: {owner: team-emb}
        annotations: {runbook_url: "https://runbooks.example.com/emb", first_check: "Nothing to check."}
"""
ROUTING = """\
owners:
  team-emb: {channel: "#emb-owners"}
agents:
  "emb-*": team-emb
"""


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Server]:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}",
           "TAKEOVER_PROMETHEUS_URL": "http://127.0.0.1:9",  # never asked: the rule group is idle here
           "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
           "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
           "TAKEOVER_SLACK_CHANNEL": "#default", "TAKEOVER_DELIVER_INTERVAL": "0.2"}
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def cli(server: Server, *args: str) -> str:
    result = takeover_cli(*args, env=server.env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def served_within(what: str, check: Callable[[], Any], *, after: float, delays: dict[str, float]) -> None:
    """Poll `check` until it is truthy; it must be within WITHIN seconds of `after` (when the
    CLI command returned). The measured delay is kept for the report."""
    while True:
        if check():
            delays[what] = time.monotonic() - after
            assert delays[what] <= WITHIN, f"{what}: served after {delays[what]:.2f}s"
            return
        assert time.monotonic() - after <= WITHIN, f"{what}: not served within {WITHIN}s"
        time.sleep(0.02)


def test_each_cli_write_is_served_by_the_running_server_within_a_second(server: Server, fake_slack: FakeSlack) -> None:
    delays: dict[str, float] = {}
    admin = server.token("--role", "admin", "--name", "root")
    agent_token = server.token("--role", "agent", "--agent", "emb-bot")
    with httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {admin}"}) as api:
        assert api.post("/v1/agents", json={"name": "emb-bot"}).status_code == 201
        with Client(server.url, token=agent_token, agent="emb-bot", wait=30.0) as client:
            client.start()
            cli_writes(server, api, client, delays)
    print("served after the CLI returned:", ", ".join(f"{what} {delay * 1000:.0f} ms" for what, delay in delays.items()))

    # the CLI built the server's operations: the releases were posted to the agent owner's channel
    fake_slack.wait_for(lambda f: len([p for p in f.posts() if p.get("channel") == "#emb-owners"
                                       and "release" in str(p).lower()]) >= 2, timeout=10)
    assert not [p for p in fake_slack.posts() if p.get("channel") == "#default" and "v2" in str(p)]


def cli_writes(server: Server, api: httpx.Client, client: Client, delays: dict[str, float]) -> None:
    # an operator token in the server's cache, then revoked from the CLI
    bob = server.token("--role", "operator", "--name", "bob")
    as_bob = {"Authorization": f"Bearer {bob}"}
    assert httpx.get(f"{server.url}/v1/agents", headers=as_bob).status_code == 200
    token_id = next(t["id"] for t in api.get("/v1/tokens").json() if t["name"] == "bob")
    cli(server, "token", "revoke", str(token_id))
    served_within("token revoke", lambda: httpx.get(f"{server.url}/v1/agents", headers=as_bob).status_code == 401,
                  after=time.monotonic(), delays=delays)

    def release() -> dict[str, Any]:
        return (client.document or {}).get("release") or {}

    cli(server, "release", "start", "emb-bot", "--stable", "v1", "--canary", "v2", "--steps", "10,50,100",
        "--every", "10m")
    served_within("release start", lambda: release().get("weight_bp") == 1000, after=time.monotonic(), delays=delays)
    keys = [f"customer-{n}" for n in range(200)]
    canary = [k for k in keys if client.variant(k).name == "canary"]
    assert 5 <= len(canary) <= 40, len(canary)  # about 10 % of the keys, sticky
    assert all(client.variant(k).version == "v2" for k in canary)
    for action, state in (("pause", "paused"), ("resume", "progressing"), ("abort", "rolled_back")):
        cli(server, "release", action, "emb-bot", "--reason", f"{action} from the CLI")
        served_within(f"release {action}", lambda: release().get("state") == state, after=time.monotonic(),
                      delays=delays)
    assert all(client.variant(k).name == "stable" for k in keys)  # rolled back: weight 0
    cli(server, "release", "start", "emb-bot", "--stable", "v1", "--canary", "v3", "--steps", "10,100")
    served_within("second release start", lambda: (release().get("canary") or {}).get("version") == "v3",
                  after=time.monotonic(), delays=delays)
    cli(server, "release", "promote", "emb-bot", "--reason", "looks good")
    served_within("release promote", lambda: release().get("state") == "promoted", after=time.monotonic(),
                  delays=delays)
    assert client.variant("customer-1").version == "v3"

    out = cli(server, "silence", "add", "--matcher", "alertname=EmbeddedNever", "--comment", "quiet", "--duration", "1h")
    silence_id = int(out.split()[1])
    served_within("silence add", lambda: any(s["id"] == silence_id for s in api.get("/v1/silences").json()),
                  after=time.monotonic(), delays=delays)
    cli(server, "silence", "expire", str(silence_id))
    served_within("silence expire", lambda: all(s["id"] != silence_id for s in api.get("/v1/silences").json()),
                  after=time.monotonic(), delays=delays)


GOOD_RULE = """\
groups:
  - name: mine
    rules:
      - alert: RefundsFailing
        expr: rate(refund_errors_total[5m]) > 0.1
        labels: {owner: payments, severity: page}
        annotations: {runbook_url: "https://runbooks.example.com/refunds", first_check: "The provider's status page."}
"""


def in_directory(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`takeover ARGS` run in `directory`, with no TAKEOVER_* setting: as a new user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAKEOVER_")}
    return subprocess.run([sys.executable, "-m", "takeover", *args], env=env, cwd=directory, capture_output=True,
                          text=True, timeout=60)


def test_takeover_check_of_a_rule_file_works_from_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text(GOOD_RULE)
    passed = in_directory(tmp_path, "check", "mine.yml")
    assert passed.returncode == 0, passed.stderr
    assert "SUCCESS: 1 rules in 1 groups are valid" in passed.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yml"]  # checked, nothing written

    (tmp_path / "mine.yml").write_text(GOOD_RULE.replace("rate(refund_errors_total[5m]) > 0.1", "rate(refund_errors_total[5m] > "))
    failed = in_directory(tmp_path, "check", "mine.yml")
    assert failed.returncode == 1
    assert failed.stderr.startswith("mine.yml:5:15: "), failed.stderr  # file:line:column of the expression


def test_takeover_init_writes_editable_copies_that_check_and_serve_as_they_are(tmp_path: Path) -> None:
    wrote = in_directory(tmp_path, "init", "mine")
    assert wrote.returncode == 0, wrote.stderr
    mine = tmp_path / "mine"
    assert {p.name for p in (mine / "templates").iterdir()} >= {"alert_firing.json.j2", "release.json.j2"}
    assert (mine / "rules" / "agents.yml").is_file() and (mine / "routing.yml").is_file()
    (mine / "routing.yml").write_text((mine / "routing.yml").read_text() + "# edited\n")
    again = in_directory(tmp_path, "init", "mine")
    assert f"kept {Path('mine') / 'routing.yml'} (exists)" in again.stdout
    assert (mine / "routing.yml").read_text().endswith("# edited\n")  # never overwritten

    settings = [f"TAKEOVER_RULES={mine / 'rules'}", f"TAKEOVER_TEMPLATES={mine / 'templates'}",
                f"TAKEOVER_ROUTING={mine / 'routing.yml'}", f"TAKEOVER_POLICIES={mine / 'policies.yml'}"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TAKEOVER_")},
           **dict(item.split("=", 1) for item in settings)}
    checked = subprocess.run([sys.executable, "-m", "takeover", "check"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "approval policies" in checked.stdout
    cases = in_directory(mine, "policy", "test", "policies.test.yml")
    assert cases.returncode == 0, cases.stdout + cases.stderr
