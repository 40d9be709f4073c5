"""Rule evaluation: takeover's cost per interval beside Prometheus's own rule evaluation.

    .venv/bin/python bench/evaluation.py

N alerting rules (100, 500, 1000), in groups of 100, each over 10 series of a static exporter
(`bench_value{rule="r0042", shard="0".."9"}`; shard 0 is above the threshold, so every rule
has one firing alert). The same rule file is loaded

- into a real Prometheus as `rule_files` (evaluation_interval 5s); the baseline is the sum over
  the groups of `prometheus_rule_group_last_duration_seconds`, median of 3 rounds after the first;
- into an in-process takeover `Service` (SQLite in a temp dir, console notifier to /dev/null,
  `prometheus_query` against that Prometheus), calling `evaluate_group` for each group, one
  interval after another; the figure is the sum of the groups' wall times, median of the
  intervals after the first.

takeover cannot evaluate inside Prometheus: it asks over HTTP, a group's rules combined into
instant queries of up to 50 rules sent at once (`rules.query.Combined`; one query per rule only
when a combined one fails). The split says where takeover's time goes: the query phase (from the
start of each group until its last answer) and the rest (evaluate, templates, database). While
one side is measured the other is idle (Prometheus holds no rules while takeover runs).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from procs import ROOT, Processes, print_rows, processes, temp_dir, wait_healthy
from prometheus_client.parser import text_string_to_metric_families

from takeover.notify.slack import ConsoleNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.format import Group, load_rules
from takeover.rules.query import QueryFunc, prometheus_query
from takeover.server.service import Service
from takeover.server.settings import Settings
from takeover.tools.promproc import free_port, running_prometheus, scrape_config

SIZES = (100, 500, 1000)
GROUP_SIZE = 100  # rules per group, in both systems
SHARDS = 10  # series per rule
INTERVAL = 5.0  # Prometheus's evaluation_interval (and scrape_interval), seconds
PROM_ROUNDS = 3  # Prometheus evaluations measured per group, after the first
TAKEOVER_INTERVALS = 6  # takeover intervals per N; the first (alerts inserted) is reported apart
CPU = 1  # the exporter's core; Prometheus and this process are not pinned


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def exposition(rules: int) -> str:
    """The exporter's page: shard 0 of every rule above the 0.5 threshold, the rest below."""
    lines = ["# HELP bench_value Set by bench/evaluation.py.", "# TYPE bench_value gauge"]
    for r in range(rules):
        for s in range(SHARDS):
            lines.append(f'bench_value{{rule="r{r:04d}",shard="{s}"}} {0.9 if s == 0 else 0.1 + s / 40:.3f}')
    return "\n".join(lines) + "\n"


def rule_file(rules: int) -> str:
    out = ["groups:"]
    for g in range(0, rules, GROUP_SIZE):
        out += [f"  - name: bench-n{rules}-{g // GROUP_SIZE:03d}", f"    interval: {INTERVAL:g}s", "    rules:"]
        for r in range(g, min(g + GROUP_SIZE, rules)):
            out += [
                f"      - alert: BenchHigh{r:04d}",
                f"        expr: bench_value{{rule=\"r{r:04d}\"}} > 0.5",
                "        for: 0s",
                "        labels: {owner: team-bench, severity: ticket}",
                "        annotations:",
                "          summary: 'shard {{ $labels.shard }} of {{ $labels.rule }} is {{ $value }}'",
                "          runbook_url: https://runbooks.example.com/bench",
                "          first_check: Look at the bench exporter.",
            ]
    return "\n".join(out) + "\n"


@dataclass
class Timed:
    """A QueryFunc that records when each query ended and how long it took."""

    query: QueryFunc
    ends: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, expr: str, ts: float) -> list[Sample]:
        started = time.monotonic()
        try:
            return self.query(expr, ts)
        finally:
            ended = time.monotonic()
            with self.lock:
                self.ends.append(ended)
                self.latencies.append(ended - started)

    def reset(self) -> None:
        with self.lock:
            self.ends.clear()
            self.latencies.clear()


@dataclass(frozen=True)
class Interval:
    total: float  # seconds: the groups' evaluate_group wall times, summed
    query: float  # of which: from the start of each group until its last query answered
    latency: float  # mean seconds of one instant query (as seen from the calling thread)
    requests: int  # instant queries sent in the interval


@dataclass(frozen=True)
class Result:
    rules: int
    first: Interval
    steady: list[Interval]
    prometheus: list[float]  # seconds per round, summed over the groups

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(i, attr) for i in self.steady))


def takeover_intervals(groups: list[Group], prometheus: str, tmp: Path) -> list[Interval]:
    """Evaluate every group once per interval through a fresh Service; time each interval."""
    timed = Timed(prometheus_query(prometheus, timeout=10.0))
    settings = Settings(database_url=f"sqlite:///{tmp / f'takeover-{len(groups)}.db'}",
                        templates=str(ROOT / "templates"), prometheus_url=prometheus,
                        rules=[str(tmp / "rules.yml")])
    devnull = open(os.devnull, "w")
    service = Service(settings, groups=groups, notifier=ConsoleNotifier(devnull), query=timed)
    try:
        out = []
        for _ in range(TAKEOVER_INTERVALS):
            total = query = 0.0
            latencies: list[float] = []
            for group in groups:
                timed.reset()
                started = time.monotonic()
                service.evaluate_group(group, now=time.time())
                total += time.monotonic() - started
                query += max(timed.ends) - started
                latencies += timed.latencies
            failing = [h for h in service.health.values() if h.health != "ok"]
            if failing:
                raise RuntimeError(f"{len(failing)} rules failed, e.g. {failing[0].last_error}")
            out.append(Interval(total, query, statistics.fmean(latencies), len(latencies)))
        return out
    finally:
        service.stop()
        devnull.close()


