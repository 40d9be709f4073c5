"""Is an agent team ready to run its agents under takeover? (`takeover readiness`)

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

from __future__ import annotations

import enum
import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from takeover.config import yamlfile
from takeover.config.yamlfile import ConfigError, ErrorSink, compose_yaml
from takeover.rules.format import REQUIRED_ANNOTATIONS, REQUIRED_LABELS, Rule
from takeover.server.settings import Settings
from takeover.store.models import TokenRow

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "Check", "Facts", "Item", "Problem", "Report", "Status", "active_operators", "assess",
    "gather_facts", "load_readiness", "metric_names", "parse_readiness", "print_report",
    "report_json", "run_readiness",
]

# the seed's items and the warning each one raises when missing
ITEM_WARNINGS = {
    "tools": "missing_tools",
    "permissions": "missing_permissions",
    "tracing": "missing_tracing",
    "evaluation_cases": "missing_evaluation_cases",
    "rollback": "missing_rollback",
    "budget_limits": "missing_budget_limit",
    "human_approval": "missing_human_approval",
    "incident_response": "missing_incident_response",
    "rate_limits": "missing_rate_limit",
}
REQUIRED_ITEMS = tuple(name for name in ITEM_WARNINGS if name != "rate_limits")
ITEM_FIELDS = ("item", "owner", "status", "evidence", "next_action")
ITEM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
SIGNALS = ("timeout", "error", "cost")
PROMETHEUS_TIMEOUT = 3.0  # seconds: a readiness check should not hang on a dead Prometheus
EXIT_READY, EXIT_NOT_READY, EXIT_BAD_FILE = 0, 1, 2

_STRINGS_RE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS_RE = re.compile(r"\{[^}]*\}|\[[^\]]*\]")  # label matchers, ranges and subqueries
_GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# a whole name (not inside a number or a longer name) that is not called: not a function
_NAME_RE = re.compile(r"(?<![a-zA-Z0-9_:.])[a-zA-Z_:][a-zA-Z0-9_:]*(?![a-zA-Z0-9_:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}


class Status(str, enum.Enum):
    done = "done"  # in place, and the evidence shows it
    partial = "partial"  # started: the evidence shows what is there, next_action what is not
    missing = "missing"  # not there yet


@dataclass(frozen=True)
class Item:
    """One entry of the readiness file; `line` 0 for a required item the file leaves out."""

    item: str
    owner: str
    status: Status
    evidence: str = ""
    next_action: str = ""
    line: int = 0

    @property
    def required(self) -> bool:
        return self.item in REQUIRED_ITEMS

    @property
    def warning(self) -> str | None:
        """The warning this item raises: only a missing item raises one."""
        if self.status is not Status.missing:
            return None
        return ITEM_WARNINGS.get(self.item, f"missing_{self.item}")


@dataclass(frozen=True)
class Facts:
    """What takeover found in the live configuration (see `gather_facts`)."""

    rules: tuple[Rule, ...] = ()
    rule_errors: tuple[str, ...] = ()  # `file:line:column: message` from load_rules
    operators: tuple[str, ...] = ()  # names of the active operator and admin tokens
    slack_signing_secret: bool = False
    slack_token: bool = False
    slack_users: int = 0  # Slack users mapped to operators in the routing file
    routing_errors: tuple[str, ...] = ()
    audit_checked: int = 0  # audit rows that verify
    audit_broken: str | None = None  # the first row whose hash does not match, described
    database_error: str | None = None  # the database could not be read: tokens and audit unknown
    prometheus_url: str = ""
    prometheus_error: str | None = None  # None: /-/ready answered 200


@dataclass(frozen=True)
class Check:
    """One live check; when it fails it raises `warning`."""

    name: str
    ok: bool
    blocking: bool
    detail: str
    warning: str
    next_action: str = ""


@dataclass(frozen=True)
class Problem:
    """A named warning; a blocking one makes the team not ready."""

    name: str
    blocking: bool


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    items: tuple[Item, ...]
    problems: tuple[Problem, ...]

    @property
    def ready(self) -> bool:
        return not any(p.blocking for p in self.problems)

    @property
    def warnings(self) -> list[str]:
        return [p.name for p in self.problems]

    @property
    def blocking(self) -> list[str]:
        return [p.name for p in self.problems if p.blocking]


# --- the readiness file -------------------------------------------------------------------

def load_readiness(path: str | Path) -> list[Item]:
    """Read and check the readiness file; raise ConfigError listing every problem."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise yamlfile.unreadable(str(path), "readiness file", exc) from None
    items, errors = parse_readiness(text, filename=str(path))
    if errors:
        raise ConfigError(errors)
    return items


