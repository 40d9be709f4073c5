"""Alertmanager's webhook (payload version 4): alerts routed by a team's own Alertmanager take
over agents as takeover's own alerts do. Alertmanager treats a 4xx (other than 429) as
unrecoverable and never sends that notification again, and retries a 5xx: so a payload that is
wrong gets a 4xx saying so, and only a failure a retry can mend (the database) gets a 503."""

import datetime
import unicodedata
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.exc import OperationalError

from takeover.app import alertmanager
from takeover.control.alertmanager import Notified, Step
from takeover.control.validation import check_text
from takeover.server.api.deps import AlertmanagerDep, ServiceDep
from takeover.server.api.errors import Problem

MAX_LABEL_VALUE = 10_240  # a label or annotation value (what `takeover check` fits messages for)
MAX_ALERTS = 1_000  # alerts in one notification: a larger group is better split (group_by agent)
NOT_RETRIED = "Alertmanager does not retry a 4xx: fix the payload or the receiver's configuration"


def check_label_set(labels: dict[str, str]) -> dict[str, str]:
    """Names are one line of text; values may span lines (annotations do) but are valid Unicode
    without NUL, and bounded."""
    for name, value in labels.items():
        check_text(name, max_length=200)
        if len(value) > MAX_LABEL_VALUE:
            raise ValueError(f"{name[:40]}: longer than {MAX_LABEL_VALUE} characters")
        if "\x00" in value or any(unicodedata.category(ch) == "Cs" for ch in value):
            raise ValueError(f"{name[:40]}: not valid Unicode text without NUL")
    return labels


LabelSet = Annotated[dict[str, str], AfterValidator(check_label_set)]


class AlertmanagerAlert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: LabelSet = Field(description="must hold alertname; `takeover` (a mode) and `agent` act")
    annotations: LabelSet = Field(default_factory=dict,
                                  description="`takeover_release: on_resolve` hands back on resolve")
    startsAt: datetime.datetime
    endsAt: datetime.datetime | None = None
    generatorURL: str = Field("", max_length=4096)
    fingerprint: str = Field(pattern=r"^[0-9a-fA-F]{1,64}$")


class AlertmanagerWebhook(BaseModel):
    """The body Alertmanager's `webhook_configs` receiver posts (payload version 4)."""

    version: Literal["4"]
    groupKey: str = Field("", max_length=MAX_LABEL_VALUE)
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field(max_length=200)
    groupLabels: LabelSet = Field(default_factory=dict)
    commonLabels: LabelSet = Field(default_factory=dict)
    commonAnnotations: LabelSet = Field(default_factory=dict)
    externalURL: str = Field("", max_length=4096)
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)


class AlertOutcome(BaseModel):
    fingerprint: str
    alertname: str
    step: Step = Field(description="fire: took over; repeat: already firing; resolve: resolved "
                                   "(released only with takeover_release: on_resolve); stale: resolved, "
                                   "never seen firing; ignore: nothing for takeover (see why)")
    why: str = ""


class Received(BaseModel):
    alerts: list[AlertOutcome]


def seconds(at: datetime.datetime | None) -> float | None:
    """Epoch seconds; None for Alertmanager's zero time (year 1: not set)."""
    if at is None or at.year < 1970:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=datetime.UTC)).timestamp()


router = APIRouter()


@router.post("/alertmanager", response_model=Received, name="alertmanager_webhook", responses={
    422: {"description": f"not an Alertmanager webhook payload (version 4): {NOT_RETRIED}"},
    503: {"model": Problem, "description": "the database did not answer: Alertmanager retries"}})
async def receive(body: AlertmanagerWebhook, who: AlertmanagerDep, service: ServiceDep) -> Any:
    """Alertmanager's notification: each alert with a `takeover` label holds its `agent` (every
    agent without one) while it fires, once per fingerprint; a resolved alert releases only with
    `takeover_release: on_resolve`. Alerts without a `takeover` label are left alone."""
    alerts = [Notified(fingerprint=a.fingerprint.lower(), firing=a.status == "firing", labels=a.labels,
                       annotations=a.annotations, starts_at=seconds(a.startsAt) or service.clock(),
                       ends_at=seconds(a.endsAt)) for a in body.alerts]
    if any("alertname" not in a.labels for a in alerts):
        raise HTTPException(422, f"every alert needs an alertname label; {NOT_RETRIED}")
    try:
        done = await run_in_threadpool(alertmanager.receive, service.app, alerts=alerts, receiver=body.receiver,
                                       actor=who.actor)
    except OperationalError as exc:
        raise HTTPException(503, f"the database did not answer ({type(exc.orig).__name__}); "
                                 "Alertmanager will retry", headers={"Retry-After": "5"}) from None
    return {"alerts": [{"fingerprint": o.fingerprint, "alertname": o.alertname, "step": o.step, "why": o.why}
                       for o in done]}
