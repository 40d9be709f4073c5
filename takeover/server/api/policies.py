"""Approval policies, for the operators who write them: what would happen to an action, and why;
the loaded policies with what the shadow ones would have done; and a replay of a candidate file
over the recorded action decisions."""

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from takeover import store
from takeover.app import policies as policy_ops
from takeover.app.decisions import active_grants, judge_action
from takeover.app.errors import Refusal
from takeover.config.mode import Mode, ModeName
from takeover.config.yamlfile import ConfigError
from takeover.control.policy import Situation
from takeover.control.policyfile import parse_policies
from takeover.control.sources import resolve_mode
from takeover.control.validation import AgentName, Duration, Name, check_args, duration
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


class ShadowCounts(BaseModel):
    allow: int
    approval_required: int
    deny: int


class PolicyShown(BaseModel):
    name: str
    where: str = Field(description="file:line")
    decision: Literal["allow", "deny", "approval_required"]
    shadow: bool = Field(description="judged and recorded beside the others, never obeyed")
    agent: str
    action: str
    reason: str
    last_24h: ShadowCounts | None = Field(None, description="a shadow policy's would-be decisions in the last 24 h")
    examples: list[dict[str, Any]] | None = Field(None, description="a shadow policy's latest would-be decisions "
                                                                    "that differ from what the agent was told")


class Policies(BaseModel):
    policies: list[PolicyShown]


@router.get("/policies", response_model=Policies)
def policies(who: OperatorDep, service: ServiceDep) -> Any:
    """The loaded policies in order; each shadow one with what it would have decided in the last 24 h."""
    return {"policies": policy_ops.overview(service.app)}


class ReplayRequest(BaseModel):
    policies: str = Field(min_length=1, max_length=200_000, description="the candidate policy file (YAML)")
    since: Duration = Field("7d", description="replay the action decisions of this long ago until now")
    agent: AgentName | None = Field(None, description="only this agent's decisions")


class ReplayChange(BaseModel):
    policy: str = Field(description="the candidate's deciding policy")
    action: str
    from_: Literal["allow", "deny", "approval_required"] = Field(alias="from")
    to: Literal["allow", "deny", "approval_required"]
    count: int
    examples: list[dict[str, Any]]


class ReplayReport(BaseModel):
    replayed: int = Field(description="decisions judged again")
    skipped: int = Field(description="decisions whose audit row lacks what the decision read (written before it did)")
    changed: int
    unchanged: int
    new_asks: int = Field(description="actions that would now wait for a person and did not")
    median_decision_seconds: float | None
    human_hours: float | None = Field(description="new asks × the median time people took to decide an approval")
    allowed_now_denied: int
    changes: list[ReplayChange]


@router.post("/policies/replay", response_model=ReplayReport, response_model_by_alias=True)
def replay(who: OperatorDep, service: ServiceDep, request: ReplayRequest) -> Any:
    """What the candidate policy file would have decided about the recorded action decisions
    (as they were: arguments, mode, variant, firing alerts, grants), against what was decided."""
    try:
        candidate = parse_policies(request.policies, filename="candidate.yml")
    except ConfigError as exc:
        raise Refusal(422, "the candidate policy file is refused: " + "; ".join(str(e) for e in exc.errors)) from None
    now = service.clock()
    report = policy_ops.replay_candidate(service.app, candidate, since=now - duration(request.since), until=now + 1,
                                         agent=request.agent)
    return report.to_json()
