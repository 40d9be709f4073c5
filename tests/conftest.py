"""Shared fixtures: a real Prometheus scraping a test exporter, a fake Slack, the real server.

In CI (`CI=true`) a missing Prometheus or PostgreSQL fails the tests that need it; elsewhere
PostgreSQL tests are skipped with a reason unless TAKEOVER_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from takeover.tools.promproc import (
    PrometheusMissing,
    binary,
    free_port,
    running_prometheus,
    scrape_config,
)
from tests.fakeslack import FakeSlack, start_fake_slack

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent


def need(reason: str) -> None:
    """Skip outside CI; in CI a missing dependency is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def prometheus_binaries() -> None:
    try:
        binary("prometheus")
        binary("promtool")
    except PrometheusMissing as exc:
        need(str(exc))


@dataclass
class Exporter:
    """Metrics the tests set; Prometheus scrapes them every second."""

    url: str
    gauge: Gauge
    registry: CollectorRegistry = field(repr=False)

    def set(self, value: float, **labels: str) -> None:
        self.gauge.labels(**labels).set(value)


@pytest.fixture(scope="session")
def exporter() -> Exporter:
    registry = CollectorRegistry()
    gauge = Gauge("takeover_test_value", "set by tests", ["case", "agent"], registry=registry)
    port = free_port()
    start_http_server(port, addr="127.0.0.1", registry=registry)
    return Exporter(f"127.0.0.1:{port}", gauge, registry)


@pytest.fixture(scope="session")
def prometheus(prometheus_binaries: None, exporter: Exporter) -> Iterator[str]:
    with running_prometheus(scrape_config([exporter.url], interval="1s")) as url:
        yield url


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake, server = start_fake_slack()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards."""
    url = os.environ.get("TAKEOVER_TEST_DATABASE_URL")
    if not url:
        need("set TAKEOVER_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test to run PostgreSQL tests")
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)  # type: ignore[arg-type]
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "missing"
        admin.dispose()
        need(f"PostgreSQL at TAKEOVER_TEST_DATABASE_URL is not usable: {exc}")
    sep = "&" if "?" in url else "?"  # type: ignore[operator]
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    if request.node.get_closest_marker("empty_database") is None:
        from takeover import store

        store.make_engine(scoped, migrate=True).dispose()  # what `takeover db upgrade` does
    yield scoped
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on the embedded SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'takeover.db'}"
    return str(request.getfixturevalue("postgres_url"))


def takeover_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "takeover", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def token(self, *args: str) -> str:
        result = takeover_cli("token", "create", *args, env=self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


def start_server(env: dict[str, str], *, log: Path, timeout: float = 30.0) -> Server:
    """`takeover serve` as a real process on a free port, output to `log`; waits for /healthz."""
    port = free_port()
    env = {**env, "TAKEOVER_HOST": "127.0.0.1", "TAKEOVER_PORT": str(port)}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "takeover", "serve"], env={**os.environ, **env},
                                   stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"takeover serve exited {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, env, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise AssertionError(f"takeover serve did not become healthy within {timeout}s: {log.read_text()[-2000:]}")


def stop_server(server: Server) -> str:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    return server.output()


ALERTING_RULES = """\
groups:
  - name: console
    interval: 1s
    rules:
      - alert: RefundsFailing
        expr: takeover_test_value{case="console"} > 10
        for: 0s
        labels:
          owner: team-pay
          severity: page
          takeover: read_only
        annotations:
          summary: "{{ $labels.agent }} refunds fail"
          runbook_url: https://runbooks.example.com/refunds
          first_check: Look at the refund provider's status page.
"""


@pytest.fixture
def alerting(tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> Iterator[Server]:
    """`takeover serve` evaluating a rule against a real Prometheus, posting to a fake Slack."""
    (tmp_path / "rules.yml").write_text(ALERTING_RULES)
    (tmp_path / "routing.yml").write_text('group_wait: 0s\ngroup_interval: 1s\nowners:\n  team-pay: {channel: "#pay"}\n')
    srv = start_server({
        "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"), "TAKEOVER_RULES": str(tmp_path / "rules.yml"),
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}", "TAKEOVER_PROMETHEUS_URL": prometheus,
        "TAKEOVER_SLACK_TOKEN": "xoxb-test-token", "TAKEOVER_SLACK_API_URL": fake_slack.url,
        "TAKEOVER_SLACK_CHANNEL": "#pay", "TAKEOVER_DELIVER_INTERVAL": "0.2",
        "TAKEOVER_PUBLIC_URL": "https://takeover.example.com/"}, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def until(fn: Callable[[], Any], ok: Callable[[Any], bool], *, timeout: float = 30.0) -> Any:
    """Call `fn` until `ok` holds for its result; fail with the last result at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if ok(result):
            return result
        assert time.monotonic() < deadline, f"not after {timeout}s: {result}"
        time.sleep(0.1)