def group_evaluations(prometheus: str, prefix: str) -> dict[str, dict[float, float]]:
    """From Prometheus's /metrics: group -> {last evaluation timestamp: its duration}."""
    text = httpx.get(f"{prometheus}/metrics", timeout=10).text
    stamps: dict[str, float] = {}
    durations: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("prometheus_rule_group_last_evaluation_timestamp_seconds",
                               "prometheus_rule_group_last_duration_seconds"):
            continue
        for sample in family.samples:
            group = sample.labels.get("rule_group", "").rpartition(";")[2]
            if group.startswith(prefix):
                target = stamps if "timestamp" in family.name else durations
                target[group] = sample.value
    return {g: {stamps[g]: durations[g]} for g in stamps if g in durations and stamps[g] > 0}


def prometheus_rounds(prometheus: str, rules_path: Path, rules: int) -> list[float]:
    """Load the rules into Prometheus, watch each group evaluate 1 + PROM_ROUNDS times; per
    round after the first, the groups' durations summed. Unloads the rules at the end."""
    rules_path.write_text(rule_file(rules))
    httpx.post(f"{prometheus}/-/reload", timeout=30).raise_for_status()
    prefix, count = f"bench-n{rules}-", -(-rules // GROUP_SIZE)
    seen: dict[str, dict[float, float]] = {}
    deadline = time.monotonic() + INTERVAL * (PROM_ROUNDS + 3)
    try:
        while time.monotonic() < deadline:
            for group, evaluation in group_evaluations(prometheus, prefix).items():
                seen.setdefault(group, {}).update(evaluation)
            if len(seen) == count and all(len(e) > PROM_ROUNDS for e in seen.values()):
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"Prometheus evaluated {seen} before the deadline")
    finally:
        rules_path.write_text("groups: []\n")
        with suppress(httpx.HTTPError):  # Prometheus may be gone already (Ctrl-C reaches it too)
            httpx.post(f"{prometheus}/-/reload", timeout=30)
    ordered = [[d for _, d in sorted(e.items())][1:PROM_ROUNDS + 1] for e in seen.values()]
    return [sum(group[r] for group in ordered) for r in range(PROM_ROUNDS)]


@contextmanager
def static_exporter(procs: Processes, tmp: Path, rules: int) -> Iterator[str]:
    """`python -m http.server` serving the exposition as /metrics: a process of its own, so the
    scrapes take no CPU from the Python process being measured."""
    site = tmp / "site"
    site.mkdir()
    (site / "metrics").write_text(exposition(rules))
    port = free_port()
    process = procs.start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                           "--directory", str(site), str(port)], cpu=CPU)
    wait_healthy(f"http://127.0.0.1:{port}/metrics", process)
    yield f"127.0.0.1:{port}"


def wait_scraped(prometheus: str, rules: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": "count(bench_value)"}).json()
        if answer["data"]["result"] and int(float(answer["data"]["result"][0]["value"][1])) == rules * SHARDS:
            return
        time.sleep(0.25)
    raise RuntimeError("Prometheus did not scrape the bench exporter within 30s")


def measure() -> list[Result]:
    results = []
    with processes() as procs, temp_dir() as tmp_name:
        tmp = Path(tmp_name)
        rules_path = tmp / "rules.yml"
        rules_path.write_text("groups: []\n")
        with static_exporter(procs, tmp, max(SIZES)) as target:
            config = (scrape_config([target], interval=f"{INTERVAL:g}s", job="bench")
                      + f"rule_files:\n  - {rules_path}\n")
            with running_prometheus(config) as prometheus:
                wait_scraped(prometheus, max(SIZES))
                for rules in SIZES:
                    source = tmp / f"rules-{rules}.yml"
                    source.write_text(rule_file(rules))
                    groups = load_rules([source])
                    log(f"N={rules}: takeover, {len(groups)} groups x {TAKEOVER_INTERVALS} intervals")
                    intervals = takeover_intervals(groups, prometheus, tmp)
                    log(f"N={rules}: Prometheus, {PROM_ROUNDS + 1} evaluations per group")
                    rounds = prometheus_rounds(prometheus, rules_path, rules)
                    results.append(Result(rules, intervals[0], intervals[1:], rounds))
    return results


def rows(results: list[Result]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for r in results:
        total, query, baseline = r.median("total") * 1000, r.median("query") * 1000, statistics.median(r.prometheus) * 1000
        groups, requests = -(-r.rules // GROUP_SIZE), r.median("requests")
        out.append({
            "benchmark": f"evaluate {r.rules} rules ({groups} group{'s' if groups > 1 else ''} of {GROUP_SIZE})",
            "takeover": round(total, 1), "baseline": round(baseline, 1),
            "ratio": round(total / baseline, 1) if baseline else float("nan"),
            "unit": "ms per interval",
            "note": (f"queries {query:.0f} ms ({requests:.0f} request{'s' if requests != 1 else ''}, "
                     f"mean {r.median('latency') * 1000:.1f} ms each), "
                     f"evaluate+db {total - query:.0f} ms; first interval (alerts inserted) "
                     f"{r.first.total * 1000:.0f} ms; baseline = Prometheus's summed group durations"),
        })
    return out


def main() -> list[dict[str, object]]:
    return rows(measure())


if __name__ == "__main__":
    print_rows(main)
