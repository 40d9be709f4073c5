"""Alertmanager → takeover: the webhook receiver (`POST /v1/alertmanager`), first as a table of
steps (pure), then over real HTTP against `takeover serve`: holds by labels, idempotent by
fingerprint (repeats, HA pairs, grouped payloads), releases only as documented, bad payloads
refused with a 4xx that changes nothing. The real Alertmanager's tests are in
tests/test_alertmanager_e2e.py."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from takeover import store
from takeover.control.alertmanager import Notified, Step, step, why_ignored
from takeover.notify.alertmanager import AlertmanagerSender, needs_sending
from takeover.store.models import AlertRow
from takeover.tools.promproc import free_port
from tests.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.slow
ZERO = "0001-01-01T00:00:00Z"


def notified(labels: dict[str, str], *, firing: bool = True, **annotations: str) -> Notified:
    return Notified(fingerprint="abc", firing=firing, labels={"alertname": "X", **labels},
                    annotations=annotations, starts_at=1.0, ends_at=None)


@pytest.mark.parametrize(("labels", "firing", "recorded", "expected"), [
    ({"takeover": "read_only"}, True, None, Step.fire),  # first time
    ({"takeover": "read_only"}, True, False, Step.fire),  # firing again after it resolved: a new episode
    ({"takeover": "read_only"}, True, True, Step.repeat),  # a repeat, or the HA peer's copy
    ({"takeover": "read_only"}, False, True, Step.resolve),
    ({"takeover": "read_only"}, False, False, Step.stale),  # resolved twice
    ({"takeover": "read_only"}, False, None, Step.stale),  # never seen firing (send_resolved, a restart)
    ({}, True, None, Step.ignore),  # no takeover label: Alertmanager's other receivers' business
    ({"takeover": "readonly"}, True, None, Step.ignore),  # not a mode: reported, nothing guessed
    ({"takeover": "rollback"}, True, None, Step.ignore),  # rollbacks are for takeover's own release rules
    ({"takeover": "handoff", "agent": "bad agent!"}, True, None, Step.ignore),
])
def test_step_table(labels: dict[str, str], firing: bool, recorded: bool | None, expected: Step) -> None:
    assert step(notified(labels, firing=firing), recorded_firing=recorded) == expected


def test_ignored_alerts_say_why_and_refs_name_every_label() -> None:
    assert why_ignored(notified({"takeover": "readonly"})) is not None
    assert "not a mode" in (why_ignored(notified({"takeover": "readonly"})) or "")
    alert = notified({"takeover": "read_only", "agent": "a", "team": "x"}, takeover_release="on_resolve")
    assert alert.ref == 'X{agent="a",takeover="read_only",team="x"}'
    assert alert.actor == "alertmanager:X" and alert.release_on_resolve


def am_alert(fingerprint: str, labels: dict[str, str], *, status: str = "firing",
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"status": status, "labels": labels, "annotations": annotations or {"summary": "from Alertmanager"},
            "startsAt": "2026-11-27T10:00:00.123456789Z",
            "endsAt": ZERO if status == "firing" else "2026-11-27T10:05:00Z",
            "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {"version": "4", "groupKey": '{}:{alertname="X"}', "truncatedAlerts": 0,
            "status": "firing" if firing else "resolved", "receiver": "takeover", "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("am")
    (tmp / "rules.yml").write_text("groups: []\n")
    srv = start_server({
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp / 'takeover.db'}",
        "TAKEOVER_RULES": str(tmp / "rules.yml"),
        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
    }, log=tmp / "serve.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def clients(server: Server) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(Alertmanager's webhook client, an operator)."""
    with httpx.Client(base_url=server.url, headers={
            "Authorization": f"Bearer {server.token('--role', 'alertmanager', '--name', 'am-prod')}"}) as am, \
         httpx.Client(base_url=server.url, headers={
            "Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'am-op')}"}) as op:
        yield am, op


