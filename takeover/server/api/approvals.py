"""Approvals: agents ask a human, operators approve or reject, the agent waits for the answer."""

import asyncio
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from takeover import store
from takeover.app import approvals
from takeover.control.approval import Status
from takeover.control.validation import (
    APPROVAL_ID_PATTERN,
    ActionName,
    AgentName,
    Args,
    Duration,
    Name,
    OptionalText,
    Reason,
    Responder,
    duration,
)
from takeover.server.api.deps import ApprovalId, OperatorDep, PrincipalDep, ServiceDep, SessionDep, may_act_for
from takeover.server.api.fastpath import parse_wait
from takeover.server.hub import MAX_WAIT

Kind = Literal["read", "write"]
Risk = Literal["low", "high"]


class ApprovalCreate(BaseModel):
    agent: AgentName
    action: ActionName
    kind: Kind = "write"
    risk: Risk = "high"
    args: Args = Field(default_factory=dict)
    reason: OptionalText = ""
    idempotency_key: Name | None = None
    expires_in: Duration | None = Field(None, description="duration, e.g. 10m; default TAKEOVER_APPROVAL_EXPIRY")
    responders: list[Responder] | None = Field(
        None, min_length=1, max_length=20,
        description="who may answer is decided by the policies (the deciding policy's approvers, else "
                    '"role:operator"); if sent, it must name exactly those (422 otherwise)')


class ApprovalDecision(BaseModel):
    comment: Reason | None = Field(None, description="required to reject")
    args: Args | None = Field(None, description="edited arguments (approve only)")
    grant_for: Duration | None = Field(None, description="approve, and allow this action for this agent for so "
                                                         "long (at most the policy's grant_max), e.g. 1h")


class Execution(BaseModel):
    args: Args = Field(default_factory=dict, description="the exact arguments the tool runs with: the approved ones")


class Vote(BaseModel):
    by: str
    at: float


class ApprovalArgs(BaseModel):
    proposed: dict[str, Any]
    approved: dict[str, Any] | None
    effective: dict[str, Any] | None


class Approval(BaseModel):
    id: str
    agent: str
    action: str
    kind: str
    risk: str
    reason: str
    status: str
    requested_by: str
    requested_at: float
    expires_at: float
    responders: list[str]
    decided_at: float | None
    decided_by: str | None
    comment: str | None
    idempotency_key: str | None
    args: ApprovalArgs
    policy: str | None = Field(None, description="the policy that asked for it (name and file:line)")
    quorum: int = Field(1, description="distinct approvals needed")
    approvals: list[Vote] = Field(default_factory=list, description="who approved so far")
    args_digest: str | None = Field(None, description="SHA-256 of the arguments the approval covers")
    executed_at: float | None = Field(None, description="when the approved action ran (it runs once)")
    executed_by: str | None = Field(None, description="who ran it")
    delivery_error: str | None = Field(None, description="why the request's Slack message reached no channel: "
                                                         "nobody was asked in Slack (answer it in the console)")
    grant_max: float | None = Field(None, description="longest grant an approver may give (seconds)")


router = APIRouter()


@router.post("/approvals", status_code=201, response_model=Approval)
def create_approval(body: ApprovalCreate, who: PrincipalDep, service: ServiceDep) -> Any:
    """Ask a human to approve an action (idempotent per agent and idempotency_key). Agent tokens only.
    Decided as `POST /v1/agents/{agent}/actions` decides it: a denied action is refused (403), and
    the deciding policy sets who answers, the quorum and the owner rule."""
    may_act_for(who, body.agent)
    return approvals.request(service.app, who, agent=body.agent, action=body.action, kind=body.kind,
                             risk=body.risk, args=body.args, reason=body.reason,
                             idempotency_key=body.idempotency_key,
                             expires_in=duration(body.expires_in) if body.expires_in is not None else None,
                             responders=body.responders)


