"""Is an agent team ready to run its agents under takeover? (`takeover readiness`): the readiness
file (items), the live facts (facts), the pure assessment (assessment), its output (report, command).

Two sources: the readiness file (`readiness.yml`), where the team says where it stands, one
entry per item (`item`, `owner`, `status: done | partial | missing`, `evidence`,
`next_action`), checked like a rule file (every problem as `file:line:column: message`); and
the live configuration (TAKEOVER_* settings), which takeover checks itself. `gather_facts` is
the only I/O; `assess(items, facts)` is pure and returns a `Report`.

A warning *blocks* (ready: false, exit 1) when takeover cannot do its job without the thing
it names: notice a misbehaving agent, take it over, let a human override, keep the record.

    invalid_rules           a rule file fails to load, or a rule lacks owner/runbook_url/first_check
    missing_takeover_rule   no rule has a `takeover` label, so no alert ever takes an agent over
    missing_human_override  no active (not revoked, not expired) operator or admin token, or Slack
                            interactivity is not set up: TAKEOVER_SLACK_SIGNING_SECRET,
                            TAKEOVER_SLACK_TOKEN and `slack_users` in the routing file (without
                            a mapping every button press is refused)
    audit_chain_broken      store.verify_audit found a row whose hash does not match
    database_unreachable    the database cannot be opened, so tokens and audit are unknown
    prometheus_unreachable  GET {TAKEOVER_PROMETHEUS_URL}/-/ready did not answer 200
    missing_<item>          a required item (REQUIRED_ITEMS) is `missing` or not in the file

Advisory warnings are listed but never block:

    missing_timeout_rule, missing_error_rule, missing_cost_rule: no rule watches that signal.
        Heuristic: a rule watches it when its alert name or a metric name in its expression
        (outside strings, label matchers and by/on clauses) contains `timeout`, `error` or
        `cost`, case-insensitive. A heuristic can miss a rule named otherwise, so it only warns.
    missing_rate_limit      `rate_limits` is missing (or not in the file)
    missing_<item>          an item of the team's own (not one of ITEM_WARNINGS) is missing

A `partial` item is shown in the table but is not a warning.
"""

from takeover.tools.readiness.assessment import SIGNALS as SIGNALS
from takeover.tools.readiness.assessment import (
    Check,
    Facts,
    Problem,
    Report,
    active_operators,
    assess,
    metric_names,
)
from takeover.tools.readiness.assessment import check_audit as check_audit
from takeover.tools.readiness.assessment import check_human_override as check_human_override
from takeover.tools.readiness.assessment import check_prometheus as check_prometheus
from takeover.tools.readiness.assessment import check_rules as check_rules
from takeover.tools.readiness.assessment import check_signal as check_signal
from takeover.tools.readiness.assessment import check_takeover_rule as check_takeover_rule
from takeover.tools.readiness.assessment import complete_items as complete_items
from takeover.tools.readiness.assessment import watches as watches
from takeover.tools.readiness.command import EXIT_BAD_FILE as EXIT_BAD_FILE
from takeover.tools.readiness.command import EXIT_NOT_READY as EXIT_NOT_READY
from takeover.tools.readiness.command import EXIT_READY as EXIT_READY
from takeover.tools.readiness.command import run_readiness
from takeover.tools.readiness.facts import PROMETHEUS_TIMEOUT as PROMETHEUS_TIMEOUT
from takeover.tools.readiness.facts import gather_facts
from takeover.tools.readiness.items import ITEM_FIELDS as ITEM_FIELDS
from takeover.tools.readiness.items import ITEM_NAME_RE as ITEM_NAME_RE
from takeover.tools.readiness.items import ITEM_WARNINGS as ITEM_WARNINGS
from takeover.tools.readiness.items import REQUIRED_ITEMS as REQUIRED_ITEMS
from takeover.tools.readiness.items import Item, Status, load_readiness, parse_readiness
from takeover.tools.readiness.report import print_report, report_json

__all__ = [
    "Check", "Facts", "Item", "Problem", "Report", "Status", "active_operators", "assess",
    "gather_facts", "load_readiness", "metric_names", "parse_readiness", "print_report",
    "report_json", "run_readiness",
]
