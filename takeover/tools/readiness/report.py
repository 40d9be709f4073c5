"""The report as output: a table with one line per warning and `ready:`, or a JSON document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from takeover.tools.readiness.assessment import Report
from takeover.tools.readiness.items import Status

if TYPE_CHECKING:
    from rich.console import Console


def report_json(report: Report) -> dict[str, Any]:
    return {
        "ready": report.ready,
        "checks": [{"name": c.name, "ok": c.ok, "blocking": c.blocking, "detail": c.detail,
                    "warning": None if c.ok else c.warning, "next_action": c.next_action}
                   for c in report.checks],
        "items": [{"item": i.item, "owner": i.owner, "status": i.status.value, "evidence": i.evidence,
                   "next_action": i.next_action, "required": i.required, "warning": i.warning}
                  for i in report.items],
        "warnings": report.warnings,
        "blocking": report.blocking,
    }


def print_report(report: Report, *, console: Console) -> None:
    """The table (items, then live checks), one line per warning, and `ready: true|false`."""
    from rich.table import Table
    from rich.text import Text

    table = Table("item", "owner", "status", "evidence / detail", "next action", title="readiness")
    colours = {Status.done: "green", Status.partial: "yellow", Status.missing: "red"}
    for i in report.items:
        status = i.status.value + (" (required)" if i.required and i.status is Status.missing else "")
        table.add_row(Text(i.item), Text(i.owner or "-"), Text(status, style=colours[i.status]),
                      Text(i.evidence), Text(i.next_action))
    for c in report.checks:
        status = "ok" if c.ok else "failed" if c.blocking else "warning"
        style = "green" if c.ok else "red" if c.blocking else "yellow"
        table.add_row(Text(f"check: {c.name}"), Text("takeover"), Text(status, style=style),
                      Text(c.detail), Text("" if c.ok else c.next_action))
    console.print(table)
    for p in report.problems:
        print(f"warning: {p.name}" + (" (blocks readiness)" if p.blocking else ""))
    print(f"ready: {'true' if report.ready else 'false'}")
