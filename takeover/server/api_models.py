"""The control API's request and answer models: the OpenAPI document is built from these.

Requests use the types of `takeover.control.validation`, so a value is refused (422) before anything is
stored, with the same message on every route. Answers are never table rows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from takeover.config.mode import ModeName
from takeover.control.validation import (
    AgentName,
    Args,
    Duration,
    Name,
    OptionalText,
    Reason,
    Responder,
)

Kind = Literal["read", "write"]
Risk = Literal["low", "high"]


# --- requests ------------------------------------------------------------------------------

class ModeChange(BaseModel):
    mode: ModeName = Field(description="the mode; for PUT, normal releases every hold on the agent")
    reason: Reason = Field(description="why: shown to the agent and in the audit trail")
    expires_in: Duration | None = Field(None, description="Prometheus duration, e.g. 30m; unset: until released")


class Release(BaseModel):
    reason: Reason = Field(description="why the agent gets control back")


class AgentCreate(BaseModel):
    name: AgentName
    canary_ratio: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False, strict=True)


class ActionRequest(BaseModel):
    action: Name = Field(description="the tool or action name, e.g. refund")
    kind: Kind
    risk: Risk = "low"
    args: Args = Field(default_factory=dict)
    idempotency_key: Name | None = None


class ApprovalCreate(BaseModel):
    agent: AgentName
    action: Name
    kind: Kind = "write"
    risk: Risk = "high"
    args: Args = Field(default_factory=dict)
    reason: OptionalText = ""
    idempotency_key: Name | None = None
    expires_in: Duration | None = Field(None, description="duration, e.g. 10m; default TAKEOVER_APPROVAL_EXPIRY")
    responders: list[Responder] = Field(
        default_factory=lambda: ["role:operator"], min_length=1, max_length=20,
        description='who may answer: "role:operator", "role:admin" or "operator:NAME" (at least one)')


class ApprovalDecision(BaseModel):
    comment: Reason | None = Field(None, description="required to reject")
    args: Args | None = Field(None, description="edited arguments (approve only)")


class SilenceCreate(BaseModel):
    matchers: list[Name] = Field(min_length=1, max_length=20,
                                 description='e.g. ["alertname=AgentErrorRateHigh", "agent=~bot-.*"]')
    duration: Duration = Field("1h", description="how long, e.g. 2h")
    comment: Reason = Field(description="why: shown with the silence and in the audit trail")
    suppress_takeover: bool = Field(False, description="also hold back the takeover of matching alerts")


class TokenCreate(BaseModel):
    role: Literal["agent", "operator", "admin"]
    name: Name
    agents: list[AgentName] = Field(default_factory=list, max_length=100,
                                    description="agent tokens: the agents it may act for (never *)")
    expires_in: Duration | None = None


# --- answers -------------------------------------------------------------------------------

class Issue(BaseModel):
    loc: list[str | int] = Field(description="where: body, query or path, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx answer: a message, the list of invalid fields (422), or an object with a message."""

    detail: str | list[Issue] | dict[str, Any]


class Source(BaseModel):
    id: int
    kind: str
    mode: ModeName
    scope: str | None = Field(None, description="the agent, or * for every agent")
    ref: str | None = None
    reason: str
    actor: str
    since: float
    expires_at: float | None


class ControlDocument(BaseModel):
    agent: str
    mode: ModeName
    version: int
    sources: list[Source]
    permissions: dict[str, str]
    canary_ratio: float | None


class GlobalSources(BaseModel):
    scope: Literal["*"]
    sources: list[Source]


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


class ActionAnswer(BaseModel):
    decision: Literal["allow", "deny", "approval_required"]
    reason: str
    mode: ModeName
    version: int
    retry_after: float | None = Field(description="seconds to wait before retrying a paused write")
    approval: Approval | None


class AuditRow(BaseModel):
    id: int
    at: float
    actor: str
    action: str
    subject: str
    before: Any = None
    after: Any = None
    reason: str
    request_id: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    rows: list[AuditRow]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null on the last")


class Token(BaseModel):
    id: int
    name: str
    role: str
    agents: list[str]
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class NewToken(Token):
    token: str = Field(description="the bearer token: shown once, only its hash is stored")


class AgentSummary(BaseModel):
    agent: str
    mode: ModeName
    version: int


class RuleGroups(BaseModel):
    groups: list[dict[str, Any]] = Field(description="like Prometheus's /api/v1/rules, plus takeover's fields")


class Reloaded(BaseModel):
    groups: int
    rules: int


class Silence(BaseModel):
    id: int
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    suppress_takeover: bool


class AlertGroup(BaseModel):
    id: int
    key: str
    channel: str
    owner: str
    first_seen: float
    acked_by: str | None
    acked_at: float | None
    escalated: int


class Alert(BaseModel):
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    value: float | None = Field(description="null when the sample was NaN")
    active_at: float
    fired_at: float | None
    resolved_at: float | None


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in {
        400: "the body is not UTF-8 JSON", 401: "no valid bearer token", 403: "the token's role or agents do not allow this",
        404: "no such resource", 409: "already decided, or an idempotency key reused",
        413: "request body larger than TAKEOVER_MAX_BODY_BYTES", 422: "invalid input",
    }.items()
}
