"""What an Alertmanager's notification does: its alerts with a `takeover` label hold their
agents while firing, exactly as takeover's own alerts do (the same hold and release, the same
alert rows for the console's timeline and the dispatcher, the same audit rows), once per
fingerprint however often Alertmanager, or both replicas of an HA pair, send it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from takeover import store
from takeover.app.alerts import hold, release_hold
from takeover.app.context import App
from takeover.app.modes import commit_changes
from takeover.control.alertmanager import Notified, Step, step, why_ignored
from takeover.control.silence import silenced_by
from takeover.control.sources import ModeChange
from takeover.notify.alertmanager import own_alerts
from takeover.rules.evaluate import RESOLVED_RETENTION, State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one alert of the notification did."""

    fingerprint: str
    alertname: str
    step: Step
    why: str = ""  # for an ignored alert: why takeover left it alone


def receive(app: App, *, alerts: Sequence[Notified], receiver: str, actor: str) -> list[Outcome]:
    """Apply one webhook notification in one transaction: each alert's step (fire, repeat,
    resolve, stale, ignore) against what takeover recorded for its fingerprint; the holds and
    releases it causes, audited, with their messages. `actor` is the token that sent it."""
    now = app.clock()
    outcomes: list[Outcome] = []
    with app.sessions() as s:
        silences = store.active_silences(session=s, now=now)
        changes: list[ModeChange | None] = []
        announce: list[ModeChange] = []  # holds of silenced alerts: no alert message tells them
        # takeover's own alerts come back when it posts them to this Alertmanager: they held already
        mine = {tuple(sorted(r.labels.items())) for r in own_alerts(session=s)}
        for alert in alerts:
            why = why_ignored(alert)
            if why is None and tuple(sorted(alert.labels.items())) in mine:
                why = "takeover's own alert, sent back by Alertmanager: it acted when it fired"
            if why is not None:
                outcomes.append(Outcome(alert.fingerprint, alert.name, Step.ignore, why))
                continue
            row = store.received_alert(session=s, fingerprint=alert.fingerprint, create={
                "labels": dict(alert.labels), "annotations": dict(alert.annotations)} if alert.firing else None)
            what = step(alert, recorded_firing=None if row is None else row.state == State.firing.value)
            outcomes.append(Outcome(alert.fingerprint, alert.name, what))
            if row is None or what in (Step.repeat, Step.stale):
                continue
            row.labels, row.annotations = dict(alert.labels), dict(alert.annotations)
            subject = f"alert:{alert.name}"
            facts = {"fingerprint": alert.fingerprint, "labels": dict(alert.labels), "receiver": receiver}
            if what == Step.fire:
                row.state, row.active_at, row.fired_at, row.resolved_at = State.firing.value, alert.starts_at, now, None
                row.takeover = None
                store.record_audit(session=s, now=now, actor=actor, action="alert.firing", subject=subject,
                                   after=facts, reason=alert.annotations.get("summary", ""))
                change = hold(s, labels=alert.labels, ref=alert.ref, actor=alert.actor, now=now, silences=silences,
                              reason=alert.annotations.get("summary") or alert.name)
                if change is not None:
                    row.takeover = {"agent": change.scope, "before": change.before.name, "after": change.after.name,
                                    "actor": change.actor, "ref": alert.ref}
                    if silenced_by(alert.labels, silences, now):
                        announce.append(change)
                changes.append(change)
            else:  # resolved: the hold stays unless the alert opts in to release on resolve
                row.state, row.resolved_at = State.inactive.value, now  # when takeover heard it: kept the retention from here
                store.record_audit(session=s, now=now, actor=actor, action="alert.resolved", subject=subject,
                                   after=facts)
                if alert.release_on_resolve:
                    changes.append(release_hold(s, labels=alert.labels, ref=alert.ref, actor=alert.actor, now=now,
                                                reason="alert resolved in Alertmanager (it releases on resolve)"))
            s.add(row)
        store.prune_received(session=s, before=now - RESOLVED_RETENTION)
        app.messages.mode_changes(s, announce, now=now)
        commit_changes(app, s, changes, now=now, announce=False)
    for outcome in outcomes:
        if outcome.step == Step.ignore and not outcome.why.startswith(("no takeover label", "takeover's own")):
            log.warning("alert %s (%s) from Alertmanager receiver %s: %s", outcome.alertname,
                        outcome.fingerprint, receiver, outcome.why)
    app.wake("dispatch")
    return outcomes
