"""Messages Slack refused every way (issue 31), over real HTTP against `takeover serve` and the
fake Slack: the meta-alert that says so (and an error in the log, once), the banner on every
console page, and retry or dismiss from the API and the console."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover import store
from takeover.app import notifications
from takeover.app.notifications import META_ALERT
from takeover.notify.routing import Destination, Routing
from tests.conftest import Server, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_approvals import bearer, server_env
from tests.test_console import OPEN, csrf_of, signed_in
from tests.test_delivery import ask, slack_service
from tests.test_e2e import poll

pytestmark = pytest.mark.slow

ROUTING = """\
default_channel: "#alerts"
group_wait: 0s
group_interval: 1s
owners:
  takeover-admins: {channel: "#takeover-admins"}
"""


@pytest.fixture
def server(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Server]:
    """A server whose Slack token Slack refuses (`invalid_auth`): nothing it sends arrives."""
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {**server_env(tmp_path, f"sqlite:///{tmp_path / 'takeover.db'}"),
           "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"), "TAKEOVER_SLACK_TOKEN": "xoxb-revoked",
           "TAKEOVER_SLACK_API_URL": fake_slack.url, "TAKEOVER_DELIVER_INTERVAL": "0.2",
           "TAKEOVER_DISPATCH_INTERVAL": "0.2"}
    fake_slack.refuse_all = "invalid_auth"
    srv = start_server(env, log=tmp_path / "serve.log")
    yield srv
    while OPEN:
        OPEN.pop().close()
    stop_server(srv)


def take_over(server: Server, operator: str, agent: str) -> None:
    """A change whose message goes to Slack (the default channel)."""
    answer = httpx.put(f"{server.url}/v1/agents/{agent}/control", headers=bearer(operator),
                       json={"mode": "read_only", "reason": "refunds look wrong"})
    assert answer.status_code == 200, answer.text


def meta_alert(server: Server, operator: str) -> dict[str, Any] | None:
    alerts = httpx.get(f"{server.url}/v1/alerts", headers=bearer(operator)).json()
    return next((a for a in alerts if a["labels"]["alertname"] == META_ALERT), None)


def undeliverable(server: Server, operator: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/v1/notifications/undeliverable", headers=bearer(operator))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def said(server: Server, text: str) -> list[dict[str, Any]]:
    """The server's log records (JSON lines) whose message holds `text`."""
    records = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    return [r for r in records if text in r.get("message", "")]


