"""Delivery: a kill -9 with notifications still in the outbox (delivered, once, after restart);
Slack refusing messages, rate-limiting, and being fed markup from outside (issue 31)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover import store
from takeover.app import agents, approvals, modes, releases
from takeover.config.mode import Mode
from takeover.control.principal import Principal, Role
from takeover.control.release import Plan
from takeover.notify.delivery import Delivery
from takeover.notify.routing import Destination, Routing
from takeover.notify.slack import SlackNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.format import Group, parse_rule_file
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings
from takeover.store.models import ApprovalRow
from tests.conftest import ROOT, Exporter, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.test_e2e import ROUTING, RULES, poll


def queued(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("takeover_notifications_queued "):
            return float(line.split()[1])
    raise AssertionError("takeover_notifications_queued missing from /metrics")


@pytest.mark.slow
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


# Slack refusing, rate-limiting and being fed markup (issue 31): in process, the real slack-sdk
# client against the fake Slack, which enforces Block Kit's published limits on its own.

def slack_service(tmp_path: Path, fake_slack: FakeSlack, *, routing: Routing | None = None,
                  groups: list[Group] | None = None, results: dict[str, list[Sample]] | None = None,
                  retry_max: float = 2.0) -> Service:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'slack.db'}", templates=str(ROOT / "templates"),
                        slack_channel="#alerts", slack_retry_max=retry_max,
                        public_url="https://takeover.example.com")
    service = Service(settings, groups=groups or [], query=static_query(results or {}), routing=routing,
                      notifier=SlackNotifier(token="xoxb-t", base_url=fake_slack.url, timeout=2))
    agents.known(service.app, "bot")
    return service


BOT = Principal("bot", Role.agent, ("bot",))


def ask(service: Service, *, args: dict[str, Any], action: str = "send_email", reason: str = "a customer wrote"
        ) -> dict[str, Any]:
    return approvals.request(service.app, BOT, agent="bot", action=action, kind="write", risk="high", args=args,
                             reason=reason, idempotency_key=None, expires_in=None, responders=["role:operator"])


def deliver_until(service: Service, done: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Delivery passes until `done()` holds; fail at the deadline (Slack's waits are real here)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not delivered in time"
        service.deliver()
        time.sleep(0.05)  # a pass every 50 ms, as the scheduler would run them


def outbox_empty(service: Service) -> bool:
    with service.sessions() as s:
        return store.undelivered(session=s) == []


def texts_in(value: Any) -> Iterator[str]:
    """Every string anywhere in a message's parameters (blocks, text, buttons, urls, metadata)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item)


def test_an_approval_with_50_kb_of_arguments_is_posted_once_and_readable(tmp_path: Path, fake_slack: FakeSlack) -> None:
    service = slack_service(tmp_path, fake_slack)
    try:
        body = {"to": "customer@example.com", "subject": "Your refund", "body": "Dear customer, " * 3_500}
        assert len(json.dumps(body)) > 50_000
        approval = ask(service, args=body)
        assert service.deliver() == 1
        (post,) = fake_slack.of("chat.postMessage")  # accepted at once: nothing Slack refused
        shown = " ".join(texts_in(post.params["blocks"]))
        assert "characters of JSON, SHA-256" in shown and "`to`, `subject`, `body`" in shown
        assert "full arguments are in the console" in shown
        assert post.params["text"].startswith("[APPROVAL] bot wants to run send_email")
        with service.sessions() as s:
            row = store.approval_public(s.get(ApprovalRow, approval["id"]))
        assert row["args"]["proposed"] == body and row["delivery_error"] is None  # the API keeps it whole
    finally:
        service.stop()


ANNOTATED = """\
groups:
  - name: d
    interval: 10s
    rules:
      - alert: Errors
        expr: errors > 1
        labels: {owner: team, severity: page}
        annotations:
          summary: "LONG"
          first_check: "LONG"
          runbook_url: "https://runbooks.example.com/{{ $labels.agent }}"
"""


def test_an_alert_with_10_kb_annotations_is_posted_once_and_readable(tmp_path: Path, fake_slack: FakeSlack) -> None:
    groups, errors = parse_rule_file(ANNOTATED.replace("LONG", "The queue backs up. " * 500), filename="d.yml")
    assert errors == []
    results = {"errors > 1": [Sample({"agent": "a1"}, 5)]}
    routing = Routing(group_wait=0, owners={"team": Destination("#team")})
    service = slack_service(tmp_path, fake_slack, routing=routing, groups=groups, results=results)
    try:
        service.evaluate_group(service.groups[0], now=time.time())
        service.dispatch()
        assert service.deliver() == 1
        (post,) = fake_slack.of("chat.postMessage")
        shown = " ".join(texts_in(post.params["blocks"]))
        assert "more characters — full text in the console)" in shown  # the template's cut(2000)
        assert post.params["text"].startswith("[FIRING] The queue backs up.")
    finally:
        service.stop()


