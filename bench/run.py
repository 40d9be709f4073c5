"""Run every benchmark against `takeover serve` and its bare baseline; print one table.

    .venv/bin/python bench/run.py      (or: make bench)
    .venv/bin/python bench/run.py --gc-freeze --token-ttl=3600     (a proposed change: see whatif.py)
    .venv/bin/python bench/run.py --only=poll,fanout      (some of the benchmarks; names in PARTS)

Each figure is printed beside a baseline measured in the same run, on the same machine, with
the same client: a ratio of 1.0 means takeover costs nothing over uvicorn itself.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import fanout
import httpx
import poll304
from procs import (
    BENCH,
    CLIENT_CPU,
    SERVER_CPU,
    Processes,
    Takeover,
    processes,
    start_bare,
    start_takeover,
    temp_dir,
)

FAN_OUT_AGENTS = 1000
FAN_OUT_ROUNDS = 3  # pooled: one round's p99 is its 10th slowest agent
POLL_AGENT = "bench-poll"
# the benchmarks `--only=` may name; all but the first two are modules with their own `main()`
PARTS = ("poll", "fanout", "fanout_replicas", "evaluation", "time_to_takeover", "release_rollback")


@dataclass(frozen=True)
class Row:
    name: str
    takeover: float
    baseline: float
    unit: str
    higher_is_better: bool
    goal: str = ""

    @property
    def ratio(self) -> float:
        return self.takeover / self.baseline if self.baseline else float("nan")


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (user to softirq, every core) since boot."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def own_seconds() -> float:
    """CPU seconds of this script and of every child it has reaped (servers, wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def machine() -> list[str]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    wrk = "no wrk"
    if shutil.which("wrk"):
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split(" [")[0]
    return [
        f"cores: {os.cpu_count()} ({model})",
        f"python {platform.python_version()}, uvicorn {version('uvicorn')} (loop and http 'auto' = "
        f"uvloop {version('uvloop')}, httptools {version('httptools')}), httpx {version('httpx')}, {wrk}",
        f"servers pinned to CPU {SERVER_CPU} (every thread); wrk, the fan-out clients and this "
        f"script pinned to CPU {CLIENT_CPU}: the load generator shares the machine's 2 cores",
    ]


def poll_rows(procs: Processes, takeover: Takeover, notes: list[str]) -> list[Row]:
    """Benchmark 1: GET control with a matching If-None-Match, at 50 and 200 connections."""
    bare = start_bare(procs, "304")
    bare_url = bare.url + "/v1/agents/bench-poll/control"
    url = f"{takeover.url}/v1/agents/{POLL_AGENT}/control"
    auth = {"Authorization": f"Bearer {takeover.agents[POLL_AGENT]}"}
    etag = httpx.get(url, headers=auth).headers["etag"]  # the first poll makes the agent known
    headers = {**auth, "If-None-Match": etag}
    for target in (url, bare_url):
        status = httpx.get(target, headers=headers).status_code
        if status != 304:
            raise RuntimeError(f"{target} answered {status}, not 304: the benchmark would measure the wrong path")
    rows = []
    for connections in (50, 200):
        print(f"  304 polls, {connections} connections: bare and takeover, {poll304.WARMUP_SECONDS} s warm-up, then "
              f"{poll304.RUN_SECONDS} s each in {poll304.SLICES} alternating runs", flush=True)
        counted: list[int | None] = []
        base, ours = poll304.measure_pair((bare_url, bare.pid), (url, takeover.pid), headers=headers,
                                          connections=connections,
                                          between=lambda: counted.append(takeover.fast_path_polls()))
        after = takeover.fast_path_polls()
        if counted[0] is not None and after is not None:
            slow = max(0, ours.requests - (after - counted[0]))  # wrk counts only completed requests
            notes.append(f"304 @{connections}: {slow:,} of {ours.requests:,} measured polls missed the "
                         f"fast path (token cache expiry sends them through FastAPI)")
        for name, result in (("bare", base), ("takeover", ours)):
            if result.bad_status or result.socket_errors:
                notes.append(f"304 @{connections} {name}: {result.bad_status} bad statuses, "
                             f"{result.socket_errors} socket errors")
        label = f"304 poll, {connections} conns"
        rows += [
            Row(f"{label}: requests/s", ours.requests_per_s, base.requests_per_s, "/s", True, "≥ 0.8× bare"),
            Row(f"{label}: p50 latency", ours.p50_ms, base.p50_ms, "ms", False),
            Row(f"{label}: p99 latency", ours.p99_ms, base.p99_ms, "ms", False),
            Row(f"{label}: server CPU/poll", ours.server_cpu_us, base.server_cpu_us, "µs", False, "≤ 1.25× bare"),
        ]
    return rows


def release_all(takeover: Takeover) -> None:
    httpx.post(f"{takeover.url}/v1/agents/*/release", json={"reason": "bench round over"},
               headers={"Authorization": f"Bearer {takeover.operator}"}, timeout=30).raise_for_status()


def fan_out_rows(procs: Processes, takeover: Takeover, notes: list[str]) -> list[Row]:
    """Benchmark 2: 1,000 long-polls woken by one global override, with two kinds of client."""
    bare_url = start_bare(procs, "longpoll").url
    agents = {name: token for name, token in takeover.agents.items() if name != POLL_AGENT}
    rows = []
    for client, poll in fanout.CLIENTS.items():
        print(f"  fan-out to {len(agents)} long-polls, {client} client, {FAN_OUT_ROUNDS} rounds of "
              "bare then takeover", flush=True)
        bare_rounds, our_rounds, fast = [], [], 0
        for _ in range(FAN_OUT_ROUNDS):
            bare_rounds.append(asyncio.run(fanout.fan_out(
                bare_url, fanout.bare_pollers(len(agents)), trigger=fanout.bare_trigger, poll=poll)))
            before = takeover.fast_path_polls() or 0
            our_rounds.append(asyncio.run(fanout.fan_out(
                takeover.url, fanout.takeover_pollers(agents),
                trigger=fanout.takeover_override(takeover.operator), poll=poll)))
            fast += (takeover.fast_path_polls() or 0) - before
            release_all(takeover)  # the next round starts from normal again
        base, ours = fanout.summarize(bare_rounds), fanout.summarize(our_rounds)
        notes.append(f"fan-out {client}: {fast:,} of the {2 * len(agents) * FAN_OUT_ROUNDS:,} polls "
                     "(a first poll and a long-poll per agent and round) took the fast path")
        for name, result in (("bare", base), ("takeover", ours)):
            if result.saw_change != result.agents or result.early:
                notes.append(f"fan-out {client} {name}: {result.saw_change}/{result.agents} saw the "
                             f"change in the worst round, {result.early} returned early")
        label = f"fan-out {len(agents)}, {client}"
        rows += [
            Row(f"{label}: agents told", ours.saw_change, base.saw_change, "", True, f"= {len(agents)}"),
            Row(f"{label}: first", ours.first_ms, base.first_ms, "ms", False),
            Row(f"{label}: p50", ours.p50_ms, base.p50_ms, "ms", False),
            Row(f"{label}: p99", ours.p99_ms, base.p99_ms, "ms", False, "< 100 ms"),
            Row(f"{label}: max", ours.max_ms, base.max_ms, "ms", False),
        ]
    return rows


def number(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit in ("ms", "µs"):
        return f"{value:,.1f} {unit}"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit.startswith("ms "):
        return f"{value:,.0f} ms"
    return f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    header = ("benchmark", "takeover", "baseline", "ratio", "goal")
    cells = [header] + [(r.name, number(r.takeover, r.unit), number(r.baseline, r.unit),
                         f"{r.ratio:.2f}×", r.goal) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(c))).rstrip()
             for c in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(args: list[str]) -> int:
    only = [a.partition("=")[2] for a in args if a.startswith("--only=")]
    parts = {p for a in only for p in a.split(",")} or set(PARTS)
    if parts - set(PARTS):
        sys.exit(f"unknown benchmark(s) {sorted(parts - set(PARTS))}: choose from {', '.join(PARTS)}")
    whatif = [a for a in args if not a.startswith("--only=")]
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    try:
        poll304.ensure_wrk()
        has_wrk = True
    except poll304.WrkMissing as exc:
        print(f"skipping the 304 benchmark: {exc}", file=sys.stderr)
        has_wrk = False
    started, machine0, own0 = time.monotonic(), busy_seconds(), own_seconds()
    notes: list[str] = []
    rows: list[Row] = []
    with processes() as procs, temp_dir() as tmp:
        serve = [str(BENCH / "whatif.py"), *whatif] if whatif else ["-m", "takeover", "serve"]
        if not parts & {"poll", "fanout"}:
            serve = []  # only the modules below: no server of our own
        shown = f"bench/whatif.py {' '.join(whatif)}" if whatif else "takeover serve"
        if serve:
            print(f"starting {shown} with {FAN_OUT_AGENTS} agent tokens", flush=True)
            agents = [f"agent-{i:04d}" for i in range(FAN_OUT_AGENTS)] + [POLL_AGENT]
            takeover = start_takeover(procs, Path(tmp), agents=agents, serve_args=serve)
            if has_wrk and "poll" in parts:
                rows += poll_rows(procs, takeover, notes)
            if "fanout" in parts:
                rows += fan_out_rows(procs, takeover, notes)
    for name, module in (("fan-out across two replicas", "fanout_replicas"), ("evaluation overhead", "evaluation"),
                         ("time to takeover", "time_to_takeover"), ("release rollback", "release_rollback")):
        if module not in parts:
            continue
        print(f"running the {name} benchmark", flush=True)
        for found in __import__(module).main():
            rows.append(Row(str(found["benchmark"]), float(found["takeover"]), float(found["baseline"]),
                            str(found["unit"]), higher_is_better=False, goal=str(found.get("goal", ""))))
            if found.get("note"):
                notes.append(f"{found['benchmark']}: {found['note']}")
    # every child is stopped and reaped by now, so its CPU time is in own_seconds(); loopback
    # softirq time makes this estimate about 10% of a core high on an idle machine
    others = (busy_seconds() - machine0 - (own_seconds() - own0)) / (time.monotonic() - started)
    if others > 0.25:
        notes.append(f"other processes kept about {others:.0%} of a core busy during the run: the "
                     "figures are noisy (CPU/poll least so); run again on a quiet machine")
    print()
    print("\n".join(machine()))
    if whatif:
        print(f"takeover here is bench/whatif.py {' '.join(whatif)}, not the stock `takeover serve`")
    print(f"ratio = takeover / baseline (throughput: higher is better; latency: lower is better); "
          f"ran in {time.monotonic() - started:.0f} s\n")
    print(table(rows))
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted: every process the benchmark started has been stopped", file=sys.stderr)
        sys.exit(130)
