"""The service shell in-process: evaluation → state, modes and outbox, with a hand-driven clock."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from takeover import store
from takeover.app import outage
from takeover.notify.routing import Routing
from takeover.notify.slack import ConsoleNotifier, SlackNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.format import Group, load_rules, parse_rule_file
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0
EXPR = 'errors{job="bot"} > 1'
RULES = """\
groups:
  - name: svc
    interval: 10s
    rules:
      - alert: Errors
        expr: 'errors{job="bot"} > 1'
        for: 20s
        labels: {owner: team, takeover: pause_writes}
        annotations: {runbook_url: "https://r", first_check: "look", summary: "{{ $labels.agent }} errs"RELEASE}
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def groups(release: bool = False) -> list[Group]:
    text = RULES.replace("RELEASE", ', takeover_release: on_resolve' if release else "")
    parsed, errors = parse_rule_file(text, filename="svc.yml")
    assert errors == []
    return parsed


@pytest.fixture
def results() -> dict[str, list[Sample]]:
    return {EXPR: []}


def make_service(url: str, results: dict[str, list[Sample]], clock: Clock, *,
                 release: bool = False, notifier: object = None, **settings: object) -> Service:
    """A service driven by hand (not started); it takes the leader lock, as `start()` would."""
    service = Service(Settings(database_url=url,  # type: ignore[arg-type]
                            templates=str(ROOT / "templates"), **settings),
                   groups=groups(release), notifier=notifier or ConsoleNotifier(io.StringIO()),  # type: ignore[arg-type]
                   query=static_query(results), clock=clock,
                   routing=Routing(group_wait=0, group_interval=0))
    assert service.lead()
    return service


@pytest.fixture
def clock() -> Clock:
    return Clock()


def mode(service: Service, agent: str = "bot-1") -> str:
    with service.sessions() as s:
        doc = store.control_document(session=s, agent=agent, now=service.clock())
    return doc["mode"] if doc else "unknown"