@router.get("/approvals/{approval_id}", response_model=Approval)
async def get_approval(
    approval_id: ApprovalId, who: PrincipalDep, service: ServiceDep,
    wait: Annotated[str | None, Query(description="long-poll while pending, e.g. 30s (max 60s)")] = None,
) -> Any:
    """The request and its decision; with `wait`, returns once it is decided or at the deadline."""
    try:
        seconds = parse_wait(wait) or 0.0
    except ValueError as exc:
        raise HTTPException(422, f"wait: {exc}; use a duration like 30s") from None

    def load() -> Any:
        with service.sessions() as s:
            return store.approval_public(approvals.approval_for(s, who, approval_id))

    deadline = asyncio.get_running_loop().time() + min(seconds, MAX_WAIT)
    while True:
        approval = await run_in_threadpool(load)
        left = deadline - asyncio.get_running_loop().time()
        if approval["status"] != "pending" or left <= 0:
            return approval
        if left > approval["expires_at"] - service.clock():  # wake to report the expiry
            left = max(approval["expires_at"] - service.clock(), 0.0) + 0.05
        await service.hub.wait_signal(f"approval:{approval_id}", left)
        if approval["expires_at"] <= service.clock():
            await run_in_threadpool(approvals.expire, service.app)


@router.get("/approvals", response_model=list[Approval], responses={200: {"headers": {"Link": {
    "description": 'the next page: <…?after=ID&limit=N>; rel="next"', "schema": {"type": "string"}}}}})
def list_approvals(who: OperatorDep, s: SessionDep, response: Response,
                   status: Annotated[Status | None, Query(description="pending, approved, ...")] = None,
                   agent: Annotated[AgentName | None, Query()] = None,
                   after: Annotated[str | None, Query(pattern=APPROVAL_ID_PATTERN, max_length=64,
                                                      description="page after this approval id")] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    """Approval requests, oldest first; the `Link` header names the next page."""
    cursor = None
    if after is not None:
        last = store.get_approval(session=s, approval_id=after)
        if last is None:
            raise HTTPException(422, f"after: no approval {after!r} to page after")
        cursor = (last.requested_at, last.id)
    rows = store.list_approvals(session=s, status=status.value if status else None, agent=agent,
                                limit=limit, after=cursor)
    if len(rows) == limit:
        query = urlencode({k: v for k, v in {"status": status.value if status else None, "agent": agent,
                                             "after": rows[-1].id, "limit": limit}.items() if v is not None})
        response.headers["Link"] = f'</v1/approvals?{query}>; rel="next"'
    return [store.approval_public(r) for r in rows]


@router.post("/approvals/{approval_id}/approve", response_model=Approval)
def approve(approval_id: ApprovalId, who: OperatorDep, service: ServiceDep,
            body: ApprovalDecision | None = None) -> Any:
    """Approve, optionally with edited args (kept apart from the proposed ones)."""
    body = body or ApprovalDecision()
    return approvals.decide(service.app, approval_id=approval_id, status=Status.approved, who=who,
                            comment=body.comment, args=body.args,
                            grant_for=duration(body.grant_for) if body.grant_for else None)


@router.post("/approvals/{approval_id}/reject", response_model=Approval)
def reject(approval_id: ApprovalId, body: ApprovalDecision, who: OperatorDep, service: ServiceDep) -> Any:
    """Reject, with a comment the agent receives."""
    return approvals.decide(service.app, approval_id=approval_id, status=Status.rejected, who=who,
                            comment=body.comment, args=body.args)


@router.post("/approvals/{approval_id}/execute", response_model=Approval)
def execute(approval_id: ApprovalId, body: Execution, who: PrincipalDep, service: ServiceDep) -> Any:
    """The requesting agent runs the approved action, once: the first call with the arguments the
    approval covers consumes it; any other call answers 409 (saying when and by whom it ran) and
    is audited. Agent tokens only."""
    return approvals.execute(service.app, who, approval_id=approval_id, args=body.args)


@router.post("/approvals/{approval_id}/cancel", response_model=Approval)
def cancel(approval_id: ApprovalId, who: PrincipalDep, service: ServiceDep) -> Any:
    """The agent withdraws its request."""
    return approvals.decide(service.app, approval_id=approval_id, status=Status.cancelled, who=who)