def parse_readiness(text: str, *, filename: str) -> tuple[list[Item], list[yamlfile.Problem]]:
    """Parse the readiness file's text: the valid items and every problem found."""
    root, errors, err = compose_yaml(text, filename=filename)
    if errors:
        return [], errors
    if not isinstance(root, yaml.SequenceNode):
        err(root, f"the readiness file must be a list of items, each with {', '.join(ITEM_FIELDS)}")
        return [], errors
    items: list[Item] = []
    seen: dict[str, int] = {}
    for node in root.value:
        item = _parse_item(node, err)
        if item is None:
            continue
        if item.item in seen:
            err(node, f'item "{item.item}" is listed twice (first at line {seen[item.item]})')
            continue
        seen[item.item] = item.line
        items.append(item)
    return items, sorted(errors, key=lambda e: (e.line, e.column))


def _parse_item(node: yaml.Node, err: ErrorSink) -> Item | None:
    if not isinstance(node, yaml.MappingNode):
        err(node, f"an item must be a mapping with {', '.join(ITEM_FIELDS)}")
        return None
    values: dict[str, tuple[yaml.Node, str]] = {}
    for key, value in node.value:
        name = str(key.value)
        if name not in ITEM_FIELDS:
            err(key, f"unknown field {name} in item (allowed: {', '.join(ITEM_FIELDS)})")
        elif not isinstance(value, yaml.ScalarNode):
            err(value, f"{name} must be a string")
            values[name] = (value, "-")  # reported once: not again as "required"
        else:
            values[name] = (value, "" if value.tag.endswith(":null") else str(value.value).strip())
    item_node, name = values.get("item", (node, ""))
    if not name:
        err(item_node, "item is required: what this entry is about, e.g. tracing")
        return None
    if not ITEM_NAME_RE.match(name):
        err(item_node, f'item "{name}" must be lower_snake_case, e.g. rate_limits')
        return None
    owner = values.get("owner", (node, ""))[1]
    if not owner:
        err(values.get("owner", (node, ""))[0], f'item "{name}": owner is required (who answers for it)')
    status_node, status_text = values.get("status", (node, ""))
    if status_text not in Status.__members__:
        err(status_node, f'item "{name}": status must be one of {", ".join(Status.__members__)}; '
                         f'got "{status_text}"')
        return None
    status = Status(status_text)
    evidence, next_action = values.get("evidence", (node, ""))[1], values.get("next_action", (node, ""))[1]
    if status is not Status.missing and not evidence:
        err(node, f'item "{name}": evidence is required when status is {status.value} (what shows it?)')
    if status is not Status.done and not next_action:
        err(node, f'item "{name}": next_action is required when status is {status.value} (what closes the gap?)')
    return Item(item=name, owner=owner, status=status, evidence=evidence, next_action=next_action,
                line=node.start_mark.line + 1)


# --- the pure assessment ------------------------------------------------------------------

def metric_names(expr: str) -> set[str]:
    """The names in a PromQL expression that can be metric names (the signal heuristic's input):
    identifiers outside strings, label matchers and grouping clauses, not called as functions."""
    text = _GROUPING_RE.sub(" ", _MATCHERS_RE.sub(" ", _STRINGS_RE.sub(" ", expr)))
    return {name for name in _NAME_RE.findall(text) if name.lower() not in _KEYWORDS}


def watches(rule: Rule, signal: str) -> bool:
    """The heuristic: the alert name or a metric name contains `signal` (case-insensitive)."""
    return signal in rule.name.lower() or any(signal in m.lower() for m in metric_names(rule.expr))


def active_operators(tokens: Iterable[TokenRow], *, now: float) -> tuple[str, ...]:
    """Names of the operator and admin tokens that are neither revoked nor expired at `now`."""
    return tuple(t.name for t in tokens if t.role in ("operator", "admin") and t.revoked_at is None
                 and (t.expires_at is None or t.expires_at > now))


def _where(rule: Rule) -> str:
    return f"{rule.name} ({rule.file}:{rule.line})" if rule.file else rule.name


