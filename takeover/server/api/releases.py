"""Releases of a new agent version: start one, see it, pause / resume / promote / abort it, and
the rollback report of what its canary wrote (each write marked reconciled by a person).

Under `/agents/{agent}/releases` — `POST /agents/{agent}/release` (singular) hands control back."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, Field, field_validator

from takeover.app import releases
from takeover.app.errors import Refusal
from takeover.config.mode import Mode, ModeName
from takeover.control import release as core
from takeover.control.validation import (
    MAX_REASON,
    NOT_BLANK,
    Duration,
    Name,
    OptionalText,
    Reason,
    check_text,
    duration,
)
from takeover.server.api.deps import AgentPath, OperatorDep, ServiceDep

router = APIRouter(tags=["releases"])
MAX_STEPS = 20
ReleaseAction = Literal["pause", "resume", "promote", "abort"]
Query = Annotated[str, Field(min_length=1, max_length=MAX_REASON, json_schema_extra={"pattern": NOT_BLANK}),
                  AfterValidator(lambda v: check_text(v, max_length=MAX_REASON))]
Weight = Annotated[float, Field(ge=0.01, le=100, allow_inf_nan=False, strict=True)]


class Version(BaseModel):
    """A version: its id plus what it is made of (model, prompt, tools, code: free-form)."""

    model_config = {"extra": "allow"}
    version: Name = Field(description="the version's id, e.g. v42")


class Check(BaseModel):
    name: Name
    query: Query = Field(description='PromQL with $variant, e.g. sum(rate(errors{variant="$variant"}[5m]))')
    max_ratio: float = Field(1.0, ge=0, le=1e9, allow_inf_nan=False, strict=True,
                             description="canary <= stable * max_ratio + max_delta")
    max_delta: float = Field(0.0, ge=-1e12, le=1e12, allow_inf_nan=False, strict=True)
    samples: Query | Literal[""] = Field("", description="PromQL with $variant: the canary's traffic")
    min_samples: float = Field(0.0, ge=0, le=1e15, allow_inf_nan=False, strict=True,
                               description="fewer samples: inconclusive")
    failure_limit: int = Field(1, ge=1, le=100, strict=True, description="failed analyses in a row before rollback")


class Analysis(BaseModel):
    checks: list[Check] = Field(default_factory=list, max_length=20)
    inconclusive_limit: int = Field(10, ge=1, le=10_000, description="inconclusive analyses in a row before pausing")


class ReleaseStart(BaseModel):
    stable: Version
    canary: Version
    steps: list[Weight] = Field(description="canary weights in %, increasing, the last 100", min_length=2,
                                max_length=MAX_STEPS, examples=[[1, 5, 20, 50, 100]])
    every: Duration = Field("10m", description="time at each step with healthy analysis (Prometheus duration)")
    gate: bool = Field(False, strict=True, description="a human approves the promotion to 100 %")
    hold: ModeName | None = Field(None, description="mode the agent is held in after a rollback, until released")
    analysis: Analysis = Field(default_factory=Analysis)

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        bp = [round(v * 100) for v in value]
        if problems := core.plan_problems(bp, 1.0):
            raise ValueError("; ".join(problems))
        return value

    def plan(self) -> core.Plan:
        checks = tuple(core.Check(**c.model_dump()) for c in self.analysis.checks)
        if problems := [p for c in checks for p in core.check_problems(c)]:
            raise Refusal(422, "; ".join(problems))
        return core.Plan(tuple(round(v * 100) for v in self.steps), duration(self.every), checks, self.gate,
                         Mode[self.hold] if self.hold else None, self.analysis.inconclusive_limit)


class ReleaseChange(BaseModel):
    reason: Reason = Field(description="why: in the audit trail and the release's Slack thread")


class Reconcile(BaseModel):
    note: OptionalText = Field("", description="what was done about the write")


@router.post("/agents/{agent}/releases", status_code=201)
def start_release(agent: AgentPath, body: ReleaseStart, who: OperatorDep, service: ServiceDep) -> Any:
    """Start a release: the canary takes the first step's share of keys, then steps up while
    analysis is healthy. 409 when the agent has an active release."""
    return releases.start(service.app, actor=who.actor, agent=agent, stable=body.stable.model_dump(),
                          canary=body.canary.model_dump(), plan=body.plan())


@router.get("/agents/{agent}/releases/current")
def release_status(agent: AgentPath, who: OperatorDep, service: ServiceDep) -> Any:
    """The agent's newest release: state, weight, plan, analysis counters and writes to reconcile."""
    return releases.status(service.app, agent=agent)


@router.post("/agents/{agent}/releases/current/{action}")
def change_release(agent: AgentPath, action: Annotated[ReleaseAction, Path()], body: ReleaseChange,
                   who: OperatorDep, service: ServiceDep) -> Any:
    """A person pauses, resumes, promotes or aborts (rolls back) the active release."""
    return releases.act(service.app, actor=who.actor, agent=agent, action=action, reason=body.reason)


@router.get("/agents/{agent}/releases/current/report")
def release_report(agent: AgentPath, who: OperatorDep, service: ServiceDep) -> Any:
    """Every write the canary was allowed or approved to perform since the release started."""
    return releases.report(service.app, agent=agent)


@router.post("/agents/{agent}/releases/current/report/{audit_id}/reconcile")
def reconcile_write(agent: AgentPath, audit_id: Annotated[int, Path(ge=1, le=2**62)], body: Reconcile,
                    who: OperatorDep, service: ServiceDep) -> Any:
    """Mark one of the canary's writes reconciled (audited)."""
    return releases.reconcile(service.app, actor=who.actor, agent=agent, audit_id=audit_id, note=body.note or "reconciled")
