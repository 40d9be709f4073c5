"""`takeover backtest`: replay the rules over real history and report what would have happened.

Every group is evaluated at each of its live slots between start and end (the same offsets the
live evaluator uses), against the configured Prometheus, with the replay core. The report lists
the alert episodes, the pages per owner, and how long each agent would have spent in which
takeover mode.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from takeover.config.duration import parse_duration
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.rules.conventions import Defaults
from takeover.rules.format import Group
from takeover.rules.group import GroupSlot, run, schedule
from takeover.rules.query import QueryFunc
from takeover.rules.replay import Episode, episodes

RELEASE_NOTE = ("takeover keeps a mode until a human releases it (unless the rule sets "
                "takeover_release: on_resolve); these times run from fired-at to resolved-at, so a "
                "real takeover would have stayed longer")
_RELATIVE = re.compile(r"^(?:now)?-(?P<d>.+)$")
_UNIX = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


@dataclass(frozen=True)
class ModeTime:
    """How long one agent (or `*`, all agents) would have been in one mode."""

    agent: str
    mode: Mode
    seconds: float
    until_release: bool  # a rule behind it does not release on resolve: it would have lasted longer


@dataclass(frozen=True)
class RuleErrors:
    group: str
    rule: str
    count: int
    last_error: str


@dataclass(frozen=True)
class Report:
    start: float
    end: float
    evaluations: int
    episodes: tuple[Episode, ...]
    pages: Mapping[str, int] = field(default_factory=dict)
    modes: tuple[ModeTime, ...] = ()
    errors: tuple[RuleErrors, ...] = ()


def parse_time(text: str, *, now: float) -> float:
    """RFC3339 (`2024-05-01T12:00:00Z`), unix seconds, `now`, or relative to now (`-6h`, `now-1d`)."""
    text = text.strip()
    if text == "now":
        return now
    if _UNIX.match(text):
        return float(text)
    if relative := _RELATIVE.match(text):
        return now - parse_duration(relative["d"])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use RFC3339 (2024-05-01T12:00:00Z), unix seconds, "
                         "now, or a duration before now (-6h)") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset like +02:00")
    return parsed.timestamp()


def backtest(groups: Sequence[Group], *, query: QueryFunc, start: float, end: float,
             offset: Callable[[Group], float], on_slot: Callable[[GroupSlot], None] = lambda s: None) -> Report:
    """Replay `groups` at their slots in [start, end]; `on_slot` sees each evaluation (progress)."""
    plan = schedule(groups, start=start, end=end, offset=offset)
    errors: dict[tuple[str, str], RuleErrors] = {}

    def observed(history: Iterable[GroupSlot]) -> Iterator[GroupSlot]:
        for slot in history:
            for r in slot.errors:
                key = (slot.group.name, r.rule.name)
                count = errors[key].count if key in errors else 0
                errors[key] = RuleErrors(slot.group.name, r.rule.name, count + 1, r.error)
            on_slot(slot)
            yield slot

    found = tuple(episodes(observed(run(plan, query=query))))
    return Report(start, end, len(plan), found, pages(found, groups=groups), mode_times(found, end=end),
                  tuple(errors.values()))


def pages(found: Iterable[Episode], *, groups: Sequence[Group] = ()) -> dict[str, int]:
    """Episodes that reached firing, per `owner` label; owners named by a rule start at 0."""
    counts: Counter[str] = Counter({r.labels["owner"]: 0 for g in groups for r in g.rules
                                    if "{{" not in r.labels.get("owner", "{{")})
    counts.update(e.label_map.get("owner", "") for e in found if e.paged)
    return dict(sorted(counts.items()))


def mode_times(found: Iterable[Episode], *, end: float) -> tuple[ModeTime, ...]:
    """Time per agent and mode from the fired takeover episodes; at any moment an agent is in the
    strictest mode of its own alerts and the all-agents (`*`) ones."""
    spans: dict[str, list[tuple[float, float, Mode, bool]]] = {}
    for e in found:
        mode = e.rule.takeover
        if mode is None or e.fired_at is None:
            continue
        agent = e.label_map.get("agent", ALL_AGENTS)
        spans.setdefault(agent, []).append((e.fired_at, e.end(until=end), mode, not e.rule.release_on_resolve))
    out = []
    for agent in sorted(spans):
        own = spans[agent] + (spans.get(ALL_AGENTS, []) if agent != ALL_AGENTS else [])
        totals: dict[Mode, float] = {}
        held: dict[Mode, bool] = {}
        cuts = sorted({t for s in own for t in s[:2]})
        for lo, hi in zip(cuts, cuts[1:]):
            active = [s for s in own if s[0] <= lo and hi <= s[1]]
            if active:
                mode = max(s[2] for s in active)
                totals[mode] = totals.get(mode, 0.0) + hi - lo
                held[mode] = held.get(mode, False) or any(s[3] for s in active if s[2] == mode)
        out += [ModeTime(agent, m, totals[m], held[m]) for m in sorted(totals, reverse=True)]
    return tuple(out)


# ---------------------------------------------------------------- output

def rfc3339(ts: float) -> str:
    """UTC, with milliseconds only when there are any: `2023-11-14T22:13:20Z`."""
    ms = round(ts * 1000)
    text = datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def short_duration(seconds: float) -> str:
    """`1h2m3s`, `45s`, `0s`; whole seconds (slots of one group are whole intervals apart)."""
    whole = round(seconds)
    h, m, s = whole // 3600, whole // 60 % 60, whole % 60
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data; times RFC3339, durations in seconds."""
    def at(ts: float | None) -> str | None:
        return None if ts is None else rfc3339(ts)

    return {
        "start": rfc3339(report.start), "end": rfc3339(report.end), "evaluations": report.evaluations,
        "episodes": [{
            "group": e.group, "rule": e.rule.name, "labels": e.label_map,
            "pending_at": at(e.pending_at), "fired_at": at(e.fired_at), "resolved_at": at(e.resolved_at),
            "duration_seconds": round(e.end(until=report.end) - e.pending_at, 3),
            "firing_seconds": None if e.fired_at is None else round(e.end(until=report.end) - e.fired_at, 3),
        } for e in report.episodes],
        "pages": dict(report.pages),
        "takeover": [{"agent": m.agent, "mode": m.mode.name, "seconds": round(m.seconds, 3),
                      "until_release": m.until_release} for m in report.modes],
        "takeover_note": RELEASE_NOTE,
        "errors": [{"group": e.group, "rule": e.rule, "count": e.count, "last_error": e.last_error}
                   for e in report.errors],
    }