def check_rules(facts: Facts) -> Check:
    gaps = [f"{_where(r)} has no {what}" for r in facts.rules
            for what in (*(f"label {name}" for name in REQUIRED_LABELS if not r.labels.get(name)),
                         *(f"annotation {name}" for name in REQUIRED_ANNOTATIONS if not r.annotations.get(name)))]
    problems = [*facts.rule_errors, *gaps]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return Check("rules", False, True, "; ".join(problems[:3]) + more, "invalid_rules",
                     "fix the rule files (takeover check lists every problem)")
    files = len({r.file for r in facts.rules})
    return Check("rules", True, True, f"{len(facts.rules)} rule(s) in {files} file(s), each with an owner, "
                 "a runbook_url and a first_check", "invalid_rules")


def check_signal(facts: Facts, signal: str) -> Check:
    found = [r for r in facts.rules if watches(r, signal)]
    name = f"{signal}_rule"
    if found:
        return Check(name, True, False, ", ".join(_where(r) for r in found), f"missing_{name}")
    why = "no rule loaded" if not facts.rules else f"no alert or metric name contains '{signal}'"
    return Check(name, False, False, why, f"missing_{name}",
                 f"add a rule on the {signal} rate of every agent (see rules/agents.yml)")


def check_takeover_rule(facts: Facts) -> Check:
    found = [r for r in facts.rules if r.takeover is not None]
    if found:
        return Check("takeover_rule", True, True, ", ".join(f"{_where(r)} → {r.labels['takeover']}" for r in found),
                     "missing_takeover_rule")
    return Check("takeover_rule", False, True, "no rule has a takeover label: alerts only notify",
                 "missing_takeover_rule",
                 "add `takeover: require_approval | pause_writes | read_only | handoff` to a rule's labels")


def check_human_override(facts: Facts) -> Check:
    gaps: list[tuple[str, str]] = []  # (what is missing, what to do)
    if facts.database_error is not None:
        gaps.append(("tokens unknown: the database cannot be read", "see the audit_chain check"))
    elif not facts.operators:
        gaps.append(("no active operator or admin token", "takeover token create --role operator --name NAME"))
    if not facts.slack_signing_secret:
        gaps.append(("TAKEOVER_SLACK_SIGNING_SECRET unset: Slack buttons are refused",
                     "set TAKEOVER_SLACK_SIGNING_SECRET"))
    if not facts.slack_token:
        gaps.append(("TAKEOVER_SLACK_TOKEN unset: messages go to the console", "set TAKEOVER_SLACK_TOKEN"))
    if facts.routing_errors:
        gaps.append((f"routing file: {facts.routing_errors[0]}", "fix the routing file (takeover check)"))
    elif not facts.slack_users:
        gaps.append(("no slack_users in the routing file: nobody in Slack can act",
                     "map Slack user ids to operators under slack_users in TAKEOVER_ROUTING"))
    if gaps:
        return Check("human_override", False, True, "; ".join(g for g, _ in gaps), "missing_human_override",
                     "; ".join(dict.fromkeys(fix for _, fix in gaps)))
    return Check("human_override", True, True,
                 f"operators: {', '.join(facts.operators)}; Slack interactivity on, "
                 f"{facts.slack_users} Slack users mapped", "missing_human_override")


def check_audit(facts: Facts) -> Check:
    if facts.database_error is not None:
        return Check("audit_chain", False, True, facts.database_error, "database_unreachable",
                     "check TAKEOVER_DATABASE_URL (takeover db current)")
    if facts.audit_broken is not None:
        return Check("audit_chain", False, True,
                     f"broken at {facts.audit_broken}; {facts.audit_checked} rows before it verify",
                     "audit_chain_broken", "treat as an incident: find who edited the audit table")
    return Check("audit_chain", True, True, f"{facts.audit_checked} rows verify", "audit_chain_broken")


def check_prometheus(facts: Facts) -> Check:
    if facts.prometheus_error is not None:
        return Check("prometheus", False, True, f"{facts.prometheus_url}: {facts.prometheus_error}",
                     "prometheus_unreachable", "start Prometheus or fix TAKEOVER_PROMETHEUS_URL")
    return Check("prometheus", True, True, f"{facts.prometheus_url} is ready", "prometheus_unreachable")


def complete_items(items: Sequence[Item]) -> tuple[Item, ...]:
    """The file's items, then every seed item the file leaves out, as missing."""
    listed = {i.item for i in items}
    absent = [Item(item=name, owner="", status=Status.missing, evidence="not in the readiness file",
                   next_action="add it with its owner and status")
              for name in ITEM_WARNINGS if name not in listed]
    return (*items, *absent)