def test_a_release_with_long_descriptors_is_posted_once_and_readable(tmp_path: Path, fake_slack: FakeSlack) -> None:
    service = slack_service(tmp_path, fake_slack)
    try:
        stable, canary = "v1-" + "s" * 197, "v2-" + "c" * 197  # the longest versions the API accepts
        releases.start(service.app, actor="operator:alice", agent="bot", stable={"version": stable},
                       canary={"version": canary}, plan=Plan((1000, 10_000), every=60.0))
        deliver_until(service, lambda: len(fake_slack.messages) == 2)  # the message, its first note
        assert len(fake_slack.of("chat.postMessage")) == 2
        (message,) = [p for p in fake_slack.messages.values() if "thread_ts" not in p]
        assert len(message["blocks"][0]["text"]["text"]) == 150  # the header, cut to Block Kit's 150
        assert stable in message["text"] and canary in message["text"]  # the notification keeps both
    finally:
        service.stop()


def test_an_owner_channel_that_refuses_the_bot_gets_its_message_in_the_default_channel_with_the_reason_once(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    routing = Routing(default_channel="#alerts", owners={"team": Destination("#team")}, agents=(("bot", "team"),))
    service = slack_service(tmp_path, fake_slack, routing=routing)
    fake_slack.refused["#team"] = "not_in_channel"
    try:
        ask(service, args={"amount": 10})
        assert service.deliver() == 1
        delivered = [c.params for c in fake_slack.of("chat.postMessage") if c.params["channel"] == "#alerts"]
        assert len(delivered) == 1 and len(fake_slack.messages) == 1
        assert delivered[0]["text"].startswith("[for #team: not_in_channel] [APPROVAL] bot")
        assert delivered[0]["blocks"][0]["elements"][0]["text"] == (
            ":warning: Meant for #team, but Slack refused it there (`not_in_channel`): invite the takeover app to it.")
        assert "Approve" in json.dumps(delivered[0]["blocks"])  # the buttons are there
        assert service.deliver() == 0 and len(fake_slack.messages) == 1  # once
    finally:
        service.stop()


def test_invalid_auth_keeps_the_message_as_undeliverable_counted_shown_and_on_the_approval(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    service = slack_service(tmp_path, fake_slack)
    fake_slack.refuse_all = "invalid_auth"
    try:
        approval = ask(service, args={"amount": 10})
        service.deliver()
        assert len(fake_slack.calls) == 1  # no retry, no fallback: no channel takes a refused token
        assert "takeover_notifications_undeliverable 1.0" in service.metrics.render().decode()
        assert "takeover_notifications_queued 0.0" in service.metrics.render().decode()
        ok, detail = service.readiness()["notifications"]
        assert not ok and "invalid_auth" in detail
        with service.sessions() as s:
            record = store.approval_public(s.get(ApprovalRow, approval["id"]))
            (kept,) = store.undeliverable(session=s)
        assert "invalid_auth" in record["delivery_error"] and kept.message_key == f"approval:{approval['id']}"
        service.deliver()
        assert len(fake_slack.calls) == 1  # kept, not retried
    finally:
        service.stop()


def changes(service: Service, agents_: list[str]) -> list[tuple[str, str]]:
    """Three mode changes per agent, interleaved across agents: (agent, reason) in change order."""
    made = []
    for step, mode in enumerate((Mode.read_only, Mode.pause_writes, Mode.normal)):
        for agent in agents_:
            reason = f"change {step} of {agent}"
            modes.take_over(service.app, agent=agent, mode=mode, reason=reason, actor="operator:op")
            made.append((agent, reason))
    return made


@pytest.mark.parametrize("retry_after", [2.0])
def test_a_429_storm_delivers_every_message_once_in_order_and_calls_nothing_while_retry_after_is_open(
        tmp_path: Path, fake_slack: FakeSlack, retry_after: float) -> None:
    names = [f"bot-{i}" for i in range(10)]
    routing = Routing(owners={"a": Destination("#a"), "b": Destination("#b")},
                      agents=tuple((name, "a" if i < 5 else "b") for i, name in enumerate(names)))
    service = slack_service(tmp_path, fake_slack, routing=routing, retry_max=retry_after)
    storm = 3 * retry_after
    try:
        fake_slack.rate_limit(seconds=storm, retry_after=retry_after)
        started = time.time()
        made = changes(service, names)
        deliver_until(service, lambda: outbox_empty(service), timeout=60)
        posted = [str(p["text"]) for p in fake_slack.messages.values()]  # in the order Slack took them
        assert len(posted) == len(set(posted)) >= len(made)  # every message once (a change may be two)
        for name in names:  # each agent's changes, and the parts of each, arrived in the order made
            mine = [text for text in posted if text.startswith(f"[MODE] {name}:")]
            assert [text.rsplit(": ", 1)[1] for text in mine] == sorted(
                (text.rsplit(": ", 1)[1] for text in mine), key=lambda r: [m[1] for m in made].index(r))
            assert {text.rsplit(": ", 1)[1] for text in mine} == {r for a, r in made if a == name}
        for call in fake_slack.calls:  # no call while a Retry-After on its method (and channel) was open
            key = (call.method, str(call.params.get("channel", "")))
            assert not any((m, ch) == key and at < call.at < until - 0.05 for m, ch, at, until in fake_slack.limited)
        during = [c for c in fake_slack.calls if c.at < started + storm]
        assert len(during) <= 2 * (storm / retry_after + 1)  # two channels, one call per Retry-After each
    finally:
        service.stop()


@pytest.mark.parametrize("retry_after", [3.0])
def test_a_long_retry_after_across_a_leader_change_posts_every_message_once(
        tmp_path: Path, fake_slack: FakeSlack, retry_after: float) -> None:
    service = slack_service(tmp_path, fake_slack)
    try:
        with service.sessions() as s:
            for i in range(8):
                store.enqueue(session=s, message_key=f"m{i}", channel=f"#c{i % 2}", now=time.time(),
                              payload={"text": f"message {i}"})
            old_term = store.new_term(session=s, holder="old", now=time.time())
            s.commit()
        leads = {"old": True}
        old = Delivery(sessions=service.sessions, notifier=service.notifier, term=old_term,
                       settle=service.notifier.settle, leading=lambda: leads["old"])
        fake_slack.rate_limit(seconds=retry_after, retry_after=retry_after)
        assert old.run() == (0, 2)  # one 429 per channel; the rest of each channel waits behind it
        leads["old"] = False  # leadership moves
        with service.sessions() as s:
            new_term = store.new_term(session=s, holder="new", now=time.time())
            s.commit()
        new = Delivery(sessions=service.sessions, notifier=service.notifier, term=new_term,
                       settle=service.notifier.settle)
        deadline = time.monotonic() + 30
        while len(fake_slack.messages) < 8:
            assert time.monotonic() < deadline
            new.run()
            calls = len(fake_slack.calls)
            assert old.run() == (0, 0) and len(fake_slack.calls) == calls  # the old leader calls nothing
            time.sleep(0.05)
        assert sorted(str(p["text"]) for p in fake_slack.messages.values()) == [f"message {i}" for i in range(8)]
    finally:
        service.stop()


PAYLOADS = ("<!channel>", "<!here>", "<@U1>", "<https://x|y>")


def test_markup_from_agents_rules_and_releases_never_reaches_slack_raw(tmp_path: Path, fake_slack: FakeSlack) -> None:
    payload = " ".join(PAYLOADS)
    rules = ANNOTATED.replace("LONG", f"{payload} {{{{ $labels.agent }}}}").replace(
        "labels: {owner: team, severity: page}", f"labels: {{owner: team, severity: page, extra: '{payload}'}}")
    groups, errors = parse_rule_file(rules, filename="d.yml")
    assert errors == []
    results = {"errors > 1": [Sample({"agent": payload, "job": payload}, 5)]}
    routing = Routing(group_wait=0, group_interval=0, owners={"team": Destination("#team", mention="S1")},
                      agents=(("bot", "team"),))
    service = slack_service(tmp_path, fake_slack, routing=routing, groups=groups, results=results)
    try:
        now = time.time()
        service.evaluate_group(service.groups[0], now=now)
        service.dispatch()
        ask(service, args={payload: payload}, reason=payload)
        modes.take_over(service.app, agent="bot", mode=Mode.read_only, reason=payload, actor=f"operator:{payload}")
        releases.start(service.app, actor=f"operator:{payload}", agent="bot", stable={"version": f"{payload} 1"},
                       canary={"version": f"{payload} 2"}, plan=Plan((1000, 10_000), every=60.0))
        results["errors > 1"] = []
        service.evaluate_group(service.groups[0], now=now + 10)
        service.dispatch()  # resolved: the message is updated, a note goes in its thread
        deliver_until(service, lambda: outbox_empty(service))
        assert fake_slack.of("chat.update") and any("thread_ts" in c.params for c in fake_slack.calls)
        for call in fake_slack.calls:
            for text in texts_in(call.params):
                raw = [p for p in PAYLOADS if p in text]
                assert raw == [], (call.method, text)
        # the mention the routing file asks for is still markup
        assert any("<!subteam^S1>" in str(c.params) for c in fake_slack.of("chat.postMessage"))
    finally:
        service.stop()
