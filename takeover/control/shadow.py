"""Shadow policies: judged on every action beside the enforcing ones, recorded, never obeyed.
Pure. Each shadow policy is judged as if it alone were promoted (its `shadow` mark deleted):
where it would then decide, its would-be decision is what promoting it would tell the agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from takeover.control.grants import Grant, judge_action
from takeover.control.policy import Policy, Situation, matches
from takeover.control.sources import Decision

WOULD = {Decision.allow: "would-allow", Decision.approval_required: "would-ask", Decision.deny: "would-deny"}


@dataclass(frozen=True)
class ShadowVerdict:
    """What one shadow policy, promoted, would have made of an action."""

    policy: Policy
    decision: Decision
    reason: str
    changes: bool  # differs from what the agent was told

    @property
    def would(self) -> str:
        return WOULD[self.decision]

    def to_json(self) -> dict[str, object]:
        return {"policy": self.policy.name, "where": self.policy.where, "decision": self.decision.value,
                "would": self.would, "changes": self.changes, "reason": self.reason}


def shadow_verdicts(policies: Sequence[Policy], s: Situation, grants: Iterable[Grant], *,
                    actual: Decision) -> tuple[ShadowVerdict, ...]:
    """For each shadow policy that matches the action and that no enforcing policy before it
    pre-empts, the decision the agent would have been given had it been promoted."""
    grants = tuple(grants)
    found = []
    for i, policy in enumerate(policies):
        if not policy.shadow or not matches(policy, s)[0]:
            continue
        if any(matches(q, s)[0] for q in policies[:i] if not q.shadow):
            continue  # an enforcing policy above it decides: promoting it changes nothing
        promoted = [replace(q, shadow=False) if q is policy else q for q in policies]
        verdict = judge_action(promoted, s, grants)
        found.append(ShadowVerdict(policy, verdict.decision, verdict.reason, verdict.decision != actual))
    return tuple(found)