def metric(server: Server, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


def test_when_slack_refuses_the_token_the_meta_alert_fires_through_the_outbox_and_logs_one_error_then_retry_resolves_it(
        server: Server, fake_slack: FakeSlack) -> None:
    operator = server.token("--role", "operator", "--name", "olga")
    take_over(server, operator, "refund-bot")
    alert = poll(lambda: meta_alert(server, operator), until=lambda a: a is not None and a["state"] == "firing")
    assert alert["labels"] == {"alertname": META_ALERT, "owner": "takeover-admins", "severity": "page"}
    assert "invalid_auth" in alert["annotations"]["summary"]
    # it went through the outbox like every alert, to its owner's channel, and Slack refused it too
    fake_slack.wait_for(lambda f: any(c.params.get("channel") == "#takeover-admins" and META_ALERT in str(c.params)
                                      for c in f.of("chat.postMessage")))
    lost = poll(lambda: undeliverable(server, operator), until=lambda rows: len(rows) == 2)
    assert {n["channel"] for n in lost} == {"#alerts", "#takeover-admins"}
    assert all("invalid_auth" in n["error"] for n in lost)
    assert metric(server, "takeover_notifications_undeliverable") == 2
    (logged,) = said(server, "cannot deliver notifications to Slack")  # once for the episode
    assert logged["level"] == "error" and "/ui/notifications" in logged["message"]

    # a viewer may not retry; an operator retries each once the token is fixed
    viewer = server.token("--role", "viewer", "--name", "vic")
    assert httpx.post(f"{server.url}/v1/notifications/{lost[0]['id']}/retry", headers=bearer(viewer)).status_code == 403
    fake_slack.refuse_all = None
    for n in lost:
        answer = httpx.post(f"{server.url}/v1/notifications/{n['id']}/retry", headers=bearer(operator))
        assert answer.status_code == 200 and answer.json()["undeliverable_at"] is None, answer.text
    again = httpx.post(f"{server.url}/v1/notifications/{lost[0]['id']}/retry", headers=bearer(operator))
    assert again.status_code == 409  # no longer undeliverable
    fake_slack.wait_for(lambda f: len(f.messages) >= 2)
    poll(lambda: meta_alert(server, operator), until=lambda a: a is not None and a["state"] == "inactive")
    assert undeliverable(server, operator) == [] and metric(server, "takeover_notifications_undeliverable") == 0
    trail = httpx.get(f"{server.url}/v1/audit", headers=bearer(operator), params={"action": "notification."}).json()
    assert sorted((r["actor"], r["action"]) for r in trail["rows"]) == [("operator:olga", "notification.retry")] * 2
    # each arrived once: the change in the default channel, the page (since updated: resolved) in its owner's
    top = sorted(channel for (channel, _), m in fake_slack.messages.items() if "thread_ts" not in m)
    assert top == ["CALERTS", "CTAKEOVER-ADMINS"]


def test_dismissing_every_message_while_slack_still_refuses_resolves_the_meta_alert_and_its_own_refused_resolution_does_not_fire_it_again(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    routing = Routing(group_wait=0, group_interval=0, owners={"takeover-admins": Destination("#takeover-admins")})
    service = slack_service(tmp_path, fake_slack, routing=routing)
    fake_slack.refuse_all = "invalid_auth"

    def state() -> str | None:
        with service.sessions() as s:
            row = store.meta_alert(session=s, name=META_ALERT)
        return row.state if row is not None else None

    def lost() -> list[dict[str, Any]]:
        return notifications.undeliverable(service.app)

    def one_round() -> None:  # the leader's jobs, each once, in the order of the flow
        service.deliver()
        service.expire()
        service.dispatch()
        service.deliver()

    try:
        ask(service, args={"amount": 10})
        one_round()
        assert state() == "firing" and len(lost()) == 2  # the request, and the page about it
        for n in lost():
            notifications.dismiss(service.app, notification_id=n["id"], actor="operator:olga")
        one_round()
        assert state() == "inactive"
        resolution = lost()  # its resolved message and thread note are refused too: counted and shown
        assert len(resolution) == 2 and {n["channel"] for n in resolution} == {"#takeover-admins"}
        one_round()
        assert state() == "inactive"  # its own message does not fire it again
        ask(service, args={"amount": 20}, reason="another customer wrote")
        one_round()
        assert state() == "firing"  # a new refusal: a new episode
    finally:
        service.stop()


def test_every_console_page_shows_the_banner_live_and_its_list_retries_and_dismisses_as_the_person(
        server: Server, fake_slack: FakeSlack) -> None:
    operator = server.token("--role", "operator", "--name", "olga")
    client = signed_in(server, operator)
    for path in ("/ui/", "/ui/alerts", "/ui/audit"):
        assert 'id="undelivered"' in client.get(path).text and "could not be delivered" not in client.get(path).text
    with client.stream("GET", "/ui/live", timeout=20) as stream:
        lines = stream.iter_lines()
        next(line for line in lines if line == "data: live")
        take_over(server, operator, "refund-bot")
        next(line for line in lines if line.startswith("data: ") and "notifications" in line.split())
    poll(lambda: undeliverable(server, operator), until=lambda rows: len(rows) == 2)
    for path in ("/ui/", "/ui/approvals", "/ui/alerts", "/ui/silences", "/ui/rules", "/ui/audit",
                 "/ui/agents/refund-bot"):
        page = client.get(path).text
        assert "2 messages could not be delivered to Slack" in page and "invalid_auth" in page, path
        assert 'href="/ui/notifications"' in page
    alone = client.get("/ui/alerts", headers={"HX-Request": "true", "HX-Target": "undelivered"}).text
    assert alone.lstrip().startswith('<div id="undelivered"') and "<html" not in alone
    listed = client.get("/ui/notifications").text
    change, page = sorted(undeliverable(server, operator), key=lambda n: n["id"])
    assert f'action="/ui/notifications/{change["id"]}/retry"' in listed and "#takeover-admins" in listed
    fake_slack.refuse_all = None
    answer = client.post(f"/ui/notifications/{change['id']}/retry", data={"csrf": csrf_of(listed)})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/notifications"
    assert f"message {change['id']} is queued again for #alerts" in client.get("/ui/notifications").text
    client.post(f"/ui/notifications/{page['id']}/dismiss", data={"csrf": csrf_of(listed)})
    fake_slack.wait_for(lambda f: any(m.get("channel") == "#alerts" for m in f.messages.values()))
    poll(lambda: client.get("/ui/").text, until=lambda text: "could not be delivered" not in text)
    trail = httpx.get(f"{server.url}/v1/audit", headers=bearer(operator), params={"action": "notification."}).json()
    assert sorted(r["action"] for r in trail["rows"]) == ["notification.dismiss", "notification.retry"]