def print_report(report: Report, *, console: Any) -> None:
    """The report as tables on a rich Console."""
    console.print(f"Backtest {rfc3339(report.start)} .. {rfc3339(report.end)}: "
                  f"{report.evaluations} group evaluations, {len(report.episodes)} alert episodes", soft_wrap=True)
    table = _table("Alert episodes", "rule", "labels", "pending at", "fired at", "resolved at", "duration")
    for e in report.episodes:
        labels = ", ".join(f"{k}={v}" for k, v in e.labels if k != "alertname")
        table.add_row(e.rule.name, labels, rfc3339(e.pending_at), rfc3339(e.fired_at) if e.fired_at else "never",
                      rfc3339(e.resolved_at) if e.resolved_at is not None else "still active",
                      short_duration(e.end(until=report.end) - e.pending_at))
    console.print(table)
    owners = _table("Pages per owner", "owner", "pages", caption="a page: an episode that reached firing")
    for owner, count in report.pages.items():
        owners.add_row(owner or "(no owner)", str(count))
    console.print(owners)
    modes = _table("Time in takeover modes", "agent", "mode", "time")
    for m in report.modes:
        modes.add_row(m.agent, m.mode.name, short_duration(m.seconds) + (" or longer" if m.until_release else ""))
    console.print(modes)
    console.print(f"Note: {RELEASE_NOTE}.", soft_wrap=True)
    for err in report.errors:
        console.print(f"{err.group}/{err.rule}: {err.count} failed evaluations; last: {err.last_error}",
                      style="red", markup=False, soft_wrap=True)


def _table(title: str, *columns: str, caption: str | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, caption=caption)
    for name in columns:
        table.add_column(name, overflow="fold")  # never cut a label or a time short
    return table


def run_backtest(paths: Sequence[str], *, start: str, end: str, prometheus_url: str, timeout: float,
                 as_json: bool = False, now: float | None = None, defaults: Defaults | None = None) -> int:
    """`takeover backtest`: print the report (or JSON); 1 when rules, times or evaluations failed."""
    from rich.console import Console
    from rich.progress import Progress

    from takeover.config.yamlfile import ConfigError
    from takeover.rules.format import load_rules
    from takeover.rules.group import group_offset
    from takeover.rules.query import prometheus_query

    # piped output gets full-width lines instead of tables folded to 80 columns
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True, highlight=False)
    try:
        groups = load_rules(paths, defaults=defaults)
    except ConfigError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        return 1
    clock = time.time() if now is None else now
    try:
        t0, t1 = parse_time(start, now=clock), parse_time(end, now=clock)
    except ValueError as exc:
        print(f"takeover backtest: {exc}", file=sys.stderr)
        return 1
    if t0 >= t1:
        print(f"takeover backtest: --start ({rfc3339(t0)}) must be before --end ({rfc3339(t1)})", file=sys.stderr)
        return 1
    total = len(schedule(groups, start=t0, end=t1, offset=group_offset))
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task(f"replaying {total} group evaluations", total=total)
        report = backtest(groups, query=prometheus_query(prometheus_url, timeout=timeout), start=t0,
                          end=t1, offset=group_offset, on_slot=lambda s: progress.advance(task))
    if as_json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print_report(report, console=out)
    return 1 if report.errors else 0
