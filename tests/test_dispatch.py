"""Grouping, repeat and escalation timing (Alertmanager's rules) with a hand-driven clock,
and delivery that loses nothing through a long Slack outage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from takeover import store
from takeover.notify.grouping import GroupState, escalation_due, needs_flush
from takeover.notify.routing import Destination, Escalation, Routing
from takeover.notify.slack import SlackNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.format import parse_rule_file
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0
ROUTING = Routing(group_wait=30, group_interval=300, repeat_interval=3600, owners={
    "team": Destination("#team", mention="S1", escalation=(Escalation(600, "U_LEAD"), Escalation(1200, "#managers")))})
EXPR = "errors > 1"
RULES = """\
groups:
  - name: d
    interval: 10s
    rules:
      - alert: Errors
        expr: errors > 1
        labels: {owner: team, severity: page}
        annotations: {runbook_url: "https://r", first_check: "look", summary: "{{ $labels.agent }} errs"}
"""


def state(**kw: object) -> GroupState:
    return GroupState(**{"first_seen": T0, **kw})  # type: ignore[arg-type]


def test_first_notification_waits_group_wait() -> None:
    firing = frozenset({"a"})
    assert not needs_flush(state(), firing=firing, resolved=frozenset(), now=T0 + 29, routing=ROUTING)
    assert needs_flush(state(), firing=firing, resolved=frozenset(), now=T0 + 30, routing=ROUTING)


def test_changes_wait_for_group_interval_and_a_quiet_group_repeats() -> None:
    sent = state(last_flush=T0 + 30, sent_firing=frozenset({"a"}))
    grown = frozenset({"a", "b"})
    assert not needs_flush(sent, firing=grown, resolved=frozenset(), now=T0 + 329, routing=ROUTING)
    assert needs_flush(sent, firing=grown, resolved=frozenset(), now=T0 + 330, routing=ROUTING)
    same = frozenset({"a"})
    assert not needs_flush(sent, firing=same, resolved=frozenset(), now=T0 + 3629, routing=ROUTING)
    assert needs_flush(sent, firing=same, resolved=frozenset(), now=T0 + 3630, routing=ROUTING)
    assert needs_flush(sent, firing=frozenset(), resolved=frozenset({"a"}), now=T0 + 330, routing=ROUTING)
    shrunk = state(last_flush=T0 + 30, sent_firing=grown)
    assert needs_flush(shrunk, firing=same, resolved=frozenset({"b"}), now=T0 + 330, routing=ROUTING)


def test_a_group_holding_a_takeover_is_news_at_once_for_every_alert_in_it() -> None:
    """A takeover alert and an alert that acts on no agent share a group (same group_by values):
    the group follows the takeover's timing, so both go out at once, and so does every change."""
    both = frozenset({"takeover-alert", "plain-alert"})
    assert needs_flush(state(), firing=both, resolved=frozenset(), now=T0, routing=ROUTING, urgent=True)
    sent = state(last_flush=T0, sent_firing=both, sent_held=frozenset({"ref"}))
    resolved = frozenset({"plain-alert"})
    assert needs_flush(sent, firing=frozenset({"takeover-alert"}), resolved=resolved, now=T0 + 1,
                       routing=ROUTING, urgent=True, held=frozenset({"ref"}))
    # a human released the hold: the message says so at once, nothing else changed
    assert needs_flush(sent, firing=both, resolved=frozenset(), now=T0 + 1, routing=ROUTING, urgent=True)
    assert not needs_flush(sent, firing=both, resolved=frozenset(), now=T0 + 1, routing=ROUTING, urgent=True,
                           held=frozenset({"ref"}))  # no change, no message
    # a group with no takeover keeps Alertmanager's timings
    assert not needs_flush(state(), firing=both, resolved=frozenset(), now=T0, routing=ROUTING)


def test_escalation_steps_stop_when_acknowledged() -> None:
    steps = ROUTING.owners["team"].escalation
    sent = state(last_flush=T0 + 30)
    assert escalation_due(sent, steps=steps, firing=True, page=True, now=T0 + 599) is None
    assert escalation_due(sent, steps=steps, firing=True, page=True, now=T0 + 600) == steps[0]
    assert escalation_due(state(last_flush=T0, escalated=1), steps=steps, firing=True, page=True, now=T0 + 1200) == steps[1]
    assert escalation_due(state(last_flush=T0, acked_by="alice"), steps=steps, firing=True, page=True, now=T0 + 900) is None
    assert escalation_due(sent, steps=steps, firing=True, page=False, now=T0 + 900) is None


class Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[Service, Clock, dict[str, list[Sample]]]]:
    clock = Clock()
    results: dict[str, list[Sample]] = {EXPR: []}
    groups, errors = parse_rule_file(RULES, filename="d.yml")
    assert errors == []
    svc = Service(Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}", templates=str(ROOT / "templates")),
                  groups=groups, query=static_query(results), clock=clock, routing=ROUTING,
                  notifier=SlackNotifier(token="xoxb-t", base_url=fake_slack.url, timeout=2))
    yield svc, clock, results
    svc.stop()


