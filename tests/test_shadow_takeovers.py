"""Shadow takeovers: a `takeover: shadow:<mode>` rule fires and notifies as usual and records the
hold it would have made, holding nothing. In-process with a hand-driven clock and fake Slack (the
audit trail, the incident timeline, /metrics, the message), then `takeover check` and promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from takeover import store
from takeover.app import console
from takeover.notify.routing import Routing
from takeover.notify.slack import SlackNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.format import parse_rule_file
from takeover.rules.query import static_query
from takeover.server.api import create_app
from takeover.server.console.door import COOKIE
from takeover.server.service import Service
from takeover.server.settings import Settings
from takeover.store import console as watch
from takeover.store.models import AuditRow
from tests.conftest import takeover_cli
from tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0
EXPR = 'refund_errors{job="bot"} > 1'
RULES = """\
groups:
  - name: shadow
    interval: 10s
    rules:
      - alert: RefundErrors
        expr: 'refund_errors{job="bot"} > 1'
        labels:
          owner: payments
          severity: page
          takeover: TAKEOVER
        annotations: {runbook_url: "https://r", first_check: "look", summary: "{{ $labels.agent }} refunds fail"}
"""
LITERAL = "shadow:read_only"
TEMPLATED = "'{{ if eq $labels.env \"prod\" }}shadow:pause_writes{{ else }}shadow:handoff{{ end }}'"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make_service(url: str, takeover: str, results: dict[str, list[Sample]], clock: Clock,
                 fake_slack: FakeSlack) -> Service:
    groups, errors = parse_rule_file(RULES.replace("TAKEOVER", takeover), filename="shadow.yml")
    assert errors == []
    service = Service(Settings(database_url=url, templates=str(ROOT / "templates")),  # type: ignore[arg-type]
                      groups=groups, notifier=SlackNotifier(token="xoxb-test", base_url=fake_slack.url, timeout=2),
                      query=static_query(results), clock=clock, routing=Routing(group_wait=0, group_interval=0))
    assert service.lead()
    return service


def step(service: Service, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    service.evaluate_group(service.groups[0], now=clock.now)
    service.dispatch()
    service.deliver()


def document(service: Service, agent: str = "refund-bot") -> dict[str, Any]:
    with service.sessions() as s:
        doc = store.control_document(session=s, agent=agent, now=service.clock())
    assert doc is not None
    return doc


def audit(service: Service, after_id: int) -> list[AuditRow]:
    """The trail since `after_id`, less the test's own console visits."""
    with service.sessions() as s:
        rows = watch.find_audit(session=s, after_id=after_id, newest_first=False, limit=100)
    return [r for r in rows if not r.action.startswith(("token.", "console."))]


def shadow_metric(service: Service) -> list[str]:
    return [line for line in service.metrics.render().decode().splitlines()
            if line.startswith("takeover_shadow_holds{")]


