"""The pure assessment: the live facts and the items judged into checks, named warnings and a Report."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from takeover.rules.conventions import REQUIRED_ANNOTATIONS, REQUIRED_LABELS
from takeover.rules.format import Rule
from takeover.store.models import TokenRow
from takeover.tools.readiness.items import ITEM_WARNINGS, Item, Status

SIGNALS = ("timeout", "error", "cost")

_STRINGS_RE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS_RE = re.compile(r"\{[^}]*\}|\[[^\]]*\]")  # label matchers, ranges and subqueries
_GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# a whole name (not inside a number or a longer name) that is not called: not a function
_NAME_RE = re.compile(r"(?<![a-zA-Z0-9_:.])[a-zA-Z_:][a-zA-Z0-9_:]*(?![a-zA-Z0-9_:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}


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
