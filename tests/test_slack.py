"""Slack buttons over real HTTP: signatures, replays, double clicks, unknown users, modals."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from takeover.tools.promproc import free_port
from tests.conftest import Server, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_e2e import poll

pytestmark = pytest.mark.slow
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ROUTING = """\
group_wait: 0s
group_interval: 1s
slack_users: {U_ALICE: alice, U_BOB: bob}
"""


def signed(body: str, *, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(ts if ts is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}


def click(action_id: str, value: str, *, user: str = "U_ALICE", action_ts: str | None = None) -> str:
    payload = {"type": "block_actions", "user": {"id": user}, "channel": {"id": "COPS"},
               "trigger_id": "trig-1",
               "actions": [{"action_id": action_id, "value": value, "action_ts": action_ts or str(time.time())}]}
    return urlencode({"payload": json.dumps(payload)})


def reject_in_slack(server: Server, fake_slack: FakeSlack, approval_id: str, comment: str, *, user: str) -> None:
    """Press Reject, then submit the modal Slack opened with `comment`, as `user` would."""
    body = click("reject", approval_id, user=user)
    opened = len(fake_slack.of("views.open"))
    assert post(server, body, signed(body)).status_code == 200
    fake_slack.wait_for(lambda f: len(f.of("views.open")) == opened + 1)
    view = fake_slack.of("views.open")[-1].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    submission = urlencode({"payload": json.dumps({
        "type": "view_submission", "user": {"id": user},
        "view": {"id": "V1", "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "state": {"values": {"comment": {"comment": {"value": comment}}}}}})})
    assert post(server, submission, signed(submission)).status_code == 200


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Server]:
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "routing.yml").write_text(ROUTING)
    srv = start_server({
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}",
        "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
        "TAKEOVER_SLACK_SIGNING_SECRET": SECRET, "TAKEOVER_DELIVER_INTERVAL": "0.2"}, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def post(server: Server, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/slack/interactions", content=body, headers=headers)


def audit(server: Server, op: dict[str, str], action: str) -> list[dict[str, Any]]:
    return httpx.get(f"{server.url}/v1/audit", headers=op, params={"action": action}).json()["rows"]  # type: ignore[no-any-return]


def test_forged_stale_and_replayed_requests(server: Server) -> None:
    op = {"Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'op')}"}
    body = click("takeover", "bot-1", action_ts="1700000000.1")
    assert post(server, body, signed(body, secret="not-the-secret")).status_code == 401
    assert post(server, body, signed(body, ts=int(time.time()) - 6 * 60)).status_code == 401
    assert audit(server, op, "mode.") == []  # refused requests changed nothing
    first = post(server, body, signed(body))
    assert first.status_code == 200
    replay = post(server, body, {**signed(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert replay.status_code == 200
    poll(lambda: httpx.get(f"{server.url}/v1/agents/bot-1/control", headers=op),
         until=lambda r: r.status_code == 200 and r.json()["mode"] == "read_only")
    overrides = audit(server, op, "mode.override")
    assert [(r["actor"], r["request_id"]) for r in overrides] == [("operator:alice", "slack:U_ALICE")]
    release = click("release", "bot-1")
    assert post(server, release, signed(release)).status_code == 200
    poll(lambda: httpx.get(f"{server.url}/v1/agents/bot-1/control", headers=op).json(),
         until=lambda d: d["mode"] == "normal")


def test_double_clicked_approve_decides_once_and_strangers_change_nothing(server: Server, fake_slack: FakeSlack) -> None:
    op = {"Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'op')}"}
    agent = {"Authorization": f"Bearer {server.token('--role', 'agent', '--agent', 'pay-bot')}"}
    approval = httpx.post(f"{server.url}/v1/approvals", headers=agent,
                          json={"agent": "pay-bot", "action": "refund", "args": {"amount": 5}}).json()
    fake_slack.wait_for(lambda f: any("APPROVAL" in c.params.get("text", "") for c in f.of("chat.postMessage")))
    stranger = click("approve", approval["id"], user="U_EVE")
    assert post(server, stranger, signed(stranger)).status_code == 200
    fake_slack.wait_for(lambda f: len(f.of("chat.postEphemeral")) == 1)
    assert "not mapped to a takeover operator" in fake_slack.of("chat.postEphemeral")[0].params["text"]
    assert httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=op).json()["status"] == "pending"

    clicks = [click("approve", approval["id"], action_ts=f"1700000001.{i}") for i in range(2)]
    for body in clicks:
        assert post(server, body, signed(body)).status_code == 200
    decided = poll(lambda: httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=op).json(),
                   until=lambda a: a["status"] == "approved")
    assert decided["decided_by"] == "operator:alice"
    fake_slack.wait_for(lambda f: len(f.of("chat.postEphemeral")) == 2)  # the second click is told
    assert "already approved" in fake_slack.of("chat.postEphemeral")[1].params["text"]
    assert len(audit(server, op, "approval.approved")) == 1
    fake_slack.wait_for(lambda f: any(c.params.get("text", "").startswith("[APPROVED]") for c in f.of("chat.update")))


def test_reject_asks_for_a_comment_in_a_modal(server: Server, fake_slack: FakeSlack) -> None:
    op = {"Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'op')}"}
    agent = {"Authorization": f"Bearer {server.token('--role', 'agent', '--agent', 'pay-bot')}"}
    approval = httpx.post(f"{server.url}/v1/approvals", headers=agent, json={"agent": "pay-bot", "action": "wire"}).json()
    reject_in_slack(server, fake_slack, approval["id"], "wrong account", user="U_BOB")
    rejected = poll(lambda: httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=op).json(),
                    until=lambda a: a["status"] == "rejected")
    assert (rejected["comment"], rejected["decided_by"]) == ("wrong account", "operator:bob")


def test_without_a_signing_secret_every_request_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text("groups: []\n")
    srv = start_server({"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
                        "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
                        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}, log=tmp_path / "log")
    try:
        body = click("takeover", "bot-1")
        refused = post(srv, body, signed(body))
        assert refused.status_code == 403 and "TAKEOVER_SLACK_SIGNING_SECRET" in refused.text
    finally:
        stop_server(srv)
