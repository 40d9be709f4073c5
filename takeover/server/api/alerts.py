"""Alerts and their notification groups: what fires, and who acknowledged which Slack message."""

import math
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from takeover import store
from takeover.app import dispatch
from takeover.server.api.deps import IdPath, OperatorDep, ServiceDep, SessionDep


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


router = APIRouter()


@router.get("/alert-groups", response_model=list[AlertGroup])
def alert_groups(who: OperatorDep, s: SessionDep) -> Any:
    """The groups of alerts with a Slack message, and who acknowledged them."""
    return [g.model_dump() for g in store.notify_groups(session=s).values()]


@router.post("/alert-groups/{group_id}/ack", response_model=AlertGroup)
def ack_group(group_id: IdPath, who: OperatorDep, service: ServiceDep) -> Any:
    """Acknowledge: stops escalation and shows who is on it."""
    group = dispatch.acknowledge(service.app, group_id=group_id, actor=who.actor)
    if group is None:
        raise HTTPException(404, f"no alert group {group_id}")
    return group.model_dump()


@router.get("/alerts", response_model=list[Alert])
def list_alerts(who: OperatorDep, s: SessionDep) -> Any:
    return [
        {"labels": a.labels, "annotations": a.annotations, "state": a.state,
         "value": a.value if math.isfinite(a.value) else None,
         "active_at": a.active_at, "fired_at": a.fired_at, "resolved_at": a.resolved_at}
        for a in store.list_alerts(session=s)
    ]
