"""Console page render time beside the JSON API for the same data: 1,000 agents (100 held out of
normal) and 500 pending approvals.

    .venv/bin/python bench/console.py      (about 3 minutes; not part of make bench)

One `takeover serve` on SQLite (as run.py starts it, pinned to one core; the client on the
other), its database seeded in one transaction. A signed-in client asks, one request at a time,
for the overview (`/ui/`) and the approvals queue (`/ui/approvals`), and for the JSON the same
page shows: for the overview `GET /v1/agents` then `GET /v1/approvals?status=pending&limit=500`
back to back, for the queue (a page of 50, the oldest) `GET /v1/approvals?status=pending&limit=50`. Requests alternate
page / API so both see the same machine; each figure is a request's time as the client on
loopback sees it (server time plus a loopback round trip), p50 and p99 of ROUNDS.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from procs import CLIENT_CPU, Takeover, print_rows, processes, seed, serve, temp_dir
from sqlmodel import Session

from takeover import store
from takeover.config.mode import Mode
from takeover.control.sources import Source, SourceKind

AGENTS = 1000
HELD = 100  # agents an operator holds out of normal
PENDING = 500
QUEUE_PAGE = 50  # the console's queue shows the oldest 50 and pages (takeover.server.console.pages.QUEUE)
ROUNDS = 200  # requests of each kind


def fill(database_url: str) -> None:
    """Hold HELD agents in read_only and open PENDING approval requests (their audit rows too)."""
    engine = store.make_engine(database_url)
    now = time.time()
    with Session(engine) as session:
        for i in range(HELD):
            store.add_source(session=session, now=now, source=Source(
                agent=f"agent-{i:04d}", mode=Mode.read_only, kind=SourceKind.override, ref="operator:bench",
                reason="bench: held for the console", actor="operator:bench", since=now))
        for i in range(PENDING):
            agent = f"agent-{i * 2 % AGENTS:04d}"
            store.create_approval(session=session, agent=agent, action="refund", kind="write", risk="high",
                                  args={"order": f"B-{i}", "amount": i % 300, "currency": "EUR"},
                                  reason="bench: a refund over the limit", requested_by=f"agent:{agent}",
                                  now=now + i / 1000, expires_at=now + 86400, responders=["role:operator"],
                                  idempotency_key=f"bench-{i}")
        session.commit()
    engine.dispose()


def sign_in(server: Takeover) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60)
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    answer = client.post("/ui/login", data={"csrf": csrf.group(1), "token": server.operator})
    assert answer.status_code == 303, answer.text
    return client


def timed(client: httpx.Client, paths: list[str], headers: dict[str, str]) -> tuple[float, int]:
    """Seconds for `paths` asked back to back, and the bytes they answered."""
    started, size = time.perf_counter(), 0
    for path in paths:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        size += len(answer.content)
    return time.perf_counter() - started, size


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(server: Takeover) -> list[dict[str, Any]]:
    client = sign_in(server)
    api = {"Authorization": f"Bearer {server.operator}"}
    pending = f"/v1/approvals?status=pending&limit={PENDING}"
    queue_page = f"/v1/approvals?status=pending&limit={QUEUE_PAGE}"
    views = {"overview": (["/ui/"], ["/v1/agents", pending]), "approvals queue": (["/ui/approvals"], [queue_page])}
    rows = []
    try:
        for name, (page, data) in views.items():
            timed(client, page, {})  # warm: templates compiled, caches filled
            timed(client, data, api)
            pages: list[float] = []
            apis: list[float] = []
            for _ in range(ROUNDS):
                seconds, page_bytes = timed(client, page, {})
                pages.append(seconds)
                seconds, api_bytes = timed(client, data, api)
                apis.append(seconds)
            for label, q in (("p50", 0.5), ("p99", 0.99)):
                mine, base = p(pages, q) * 1000, p(apis, q) * 1000
                rows.append({"benchmark": f"console {name} {label}", "takeover": f"{mine:.1f}",
                             "baseline": f"{base:.1f}", "ratio": f"{mine / base:.2f}x", "unit": "ms",
                             "note": f"page {page_bytes // 1024} KiB vs JSON {api_bytes // 1024} KiB "
                                     f"({' + '.join(data)}); mean {statistics.fmean(pages) * 1000:.1f} "
                                     f"vs {statistics.fmean(apis) * 1000:.1f} ms, {ROUNDS} rounds"})
    finally:
        client.close()
    return rows


def main() -> list[dict[str, Any]]:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})  # the server is pinned to the other core
    with processes() as procs, temp_dir() as tmp:
        db = f"sqlite:///{Path(tmp) / 'takeover.db'}"
        operator, agents = seed(db, [f"agent-{i:04d}" for i in range(AGENTS)])
        fill(db)
        server = serve(procs, Path(tmp), database_url=db, operator=operator, agents=agents)
        return measure(server)


if __name__ == "__main__":
    print_rows(main)