def console_page(service: Service, path: str) -> str:
    """A console page as a signed-in viewer sees it, through the real app in-process."""
    with service.sessions() as s:
        if store.find_token(session=s, token="tko_viewer") is None:
            store.create_token(session=s, name="vera", role="viewer", agents=[], token="tko_viewer",
                               now=service.clock(), actor="test")
            s.commit()
    secret, _ = console.sign_in(service.app, token="tko_viewer")
    client = TestClient(create_app(service), base_url="http://localhost")
    client.cookies.set(COOKIE, secret)
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize(("takeover", "mode"), [(LITERAL, "read_only"), (TEMPLATED, "pause_writes")])
def test_a_shadow_takeover_rule_fires_and_notifies_and_holds_nothing_but_records_the_hold_it_would_make(
        database_url: str, fake_slack: FakeSlack, takeover: str, mode: str) -> None:
    clock, results = Clock(), {EXPR: []}
    service = make_service(database_url, takeover, results, clock, fake_slack)
    with service.sessions() as s:
        store.ensure_agent(session=s, name="refund-bot", now=clock.now)
        s.commit()
        start = watch.last_audit_id(session=s)
    before = document(service)
    assert before["mode"] == "normal"

    results[EXPR] = [Sample({"agent": "refund-bot", "job": "bot", "env": "prod"}, 7)]
    step(service, clock, 10)
    with service.sessions() as s:
        (row,) = store.list_alerts(session=s)
        assert row.state == "firing"
        alert_id = row.id
    assert document(service) == before  # mode, sources, version: untouched
    trail = audit(service, start)
    assert [r.action for r in trail] == ["alert.shadow_hold"]  # no mode change, no grant ended
    (held,) = trail
    assert held.subject == "agent:refund-bot" and held.actor == "rule:RefundErrors"
    assert held.after == {"agent": "refund-bot", "mode": mode, "alert": 'RefundErrors{agent="refund-bot",env="prod",job="bot"}',
                          "effective": "normal"}
    assert held.reason == f"would have held refund-bot in {mode} (shadow): refund-bot refunds fail"
    assert shadow_metric(service) == [f'takeover_shadow_holds{{agent="refund-bot",mode="{mode}"}} 1.0']

    # the alert notifies as any other: one message, which says what the takeover would have been
    (posted,) = fake_slack.posts("[FIRING]")
    assert f"👻 would hold `refund-bot` in *{mode}* (shadow)" in str(posted["blocks"])
    assert not any("→" in p["text"] for p in fake_slack.posts(thread=True))  # no takeover note: nothing was held

    overview = console_page(service, "/ui/")
    assert (f'would be <span class="mode {mode}">{mode}</span> by\n    '
            f'<a href="/ui/alerts/{alert_id}/timeline">RefundErrors</a>') in overview
    assert "Shadow holds (1, holding nothing)" in overview and "Every agent is in normal." in overview

    assert alert_id is not None
    incident = console.incident(service.app, alert_id=alert_id)
    assert incident is not None
    shadows = [(s.title, s.who) for s in incident.steps if "shadow" in s.title]
    assert shadows == [(f"refund-bot would have been held in {mode} (shadow)", "rule:RefundErrors")]

    results[EXPR] = []
    step(service, clock, 10)
    assert document(service) == before
    assert [r.action for r in audit(service, start)] == ["alert.shadow_hold", "alert.shadow_release"]
    assert shadow_metric(service) == []  # the shadow hold lasts while the alert fires
    assert "Shadow holds" not in console_page(service, "/ui/")
    update = fake_slack.of("chat.update")[-1].params
    assert update["text"].startswith("[RESOLVED]")
    assert f"would have held `refund-bot` in *{mode}* (shadow: nothing was held)" in str(update["blocks"])
    incident = console.incident(service.app, alert_id=alert_id)
    assert incident is not None
    assert [s.title for s in incident.steps if "shadow" in s.title] == [
        f"refund-bot would have been held in {mode} (shadow)", f"refund-bot: shadow hold in {mode} over"]
    service.stop()


def test_a_silence_that_holds_back_takeovers_holds_back_the_shadow_one_too(
        database_url: str, fake_slack: FakeSlack) -> None:
    clock, results = Clock(), {EXPR: [Sample({"agent": "refund-bot", "job": "bot"}, 7)]}
    service = make_service(database_url, LITERAL, results, clock, fake_slack)
    with service.sessions() as s:
        store.create_silence(session=s, matchers=['alertname="RefundErrors"'], starts_at=T0, ends_at=T0 + 3600,
                             created_by="operator:sam", comment="known", suppress_takeover=True, now=T0)
        s.commit()
        start = watch.last_audit_id(session=s)
    step(service, clock, 10)
    with service.sessions() as s:
        assert [r.state for r in store.list_alerts(session=s)] == ["firing"]
    assert audit(service, start) == []
    assert shadow_metric(service) == []
    service.stop()


def test_a_template_expanding_to_a_shadow_of_no_mode_changes_nothing_and_marks_the_rule_err(
        database_url: str, fake_slack: FakeSlack) -> None:
    clock, results = Clock(), {EXPR: [Sample({"agent": "refund-bot", "job": "bot"}, 7)]}
    service = make_service(database_url, "'shadow:{{ $labels.job }}'", results, clock, fake_slack)
    step(service, clock, 10)
    with service.sessions() as s:
        assert store.list_alerts(session=s) == []
        assert store.shadow_holds(session=s, now=clock.now) == []
    (line,) = [line for line in service.metrics.render().decode().splitlines()
               if line.startswith("takeover_rule_health{")]
    assert line.endswith(" 0.0")
    service.stop()


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return takeover_cli("check", str(path), env={"TAKEOVER_TEMPLATES": str(ROOT / "templates")})


def test_takeover_check_accepts_a_shadow_of_a_mode_and_refuses_a_shadow_of_anything_else(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.replace("TAKEOVER", LITERAL))
    good = check(rules)
    assert good.returncode == 0, good.stderr
    rules.write_text(RULES.replace("TAKEOVER", "shadow:bogus"))
    bad = check(rules)
    assert bad.returncode == 1
    assert (f'{rules}:10:21: alert "RefundErrors": label takeover shadow:<mode> must shadow one of '
            'require_approval, pause_writes, read_only, handoff; got "shadow:bogus"') in bad.stderr


@pytest.mark.usefixtures("prometheus_binaries")
def test_promtool_accepts_a_shadow_takeover_as_any_label_value(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.replace("TAKEOVER", LITERAL))
    result = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
