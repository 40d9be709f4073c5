"""Time to takeover, end to end: a metric crosses the threshold → the agent's SDK refuses a write.

    .venv/bin/python bench/time_to_takeover.py

A real Prometheus (scrape_interval 1s) scrapes a gauge this script serves; a real `takeover
serve` (SQLite in a temp dir) evaluates one rule (`for: 0s`, group `interval: 1s`,
`takeover: read_only`) for agent `bench-agent`; an SDK `Client` follows that agent (background
long-poll). Each trial sets the gauge over the threshold at t0, then asks
`guard(kind="write")` every 10 ms until it raises ReadOnly.

The floor is set by the two clocks the change must wait for: the next scrape (up to
scrape_interval) and then the next evaluation slot (up to the group interval). The ratio is
end-to-end / (scrape_interval + group interval), the worst case of those two waits: below 1
means takeover added less than the unluckiest phase would. The eval wait is nearly constant in
a run, because Prometheus's scrape offset and takeover's group offset are both fixed by hashes.

takeover's own share is measured twice: per trial, from the evaluation slot to the refusal
(query + evaluate + database + the guard's request); and alone, from an operator's
`PUT /v1/agents/{agent}/control {"mode": "read_only"}` to the refusal, beside a plain guard
call in normal mode as its baseline.
"""

from __future__ import annotations

import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from procs import ACTOR, ROOT, SERVER_CPU, print_rows, processes, temp_dir, wait_healthy
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from sqlmodel import Session

from takeover import store
from takeover.control.principal import new_token
from takeover.sdk import Client, ReadOnly
from takeover.tools.promproc import free_port, running_prometheus, scrape_config

AGENT = "bench-agent"
THRESHOLD = 10.0
SCRAPE_INTERVAL = 1.0
GROUP_INTERVAL = 1.0
TRIALS = 5
POLL = 0.010  # seconds between guard calls
TIMEOUT = 15.0  # seconds one wait may take before the trial fails
RULES = f"""\
groups:
  - name: time-to-takeover
    interval: {GROUP_INTERVAL:g}s
    rules:
      - alert: BenchValueHigh
        expr: bench_ttt_value{{agent="{AGENT}"}} > {THRESHOLD:g}
        for: 0s
        labels: {{owner: team-bench, severity: page, takeover: read_only}}
        annotations:
          summary: "{{{{ $labels.agent }}}} value is {{{{ $value }}}}"
          runbook_url: https://runbooks.example.com/bench
          first_check: Look at the bench gauge.
"""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Server:
    """The running server, asked as an operator through one kept-alive client (a new httpx
    client per request would add ~30 ms of TLS setup to every PUT measured)."""

    url: str
    http: httpx.Client

    def set_mode(self, mode: str) -> None:
        response = self.http.put(f"/v1/agents/{AGENT}/control", json={"mode": mode, "reason": "bench"})
        response.raise_for_status()

    def firing(self) -> bool:
        alerts = self.http.get("/v1/alerts").json()
        return any(a["state"] == "firing" and a["labels"].get("alertname") == "BenchValueHigh" for a in alerts)

    def alert_slot(self) -> float:
        """The evaluation slot that fired: the alert source's `since` in the control document."""
        document = self.http.get(f"/v1/agents/{AGENT}/control").json()
        return min(float(s["since"]) for s in document["sources"] if s["kind"] == "alert")

    def evaluation_time(self) -> float:
        """Seconds the group's last evaluation took, by takeover's own /v1/rules."""
        return float(self.http.get("/v1/rules").json()["groups"][0]["evaluationTime"])


@dataclass(frozen=True)
class Trial:
    """Seconds from t0 (the gauge set, or the PUT sent)."""

    refused: float  # guard raised ReadOnly
    document: float  # the SDK's cached document (long-poll) said read_only
    scraped: float = 0.0  # the first sample over the threshold was scraped
    slot: float = 0.0  # the evaluation slot that fired the alert
    evaluation: float = 0.0  # seconds that evaluation took (evaluate_group, by /v1/rules)
    answered: float = 0.0  # the operator's PUT returned


