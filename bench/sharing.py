"""Rule groups shared across replicas: 10,000 rules (100 groups of 100) on one `takeover serve`
and on two sharing them, on PostgreSQL.

    .venv/bin/python bench/sharing.py        # about 4 minutes; needs PostgreSQL (below)

A static exporter serves 2 series per rule (`bench_value{rule="r0042", shard="0"|"1"}`; one rule
in a hundred has a series above the threshold, so 100 alerts fire), a real Prometheus scrapes it
every 15 s, and the rule file holds 100 groups of 100 rules at a 15 s interval. The database is
a throwaway one created on TAKEOVER_BENCH_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres, used only to create and drop it).

Phase one runs one replica, phase two two replicas (a fresh database each), each for
`INTERVALS` intervals after a warm-up interval. Per replica the figures are, per interval:
evaluation wall time (the sum of its groups' evaluations, `takeover_rule_group_duration_seconds`
from its /metrics) and CPU time (from /proc), and how many groups it evaluates. Slots missed are
counted from the database: every slot of every group in the window that has no row in
`rule_group_slot` (goal 0 on two replicas).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from procs import Processes, cpu_seconds, database, print_rows, processes, temp_dir, wait_healthy
from sqlalchemy import create_engine, text

from takeover.rules.format import load_rules
from takeover.rules.group import group_offset, slots
from takeover.tools.promproc import free_port, running_prometheus, scrape_config

GROUPS, GROUP_SIZE, INTERVAL = 100, 100, 15.0
INTERVALS = 4  # measured per phase, after one interval of warm-up


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def exposition() -> str:
    lines = ["# TYPE bench_value gauge"]
    for r in range(GROUPS * GROUP_SIZE):
        lines.append(f'bench_value{{rule="r{r:05d}",shard="0"}} {0.9 if r % 100 == 0 else 0.1}')
        lines.append(f'bench_value{{rule="r{r:05d}",shard="1"}} 0.2')
    return "\n".join(lines) + "\n"


def rule_file() -> str:
    out = ["groups:"]
    for g in range(GROUPS):
        out += [f"  - name: share-{g:03d}", f"    interval: {INTERVAL:g}s", "    rules:"]
        for r in range(g * GROUP_SIZE, (g + 1) * GROUP_SIZE):
            out += [f"      - alert: Share{r:05d}", f"        expr: bench_value{{rule=\"r{r:05d}\"}} > 0.5",
                    "        labels: {owner: team-bench, severity: ticket}",
                    "        annotations: {summary: 'bench', runbook_url: 'https://r.example.com/b', "
                    "first_check: 'the bench exporter'}"]
    return "\n".join(out) + "\n"


@dataclass
class Replica:
    url: str
    pid: int
    eval_sum: float = 0.0
    cpu: float = 0.0

    def metric(self, name: str) -> float:
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=30).text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def mark(self) -> None:
        self.eval_sum, self.cpu = self.metric("takeover_rule_group_duration_seconds_sum"), cpu_seconds(self.pid)


def start(procs: Processes, tmp: Path, url: str, prometheus: str, name: str, cpu: int) -> Replica:
    port = free_port()
    env = {"TAKEOVER_DATABASE_URL": url, "TAKEOVER_PROMETHEUS_URL": prometheus, "TAKEOVER_RULES": str(tmp / "rules.yml"),
           "TAKEOVER_PORT": str(port), "TAKEOVER_HOST": "127.0.0.1"}
    process = procs.start([sys.executable, "-m", "takeover", "serve"], cpu=cpu, env=env, log=tmp / f"{name}.log")
    wait_healthy(f"http://127.0.0.1:{port}/healthz", process, log=tmp / f"{name}.log", timeout=60)
    return Replica(f"http://127.0.0.1:{port}", process.pid)


def missed(url: str, offsets: dict[str, float], start: float, end: float) -> tuple[int, int]:
    """(slots expected in [start, end), slots without an evaluation) over every group."""
    engine = create_engine(url)
    with engine.connect() as conn:
        done = {(k, round(s, 3)) for k, s in conn.execute(text("SELECT group_key, slot FROM rule_group_slot"))}
    engine.dispose()
    expected = [(g, round(s, 3)) for g, off in offsets.items()
                for s in slots(start=start, end=end - 1e-6, interval=INTERVAL, offset=off)]
    return len(expected), sum(1 for e in expected if e not in done)


def phase(procs: Processes, tmp: Path, prometheus: str, replicas: int, offsets: dict[str, float]) -> dict[str, object]:
    with database() as url:
        running = [start(procs, tmp, url, prometheus, f"r{replicas}-{i}", cpu=i % 2) for i in range(replicas)]
        time.sleep(INTERVAL)  # warm-up: every group's first slot inserts its rows
        for r in running:
            r.mark()
        began = time.time()
        time.sleep(INTERVAL * INTERVALS)
        ended = time.time()
        per = []
        for r in running:
            evals = (r.metric("takeover_rule_group_duration_seconds_sum") - r.eval_sum) / INTERVALS
            cpu = (cpu_seconds(r.pid) - r.cpu) / INTERVALS
            per.append((int(r.metric("takeover_rule_groups_evaluated_here")), evals, cpu))
        expected, lost = missed(url, offsets, began, ended)
        for r in running:
            procs.stop(next(p for p in procs.started if p.pid == r.pid))
    shares = " / ".join(f"{g} groups: {e * 1000:.0f} ms eval, {c * 1000:.0f} ms CPU" for g, e, c in per)
    log(f"{replicas} replica(s): {shares}; {lost} of {expected} slots missed")
    return {"replicas": replicas, "per": per, "expected": expected, "missed": lost}


def measure() -> list[dict[str, object]]:
    with processes() as procs, temp_dir() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "site").mkdir()
        (tmp / "site" / "metrics").write_text(exposition())
        (tmp / "rules.yml").write_text(rule_file())
        offsets = {g.key: group_offset(g) for g in load_rules([tmp / "rules.yml"])}
        port = free_port()
        exporter = procs.start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                                str(tmp / "site"), str(port)], cpu=1)
        wait_healthy(f"http://127.0.0.1:{port}/metrics", exporter)
        with running_prometheus(scrape_config([f"127.0.0.1:{port}"], interval="15s", job="bench")) as prometheus:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": "count(bench_value)"}).json()
                if answer["data"]["result"]:
                    break
                time.sleep(0.5)
            return [phase(procs, tmp, prometheus, n, offsets) for n in (1, 2)]


def rows(results: list[dict[str, object]]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    one = results[0]["per"][0]  # type: ignore[index]
    for r in results:
        per = r["per"]
        assert isinstance(per, list)
        worst = max(e for _, e, _ in per)
        out.append({
            "benchmark": f"10,000 rules, {r['replicas']} replica{'s' if r['replicas'] != 1 else ''}",
            "takeover": round(worst * 1000), "baseline": round(one[1] * 1000),
            "ratio": round(worst / one[1], 2) if one[1] else float("nan"),
            "unit": "ms eval per 15 s interval (busiest replica)",
            "note": "; ".join(f"{g} groups, {e * 1000:.0f} ms eval, {c * 1000:.0f} ms CPU" for g, e, c in per)
                    + f"; slots missed {r['missed']} of {r['expected']} (goal 0)",
        })
    return out


def main() -> list[dict[str, object]]:
    return rows(measure())


if __name__ == "__main__":
    print_rows(main)
