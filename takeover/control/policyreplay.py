"""A replay of a candidate policy file over recorded action decisions: what would it have
changed? Pure: decision records (what each decision read, as the audit trail keeps it) in, a
report out. Every policy of the candidate is judged as enforcing (a `shadow` mark is what the
replay asks about, so it is ignored), in the one order of `grants.judge_action`, with the mode,
arguments, release variant, firing state and grants each action had at the time.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from takeover.config.mode import Mode
from takeover.control.grants import Grant, judge_action
from takeover.control.policy import STRICTNESS, Policy, Situation
from takeover.control.sources import Decision

EXAMPLES = 3  # examples kept per change
NO_POLICY = "(the mode's table)"


@dataclass(frozen=True)
class Recorded:
    """One action decision as it was made: what it read and what the agent was told."""

    audit_id: int
    at: float
    situation: Situation
    decision: Decision
    policy: str | None = None  # "name (file:line)" of the policy that decided, if one did
    grants: tuple[Grant, ...] = ()


def recorded(*, audit_id: int, at: float, subject: str, action: str, detail: Any) -> Recorded | None:
    """The decision an audit row (`action.allow|approval_required|deny`) records, or None when
    the row does not carry everything a decision reads (rows written before it did)."""
    if not isinstance(detail, Mapping) or not action.startswith("action.") or not subject.startswith("agent:"):
        return None
    try:
        decision, mode = Decision(action.removeprefix("action.")), Mode[str(detail["mode"])]
        args, firing = detail["args"], detail["alert_firing"]
    except (KeyError, ValueError):
        return None
    if not isinstance(args, Mapping) or not isinstance(firing, bool):
        return None
    variant = detail.get("variant")
    situation = Situation(agent=subject.removeprefix("agent:"), action=str(detail.get("action", "")),
                          kind=str(detail.get("kind", "write")), risk=str(detail.get("risk", "low")), args=args,
                          mode=mode, variant=str(variant["name"]) if isinstance(variant, Mapping) and
                          variant.get("name") else None, alert_firing=firing)
    grants = tuple(Grant.from_json(g) for g in detail.get("grants") or () if isinstance(g, Mapping))
    policy = detail.get("policy")
    return Recorded(audit_id, at, situation, decision, str(policy) if policy else None, grants)


@dataclass(frozen=True)
class Example:
    audit_id: int
    at: float
    agent: str
    args: Mapping[str, Any]
    was: str  # the policy that decided then
    now: str  # the candidate's reason


@dataclass(frozen=True)
class Change:
    """Actions of one kind whose decision the candidate changes in one way."""

    policy: str  # the candidate's deciding policy (name), or NO_POLICY
    action: str
    before: Decision
    after: Decision
    count: int = 0
    examples: tuple[Example, ...] = ()

    @property
    def stricter(self) -> bool:
        return STRICTNESS[self.after] > STRICTNESS[self.before]


@dataclass(frozen=True)
class Report:
    replayed: int  # decisions judged again
    skipped: int  # decisions whose record lacks what was read
    changes: tuple[Change, ...] = ()
    decision_seconds: float | None = None  # median time a person took to decide an approval
    unchanged: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unchanged", self.replayed - self.changed)

    @property
    def changed(self) -> int:
        return sum(c.count for c in self.changes)

    @property
    def new_asks(self) -> int:
        """Actions that would now wait for a person and did not."""
        return sum(c.count for c in self.changes if c.after == Decision.approval_required)

    @property
    def human_hours(self) -> float | None:
        """What the new asks would have cost: approvals × the median decision time."""
        return None if self.decision_seconds is None else self.new_asks * self.decision_seconds / 3600

    @property
    def allowed_now_denied(self) -> int:
        return sum(c.count for c in self.changes if c.before == Decision.allow and c.after == Decision.deny)

    def to_json(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "skipped": self.skipped, "changed": self.changed,
                "unchanged": self.unchanged, "new_asks": self.new_asks,
                "median_decision_seconds": self.decision_seconds, "human_hours": self.human_hours,
                "allowed_now_denied": self.allowed_now_denied,
                "changes": [{"policy": c.policy, "action": c.action, "from": c.before.value, "to": c.after.value,
                             "count": c.count, "examples": [
                                 {"audit_id": e.audit_id, "at": e.at, "agent": e.agent, "args": dict(e.args),
                                  "was": e.was, "now": e.now} for e in c.examples]}
                            for c in self.changes]}


def replay(candidate: Sequence[Policy], records: Iterable[Recorded | None], *,
           decision_seconds: Sequence[float] = ()) -> Report:
    """Judge each recorded action again under `candidate` and report, per deciding policy and
    action, each change of decision (allow → approval_required, …) with examples; None records
    are counted as skipped. `decision_seconds`: how long people took to decide approvals."""
    enforced = [replace(p, shadow=False) for p in candidate]
    replayed = skipped = 0
    found: dict[tuple[str, str, Decision, Decision], Change] = {}
    for record in records:
        if record is None:
            skipped += 1
            continue
        replayed += 1
        verdict = judge_action(enforced, record.situation, record.grants)
        if verdict.decision == record.decision:
            continue
        key = (verdict.policy.name if verdict.policy else NO_POLICY, record.situation.action,
               record.decision, verdict.decision)
        change = found.get(key) or Change(*key)
        examples = change.examples
        if len(examples) < EXAMPLES:
            examples += (Example(record.audit_id, record.at, record.situation.agent, record.situation.args,
                                 record.policy or NO_POLICY, verdict.reason),)
        found[key] = replace(change, count=change.count + 1, examples=examples)
    ordered = sorted(found.values(), key=lambda c: (not (c.before == Decision.allow and c.after == Decision.deny),
                                                    not c.stricter, -c.count, c.policy, c.action))
    median = statistics.median(decision_seconds) if decision_seconds else None
    return Report(replayed, skipped, tuple(ordered), median)
