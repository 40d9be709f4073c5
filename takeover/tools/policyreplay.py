"""`takeover policy replay CANDIDATE.yml`: a candidate policy file judged again over the action
decisions in the audit trail, printed as what would change (the core is
`takeover.control.policyreplay`; this reads the database and prints)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from takeover.app import policies as policy_ops
from takeover.app.context import App
from takeover.control.policyfile import load_policies
from takeover.control.policyreplay import Report

ARROW = {"allow": "allow", "approval_required": "ask", "deny": "deny"}


def run_policy_replay(app: App, path: str, *, since: float, agent: str | None, as_json: bool,
                      echo: Callable[[str], None] = print) -> int:
    """Print the replay of the policy file at `path` over the decisions of the last `since`
    seconds; 1 when an action that was allowed would now be denied, else 0 (ConfigError for
    a file that does not load)."""
    candidate = load_policies(path)
    now = app.clock()
    report = policy_ops.replay_candidate(app, candidate, since=now - since, until=now + 1, agent=agent)
    if as_json:
        echo(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        for line in describe(report, path=path):
            echo(line)
    return 1 if report.allowed_now_denied else 0


def describe(report: Report, *, path: str) -> list[str]:
    """The report as text: one line per change, then its examples, then the human time."""
    lines = [f"{path}: {report.replayed} decisions replayed, {report.changed} would change"
             + (f" ({report.skipped} skipped: recorded before the audit kept what a decision reads)"
                if report.skipped else "")]
    for c in report.changes:
        lines.append(f"  {c.policy}\t{c.action}\t{ARROW[c.before.value]} → {ARROW[c.after.value]}\t{c.count}")
        for e in c.examples:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
            lines.append(f"      audit #{e.audit_id} {when} {e.agent} {json.dumps(dict(e.args), sort_keys=True)}"
                         f"\n        was: {e.was}\n        now: {e.now}")
    if report.decision_seconds is None:
        lines.append(f"new asks: {report.new_asks} (no approval was decided in the window to time a decision)")
    else:
        lines.append(f"new asks: {report.new_asks} × median decision {report.decision_seconds:.0f}s "
                     f"= {report.human_hours:.2f} human hours")
    if report.allowed_now_denied:
        lines.append(f"FAILED: {report.allowed_now_denied} actions that were allowed would now be denied")
    return lines