def advance(svc: Service, clock: Clock, seconds: float, *, deliver: bool = True) -> int:
    """Step the clock in 10 s evaluation slots, evaluating, dispatching and delivering each."""
    sent = 0
    for _ in range(int(seconds // 10)):
        clock.now += 10
        svc.evaluate_group(svc.groups[0], now=clock.now)
        svc.dispatch()
        if deliver:
            sent += svc.deliver()
    return sent


def top_level(fake: FakeSlack) -> list[dict[str, object]]:
    return [c.params for c in fake.of("chat.postMessage") if "thread_ts" not in c.params]


def test_grouping_repeat_and_escalation_with_a_clock(service: tuple[Service, Clock, dict[str, list[Sample]]], fake_slack: FakeSlack) -> None:
    svc, clock, results = service
    results[EXPR] = [Sample({"agent": "a1"}, 5)]
    advance(svc, clock, 20)
    assert fake_slack.of("chat.postMessage") == []  # group_wait
    advance(svc, clock, 20)
    (first,) = top_level(fake_slack)
    assert first["channel"] == "#team" and "<!subteam^S1>" in str(first["blocks"])
    results[EXPR] = [Sample({"agent": "a1"}, 5), Sample({"agent": "a2"}, 7)]  # joins the group
    advance(svc, clock, 100)
    assert len(fake_slack.of("chat.update")) == 0  # not before group_interval
    advance(svc, clock, 200)
    assert len(fake_slack.of("chat.update")) == 1 and len(top_level(fake_slack)) == 1
    notes = [c.params for c in fake_slack.of("chat.postMessage") if "thread_ts" in c.params]
    assert 'firing: Errors{agent="a2"}' in notes[0]["text"]
    advance(svc, clock, 300)  # 10 min after first fired, unacknowledged page
    escalations = [p for p in top_level(fake_slack) if p["channel"] == "U_LEAD"]
    assert len(escalations) == 1 and str(escalations[0]["text"]).startswith("[ESCALATED]")
    with svc.sessions() as s:
        (group,) = store.notify_groups(session=s).values()
    svc.dispatcher.acknowledge(group_id=group.id or 0, actor="operator:alice", now=clock.now)
    advance(svc, clock, 900)  # past the second step: acknowledged, so no more escalation
    assert [p["channel"] for p in top_level(fake_slack)] == ["#team", "U_LEAD"]
    assert any("Acknowledged by operator:alice" in str(c.params.get("text")) for c in fake_slack.of("chat.postMessage"))
    assert "Acknowledged by operator:alice" in str(fake_slack.of("chat.update")[-1].params["blocks"])
    updates = len(fake_slack.of("chat.update"))
    advance(svc, clock, 3600)  # repeat_interval while still firing
    assert len(fake_slack.of("chat.update")) > updates


def test_ten_minutes_of_slack_errors_then_every_message_exactly_once(
        service: tuple[Service, Clock, dict[str, list[Sample]]], fake_slack: FakeSlack) -> None:
    svc, clock, results = service
    fake_slack.fail_next(10_000, status=500)
    results[EXPR] = [Sample({"agent": "a1"}, 5)]
    advance(svc, clock, 300)
    results[EXPR] = []
    advance(svc, clock, 300)  # resolved during the outage
    with svc.sessions() as s:
        queued = store.undelivered(session=s)
    # retried with an exponential back-off (not on every pass), later rows held behind it in order
    assert len(queued) >= 2 and 5 <= queued[0].attempts <= 15 and queued[1].attempts == 0
    assert len(fake_slack.calls) == queued[0].attempts  # no lookups: a 500 is an answer, nothing in doubt
    fake_slack.faults.clear()
    clock.now += svc.settings.slack_retry_max  # the longest back-off
    assert svc.deliver() == len(queued)
    assert svc.deliver() == 0
    ok_posts = [k for k, p in fake_slack.messages.items() if "thread_ts" not in p]
    assert len(ok_posts) == 1  # one message for the group, posted once
    assert fake_slack.messages[ok_posts[0]]["text"].startswith("[RESOLVED]")


def test_a_silence_mutes_messages_but_not_the_takeover(service: tuple[Service, Clock, dict[str, list[Sample]]], fake_slack: FakeSlack) -> None:
    svc, clock, results = service
    with svc.sessions() as s:
        store.create_silence(session=s, matchers=['alertname="Errors"'], starts_at=T0, ends_at=T0 + 3600,
                             created_by="operator:alice", comment="maintenance", suppress_takeover=False, now=T0)
        s.commit()
    results[EXPR] = [Sample({"agent": "a1"}, 5)]
    advance(svc, clock, 120)
    assert fake_slack.calls == []
    with svc.sessions() as s:
        assert [a.state for a in store.list_alerts(session=s)] == ["firing"]


def test_a_hanging_slack_times_out_and_the_message_is_delivered_later(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = Clock()
    results: dict[str, list[Sample]] = {EXPR: [Sample({"agent": "a1"}, 5)]}
    groups, _ = parse_rule_file(RULES, filename="d.yml")
    svc = Service(Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", templates=str(ROOT / "templates")),
                  groups=groups, query=static_query(results), clock=clock, routing=ROUTING,
                  notifier=SlackNotifier(token="xoxb-t", base_url=fake_slack.url, timeout=1))
    try:
        fake_slack.hang_next(1, seconds=3)
        advance(svc, clock, 40, deliver=False)
        assert svc.deliver() == 0  # the client gave up after its 1 s timeout
        with svc.sessions() as s:
            (row,) = store.undelivered(session=s)
            assert "timed out" in (row.last_error or "").lower() or "timeout" in (row.last_error or "").lower()
        clock.now += 1  # its back-off after a first failure: 0.5 to 1 s
        assert svc.deliver() == 1
        assert [p["text"][:8] for p in fake_slack.messages.values()] == ["[FIRING]"]
    finally:
        svc.stop()
