"""Benchmark 2: 1,000 agents long-polling; one change; how soon each agent hears of it.

Each agent polls once for its ETag, then long-polls with `If-None-Match`. Once every long-poll
is held, the trigger (an operator's global override) is sent; an agent's latency is the time
from just before the trigger is sent to the moment its long-poll has returned the new mode.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from rawpoll import long_poll as raw_long_poll

SETTLE_SECONDS = 1.0  # after the last long-poll is sent, for the server to hold them all
TLS = ssl.create_default_context()  # shared: httpx builds one per client otherwise (~15 ms each)

Trigger = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
Answer = tuple[float, int, bytes]  # perf_counter when the long-poll returned, status, body


@dataclass(frozen=True)
class Poller:
    path: str
    headers: dict[str, str]
    base: str | None = None  # the server this agent polls, when not fan_out's base_url (replicas)


@dataclass(frozen=True)
class Round:
    agents: int
    latencies_ms: list[float]  # of the long-polls that returned 200 with the new mode
    early: int  # long-polls that returned before the trigger (should be 0)


@dataclass(frozen=True)
class FanOutResult:
    """Several rounds pooled: percentiles over every agent of every round."""

    rounds: int
    agents: int
    saw_change: int  # in the worst round
    early: int  # over all rounds
    first_ms: float  # median over rounds of the first agent told
    p50_ms: float
    p99_ms: float
    max_ms: float


def summarize(rounds: list[Round]) -> FanOutResult:
    pooled = [ms for r in rounds for ms in r.latencies_ms]
    return FanOutResult(
        rounds=len(rounds), agents=rounds[0].agents, saw_change=min(len(r.latencies_ms) for r in rounds),
        early=sum(r.early for r in rounds), first_ms=statistics.median(min(r.latencies_ms) for r in rounds),
        p50_ms=statistics.median(pooled), p99_ms=percentile(pooled, 99), max_ms=max(pooled))


async def httpx_poll(stack: AsyncExitStack, base_url: str, poller: Poller,
                     polled: Callable[[], None]) -> Answer:
    """One agent as the SDK would be: its own AsyncClient (closed after the measurement)."""
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=60.0, verify=TLS))
    first = await client.get(poller.path, headers=poller.headers)
    first.raise_for_status()
    polled()
    response = await client.get(poller.path, params={"wait": "30s"},
                                headers={**poller.headers, "If-None-Match": first.headers["etag"]})
    return time.perf_counter(), response.status_code, response.content


async def raw_poll(stack: AsyncExitStack, base_url: str, poller: Poller,
                   polled: Callable[[], None]) -> Answer:
    return await raw_long_poll(base_url, poller.path, poller.headers, polled)


Poll = Callable[[AsyncExitStack, str, Poller, Callable[[], None]], Coroutine[Any, Any, Answer]]
CLIENTS: dict[str, Poll] = {"httpx": httpx_poll, "raw socket": raw_poll}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def saw(body: bytes, mode: str) -> bool:
    try:
        return bool(json.loads(body).get("mode") == mode)
    except ValueError:
        return False


async def fan_out(base_url: str, pollers: list[Poller], *, trigger: Trigger, poll: Poll,
                  expect_mode: str = "read_only") -> Round:
    """Hold one long-poll per poller, fire `trigger`, and time every poller's return."""
    held = asyncio.Semaphore(0)
    async with AsyncExitStack() as stack:
        operator = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=60.0, verify=TLS))
        tasks = [asyncio.create_task(poll(stack, p.base or base_url, p, held.release)) for p in pollers]
        try:
            for _ in pollers:
                await asyncio.wait_for(held.acquire(), timeout=30)
            await asyncio.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            answer = await trigger(operator)
            answer.raise_for_status()
            answers = await asyncio.wait_for(asyncio.gather(*tasks), timeout=25)
        finally:
            for task in tasks:
                task.cancel()
    latencies = [(at - started) * 1e3 for at, status, body in answers
                 if at >= started and status == 200 and saw(body, expect_mode)]
    if not latencies:
        raise RuntimeError(f"no long-poll saw {expect_mode}: {answers[:3]}")
    return Round(len(pollers), latencies, early=sum(1 for at, _, _ in answers if at < started))


def takeover_pollers(tokens: dict[str, str]) -> list[Poller]:
    return [Poller(f"/v1/agents/{name}/control", {"Authorization": f"Bearer {token}"})
            for name, token in tokens.items()]


def bare_pollers(count: int) -> list[Poller]:
    """The same requests, headers included, against the bare long-poll app."""
    return [Poller(f"/v1/agents/agent-{i:04d}/control", {"Authorization": "Bearer tko_bare"})
            for i in range(count)]


def takeover_override(operator_token: str) -> Trigger:
    """The operator's global override: every agent to read_only."""
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/agents/*/sources", json={"mode": "read_only", "reason": "bench"},
                                 headers={"Authorization": f"Bearer {operator_token}"})
    return send


async def bare_trigger(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/trigger", json={"mode": "read_only", "reason": "bench"})
