"""When Prometheus cannot be queried: the shared outage clock, the fail-safe mode that holds
every agent while the outage lasts, the meta-alert that pages about it, and the expiry of
human overrides — the leader's periodic pass, one fenced transaction (which also fires or
resolves the meta-alert on undeliverable notifications, `app.notifications`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session

from takeover import store
from takeover.app import notifications
from takeover.app.context import App
from takeover.app.modes import commit_changes
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.sources import ModeChange, Source, SourceKind
from takeover.rules.evaluate import RESOLVED_RETENTION, State

log = logging.getLogger(__name__)
META_ALERT = "TakeoverPrometheusUnreachable"


@dataclass(frozen=True)
class Watch:
    """How takeover reacts to a Prometheus it cannot query (from the settings)."""

    prometheus_url: str
    failsafe_mode: Mode | None = None
    failsafe_after: float = 120.0
    meta_alert_after: float = 60.0
    meta_alert_owner: str = "takeover-admins"


def leader_pass(app: App, watch: Watch, *, term: int | None, blind_since: float | None, last_error: str) -> None:
    """Keep the outage clock in the database, expire overrides, hold or release the fail-safe,
    fire or resolve the meta-alert."""
    now = app.clock()
    with app.sessions() as s:
        store.fence(session=s, term=term)
        outage = store.prometheus_state(session=s)
        if outage.failing_since != blind_since:
            store.save_prometheus_state(session=s, failing_since=blind_since, now=now,
                                        last_error=last_error if blind_since else "")
        changes: list[ModeChange | None] = list(store.expire_sources(session=s, now=now))
        held = any(src.kind == SourceKind.failsafe for src in store.active_sources(session=s, now=now))
        blind = blind_since is not None and now - blind_since >= watch.failsafe_after
        if watch.failsafe_mode is not None and blind and not held:
            changes.append(store.add_source(session=s, now=now, source=Source(
                agent=ALL_AGENTS, mode=watch.failsafe_mode, kind=SourceKind.failsafe, ref="prometheus",
                reason=f"Prometheus unreachable for {now - blind_since:.0f}s",  # type: ignore[operator]
                actor="system:failsafe", since=now)))
        elif held and not blind:
            changes.append(store.release_sources(session=s, agent=ALL_AGENTS, now=now, kind=SourceKind.failsafe,
                                                 actor="system:failsafe", reason="Prometheus reachable again"))
        meta_alert(s, watch, now=now, blind_since=blind_since)
        undeliverable = notifications.meta_alert(s, owner=watch.meta_alert_owner, now=now)
        commit_changes(app, s, changes, now=now)
    if undeliverable is not None:
        log.error("%s", undeliverable)  # once per episode, and where Slack is not needed to see it
        app.wake("dispatch")


def meta_alert(s: Session, watch: Watch, *, now: float, blind_since: float | None) -> None:
    """The built-in alert on takeover itself: Prometheus cannot be queried. It pages the
    meta-alert owner through the same grouping and delivery as every other alert."""
    blind_for = now - blind_since if blind_since is not None else 0.0
    firing = blind_for >= watch.meta_alert_after
    labels = {"alertname": META_ALERT, "owner": watch.meta_alert_owner, "severity": "page"}
    alert = store.meta_alert(session=s, name=META_ALERT)
    if firing and (alert is None or alert.state != State.firing.value):
        store.save_meta_alert(session=s, labels=labels, now=now, firing=True, annotations={
            "summary": f"takeover cannot query Prometheus at {watch.prometheus_url}",
            "runbook_url": "https://github.com/takeover/takeover#when-prometheus-is-unreachable",
            "first_check": "curl the Prometheus URL from takeover's host; check GET /v1/rules for the error"})
    elif not firing and alert is not None and alert.state == State.firing.value:
        store.save_meta_alert(session=s, labels=labels, now=now, firing=False, annotations={})
    elif alert is not None and alert.state == State.inactive.value and \
            (alert.resolved_at or now) < now - RESOLVED_RETENTION:
        s.delete(alert)
