"""Notifications Slack refused every way (kept in the outbox as undeliverable): list them,
retry one from the start, or dismiss it."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from takeover.app import notifications
from takeover.server.api.deps import IdPath, OperatorDep, ServiceDep


class Notification(BaseModel):
    id: int
    message_key: str = Field(description="one Slack message per key: e.g. approval:ID, group:KEY:T, mode:AGENT:…")
    channel: str
    text: str = Field(description="the message's top-level text (its first 300 characters)")
    created_at: float
    sent_at: float | None
    undeliverable_at: float | None = Field(description="when every way of delivering it had failed")
    error: str | None = Field(description="why: Slack's error for the last way tried")
    dismissed_at: float | None
    dismissed_by: str | None


router = APIRouter()


@router.get("/notifications/undeliverable", response_model=list[Notification])
def list_undeliverable(who: OperatorDep, service: ServiceDep,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    """Notifications Slack refused every way and nobody dismissed, newest first."""
    return notifications.undeliverable(service.app, limit=limit)


@router.post("/notifications/{notification_id}/retry", response_model=Notification)
def retry(notification_id: IdPath, who: OperatorDep, service: ServiceDep) -> Any:
    """Deliver an undeliverable notification again from the start (after fixing the token or
    the channel); 409 when it is not undeliverable, or a later version of its message was delivered."""
    return notifications.retry(service.app, notification_id=notification_id, actor=who.actor)


@router.post("/notifications/{notification_id}/dismiss", response_model=Notification)
def dismiss(notification_id: IdPath, who: OperatorDep, service: ServiceDep) -> Any:
    """Let an undeliverable notification go: kept, no longer counted, shown or alerted on."""
    return notifications.dismiss(service.app, notification_id=notification_id, actor=who.actor)
