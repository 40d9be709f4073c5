"""Agents and their control: the document agents poll, the modes operators set, the sources
they release, and the actions agents ask about."""

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlmodel import Session

from takeover import store
from takeover.app import agents, modes
from takeover.config.mode import ALL_AGENTS, Mode, ModeName
from takeover.control.instances import confirmation
from takeover.control.principal import Principal, Role
from takeover.control.validation import ActionName, AgentName, Args, Duration, Name, Reason, duration
from takeover.server.api.approvals import Approval, Kind, Risk
from takeover.server.api.deps import (
    AgentPath,
    IdPath,
    LastSeenDep,
    OperatorDep,
    PrincipalDep,
    ScopePath,
    ServiceDep,
    SessionDep,
    may_act_for,
)
from takeover.server.api.fastpath import answer_control, parse_wait
from takeover.server.hub import CONFIRM_TIMEOUT, Entry, Stale
from takeover.server.service import Service


class ModeChange(BaseModel):
    mode: ModeName = Field(description="the mode; for PUT, normal releases every hold on the agent")
    reason: Reason = Field(description="why: shown to the agent and in the audit trail")
    expires_in: Duration | None = Field(None, description="Prometheus duration, e.g. 30m; unset: until released")


class Release(BaseModel):
    reason: Reason = Field(description="why the agent gets control back")


class AgentCreate(BaseModel):
    name: AgentName
    canary_ratio: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False, strict=True)


class VariantRef(BaseModel):
    """The release variant an action runs under (the SDK's `client.variant(key)`)."""

    release: int = Field(ge=1, le=2**62)
    name: Literal["stable", "canary"]
    version: Name | None = None


class ActionRequest(BaseModel):
    action: ActionName = Field(description="the tool or action name, e.g. refund")
    kind: Kind
    risk: Risk = "low"
    args: Args = Field(default_factory=dict)
    idempotency_key: Name | None = None
    variant: VariantRef | None = Field(None, description="the release variant the action runs under: audited, "
                                                         "and a canary's writes make its rollback report")


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
    release: dict[str, Any] | None = Field(None, description="the agent's newest release: id, state, weight_bp, "
                                                            "stable and canary versions")


class GlobalSources(BaseModel):
    scope: Literal["*"]
    sources: list[Source]


class ActionAnswer(BaseModel):
    decision: Literal["allow", "deny", "approval_required"]
    reason: str
    mode: ModeName
    version: int
    retry_after: float | None = Field(description="seconds to wait before retrying a paused write")
    approval: Approval | None


class AgentSummary(BaseModel):
    agent: str
    mode: ModeName
    version: int
    last_seen: float | None = Field(description="when the agent last polled its control document (Unix time, "
                                                "within a few seconds across replicas); null: never")


class AgentInstance(BaseModel):
    id: str = Field(description="the instance id its SDK sends (X-Takeover-Instance)")
    last_poll: float = Field(description="when it last polled (Unix time)")
    version: int = Field(description="the document version it held after that poll")
    confirmed: bool = Field(description="it holds the agent's current document")
    silent: bool = Field(description="no poll for longer than TAKEOVER_SILENT_AFTER")


class AgentDetail(AgentSummary):
    instances: list[AgentInstance] = Field(description="its running instances seen in the last hour, "
                                                       "those not holding the current document first")
    confirmation: str = Field(description='e.g. "confirmed by 2 of 3 instance(s); not yet: i-3 (silent)"; '
                                          'empty when no instance sends an id')


Document = ControlDocument | GlobalSources
router = APIRouter()


def expiry(expires_in: str | None, now: float) -> float | None:
    return None if expires_in is None else now + duration(expires_in)


def doc_or_404(s: Session, agent: str, *, now: float) -> Any:
    if agent == ALL_AGENTS:  # the global sources, not every agent's document (fan-out)
        return {"scope": ALL_AGENTS, "sources": [
            {"id": src.id, "kind": src.kind.value, "mode": src.mode.name, "reason": src.reason,
             "actor": src.actor, "since": src.since, "expires_at": src.expires_at}
            for src in store.active_sources(session=s, now=now) if src.agent == ALL_AGENTS]}
    doc = store.control_document(session=s, agent=agent, now=now)
    if doc is None:
        raise HTTPException(404, f"unknown agent {agent!r}: agents are known once they poll, "
                                 "are named by a rule, or are created with POST /v1/agents")
    return doc


def load_entry(service: Service, who: Principal, agent: str) -> Entry | None:
    """Cold path of a poll: an agent's first poll makes it known; operators get 404 instead."""
    entry = service.hub.entry(agent)
    if entry is None and not who.is_operator() and agent != ALL_AGENTS:
        agents.known(service.app, agent)
        entry = service.hub.entry(agent)
    return entry


@router.get("/agents/{agent}/control", response_model=ControlDocument,
            responses={304: {"description": "unchanged since If-None-Match or version"}})
