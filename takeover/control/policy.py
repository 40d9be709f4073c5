"""Approval policies: the service, not the agent, decides what needs a human. Pure: a policy
file's rules, matched in order against an action and the agent's live state; the first match
decides, and the mode's own floor still holds (a policy never loosens a mode).

A condition on a missing or mistyped argument is *unknown*: it never lets an `allow` policy
match, and it makes a `deny` or `require_approval` policy match (the safer branch), saying why.
"""

from __future__ import annotations

import enum
import fnmatch
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from takeover.config.mode import Mode
from takeover.config.regex import RegexError, compile_regex
from takeover.control.sources import Decision, decide

STRICTNESS = {Decision.allow: 0, Decision.approval_required: 1, Decision.deny: 2}
CONDITION = re.compile(r"""\s*(?:(?P<neg>not\s+)?has\s+(?P<key>[A-Za-z_][\w.]*)|
                           (?P<name>[A-Za-z_][\w.]*)\s*(?P<op>>=|<=|==|!=|=~|!~|>|<)\s*(?P<value>.+?))\s*$""", re.X)


class Truth(enum.Enum):
    yes = "yes"
    no = "no"
    unknown = "unknown"  # the argument is missing or of another type


@dataclass(frozen=True)
class Condition:
    """`amount > 500`, `to_account !~ "^internal-"` (an RE2 search: linear time), `currency == "EUR"`, `has key`,
    `not has key`."""

    text: str
    name: str
    op: str  # > >= < <= == != =~ !~ has !has
    value: float | str | None = None

    def test(self, args: Mapping[str, Any]) -> tuple[Truth, str]:
        present, got = _lookup(args, self.name)
        if self.op in ("has", "!has"):
            return (Truth.yes if present == (self.op == "has") else Truth.no), ""
        if not present:
            return Truth.unknown, f"{self.name} is missing"
        if isinstance(self.value, float):
            if isinstance(got, bool) or not isinstance(got, (int, float)) or math.isnan(float(got)):
                return Truth.unknown, f"{self.name} is not a number ({_short(got)})"
            a, b = float(got), self.value
            hit = {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "==": a == b, "!=": a != b}[self.op]
            return (Truth.yes if hit else Truth.no), ""
        if not isinstance(got, str):
            return Truth.unknown, f"{self.name} is not a string ({_short(got)})"
        assert isinstance(self.value, str)
        if self.op in ("=~", "!~"):
            hit = compile_regex(self.value).search(got)  # a search, as grep: anchor with ^ and $
            return (Truth.yes if hit == (self.op == "=~") else Truth.no), ""
        return (Truth.yes if (got == self.value) == (self.op == "==") else Truth.no), ""


def parse_condition(text: str) -> Condition:
    """A condition as written in a policy's `when:`; ValueError says what is wrong."""
    match = CONDITION.fullmatch(text)
    if match is None:
        raise ValueError(f"bad condition {text!r}: write `amount > 500`, `to_account !~ \"^internal-\"`, "
                         "`currency == \"EUR\"`, `has key` or `not has key`")
    if match["key"]:
        return Condition(text, match["key"], "!has" if match["neg"] else "has")
    name, op, raw = match["name"], match["op"], match["value"]
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        value: float | str = raw[1:-1]
    elif op in ("=~", "!~"):
        raise ValueError(f"bad condition {text!r}: a regex is quoted, e.g. {name} {op} \"^internal-\"")
    else:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"bad condition {text!r}: {raw} is neither a number nor a quoted string") from None
        if op in ("=~", "!~") or not math.isfinite(value):
            raise ValueError(f"bad condition {text!r}: compare with a finite number")
    if op in (">", ">=", "<", "<=") and not isinstance(value, float):
        raise ValueError(f"bad condition {text!r}: {op} compares numbers")
    if op in ("=~", "!~"):
        try:
            compile_regex(str(value))
        except RegexError as exc:
            raise ValueError(f"bad condition {text!r}: invalid regex: {exc}") from None
    return Condition(text, name, op, value)


@dataclass(frozen=True)
class Escalation:
    after: float
    target: str


