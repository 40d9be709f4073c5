"""Benchmark 1: control polls answered 304, driven by wrk with a Lua script for the headers."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from procs import CLIENT_CPU, cpu_seconds, pinned

WARMUP_SECONDS, RUN_SECONDS = 2, 10
SLICES = 5  # the measured seconds of each server, cut into this many alternating runs
MARK = "WRK_RESULT "

# done() runs once with every thread's statistics merged; latencies are in microseconds
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('%s{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"max_us":%d,"bad_status":%d,"socket_errors":%d}\\n', "MARK", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
""".replace("MARK", MARK)


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    bad_status: int  # answers other than 2xx/3xx (a 401 would show here)
    socket_errors: int
    server_cpu_us: float = 0.0  # server CPU time per request (all its threads): robust to a busy machine


class WrkMissing(RuntimeError):
    pass


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when apt-get can run, else says how."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is not None:
        print("wrk not found: running apt-get install -y wrk", flush=True)
        subprocess.run([apt, "install", "-y", "-q", "wrk"], capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing("wrk is not installed: apt-get install wrk (Debian/Ubuntu), "
                     "brew install wrk (macOS), or build https://github.com/wg/wrk")


def lua_script(headers: dict[str, str]) -> str:
    lines = [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n" + DONE


def wrk(url: str, *, headers: dict[str, str], connections: int, seconds: int) -> WrkResult:
    """One wrk run (one thread, pinned to the client CPU) against `url`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(headers))
    try:
        result = subprocess.run(
            [*pinned(CLIENT_CPU), ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s",
             "--timeout", "5s", "-s", script.name, url],
            capture_output=True, text=True, timeout=seconds + 30)
    finally:
        Path(script.name).unlink()
    line = next((l for l in result.stdout.splitlines() if l.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}{result.stderr}")
    raw = json.loads(line[len(MARK):])
    return WrkResult(
        requests_per_s=raw["requests"] / (raw["duration_us"] / 1e6), p50_ms=raw["p50_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3, max_ms=raw["max_us"] / 1e3, requests=raw["requests"],
        bad_status=raw["bad_status"], socket_errors=raw["socket_errors"])


def measure_pair(base: tuple[str, int], ours: tuple[str, int], *, headers: dict[str, str], connections: int,
                 between: Callable[[], object] = lambda: None) -> tuple[WrkResult, WrkResult]:
    """Both servers ((url, pid) each) for RUN_SECONDS each, in SLICES alternating runs: what
    other processes do to the machine falls on both alike. Throughput and CPU/poll are summed
    over the slices; p50 and p99 are the median of the slices' own, max the largest."""
    for url, _ in (base, ours):
        wrk(url, headers=headers, connections=connections, seconds=WARMUP_SECONDS)
    between()
    slices: dict[str, list[tuple[WrkResult, float]]] = {base[0]: [], ours[0]: []}
    for _ in range(SLICES):
        for url, pid in (base, ours):
            cpu = cpu_seconds(pid)
            result = wrk(url, headers=headers, connections=connections, seconds=RUN_SECONDS // SLICES)
            slices[url].append((result, cpu_seconds(pid) - cpu))
    return pooled(slices[base[0]]), pooled(slices[ours[0]])


def pooled(runs: list[tuple[WrkResult, float]]) -> WrkResult:
    requests = sum(r.requests for r, _ in runs)
    seconds = sum(r.requests / r.requests_per_s for r, _ in runs if r.requests_per_s)
    return WrkResult(
        requests_per_s=requests / seconds if seconds else 0.0, p50_ms=statistics.median(r.p50_ms for r, _ in runs),
        p99_ms=statistics.median(r.p99_ms for r, _ in runs), max_ms=max(r.max_ms for r, _ in runs),
        requests=requests, bad_status=sum(r.bad_status for r, _ in runs),
        socket_errors=sum(r.socket_errors for r, _ in runs),
        server_cpu_us=sum(cpu for _, cpu in runs) / max(1, requests) * 1e6)