def mode(op: httpx.Client, agent: str) -> str:
    answer = op.get(f"/v1/agents/{agent}/control")
    return str(answer.json()["mode"]) if answer.status_code == 200 else "unknown"


def post(am: httpx.Client, *alerts: dict[str, Any]) -> list[dict[str, Any]]:
    answer = am.post("/v1/alertmanager", json=payload(*alerts))
    assert answer.status_code == 200, answer.text
    return answer.json()["alerts"]  # type: ignore[no-any-return]


def test_a_firing_alert_holds_its_agent_once_and_the_hold_outlives_its_resolve(
        clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, op = clients
    alert = am_alert("1a", {"alertname": "RefundsFailing", "takeover": "read_only", "agent": "refund-bot",
                            "owner": "payments"})
    assert [a["step"] for a in post(am, alert)] == ["fire"]
    assert mode(op, "refund-bot") == "read_only"
    assert [a["step"] for a in post(am, alert)] == ["repeat"]  # repeat_interval, or the HA peer
    sources = op.get("/v1/agents/refund-bot/control").json()["sources"]
    assert len(sources) == 1 and sources[0]["kind"] == "alert"
    assert sources[0]["actor"] == "alertmanager:RefundsFailing"

    resolved = {**alert, "status": "resolved", "endsAt": "2026-11-27T10:05:00Z"}
    assert [a["step"] for a in post(am, resolved)] == ["resolve"]
    assert [a["step"] for a in post(am, resolved)] == ["stale"]
    assert mode(op, "refund-bot") == "read_only"  # an agent that misbehaved stays held until a human says
    assert op.post("/v1/agents/refund-bot/release", json={"reason": "checked"}).status_code == 200
    assert mode(op, "refund-bot") == "normal"

    trail = op.get("/v1/audit", params={"agent": "refund-bot"}).json()
    actions = [(r["actor"], r["action"]) for r in (trail["rows"] if isinstance(trail, dict) else trail)]
    assert ("alertmanager:RefundsFailing", "mode.alert") in actions
    everything = op.get("/v1/audit", params={"limit": 1000}).text
    assert "alertmanager:am-prod" in everything and "alert.firing" in everything and "alert.resolved" in everything
    shown = [a for a in op.get("/v1/alerts").json() if a["labels"].get("alertname") == "RefundsFailing"]
    assert len(shown) == 1 and shown[0]["state"] == "inactive"


def test_on_resolve_releases_and_firing_again_takes_over_again(clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, op = clients
    alert = am_alert("2b", {"alertname": "Flaky", "takeover": "pause_writes", "agent": "flaky-bot"},
                     annotations={"summary": "flaky", "takeover_release": "on_resolve"})
    post(am, alert)
    assert mode(op, "flaky-bot") == "pause_writes"
    post(am, {**alert, "status": "resolved"})
    assert mode(op, "flaky-bot") == "normal"
    assert [a["step"] for a in post(am, alert)] == ["fire"]  # a new episode
    assert mode(op, "flaky-bot") == "pause_writes"
    post(am, {**alert, "status": "resolved"})


def test_grouped_payload_acts_on_each_alert_and_leaves_the_rest(clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, op = clients
    steps = post(am,
                 am_alert("3a", {"alertname": "Cost", "takeover": "require_approval", "agent": "g1-bot"}),
                 am_alert("3b", {"alertname": "Cost", "takeover": "handoff", "agent": "g2-bot"}),
                 am_alert("3c", {"alertname": "Cost", "agent": "g3-bot"}),  # no takeover label
                 am_alert("3d", {"alertname": "Cost", "takeover": "readonly", "agent": "g4-bot"}))
    assert [(a["fingerprint"], a["step"]) for a in steps] == [
        ("3a", "fire"), ("3b", "fire"), ("3c", "ignore"), ("3d", "ignore")]
    assert "not a mode" in steps[3]["why"]
    assert (mode(op, "g1-bot"), mode(op, "g2-bot"), mode(op, "g3-bot"), mode(op, "g4-bot")) == \
        ("require_approval", "handoff", "unknown", "unknown")
    for agent in ("g1-bot", "g2-bot"):
        op.post(f"/v1/agents/{agent}/release", json={"reason": "done"})


def test_no_agent_label_holds_every_agent(clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, op = clients
    op.post("/v1/agents", json={"name": "everyone-bot"})
    alert = am_alert("4a", {"alertname": "LLMProviderDown", "takeover": "require_approval"},
                     annotations={"summary": "provider down", "takeover_release": "on_resolve"})
    post(am, alert)
    assert mode(op, "everyone-bot") == "require_approval"
    post(am, {**alert, "status": "resolved"})
    assert mode(op, "everyone-bot") == "normal"


def test_two_replicas_of_an_ha_pair_sending_at_once_hold_once(clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, op = clients
    alert = am_alert("5a", {"alertname": "Twice", "takeover": "read_only", "agent": "ha-bot"})
    answers: list[int] = []

    def send() -> None:
        answers.append(am.post("/v1/alertmanager", json=payload(alert)).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200] * 6
    assert len(op.get("/v1/agents/ha-bot/control").json()["sources"]) == 1
    op.post("/v1/agents/ha-bot/release", json={"reason": "done"})


@pytest.mark.parametrize("body", [
    b"not json",
    {"version": "3", "status": "firing", "receiver": "r", "alerts": []},  # an old payload version
    {"version": "4", "status": "firing", "receiver": "r"},  # no alerts
    payload({**am_alert("6a", {"alertname": "Bad", "takeover": "read_only", "agent": "bad-bot"}), "fingerprint": "z!"}),
    payload({**am_alert("6b", {"alertname": "Bad", "takeover": "read_only", "agent": "bad-bot"}), "status": "pending"}),
    payload(am_alert("6c", {"takeover": "read_only", "agent": "bad-bot"})),  # no alertname
    payload(am_alert("6d", {"alertname": "Bad", "takeover": "read_only", "agent": "bad-bot", "x": "a\x00b"})),
    payload(am_alert("6e", {"alertname": "Bad", "takeover": "read_only", "agent": "bad-bot"}),
            {**am_alert("6f", {"alertname": "Bad"}), "startsAt": "yesterday"}),  # one bad alert: nothing changes
])
def test_a_bad_payload_gets_a_4xx_that_says_it_is_not_retried_and_changes_nothing(
        clients: tuple[httpx.Client, httpx.Client], body: Any) -> None:
    am, op = clients
    answer = am.post("/v1/alertmanager", content=body) if isinstance(body, bytes) else \
        am.post("/v1/alertmanager", json=body)
    assert 400 <= answer.status_code < 500 and answer.status_code != 429, answer.text
    if answer.status_code == 422:
        assert "does not retry" in answer.text
    assert mode(op, "bad-bot") == "unknown"


def test_only_an_alertmanager_token_posts(server: Server, clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, op = clients
    body = payload(am_alert("7a", {"alertname": "Who", "takeover": "read_only", "agent": "who-bot"}))
    assert httpx.post(f"{server.url}/v1/alertmanager", json=body).status_code == 401
    assert op.post("/v1/alertmanager", json=body).status_code == 403
    assert mode(op, "who-bot") == "unknown"
    assert am.get("/v1/agents").status_code == 403  # the webhook's token reads nothing
    assert am.post("/v1/agents/who-bot/release", json={"reason": "x"}).status_code == 403


def test_an_alertmanager_token_does_not_open_the_console(server: Server) -> None:
    token = server.token("--role", "alertmanager", "--name", "am-console")
    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/ui/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        answer = browser.post("/ui/login", data={"csrf": csrf.group(1), "token": token, "next": "/ui/"})
        assert answer.status_code == 403 and "does not open the console" in answer.text


def test_an_ha_pair_on_postgresql_holds_once(postgres_url: str, tmp_path: Path) -> None:
    """Two notifications of one alert at once, on two replicas: the row lock makes one the first."""
    (tmp_path / "rules.yml").write_text("groups: []\n")
    env = {"TAKEOVER_DATABASE_URL": postgres_url, "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
           "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}
    replicas = [start_server(env, log=tmp_path / f"serve{i}.log") for i in range(2)]
    try:
        token = replicas[0].token("--role", "alertmanager", "--name", "am-ha")
        operator = replicas[0].token("--role", "operator", "--name", "am-ha-op")
        body = payload(am_alert("8a", {"alertname": "Twice", "takeover": "read_only", "agent": "pg-bot"}))
        answers: list[str] = []

        def send(url: str) -> None:
            answer = httpx.post(f"{url}/v1/alertmanager", json=body, headers={"Authorization": f"Bearer {token}"})
            answers.append(answer.json()["alerts"][0]["step"] if answer.status_code == 200 else answer.text)

        threads = [threading.Thread(target=send, args=(r.url,)) for r in replicas for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == ["fire"] + ["repeat"] * 5
        control = httpx.get(f"{replicas[1].url}/v1/agents/pg-bot/control",
                            headers={"Authorization": f"Bearer {operator}"}).json()
        assert control["mode"] == "read_only" and len(control["sources"]) == 1
    finally:
        for r in replicas:
            stop_server(r)


def test_the_console_shows_the_alert_and_its_timeline(server: Server, clients: tuple[httpx.Client, httpx.Client]) -> None:
    am, _ = clients
    post(am, am_alert("9a", {"alertname": "TimelineShown", "takeover": "read_only", "agent": "tl-bot"}))
    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/ui/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        token = server.token("--role", "operator", "--name", "tl-op")
        assert browser.post("/ui/login", data={"csrf": csrf.group(1), "token": token, "next": "/ui/"}).status_code == 303
        listing = browser.get("/ui/alerts").text
        links = re.findall(r'href="(/ui/alerts/\d+/timeline)"', listing)
        pages = [browser.get(link).text for link in links]
        page = next(p for p in pages if "TimelineShown" in p)
        assert "active in Alertmanager" in page and "alertmanager:TimelineShown" in page and "read_only" in page


@pytest.mark.parametrize(("state", "resolved_at", "last_sent", "now", "expected"), [
    ("pending", None, None, 100.0, False),  # Prometheus never sends a pending alert
    ("firing", None, None, 100.0, True),  # first time: at once
    ("firing", None, 90.0, 100.0, False),  # sent 10 s ago: wait for the resend delay
    ("firing", None, 40.0, 100.0, True),  # a minute passed: again
    ("inactive", 95.0, 90.0, 100.0, True),  # resolved since it was sent: at once
    ("inactive", 95.0, 96.0, 100.0, False),  # the resolve was sent
])
def test_needs_sending_is_prometheus_predicate(state: str, resolved_at: float | None, last_sent: float | None,
                                               now: float, expected: bool) -> None:
    assert needs_sending(state=state, resolved_at=resolved_at, last_sent=last_sent, now=now) is expected


def test_an_unreachable_alertmanager_is_reported_and_tried_again_after_a_backoff(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:

    engine = store.make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", migrate=True)
    with Session(engine) as s:
        s.add(AlertRow(group_key="g", rule_key="r", fingerprint="f", labels={"alertname": "A"}, annotations={},
                       state="firing", value=1.0, active_at=1.0, fired_at=1.0))
        s.commit()
    sender = AlertmanagerSender([f"http://127.0.0.1:{free_port()}"], lambda: Session(engine), timeout=2)
    assert sender.run(now=100.0) == 0
    assert "could not post 1 alert(s) to Alertmanager" in caplog.text
    assert sender.run(now=100.5) == 0 and caplog.text.count("could not post") == 1  # backing off: not tried
    assert sender.run(now=101.0) == 0 and caplog.text.count("could not post") == 2  # tried again
    engine.dispose()