@dataclass(frozen=True)
class Approval:
    """What a `require_approval` policy asks for."""

    approvers: tuple[str, ...] = ("role:operator",)  # role:…, operator:…, or a Slack user group S…
    quorum: int = 1
    owner_may_approve: bool = True
    expires_in: float | None = None
    escalation: tuple[Escalation, ...] = ()
    grant_max: float = 0.0  # longest "approve and allow for …" an approver may give (0: no grants)


@dataclass(frozen=True)
class Policy:
    name: str
    decision: Decision
    agent: str = "*"
    action: str = "*"
    kind: str | None = None
    risk: str | None = None
    when: tuple[Condition, ...] = ()
    modes: tuple[Mode, ...] = ()
    variant: str | None = None
    alert_firing: bool | None = None
    reason: str = ""
    approval: Approval = field(default_factory=Approval)
    where: str = ""  # file:line
    shadow: bool = False  # judged beside the enforcing policies and recorded, never obeyed

    @property
    def uses_alerts(self) -> bool:
        return self.alert_firing is not None


@dataclass(frozen=True)
class Situation:
    """The action and the agent's live state it is judged in."""

    agent: str
    action: str
    kind: str
    risk: str
    args: Mapping[str, Any]
    mode: Mode
    variant: str | None = None
    alert_firing: bool = False


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    policy: Policy | None = None
    trace: tuple[str, ...] = ()  # why each policy matched or not, in order

    @property
    def approval(self) -> Approval:
        return self.policy.approval if self.policy is not None else Approval()


def matches(policy: Policy, s: Situation) -> tuple[bool, str]:
    """Whether the policy applies, and why (or why not)."""
    if not fnmatch.fnmatchcase(s.agent, policy.agent):
        return False, f"agent {s.agent} is not {policy.agent}"
    if not fnmatch.fnmatchcase(s.action, policy.action):
        return False, f"action {s.action} is not {policy.action}"
    for what, want, got in (("kind", policy.kind, s.kind), ("risk", policy.risk, s.risk),
                            ("variant", policy.variant, s.variant or "none")):
        if want is not None and want != got:
            return False, f"{what} is {got}, not {want}"
    if policy.modes and s.mode not in policy.modes:
        return False, f"mode is {s.mode.name}"
    if policy.alert_firing is not None and policy.alert_firing != s.alert_firing:
        return False, "an alert is firing on the agent" if s.alert_firing else "no alert is firing on the agent"
    unknown = []
    for condition in policy.when:
        truth, why = condition.test(s.args)
        if truth == Truth.no:
            return False, f"not {condition.text}"
        if truth == Truth.unknown:
            if policy.decision == Decision.allow:
                return False, f"{why}: an allow never rests on an unknown"
            unknown.append(why)
    return True, (f"{'; '.join(unknown)}: treated as matching (the safer branch)" if unknown else "matches")


def judge(policies: Sequence[Policy], s: Situation) -> Verdict:
    """The first matching enforcing policy's decision (shadow policies are skipped), never looser
    than the mode's own floor; with no match, the mode's decision table (where the declared risk
    gates approval)."""
    floor, floor_reason = decide(s.mode, kind=s.kind, risk="low")
    trace = []
    for policy in policies:
        if policy.shadow:
            trace.append(f"{policy.name} ({policy.where}): shadow, recorded but not enforced")
            continue
        hit, why = matches(policy, s)
        trace.append(f"{policy.name} ({policy.where}): {why}")
        if not hit:
            continue
        said = policy.reason or f"policy {policy.name}"
        reason = f"{said} (policy {policy.name}, {policy.where})" + ("" if why == "matches" else f"; {why}")
        if STRICTNESS[floor] > STRICTNESS[policy.decision]:
            return Verdict(floor, f"{floor_reason}; policy {policy.name} ({policy.where}) cannot loosen the mode",
                           policy if floor == Decision.approval_required else None, tuple(trace))
        return Verdict(policy.decision, reason, policy, tuple(trace))
    decision, reason = decide(s.mode, kind=s.kind, risk=s.risk)
    return Verdict(decision, reason, None, tuple(trace))


def _lookup(args: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """`a.b` looks into nested objects."""
    value: Any = args
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
