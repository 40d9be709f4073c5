"""Alerts that an Alertmanager routes to takeover (its webhook, payload version 4): what one
notified alert asks for, given what takeover already recorded for its fingerprint. Pure: no
I/O, no clock. Alertmanager re-sends a group every group_interval and repeat_interval, and two
replicas of an HA pair both send, so every step is idempotent by fingerprint."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from takeover.config.mode import TAKEOVER_MODES
from takeover.control.validation import check_agent

ACTOR_PREFIX = "alertmanager:"  # the actor of a hold an Alertmanager alert causes: alertmanager:<alertname>


@dataclass(frozen=True)
class Notified:
    """One alert of a webhook payload, as Alertmanager saw it when it notified."""

    fingerprint: str
    firing: bool  # "status": "firing" (else "resolved")
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None  # set for a resolved alert; Alertmanager sends year 1 (None here) while firing

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def ref(self) -> str:
        """`Name{label="value",...}`: how a person recognises the alert; every label but the
        name, so one ref is one fingerprint."""
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()) if k != "alertname")
        return f"{self.name}{{{inner}}}"

    @property
    def actor(self) -> str:
        return f"{ACTOR_PREFIX}{self.name}"

    @property
    def release_on_resolve(self) -> bool:
        """The alert opts in to hand control back when it resolves, as takeover's own rules do."""
        return self.annotations.get("takeover_release") == "on_resolve"


class Step(str, enum.Enum):
    fire = "fire"  # new, or firing again after it resolved: take over (a new episode)
    repeat = "repeat"  # already firing: Alertmanager repeated itself or its HA peer sent it too
    resolve = "resolve"  # was firing: resolved (released only with takeover_release: on_resolve)
    stale = "stale"  # resolved, and takeover never saw it firing or already saw it resolve
    ignore = "ignore"  # nothing for takeover to do (see `why_ignored`)


def why_ignored(alert: Notified) -> str | None:
    """Why takeover leaves this alert to Alertmanager's own receivers, or None when it acts on it.
    Only alerts with a `takeover` label that is a mode act; a label that is not a mode, or an
    `agent` label that is not an agent name, is reported rather than guessed at."""
    mode = alert.labels.get("takeover")
    if mode is None:
        return "no takeover label: Alertmanager's other receivers handle it"
    if mode not in TAKEOVER_MODES:
        return f'label takeover is "{mode[:40]}", not a mode (one of {", ".join(TAKEOVER_MODES)}); nothing changed'
    if "agent" in alert.labels:
        try:
            check_agent(alert.labels["agent"])
        except ValueError as exc:
            return f"label agent: {exc}; nothing changed"
    return None


def step(alert: Notified, *, recorded_firing: bool | None) -> Step:
    """What the notified alert does, given whether takeover recorded its fingerprint as firing
    (None: takeover has no record of it)."""
    if why_ignored(alert) is not None:
        return Step.ignore
    if alert.firing:
        return Step.repeat if recorded_firing else Step.fire
    return Step.resolve if recorded_firing else Step.stale