@contextmanager
def exporter() -> Iterator[tuple[str, Gauge]]:
    registry = CollectorRegistry()
    gauge = Gauge("bench_ttt_value", "set by bench/time_to_takeover.py", ["agent"], registry=registry)
    gauge.labels(agent=AGENT).set(0)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}", gauge
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def tokens(db: str) -> tuple[str, str]:
    """An operator token and one for the agent, written before the server starts."""
    engine = store.make_engine(db)
    operator, agent, now = new_token(), new_token(), time.time()
    with Session(engine) as session:
        store.create_token(session=session, name="bench-op", role="operator", agents=[], actor=ACTOR,
                           token=operator, now=now)
        store.create_token(session=session, name=AGENT, role="agent", agents=[AGENT], actor=ACTOR,
                           token=agent, now=now)
        store.ensure_agent(session=session, name=AGENT, now=now)
        session.commit()
    engine.dispose()
    return operator, agent


def wait(what: str, condition: Callable[[], bool], *, every: float = 0.02) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {TIMEOUT}s waiting until {what}")
        time.sleep(every)


def refuses(client: Client) -> bool:
    try:
        with client.guard(kind="write", action="bench-write"):
            return False
    except ReadOnly:
        return True


def mode(client: Client) -> str | None:
    document = client.document
    return None if document is None else str(document.get("mode"))


def watch(client: Client, t0: float) -> tuple[float, float]:
    """Guard every POLL seconds until it refuses, noting when the cached document changed too."""
    refused = document = None
    deadline = t0 + TIMEOUT
    while refused is None or document is None:
        if document is None and mode(client) == "read_only":
            document = time.monotonic() - t0
        if refused is None and refuses(client):
            refused = time.monotonic() - t0
        if time.monotonic() > deadline:
            raise RuntimeError(f"no takeover within {TIMEOUT}s (refused {refused}, document {document})")
        time.sleep(POLL)
    return refused, document


def reset(server: Server, client: Client, gauge: Gauge | None) -> None:
    """Back to a quiet start: gauge low, alert resolved, agent handed back, SDK and guard normal."""
    if gauge is not None:
        gauge.labels(agent=AGENT).set(0)
        wait("the alert resolved", lambda: not server.firing(), every=0.1)
    server.set_mode("normal")
    wait("the SDK saw normal", lambda: mode(client) == "normal")
    wait("the guard allowed a write", lambda: not refuses(client))


def first_scrape_over(prometheus: str, since: float) -> float:
    """Timestamp of the first sample over the threshold after the last one below it before
    `since`. A scrape that started just before `since` may have read the new value: its
    timestamp (the scrape's start) is then a few ms before `since`."""
    answer = httpx.get(f"{prometheus}/api/v1/query", timeout=10,
                       params={"query": f'bench_ttt_value{{agent="{AGENT}"}}[30s]'}).json()
    values = sorted((float(ts), float(v)) for ts, v in answer["data"]["result"][0]["values"])
    low = max((ts for ts, v in values if v <= THRESHOLD and ts < since), default=0.0)
    return min(ts for ts, v in values if ts > low)


def scraped(prometheus: str) -> bool:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": "bench_ttt_value"}, timeout=10).json()
    return bool(answer["data"]["result"])


def end_to_end(server: Server, client: Client, gauge: Gauge, prometheus: str) -> Trial:
    time.sleep(random.uniform(0, SCRAPE_INTERVAL))  # a random phase against the scrape and the slots
    wall, t0 = time.time(), time.monotonic()
    gauge.labels(agent=AGENT).set(THRESHOLD * 4)
    refused, document = watch(client, t0)
    return Trial(refused, document, first_scrape_over(prometheus, wall) - wall, server.alert_slot() - wall,
                 server.evaluation_time())


def control_plane(server: Server, client: Client) -> Trial:
    time.sleep(random.uniform(0, 0.2))
    answered: list[float] = []

    def take_over() -> None:
        server.set_mode("read_only")
        answered.append(time.monotonic() - t0)

    t0 = time.monotonic()
    put = threading.Thread(target=take_over)
    put.start()
    refused, document = watch(client, t0)
    put.join()
    return Trial(refused, document, answered=answered[0])


