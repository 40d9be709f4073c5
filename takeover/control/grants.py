"""Grants: "approve, and allow this action for this agent for a while". Pure: what a grant
covers and the one order every action is decided in.

A grant covers only what the policy it came from would have asked a human for, and only up to
the approved arguments: each number in them is a bound (a grant given on a refund of 600
covers refunds from 0 to 600, not 5,000,000), and a number the approval did not bound is not
covered. The order: the policies' verdict (a deny stays a deny), the mode's floor, then grants.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from takeover.control.policy import Policy, Situation, Verdict, judge
from takeover.control.sources import Decision, decide


@dataclass(frozen=True)
class Grant:
    """What a grant covers: the policy that asked (by name), the approval it was given on, and
    the upper bound of each numeric argument (by dotted path)."""

    policy: str
    approval: str = ""
    bounds: tuple[tuple[str, float], ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "approval": self.approval, "bounds": dict(self.bounds)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any], *, reason: str = "") -> Grant:
        bounds = value.get("bounds") or {}
        return cls(policy=str(value.get("policy", "")), approval=str(value.get("approval", "")),
                   bounds=tuple(sorted((str(k), float(v)) for k, v in bounds.items())), reason=reason)


def numbers(args: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Every number in `args` by dotted path (nested objects too; booleans are not numbers)."""
    found: dict[str, float] = {}
    for key, value in args.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found |= numbers(value, f"{path}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[path] = float(value)
        elif isinstance(value, list):
            found |= numbers({str(i): v for i, v in enumerate(value)}, f"{path}.")
    return found


def grant_for(*, policy: str, approval: str, args: Mapping[str, Any], reason: str = "") -> Grant:
    """The grant an approver gives on an approval of `args` (the effective, approved ones)."""
    return Grant(policy=policy, approval=approval, bounds=tuple(sorted(numbers(args).items())), reason=reason)


def within(value: float, bound: float) -> bool:
    """On the bound's side of zero and no further from it: 0 ≤ value ≤ bound (bound ≥ 0),
    bound ≤ value ≤ 0 (bound < 0)."""
    return math.isfinite(value) and (0.0 <= value <= bound if bound >= 0 else bound <= value <= 0.0)


def covers(grant: Grant, *, policy: Policy | None, args: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the grant allows an action that `policy` asks a human for, with `args`; and why not."""
    if policy is None or policy.name != grant.policy:
        return False, f"the grant is for what policy {grant.policy} asks, not {policy.name if policy else 'the mode'}"
    bounds = dict(grant.bounds)
    for path, value in numbers(args).items():
        if path not in bounds:
            return False, f"{path} was not in the approved arguments, so the grant does not bound it"
        if not within(value, bounds[path]):
            return False, f"{path} = {value:g} is beyond the approved {bounds[path]:g}"
    return True, ""


def judge_action(policies: Sequence[Policy], s: Situation, grants: Iterable[Grant] = ()) -> Verdict:
    """The one order of decision: the policies (first match; a deny decides), never looser than
    the mode's floor (`judge`), then a grant, which only turns the approval that its own policy
    asks for into an allow while the mode itself allows the write; then the verdict stands."""
    verdict = judge(policies, s)
    if verdict.decision != Decision.approval_required:
        return verdict
    floor, _ = decide(s.mode, kind=s.kind, risk="low")
    if floor != Decision.allow:
        return verdict
    why_not = []
    for grant in grants:
        ok, why = covers(grant, policy=verdict.policy, args=s.args)
        if ok:
            return Verdict(Decision.allow, f"granted: {grant.reason or f'approval {grant.approval}'}",
                           verdict.policy, verdict.trace)
        why_not.append(why)
    if why_not:
        return Verdict(verdict.decision, f"{verdict.reason}; not granted: {why_not[0]}", verdict.policy, verdict.trace)
    return verdict