def step(service: Service, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    service.evaluate_group(service.groups[0], now=clock.now)
    service.dispatch()


@pytest.mark.parametrize(("release", "after"), [(False, "pause_writes"), (True, "normal")])
def test_takeover_stays_after_resolve_unless_the_rule_opts_in(
        database_url: str, results: dict[str, list[Sample]], clock: Clock, release: bool, after: str) -> None:
    service = make_service(database_url, results, clock, release=release)
    results[EXPR] = [Sample({"agent": "bot-1", "job": "bot"}, 5)]
    step(service, clock, 10)
    assert mode(service) == "unknown"  # pending: nothing acted yet
    step(service, clock, 20)
    assert mode(service) == "pause_writes"
    results[EXPR] = []
    step(service, clock, 10)
    assert mode(service) == after
    service.stop()


def test_restart_keeps_the_pending_clock_and_does_not_page_twice(database_url: str, results: dict[str, list[Sample]], clock: Clock) -> None:
    results[EXPR] = [Sample({"agent": "bot-1", "job": "bot"}, 5)]
    first = make_service(database_url, results, clock)
    step(first, clock, 10)
    first.stop()  # a restart between two evaluations of a pending alert
    second = make_service(database_url, results, clock)
    step(second, clock, 20)
    with second.sessions() as s:
        (alert,) = store.list_alerts(session=s)
        assert (alert.state, alert.active_at, alert.fired_at) == ("firing", T0 + 10, T0 + 30)
    second.stop()
    third = make_service(database_url, results, clock)
    step(third, clock, 10)
    with third.sessions() as s:
        pages = [r for r in store.undelivered(session=s)
                 if r.message_key.startswith("group:") and "thread_of" not in r.payload]
        assert len(pages) == 1  # one page (its takeover note goes in its thread), not one per process
    third.stop()


def test_a_query_error_changes_nothing_and_marks_the_rule_unhealthy(database_url: str, results: dict[str, list[Sample]], clock: Clock) -> None:
    service = make_service(database_url, results, clock)
    results[EXPR] = [Sample({"agent": "bot-1", "job": "bot"}, 5)]
    step(service, clock, 10)
    step(service, clock, 20)
    del results[EXPR]  # the static query now fails
    step(service, clock, 10)
    (health,) = service.health.values()
    assert health.health == "err" and "no result" in health.last_error
    with service.sessions() as s:
        assert [a.state for a in store.list_alerts(session=s)] == ["firing"]
    service.stop()


def test_failsafe_holds_every_agent_while_prometheus_is_unreachable(database_url: str, results: dict[str, list[Sample]], clock: Clock) -> None:
    service = make_service(database_url, results, clock, failsafe_mode="require_approval", failsafe_after=60)
    with service.sessions() as s:
        store.ensure_agent(session=s, name="bot-1", now=clock.now)
        s.commit()
    del results[EXPR]
    step(service, clock, 10)
    service.expire()
    assert mode(service) == "normal"  # blind, but not for long enough
    step(service, clock, 60)
    service.expire()
    assert mode(service) == "require_approval"
    with service.sessions() as s:  # the built-in meta-alert pages its owner about it
        (meta,) = [a for a in store.list_alerts(session=s) if a.group_key == store.META_GROUP]
        assert (meta.state, meta.labels["owner"]) == ("firing", "takeover-admins")
    service.dispatch()
    with service.sessions() as s:
        assert any("Prometheus" in r.payload["text"] for r in store.undelivered(session=s))
    results[EXPR] = []
    step(service, clock, 10)
    service.expire()
    assert mode(service) == "normal"
    with service.sessions() as s:
        assert store.meta_alert(session=s, name=outage.META_ALERT).state == "inactive"  # type: ignore[union-attr]
    service.stop()


@pytest.fixture
def slack(fake_slack: FakeSlack) -> Iterator[SlackNotifier]:
    yield SlackNotifier(token="xoxb-test", base_url=fake_slack.url, timeout=2)


def test_slack_failures_keep_the_notification_until_it_is_delivered_once(
        database_url: str, results: dict[str, list[Sample]], clock: Clock, fake_slack: FakeSlack, slack: SlackNotifier) -> None:
    service = make_service(database_url, results, clock, notifier=slack)
    results[EXPR] = [Sample({"agent": "bot-1", "job": "bot"}, 5)]
    step(service, clock, 10)
    step(service, clock, 20)
    fake_slack.fail_next(1, status=500)  # one attempt per call: the retry stage decides when again
    assert service.deliver() == 0
    with service.sessions() as s:
        page, note = store.undelivered(session=s)  # the page, and the takeover note in its thread
        assert page.attempts == 1 and "fatal_error" in (page.last_error or "")
        assert note.payload["thread_of"] == page.message_key and note.attempts == 0  # waits for its page
    assert service.deliver() == 0  # backing off (0.5 to 1 s after a first failure), not at once
    clock.now += 1
    assert service.deliver() == 2
    assert service.deliver() == 0
    assert len(fake_slack.of("chat.postMessage")) == 3 and len(fake_slack.messages) == 2  # 1 refused, 2 kept
    fake_slack.fail_next(1, status=429, retry_after=0)
    results[EXPR] = []
    step(service, clock, 10)
    assert service.deliver() == 0  # 429: the channel's messages wait their Retry-After and a back-off
    clock.now += 1
    assert service.deliver() == 2
    note, retried, update = fake_slack.calls[-3:]
    assert (note.method, retried.method, update.method) == ("chat.postMessage", "chat.postMessage", "chat.update")
    ((channel, ts),) = [k for k, p in fake_slack.messages.items() if p["text"].startswith("[RESOLVED]")]
    assert retried.params["thread_ts"] == ts and "resolved" in retried.params["text"]
    assert update.params["ts"] == ts and update.params["text"].startswith("[RESOLVED]")
    service.stop()


def test_reload_keeps_the_state_of_unchanged_rules(tmp_path: Path, results: dict[str, list[Sample]], clock: Clock) -> None:
    rules = tmp_path / "rules.yml"
    base = RULES.replace("RELEASE", "")
    rules.write_text(base)
    service = Service(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", rules=[str(rules)],
                               templates=str(ROOT / "templates")),
                      groups=groups(), notifier=ConsoleNotifier(io.StringIO()), query=static_query(results),
                      clock=clock, routing=Routing(group_wait=0, group_interval=0))
    service.groups = load_rules([rules])
    results[EXPR] = [Sample({"agent": "bot-1", "job": "bot"}, 5)]
    step(service, clock, 10)
    rules.write_text(base + base.split("rules:\n", 1)[1].replace("alert: Errors", "alert: Other"))
    assert service.reload(actor="operator:test") == []
    assert [r.name for r in service.groups[0].rules] == ["Errors", "Other"]
    with service.sessions() as s:
        (alert,) = store.list_alerts(session=s)
        assert (alert.state, alert.active_at) == ("pending", T0 + 10)  # the pending clock survived
    step(service, clock, 20)
    with service.sessions() as s:
        assert sorted((a.labels["alertname"], a.state) for a in store.list_alerts(session=s)) == [
            ("Errors", "firing"), ("Other", "pending")]
    service.stop()