def guard_call(client: Client, calls: int = 50) -> float:
    """Median seconds of one allowed guard call (normal mode)."""
    times = []
    for _ in range(calls):
        started = time.monotonic()
        if refuses(client):
            raise RuntimeError("the guard refused in normal mode")
        times.append(time.monotonic() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Result:
    e2e: list[Trial]
    control: list[Trial]
    guard: float


def measure(trials: int = TRIALS) -> Result:
    with processes() as procs, temp_dir() as tmp_name, exporter() as (target, gauge):
        tmp = Path(tmp_name)
        with running_prometheus(scrape_config([target], interval=f"{SCRAPE_INTERVAL:g}s", job="bench")) as prom:
            db = f"sqlite:///{tmp / 'takeover.db'}"
            (tmp / "rules.yml").write_text(RULES)
            operator, agent_token = tokens(db)
            port = free_port()
            env = {"TAKEOVER_DATABASE_URL": db, "TAKEOVER_RULES": str(tmp / "rules.yml"),
                   "TAKEOVER_TEMPLATES": str(ROOT / "templates"), "TAKEOVER_PROMETHEUS_URL": prom,
                   "TAKEOVER_HOST": "127.0.0.1", "TAKEOVER_PORT": str(port)}
            process = procs.start([sys.executable, "-m", "takeover", "serve"], cpu=SERVER_CPU, env=env,
                                  log=tmp / "serve.log")
            url = f"http://127.0.0.1:{port}"
            wait_healthy(f"{url}/healthz", process, log=tmp / "serve.log")
            wait("Prometheus scraped the gauge", lambda: scraped(prom), every=0.1)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {operator}"}, timeout=10) as http, \
                    Client(url, token=agent_token, agent=AGENT) as client:
                server = Server(url, http)
                reset(server, client, gauge)
                guard = guard_call(client)
                e2e = []
                for i in range(trials):
                    e2e.append(end_to_end(server, client, gauge, prom))
                    log(f"end to end {i + 1}/{trials}: refused after {e2e[-1].refused:.3f}s")
                    reset(server, client, gauge)
                control = []
                for i in range(trials):
                    control.append(control_plane(server, client))
                    log(f"control plane {i + 1}/{trials}: refused after {control[-1].refused * 1000:.1f} ms")
                    reset(server, client, None)
    return Result(e2e, control, guard)


def rows(result: Result) -> list[dict[str, Any]]:
    floor = SCRAPE_INTERVAL + GROUP_INTERVAL
    e2e = [t.refused for t in result.e2e]
    scrape = statistics.median(t.scraped for t in result.e2e)
    slot = statistics.median(t.slot - t.scraped for t in result.e2e)
    share = [t.refused - t.slot for t in result.e2e]
    pushed = statistics.median(t.document - t.slot for t in result.e2e)
    evaluation = statistics.median(t.evaluation for t in result.e2e)
    control = [t.refused for t in result.control]
    control_doc = statistics.median(t.document for t in result.control)
    answered = statistics.median(t.answered for t in result.control)
    breakdown = (f"median waits: scrape {scrape * 1000:.0f} ms, then eval slot {slot * 1000:.0f} ms, "
                 f"then takeover's share (slot → refused) {statistics.median(share) * 1000:.0f} ms "
                 f"(max {max(share) * 1000:.0f}; the evaluation itself {evaluation * 1000:.0f} ms); SDK document (long-poll) {pushed * 1000:.0f} ms after the slot; "
                 f"expected ≈ 0.5 s scrape + 0.5 s slot on average, ≤ {floor:g} s at worst, plus the share")
    def row(name: str, value: float, baseline: float, unit: str, note: str) -> dict[str, Any]:
        return {"benchmark": name, "takeover": round(value, 3), "baseline": round(baseline, 3),
                "ratio": round(value / baseline, 2), "unit": unit, "note": note}
    n = len(e2e)
    return [
        row(f"time to takeover, end to end, p50 of {n}", statistics.median(e2e), floor, "s",
            f"baseline = scrape_interval {SCRAPE_INTERVAL:g} s + group interval {GROUP_INTERVAL:g} s; {breakdown}"),
        row(f"time to takeover, end to end, max of {n}", max(e2e), floor, "s", "same baseline"),
        row(f"operator PUT → guard refuses, p50 of {len(control)}", statistics.median(control) * 1000,
            result.guard * 1000, "ms",
            f"takeover's own share; max {max(control) * 1000:.1f} ms; the PUT answered after "
            f"{answered * 1000:.1f} ms; SDK document (long-poll) after "
            f"{control_doc * 1000:.1f} ms; baseline = one allowed guard call (p50); guard polled every "
            f"{POLL * 1000:g} ms"),
    ]


def main() -> list[dict[str, Any]]:
    return rows(measure())


if __name__ == "__main__":
    print_rows(main)
