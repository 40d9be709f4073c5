"""Long-poll fan-out across two replicas: 1,000 agents, half on each of two `takeover serve`
processes sharing one PostgreSQL database, woken by one global override sent to the first.

    .venv/bin/python bench/fanout_replicas.py      # about a minute; needs PostgreSQL (below)

The baseline is one `takeover serve` holding all 1,000 long-polls on the same database, measured
in the same run, so the ratio is what the second replica's hop costs: the override's commit on
replica A, its NOTIFY, replica B reloading its 500 documents and waking its long-polls. The
clients are the raw-socket pollers of `fanout.py` (3 rounds each, pooled), and every server is
pinned to the server CPU, so one replica or two, the servers share one core. The database is a
throwaway one (see `procs.database`), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
from fanout import FanOutResult, Poller, fan_out, raw_poll, summarize, takeover_override
from procs import ADMIN_URL, Processes, Takeover, database, print_rows, processes, seed, serve, temp_dir
from sqlalchemy.exc import OperationalError

AGENTS, ROUNDS = 1000, 3


def pollers(replicas: list[Takeover]) -> list[Poller]:
    """Agent i polls replica i mod n: an even split."""
    tokens = replicas[0].agents
    return [Poller(f"/v1/agents/{name}/control", {"Authorization": f"Bearer {token}"},
                   base=replicas[i % len(replicas)].url) for i, (name, token) in enumerate(sorted(tokens.items()))]


def mode_of(replica: Takeover, agent: str) -> str:
    answer = httpx.get(f"{replica.url}/v1/agents/{agent}/control", timeout=10,
                       headers={"Authorization": f"Bearer {replica.agents[agent]}"})
    return str(answer.json()["mode"])


def release(replicas: list[Takeover]) -> None:
    """Hand every agent back, and wait until each replica serves the released documents."""
    first = replicas[0]
    httpx.post(f"{first.url}/v1/agents/*/release", json={"reason": "bench round over"}, timeout=30,
               headers={"Authorization": f"Bearer {first.operator}"}).raise_for_status()
    deadline = time.monotonic() + 30
    for replica in replicas:
        for agent in sorted(replica.agents)[:2]:
            while mode_of(replica, agent) != "normal":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{replica.url} still serves {agent} held after 30 s")
                time.sleep(0.05)


def rounds(replicas: list[Takeover]) -> FanOutResult:
    """`ROUNDS` global overrides sent to the first replica, each timed on every agent."""
    measured = []
    for _ in range(ROUNDS):
        measured.append(asyncio.run(fan_out(replicas[0].url, pollers(replicas), poll=raw_poll,
                                            trigger=takeover_override(replicas[0].operator))))
        release(replicas)
    return summarize(measured)


def measure(procs: Processes, tmp: Path, url: str) -> tuple[FanOutResult, FanOutResult]:
    """(one replica, two replicas) on the same seeded database."""
    operator, tokens = seed(url, [f"agent-{i:04d}" for i in range(AGENTS)])
    one = serve(procs, tmp, database_url=url, operator=operator, agents=tokens, name="one")
    alone = rounds([one])
    procs.stop(next(p for p in procs.started if p.pid == one.pid))
    pair = [serve(procs, tmp, database_url=url, operator=operator, agents=tokens, name=name) for name in "ab"]
    return alone, rounds(pair)


def main() -> list[dict[str, object]]:
    try:
        with processes() as procs, temp_dir() as tmp, database() as url:
            alone, pair = measure(procs, Path(tmp), url)
    except OperationalError as exc:  # no PostgreSQL here: the rest of make bench still runs
        print(f"skipping the fan-out across replicas: no PostgreSQL at {ADMIN_URL} ({exc.orig})", file=sys.stderr)
        return []
    rows: list[dict[str, object]] = []
    note = (f"{AGENTS} raw-socket long-polls, {AGENTS // 2} on each of 2 replicas (PostgreSQL), override sent "
            f"to one; baseline: 1 replica on the same database; {ROUNDS} rounds pooled; agents told in the "
            f"worst round: {pair.saw_change} of {AGENTS} (baseline {alone.saw_change})")
    for label, ours, base in (("first", pair.first_ms, alone.first_ms), ("p50", pair.p50_ms, alone.p50_ms),
                              ("p99", pair.p99_ms, alone.p99_ms), ("max", pair.max_ms, alone.max_ms)):
        rows.append({"benchmark": f"fan-out {AGENTS}, 2 replicas: {label}", "takeover": round(ours, 1),
                     "baseline": round(base, 1), "ratio": round(ours / base, 2) if base else float("nan"),
                     "unit": "ms", "note": note if label == "p99" else "", "goal": "< 500 ms" if label == "p99" else ""})
    return rows


if __name__ == "__main__":
    print_rows(main)
