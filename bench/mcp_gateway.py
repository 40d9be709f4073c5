"""The MCP gateway's added latency per allowed call: an MCP client calling a read tool through
`takeover mcp-gateway` (which asks takeover before forwarding) beside the same client calling the
same upstream server directly, the two alternating, ROUNDS calls each, after a warm-up.

    .venv/bin/python bench/mcp_gateway.py      (about 30 s; not part of make bench)

One `takeover serve` on SQLite (as run.py starts it); the upstream is bench/mcp_upstream.py over
stdio, started by the client (direct) or by the gateway (through). Goal: the gateway adds
< 2 ms p50 to an allowed call.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from procs import print_rows, processes, start_takeover, temp_dir

ROUNDS = 300
UPSTREAM = str(Path(__file__).resolve().parent / "mcp_upstream.py")
AGENT = "bench-bot"


async def timed(session: ClientSession) -> float:
    started = time.perf_counter()
    result = await session.call_tool("lookup", {"order": "A-1"})
    assert not result.is_error, result
    return time.perf_counter() - started


async def compare(url: str, token: str) -> tuple[list[float], list[float]]:
    direct = StdioServerParameters(command=sys.executable, args=[UPSTREAM])
    gateway = StdioServerParameters(command=sys.executable, env={"TAKEOVER_TOKEN": token}, args=[
        "-m", "takeover", "mcp-gateway", "--agent", AGENT, "--url", url, "--tool", "lookup=read",
        "--", sys.executable, UPSTREAM])
    async with stdio_client(direct) as (r1, w1), ClientSession(r1, w1) as plain, \
            stdio_client(gateway) as (r2, w2), ClientSession(r2, w2) as governed:
        await plain.initialize()
        await governed.initialize()
        for _ in range(20):  # warm: imports done, the control document fetched
            await timed(plain)
            await timed(governed)
        through, bare = [], []
        for _ in range(ROUNDS):
            through.append(await timed(governed))
            bare.append(await timed(plain))
    return through, bare


def main() -> list[dict[str, Any]]:
    with processes() as procs, temp_dir() as tmp:
        server = start_takeover(procs, Path(tmp), agents=[AGENT])
        through, bare = asyncio.run(compare(server.url, server.agents[AGENT]))
    rows = []
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        mine = statistics.quantiles(through, n=100)[int(q * 100) - 1] * 1000
        base = statistics.quantiles(bare, n=100)[int(q * 100) - 1] * 1000
        rows.append({"benchmark": f"MCP allowed call {label}", "takeover": f"{mine:.2f}", "baseline": f"{base:.2f}",
                     "ratio": f"{mine / base:.2f}x", "unit": "ms",
                     "note": f"through the gateway vs the upstream directly; added {mine - base:.2f} ms "
                             f"(goal < 2 ms p50); {ROUNDS} alternating calls each"})
    return rows


if __name__ == "__main__":
    print_rows(main)
