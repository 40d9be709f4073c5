"""A real Alertmanager (Debian's prometheus-alertmanager 0.25) beside a real `takeover serve`:
an alert pushed into Alertmanager's `/api/v2/alerts` is routed to takeover's webhook and holds
the agent; resolving it releases as documented. takeover's own alerts (a real Prometheus, a
rule) appear in Alertmanager's API with their labels and resolve there."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover.tools.promproc import free_port, stop_process
from tests.conftest import Exporter, Server, need, start_server, stop_server

pytestmark = pytest.mark.slow
BINARY = "prometheus-alertmanager"  # Debian's name; upstream's is `alertmanager`


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]

    def push(self, labels: dict[str, str], *, annotations: dict[str, str] | None = None,
             resolved: bool = False) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ends = now - datetime.timedelta(seconds=1) if resolved else now + datetime.timedelta(minutes=5)
        alert = {"labels": labels, "annotations": annotations or {"summary": "pushed by the test"},
                 "startsAt": (now - datetime.timedelta(minutes=1)).isoformat(), "endsAt": ends.isoformat()}
        assert httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200

    def alerts(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/api/v2/alerts", timeout=5).json()  # type: ignore[no-any-return]


def binary() -> str:
    found = shutil.which(BINARY) or shutil.which("alertmanager")
    if found is None:
        need(f"{BINARY} not found on PATH: apt-get install prometheus-alertmanager (scripts/ensure-alertmanager)")
    assert found is not None
    return found


def start_alertmanager(tmp: Path, *, port: int, webhook: str | None = None, token: str = "") -> Alertmanager:
    """Alertmanager on a free loopback port, no cluster, a throwaway data directory, one route
    to takeover's webhook with short timings (group_wait 1s); without a webhook, a receiver that sends nothing."""
    (tmp / "token").write_text(token)
    config = "route: {receiver: nowhere}\nreceivers: [{name: nowhere}]\n" if webhook is None else f"""
route:
  receiver: takeover
  group_by: [alertname, agent]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1m
receivers:
  - name: takeover
    webhook_configs:
      - url: {webhook}/v1/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: {tmp / 'token'}
"""
    (tmp / "alertmanager.yml").write_text(config)
    (tmp / "data").mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    with open(tmp / "alertmanager.log", "wb") as out:
        process = subprocess.Popen([binary(), f"--config.file={tmp / 'alertmanager.yml'}",
                                    f"--storage.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                    "--cluster.listen-address=", f"--web.external-url={url}"],
                                   stdout=out, stderr=subprocess.STDOUT)
    eventually(lambda: process.poll() is None and _ready(url), timeout=20,
               what=lambda: (tmp / "alertmanager.log").read_text())
    return Alertmanager(url, process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def eventually(check: Callable[[], Any], *, timeout: float, what: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what()[-3000:]}")


@dataclass
class Stack:
    takeover: Server
    alertmanager: Alertmanager
    operator: httpx.Client

    def mode(self, agent: str) -> str:
        answer = self.operator.get(f"/v1/agents/{agent}/control")
        return str(answer.json()["mode"]) if answer.status_code == 200 else "unknown"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, prometheus: str) -> Iterator[Stack]:
    binary()
    tmp = tmp_path_factory.mktemp("am-e2e")
    (tmp / "rules.yml").write_text("""
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: TakeoverSideAlert
        expr: takeover_test_value{case="am-e2e"} > 0
        labels: {owner: agents-oncall, severity: page, takeover: read_only}
        annotations: {summary: "from takeover's own rule", runbook_url: "https://runbooks.example.com/x",
                      first_check: "look at the exporter", takeover_release: on_resolve}
""")
    port = free_port()
    server = start_server({"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp / 'takeover.db'}",
                           "TAKEOVER_RULES": str(tmp / "rules.yml"), "TAKEOVER_PROMETHEUS_URL": prometheus,
                           "TAKEOVER_ALERTMANAGER_URL": f"http://127.0.0.1:{port}",
                           "TAKEOVER_PUBLIC_URL": "https://takeover.example.com"}, log=tmp / "serve.log")
    am = start_alertmanager(tmp, port=port, webhook=server.url,
                            token=server.token("--role", "alertmanager", "--name", "am-e2e"))
    with httpx.Client(base_url=server.url, headers={
            "Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'am-e2e-op')}"}) as op:
        yield Stack(server, am, op)
    stop_process(am.process)
    stop_server(server)


def test_an_alert_routed_by_alertmanager_holds_the_agent_until_it_resolves_as_documented(stack: Stack) -> None:
    am = stack.alertmanager
    held = {"alertname": "RoutedByAM", "takeover": "read_only", "agent": "am-bot", "owner": "payments"}
    am.push(held)
    eventually(lambda: stack.mode("am-bot") == "read_only", timeout=10, what=stack.takeover.output)
    am.push(held)  # Prometheus re-sends every minute: Alertmanager and takeover take it once
    sources = stack.operator.get("/v1/agents/am-bot/control").json()["sources"]
    assert len(sources) == 1 and sources[0]["actor"] == "alertmanager:RoutedByAM"
    am.push(held, resolved=True)
    eventually(lambda: any(a["labels"].get("alertname") == "RoutedByAM" and a["state"] == "inactive"
                           for a in stack.operator.get("/v1/alerts").json()), timeout=10, what=stack.takeover.output)
    assert stack.mode("am-bot") == "read_only"  # no on_resolve: held until a human releases it

    released = {"alertname": "RoutedAndReleased", "takeover": "pause_writes", "agent": "am-bot2"}
    on_resolve = {"summary": "releases on resolve", "takeover_release": "on_resolve"}
    am.push(released, annotations=on_resolve)
    eventually(lambda: stack.mode("am-bot2") == "pause_writes", timeout=10, what=stack.takeover.output)
    am.push(released, annotations=on_resolve, resolved=True)
    eventually(lambda: stack.mode("am-bot2") == "normal", timeout=10, what=stack.takeover.output)


def test_takeovers_own_alert_appears_in_alertmanager_and_resolves(stack: Stack, exporter: Exporter) -> None:
    def mine() -> list[dict[str, Any]]:
        return [a for a in stack.alertmanager.alerts() if a["labels"].get("alertname") == "TakeoverSideAlert"]

    exporter.set(1, case="am-e2e", agent="side-bot")
    found = eventually(mine, timeout=20, what=stack.takeover.output)[0]
    assert found["labels"] == {"alertname": "TakeoverSideAlert", "owner": "agents-oncall", "severity": "page",
                               "takeover": "read_only", "agent": "side-bot", "case": "am-e2e",
                               "instance": found["labels"]["instance"], "job": found["labels"]["job"]}
    assert found["annotations"]["runbook_url"] == "https://runbooks.example.com/x"
    assert found["annotations"]["first_check"] == "look at the exporter"
    assert found["generatorURL"].startswith("https://takeover.example.com/ui/alerts/")
    assert stack.mode("side-bot") == "read_only"
    # routed back to takeover's webhook, it is recognised as takeover's own: one hold, not two
    assert len(stack.operator.get("/v1/agents/side-bot/control").json()["sources"]) == 1
    exporter.set(0, case="am-e2e", agent="side-bot")
    eventually(lambda: not mine(), timeout=20, what=stack.takeover.output)
    eventually(lambda: stack.mode("side-bot") == "normal", timeout=10)
