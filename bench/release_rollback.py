"""Release rollback fan-out: 1,000 replicas of one agent long-poll; a person aborts the release;
how soon the last replica routes every key to stable.

    .venv/bin/python bench/release_rollback.py

One `takeover serve` (as run.py starts it) knows one agent, `refund-bot`, and 1,000 raw-socket
long-polls (fanout.py's) follow its control document with its one token, as 1,000 replicas
would. Each round starts a release at 50 %, then times two changes on the same 1,000 pollers,
in alternating order: the baseline, the global override `POST /v1/agents/*/sources` (read_only)
as fanout.py sends it, released again; and `POST /v1/agents/refund-bot/releases/current/abort`.
A replica's latency runs from just before the request is sent to the moment its long-poll has
returned 200 with the release `rolled_back` at `weight_bp` 0 (the override: with `read_only`).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import fanout
import httpx
from procs import CLIENT_CPU, Takeover, print_rows, processes, start_takeover, temp_dir

from takeover.sdk.core import choose_variant

AGENT = "refund-bot"
REPLICAS = 1000
ROUNDS = 3  # pooled, as run.py pools the fan-out
KEYS = [f"user-{i}" for i in range(1000)]  # routed with the SDK's own rule, before and after
RELEASE = {"stable": {"version": "v41"}, "canary": {"version": "v42"}, "steps": [50, 100], "every": "1h"}
ROLLED_BACK = re.compile(rb'"state":"rolled_back","weight_bp":0[,}]')  # the hub's compact JSON


def rolled_back(poll: fanout.Poll) -> fanout.Poll:
    """`poll`, its answer counted (status 200) only if the release is rolled back at weight 0:
    fan_out times 200 answers in normal mode, and the mode does not change in a rollback."""
    async def wrapped(stack: AsyncExitStack, base_url: str, poller: fanout.Poller,
                      polled: Callable[[], None]) -> fanout.Answer:
        at, status, body = await poll(stack, base_url, poller, polled)
        return at, status if ROLLED_BACK.search(body) else 0, body
    return wrapped


def abort(operator_token: str) -> fanout.Trigger:
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"/v1/agents/{AGENT}/releases/current/abort", json={"reason": "bench"},
                                 headers={"Authorization": f"Bearer {operator_token}"})
    return send


def canary_keys(takeover: Takeover) -> int:
    """How many of KEYS the SDK routes to the canary under the current control document."""
    doc = httpx.get(f"{takeover.url}/v1/agents/{AGENT}/control", timeout=30,
                    headers={"Authorization": f"Bearer {takeover.agents[AGENT]}"}).json()
    return sum(choose_variant(doc["release"], agent=AGENT, key=k, fresh=True).name == "canary" for k in KEYS)


def measure() -> tuple[fanout.FanOutResult, fanout.FanOutResult, list[int]]:
    """(rollback, override) over ROUNDS rounds, and keys on the canary before each rollback."""
    rollbacks: list[fanout.Round] = []
    overrides: list[fanout.Round] = []
    before: list[int] = []
    with processes() as procs, temp_dir() as tmp:
        takeover = start_takeover(procs, Path(tmp), agents=[AGENT])
        operator = {"Authorization": f"Bearer {takeover.operator}"}
        pollers = fanout.takeover_pollers({AGENT: takeover.agents[AGENT]}) * REPLICAS

        def override() -> None:
            overrides.append(asyncio.run(fanout.fan_out(
                takeover.url, pollers, trigger=fanout.takeover_override(takeover.operator), poll=fanout.raw_poll)))
            httpx.post(f"{takeover.url}/v1/agents/*/release", json={"reason": "bench round over"},
                       headers=operator, timeout=30).raise_for_status()

        def rollback() -> None:
            before.append(canary_keys(takeover))
            rollbacks.append(asyncio.run(fanout.fan_out(
                takeover.url, pollers, trigger=abort(takeover.operator), poll=rolled_back(fanout.raw_poll),
                expect_mode="normal")))
            if left := canary_keys(takeover):
                raise RuntimeError(f"{left} of {len(KEYS)} keys still routed to the canary after the rollback")

        for i in range(ROUNDS):
            order = (override, rollback) if i % 2 == 0 else (rollback, override)  # neither always goes first
            print(f"  round {i + 1}/{ROUNDS}: {REPLICAS} long-polls of {AGENT}, "
                  f"{' then '.join(f.__name__ for f in order)}", flush=True)
            httpx.post(f"{takeover.url}/v1/agents/{AGENT}/releases", json=RELEASE, headers=operator,
                       timeout=30).raise_for_status()
            for measured in order:
                measured()
    return fanout.summarize(rollbacks), fanout.summarize(overrides), before


def rows(ours: fanout.FanOutResult, base: fanout.FanOutResult, before: list[int]) -> list[dict[str, Any]]:
    told = (f"{ours.saw_change}/{REPLICAS} replicas saw the rollback ({base.saw_change} the override) in the "
            f"worst of {ours.rounds} rounds, {ours.early + base.early} returned early")
    detail = (f"first {ours.first_ms:.1f} ms (override {base.first_ms:.1f}), max {ours.max_ms:.1f} ms "
              f"(override {base.max_ms:.1f}); {min(before)}-{max(before)} of {len(KEYS)} keys on the canary "
              "before, 0 after (the SDK's choose_variant)")
    def row(name: str, value: float, baseline: float, note: str) -> dict[str, Any]:
        return {"benchmark": f"release rollback, {REPLICAS} replicas: {name}", "takeover": round(value, 1),
                "baseline": round(baseline, 1), "ratio": round(value / baseline, 2), "unit": "ms", "note": note}
    return [
        row("p50", ours.p50_ms, base.p50_ms, f"baseline = global override on the same long-polls; {told}"),
        row("p99", ours.p99_ms, base.p99_ms, f"pooled over {ours.rounds} rounds; {detail}"),
    ]


def main() -> list[dict[str, Any]]:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})  # the server is pinned to the other core
    return rows(*measure())


if __name__ == "__main__":
    print_rows(main)
