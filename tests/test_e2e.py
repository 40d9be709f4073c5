"""The walking skeleton end to end: real Prometheus, real `takeover serve`, fake Slack."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    Exporter,
    Server,
    start_server,
    stop_server,
    takeover_cli,
)
from tests.fakeslack import FakeSlack

pytestmark = pytest.mark.slow

RULES = """\
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: TestValueHigh
        expr: takeover_test_value{case="e2e"} > 10
        for: 0s
        labels:
          owner: team-e2e
          severity: page
          takeover: read_only
        annotations:
          summary: "{{ $labels.agent }} value is {{ $value }}"
          runbook_url: https://runbooks.example.com/e2e
          first_check: Look at the test gauge.
"""


ROUTING = """\
group_wait: 0s
group_interval: 1s
owners:
  team-e2e: {channel: "#oncall", mention: S0E2E}
"""


def poll(fn: Callable[[], Any], *, until: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    """Call `fn` until its result satisfies `until`; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout}s; last: {result}")
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> Iterator[Server]:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {
        "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}",
        "TAKEOVER_PROMETHEUS_URL": prometheus,
        "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
        "TAKEOVER_SLACK_TOKEN": "xoxb-test-token",
        "TAKEOVER_SLACK_API_URL": fake_slack.url,
        "TAKEOVER_SLACK_CHANNEL": "#oncall",
        "TAKEOVER_DELIVER_INTERVAL": "0.2",
    }
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def test_alert_fires_notifies_takes_over_and_human_releases(
    server: Server, exporter: Exporter, prometheus: str, fake_slack: FakeSlack
) -> None:
    operator = server.token("--role", "operator", "--name", "alice")
    agent = server.token("--role", "agent", "--agent", "agent-e2e")
    other = server.token("--role", "agent", "--agent", "someone-else")
    control = f"{server.url}/v1/agents/agent-e2e/control"

    def doc(token: str = agent) -> dict[str, Any]:
        response = httpx.get(control, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    assert doc()["mode"] == "normal"
    assert httpx.get(control).status_code == 401
    assert httpx.get(control, headers={"Authorization": "Bearer tko_nonsense"}).status_code == 401
    assert httpx.get(control, headers={"Authorization": f"Bearer {other}"}).status_code == 403

    exporter.set(42, case="e2e", agent="agent-e2e")
    held = poll(doc, until=lambda d: d["mode"] == "read_only")
    assert [(s["kind"], s["actor"]) for s in held["sources"]] == [("alert", "rule:TestValueHigh")]
    assert held["sources"][0]["reason"] == "agent-e2e value is 42"
    assert held["permissions"]["write_low"] == "deny"

    fake_slack.wait_for(lambda f: len(f.posts("[FIRING]")) == 1)
    (posted,) = fake_slack.posts("[FIRING]")
    # the takeover is part of the incident: in its message and in its thread, not a separate post
    fake_slack.wait_for(lambda f: any("normal → read_only" in p["text"] for p in f.posts(thread=True)))
    assert fake_slack.posts("[MODE]") == []
    rendered = str(posted["blocks"])
    assert "normal → *read_only* (held until someone releases it)" in rendered
    assert posted["channel"] == "#oncall"
    assert "https://runbooks.example.com/e2e" in rendered and "<!subteam^S0E2E> (team-e2e)" in rendered
    assert "Look at the test gauge." in rendered and "read_only" in rendered
    assert posted["text"].startswith("[FIRING]")

    # ETag: the same document answers 304
    response = httpx.get(control, headers={"Authorization": f"Bearer {agent}"})
    etag = response.headers["ETag"]
    not_modified = httpx.get(control, headers={"Authorization": f"Bearer {agent}", "If-None-Match": etag})
    assert not_modified.status_code == 304

    exporter.set(1, case="e2e", agent="agent-e2e")
    fake_slack.wait_for(lambda f: len(f.of("chat.update")) == 1)
    update = fake_slack.of("chat.update")[0].params
    alerts = [key for key, p in fake_slack.messages.items() if "thread_ts" not in p]
    assert alerts == [(update["channel"], update["ts"])]  # the posted message, updated in place
    assert len(fake_slack.posts("[FIRING]")) == 1
    assert update["text"].startswith("[RESOLVED]")
    fake_slack.wait_for(lambda f: any("resolved" in p["text"] for p in f.posts(thread=True)))
    (note,) = [p for p in fake_slack.posts(thread=True) if "resolved" in p["text"]]
    assert note["thread_ts"] == update["ts"]  # the history, in the thread
    assert "is still *read_only*: held until someone releases it" in str(update["blocks"])
    assert doc()["mode"] == "read_only"  # an alert's takeover stays until a human releases it

    released = httpx.put(control, headers={"Authorization": f"Bearer {operator}"},
                         json={"mode": "normal", "reason": "gauge is fine again"})
    assert released.status_code == 200, released.text
    after = doc()
    assert after["mode"] == "normal" and after["version"] > held["version"]
    # the incident's message follows: released, and said so in its thread
    fake_slack.wait_for(lambda f: len(f.of("chat.update")) == 2)
    assert "`agent-e2e` released" in str(fake_slack.of("chat.update")[1].params["blocks"])
    fake_slack.wait_for(lambda f: any("released" in p["text"] for p in f.posts(thread=True)))
    assert httpx.get(control, headers={"Authorization": f"Bearer {agent}", "If-None-Match": etag}).status_code == 200

    # only operators change modes; a bad request says what is wrong
    assert httpx.put(control, headers={"Authorization": f"Bearer {agent}"},
                     json={"mode": "normal", "reason": "x"}).status_code == 403
    bad = httpx.put(control, headers={"Authorization": f"Bearer {operator}"}, json={"mode": "sleepy", "reason": "x"})
    assert bad.status_code == 422 and "mode" in bad.text


def test_broken_rule_file_stops_serve_at_start_with_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "broken.yml"
    rules.write_text(RULES.replace("expr: takeover_test_value", "expr: rate(takeover_test_value"))
    result = takeover_cli("serve", env={"TAKEOVER_RULES": str(rules),
                                        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"})
    assert result.returncode == 1
    assert f"{rules}:6:15: could not parse expression: unclosed left parenthesis" in result.stderr
    assert "nothing started" in result.stderr
