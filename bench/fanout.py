"""Benchmark 2: 1,000 agents long-polling; one change; how soon each agent hears of it.

Each agent polls once for its ETag, then long-polls with `If-None-Match`. Once every long-poll
is held, the trigger (an operator's global override) is sent; an agent's latency is the time
from just before the trigger is sent to the moment its long-poll has returned the new mode.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

SETTLE_SECONDS = 1.0  # after the last long-poll is sent, for the server to hold them all

Trigger = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Poller:
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class FanOutResult:
    agents: int
    saw_change: int  # long-polls that returned 200 with the expected mode
    early: int  # long-polls that returned before the trigger (should be 0)
    p50_ms: float
    p99_ms: float
    max_ms: float
    trigger_ms: float  # the operator's own request, sent to answered


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


async def _poll(client: httpx.AsyncClient, poller: Poller, polled: asyncio.Queue[None],
                sent: asyncio.Event) -> tuple[float, httpx.Response]:
    first = await client.get(poller.path, headers=poller.headers)
    first.raise_for_status()
    polled.put_nowait(None)
    response = await client.get(poller.path, params={"wait": "30s"},
                                headers={**poller.headers, "If-None-Match": first.headers["etag"]})
    returned = time.perf_counter()
    if not sent.is_set():
        returned = -1.0  # came back before the change: counted as early, not as a latency
    return returned, response


async def fan_out(base_url: str, pollers: list[Poller], *, trigger: Trigger,
                  expect_mode: str = "read_only") -> FanOutResult:
    """Hold one long-poll per poller, fire `trigger`, and time every poller's return."""
    # one client per agent, as real agents have: an httpx pool checks every one of its
    # connections on each request, so one pool of 1,000 would measure httpcore, not the server
    tls = ssl.create_default_context()  # shared: building one per client costs ~15 ms each
    clients = [httpx.AsyncClient(base_url=base_url, timeout=60.0, verify=tls) for _ in pollers]
    operator = httpx.AsyncClient(base_url=base_url, timeout=60.0, verify=tls)
    polled: asyncio.Queue[None] = asyncio.Queue()
    sent = asyncio.Event()
    try:
        tasks = [asyncio.create_task(_poll(c, p, polled, sent))
                 for c, p in zip(clients, pollers)]
        for _ in pollers:
            await polled.get()
        await asyncio.sleep(SETTLE_SECONDS)
        sent.set()
        started = time.perf_counter()
        answer = await trigger(operator)
        trigger_ms = (time.perf_counter() - started) * 1e3
        answer.raise_for_status()
        results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=25)
    finally:
        for c in [*clients, operator]:
            await c.aclose()
    latencies = [(at - started) * 1e3 for at, r in results
                 if at > 0 and r.status_code == 200 and r.json().get("mode") == expect_mode]
    if not latencies:
        raise RuntimeError(f"no long-poll saw {expect_mode}: {[r for _, r in results][:3]}")
    return FanOutResult(
        agents=len(pollers), saw_change=len(latencies), early=sum(1 for at, _ in results if at < 0),
        p50_ms=statistics.median(latencies), p99_ms=percentile(latencies, 99),
        max_ms=max(latencies), trigger_ms=trigger_ms)


def takeover_pollers(tokens: dict[str, str]) -> list[Poller]:
    return [Poller(f"/v1/agents/{name}/control", {"Authorization": f"Bearer {token}"})
            for name, token in tokens.items()]


def bare_pollers(count: int) -> list[Poller]:
    """The same requests, headers included, against the bare long-poll app."""
    return [Poller(f"/v1/agents/agent-{i:04d}/control", {"Authorization": "Bearer tko_bare"})
            for i in range(count)]


def takeover_override(operator_token: str) -> Trigger:
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/agents/*/sources", json={"mode": "read_only", "reason": "bench"},
                                 headers={"Authorization": f"Bearer {operator_token}"})
    return send


async def bare_trigger(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/trigger", json={"mode": "read_only", "reason": "bench"})
