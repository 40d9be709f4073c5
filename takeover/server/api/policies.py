"""Approval policies, for the operators who write them: what would happen to an action, and why."""

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from takeover import store
from takeover.app.decisions import active_grants, judge_action
from takeover.app.errors import Refusal
from takeover.config.mode import Mode, ModeName
from takeover.control.policy import Situation
from takeover.control.sources import resolve_mode
from takeover.control.validation import AgentName, Name, check_args
from takeover.server.api.deps import OperatorDep, ServiceDep

router = APIRouter(tags=["policies"])


class Explanation(BaseModel):
    decision: Literal["allow", "deny", "approval_required"]
    reason: str
    mode: ModeName
    policy: str | None = Field(description="the policy that decided (name and file:line); null: the mode's table")
    quorum: int | None = None
    approvers: list[str] | None = None
    trace: list[str] = Field(description="each policy in order, and why it matched or not")


@router.get("/policies/explain", response_model=Explanation)
def explain(who: OperatorDep, service: ServiceDep, agent: Annotated[AgentName, Query()],
            action: Annotated[Name, Query()], kind: Annotated[Literal["read", "write"], Query()] = "write",
            risk: Annotated[Literal["low", "high"], Query()] = "low",
            args: Annotated[str, Query(max_length=2000, description="the arguments as JSON (up to 2,000 characters: a URL must stay short)")] = "{}",
            variant: Annotated[Literal["stable", "canary"] | None, Query()] = None,
            mode: Annotated[ModeName | None, Query(description="judge in this mode (default: the agent's own)")] = None,
            ) -> Any:
    """What `POST /v1/agents/{agent}/actions` would answer now (nothing is opened or audited)."""
    try:
        parsed = json.loads(args)
        check_args(parsed)
    except ValueError as exc:
        raise Refusal(422, f"args must be a JSON object of arguments: {exc}") from None
    now = service.clock()
    with service.sessions() as s:
        sources = [src for src in store.active_sources(session=s, now=now) if src.applies(agent, now)]
        current = Mode[mode] if mode else resolve_mode(sources, agent=agent, now=now)
        judged = judge_action(service.app, s, Situation(agent=agent, action=action, kind=kind, risk=risk, args=parsed,
                                                        mode=current, variant=variant),
                              granted=active_grants(sources, action=action))
    policy = judged.policy
    return {"decision": judged.decision.value, "reason": judged.reason, "mode": judged.mode.name,
            "policy": f"{policy.name} ({policy.where})" if policy else None,
            "quorum": policy.approval.quorum if policy and judged.decision.value == "approval_required" else None,
            "approvers": list(policy.approval.approvers) if policy and judged.decision.value == "approval_required"
            else None, "trace": list(judged.trace)}
