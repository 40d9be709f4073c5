"""Silences: mute the notifications (and, if asked, the takeover) of matching alerts for a while."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from takeover import store
from takeover.app import silences
from takeover.control.validation import Duration, Name, Reason, duration
from takeover.server.api.deps import IdPath, OperatorDep, ServiceDep, SessionDep


class SilenceCreate(BaseModel):
    matchers: list[Name] = Field(min_length=1, max_length=20,
                                 description='e.g. ["alertname=AgentErrorRateHigh", "agent=~bot-.*"]')
    duration: Duration = Field("1h", description="how long, e.g. 2h")
    comment: Reason = Field(description="why: shown with the silence and in the audit trail")
    suppress_takeover: bool = Field(False, description="also hold back the takeover of matching alerts")


class Silence(BaseModel):
    id: int
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    suppress_takeover: bool


router = APIRouter()


@router.post("/silences", status_code=201, response_model=Silence)
def create_silence(body: SilenceCreate, who: OperatorDep, service: ServiceDep) -> Any:
    """Mute notifications of matching alerts (their takeover too only with suppress_takeover)."""
    return silences.silence(service.app, matchers=body.matchers, duration=duration(body.duration),
                            comment=body.comment, actor=who.actor, suppress_takeover=body.suppress_takeover)


@router.get("/silences", response_model=list[Silence])
def list_silences(who: OperatorDep, s: SessionDep, service: ServiceDep, expired: bool = False) -> Any:
    return [r.model_dump() for r in store.list_silences(session=s, now=service.clock(), include_expired=expired)]


@router.post("/silences/{silence_id}/expire", response_model=Silence)
def expire_silence(silence_id: IdPath, who: OperatorDep, service: ServiceDep) -> Any:
    return silences.expire(service.app, silence_id=silence_id, actor=who.actor)