async def get_control(
    agent: ScopePath, who: PrincipalDep, request: Request, service: ServiceDep,
    wait: Annotated[str | None, Query(description="long-poll up to this long (e.g. 30s, max 60s) "
                                                  "with If-None-Match or version")] = None,
    version: Annotated[int | None, Query(description="return once the version differs")] = None,
) -> Response:
    """The agent's control document; `If-None-Match` with the current ETag gives 304."""
    if not who.may_read(agent):
        raise HTTPException(403, f"{who.actor} may not read agent {agent!r}")
    try:
        seconds = parse_wait(wait)
    except ValueError as exc:
        raise HTTPException(422, f"wait: {exc}; use a duration like 30s") from None
    await service.hub.vouch()  # Stale (503) when this replica cannot vouch for what it would answer
    try:  # a database that stops answering mid-request is a 503 too, not a poll left hanging
        entry = await asyncio.wait_for(run_in_threadpool(load_entry, service, who, agent), CONFIRM_TIMEOUT)
    except asyncio.TimeoutError:
        raise Stale(f"the database did not answer within {CONFIRM_TIMEOUT:g}s") from None
    if entry is None:
        raise HTTPException(404, f"unknown agent {agent!r}")
    if who.role is Role.agent:
        service.hub.seen[agent] = time.time()  # as the fast path marks it
    status, entry = await answer_control(
        service.hub, entry, agent=agent, if_none_match=request.headers.get("if-none-match"),
        wait=seconds, version=version)
    instance = request.headers.get("x-takeover-instance")
    if who.role is Role.agent and instance is not None:  # as the fast path marks it
        service.hub.instances[(agent, instance.encode("latin-1"))] = (time.time(), entry.version)
    body = entry.body if status == 200 else None
    return Response(body, status_code=status, media_type="application/json" if body else None,
                    headers={"ETag": entry.etag, "Cache-Control": "no-cache"})


@router.put("/agents/{agent}/control", response_model=Document)
def set_control(agent: ScopePath, change: ModeChange, who: OperatorDep, s: SessionDep, service: ServiceDep) -> Any:
    """Take over (set a mode) or hand back (`normal`): replaces every hold on the agent."""
    modes.take_over(service.app, agent=agent, mode=Mode[change.mode], reason=change.reason,
                    actor=who.actor, expires_at=expiry(change.expires_in, service.clock()))
    return doc_or_404(s, agent, now=service.clock())


@router.post("/agents/{agent}/sources", status_code=201, response_model=Document)
def add_override(agent: ScopePath, change: ModeChange, who: OperatorDep, s: SessionDep, service: ServiceDep) -> Any:
    """Add a human override beside the existing sources (the strictest wins)."""
    modes.add_override(service.app, agent=agent, mode=Mode[change.mode], reason=change.reason,
                       actor=who.actor, expires_at=expiry(change.expires_in, service.clock()))
    return doc_or_404(s, agent, now=service.clock())


@router.post("/agents/{agent}/sources/{source_id}/release", response_model=Document)
def release_one(agent: ScopePath, source_id: IdPath, body: Release, who: OperatorDep, s: SessionDep,
                service: ServiceDep) -> Any:
    """Release one source (alert, override or fail-safe) by its id in the control document."""
    modes.release(service.app, agent=agent, source_id=source_id, reason=body.reason, actor=who.actor)
    return doc_or_404(s, agent, now=service.clock())


@router.post("/agents/{agent}/release", response_model=Document)
def release_all(agent: ScopePath, body: Release, who: OperatorDep, s: SessionDep, service: ServiceDep) -> Any:
    """Hand control back: release every source held on the agent (`*`: the global ones)."""
    modes.release(service.app, agent=agent, reason=body.reason, actor=who.actor)
    return doc_or_404(s, agent, now=service.clock())


@router.post("/agents/{agent}/actions", response_model=ActionAnswer)
def ask(agent: AgentPath, request: ActionRequest, who: PrincipalDep, service: ServiceDep) -> Any:
    """May the agent do this now? allow, deny or approval_required; every answer is audited.
    Agent tokens only."""
    may_act_for(who, agent)
    return agents.ask(service.app, who, agent=agent, action=request.action, kind=request.kind, risk=request.risk,
                      args=request.args, idempotency_key=request.idempotency_key,
                      variant=request.variant.model_dump() if request.variant else None)


@router.get("/agents", response_model=list[AgentSummary])
def list_agents(who: OperatorDep, s: SessionDep, service: ServiceDep, seen: LastSeenDep) -> Any:
    """Every known agent: its mode, version and last poll (an agent that stops polling is no
    longer governed)."""
    return [{**a, "last_seen": seen.latest(a["agent"], a["last_seen"])}
            for a in store.list_agents(session=s, now=service.clock())]


@router.get("/agents/{agent}", response_model=AgentDetail)
def get_agent(agent: AgentPath, who: OperatorDep, s: SessionDep, service: ServiceDep, seen: LastSeenDep) -> Any:
    """One agent's mode, version and last poll, and which of its running instances hold its
    current document (is a takeover in effect everywhere?)."""
    found = store.list_agents(session=s, now=service.clock(), names=[agent])
    if not found:
        raise HTTPException(404, f"unknown agent {agent!r}")
    held = confirmation(store.agent_instances(session=s, agents=[agent])[agent], version=found[0]["version"],
                        now=service.clock(), silent_after=service.settings.silent_after)
    return {**found[0], "last_seen": seen.latest(agent, found[0]["last_seen"]),
            "instances": [vars(i) for i in held.instances], "confirmation": held.summary()}


@router.post("/agents", status_code=201, response_model=ControlDocument)
def create_agent(body: AgentCreate, who: OperatorDep, s: SessionDep, service: ServiceDep) -> Any:
    """Make an agent known before it polls (and set its canary ratio)."""
    agents.create(service.app, who, name=body.name, canary_ratio=body.canary_ratio)
    return doc_or_404(s, body.name, now=service.clock())