def assess(items: Sequence[Item], facts: Facts) -> Report:
    """Judge the items and the live facts: every check, every item, and the named warnings."""
    checks = (check_rules(facts), *(check_signal(facts, s) for s in SIGNALS), check_takeover_rule(facts),
              check_human_override(facts), check_audit(facts), check_prometheus(facts))
    every_item = complete_items(items)
    problems = [Problem(c.warning, c.blocking) for c in checks if not c.ok]
    problems += [Problem(i.warning, i.required) for i in every_item if i.warning is not None]
    return Report(checks=checks, items=every_item, problems=tuple(problems))


# --- gathering the facts (the I/O) --------------------------------------------------------

def gather_facts(settings: Settings, *, now: float, timeout: float = PROMETHEUS_TIMEOUT) -> Facts:
    """Read the rule and routing files, the database and Prometheus as `settings` point to."""
    from takeover.notify.routing import load_routing
    from takeover.rules.format import load_rules

    rules: tuple[Rule, ...] = ()
    rule_errors: tuple[str, ...] = ()
    try:
        rules = tuple(r for g in load_rules(settings.rules) for r in g.rules)
    except ConfigError as exc:
        rule_errors = tuple(map(str, exc.errors))
    slack_users = 0
    routing_errors: tuple[str, ...] = ()
    try:
        slack_users = len(load_routing(settings.routing, default_channel=settings.slack_channel).slack_users)
    except ConfigError as exc:
        routing_errors = tuple(map(str, exc.errors))
    operators, checked, broken, db_error = _read_database(settings.database_url, now=now)
    return Facts(rules=rules, rule_errors=rule_errors, operators=operators,
                 slack_signing_secret=bool(settings.slack_signing_secret and settings.slack_signing_secret.get_secret_value()),
                 slack_token=bool(settings.slack_token and settings.slack_token.get_secret_value()),
                 slack_users=slack_users, routing_errors=routing_errors,
                 audit_checked=checked, audit_broken=broken, database_error=db_error,
                 prometheus_url=settings.prometheus_url,
                 prometheus_error=_prometheus_error(settings.prometheus_url, timeout=timeout))


def _read_database(url: str, *, now: float) -> tuple[tuple[str, ...], int, str | None, str | None]:
    """(active operators, audit rows verified, the broken row, why the database is unreadable)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError
    from sqlmodel import Session

    from takeover import store
    from takeover.store.migrate import DatabaseBehind

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        return (), 0, None, f"TAKEOVER_DATABASE_URL is not a database URL: {exc}"
    shown = parsed.render_as_string(hide_password=True)
    # a check must not create the database it is asked about (make_engine would, for SQLite)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(str(parsed.database)).exists():
        return (), 0, None, f"no database at {parsed.database}: takeover serve (or takeover db upgrade) creates it"
    try:
        engine = store.make_engine(url)
    except DatabaseBehind as exc:
        return (), 0, None, str(exc)
    except SQLAlchemyError as exc:
        return (), 0, None, f"cannot open {shown}: {str(exc).splitlines()[0]}"
    try:
        with Session(engine) as session:
            operators = active_operators(store.list_tokens(session=session), now=now)
            checked, bad = store.verify_audit(session=session)
    except SQLAlchemyError as exc:
        return (), 0, None, f"cannot read {shown}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    broken = None if bad is None else f"row {bad.id} ({bad.action} by {bad.actor} at {bad.at})"
    return operators, checked, broken, None


def _prometheus_error(url: str, *, timeout: float) -> str | None:
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/-/ready", timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"GET /-/ready failed: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"GET /-/ready answered {response.status_code}: {response.text.strip()[:200]}"
    return None


# --- output -------------------------------------------------------------------------------

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


def run_readiness(path: str | Path, *, settings: Settings, as_json: bool = False,
                  now: float | None = None) -> int:
    """`takeover readiness`: print the report; 0 ready, 1 not ready, 2 a bad readiness file."""
    from rich.console import Console

    try:
        items = load_readiness(path)
    except ConfigError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        print(f"takeover readiness: {len(exc.errors)} problem(s) in {path}", file=sys.stderr)
        return EXIT_BAD_FILE
    report = assess(items, gather_facts(settings, now=time.time() if now is None else now))
    if as_json:
        print(json.dumps(report_json(report), indent=2))
    else:
        # piped output gets full-width lines instead of a table folded to 80 columns
        print_report(report, console=Console(highlight=False, width=None if sys.stdout.isatty() else 160))
    return EXIT_READY if report.ready else EXIT_NOT_READY
