"""Alert state as the evaluator leaves it, restored exactly after a restart; the slot claim
that makes every group slot evaluated once; takeover's own meta-alert."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from takeover.config.mode import ALL_AGENTS, Mode, shadow_mode
from takeover.control.silence import silenced_by
from takeover.rules.evaluate import Alert, Labels, State
from takeover.store.audit import record_audit
from takeover.store.engine import insert_if_missing
from takeover.store.models import (
    AlertRow,
    GroupRow,
    GroupSlotRow,
)
from takeover.store.silences import active_silences


def fingerprint(labels: Labels) -> str:
    return hashlib.sha256(json.dumps(labels).encode()).hexdigest()[:16]


def alert_from_row(row: AlertRow) -> Alert:
    return Alert(
        labels=tuple(sorted(row.labels.items())),
        annotations=row.annotations,
        state=State(row.state),
        value=row.value,
        active_at=row.active_at,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        keep_firing_since=row.keep_firing_since,
    )


def load_alerts(*, session: Session, group_key: str) -> dict[str, dict[Labels, Alert]]:
    """The group's alerts by rule key, as the evaluator left them."""
    out: dict[str, dict[Labels, Alert]] = {}
    for row in session.exec(select(AlertRow).where(AlertRow.group_key == group_key)):
        alert = alert_from_row(row)
        out.setdefault(row.rule_key, {})[alert.labels] = alert
    return out


def save_alerts(
    *, session: Session, group_key: str, rule_key: str,
    before: Mapping[Labels, Alert], after: Mapping[Labels, Alert],
) -> None:
    """Write the rule's new alert set: insert, update and delete only what changed."""
    if all(before.get(labels) == alert for labels, alert in after.items()) and before.keys() <= after.keys():
        return  # nothing changed: no round trip
    rows = {
        r.fingerprint: r
        for r in session.exec(select(AlertRow).where(AlertRow.rule_key == rule_key,
                                                     AlertRow.group_key == group_key))
    }
    for labels, alert in after.items():
        if before.get(labels) == alert:
            continue
        fp = fingerprint(labels)
        row = rows.get(fp) or AlertRow(group_key=group_key, rule_key=rule_key, fingerprint=fp,
                                       labels={}, annotations={}, state="", value=0, active_at=0)
        row.labels = dict(alert.labels)
        row.annotations = dict(alert.annotations)
        row.state = alert.state.value
        row.value = alert.value
        row.active_at = alert.active_at
        row.fired_at = alert.fired_at
        row.resolved_at = alert.resolved_at
        row.keep_firing_since = alert.keep_firing_since
        session.add(row)
    for labels in before.keys() - after.keys():
        gone = rows.get(fingerprint(labels))
        if gone is not None:
            session.delete(gone)


def mark_takeover(*, session: Session, group_key: str, rule_key: str, labels: Labels,
                  effect: dict[str, Any]) -> None:
    """Record on the alert what its firing did to agents (its message shows it)."""
    row = session.exec(select(AlertRow).where(AlertRow.group_key == group_key, AlertRow.rule_key == rule_key,
                                              AlertRow.fingerprint == fingerprint(labels))).first()
    if row is not None:
        row.takeover = effect
        session.add(row)


META_GROUP = "takeover:meta"


def meta_alert(*, session: Session, name: str) -> AlertRow | None:
    """Takeover's own alert named `name` (its alertname), if it fired within the retention."""
    return session.exec(select(AlertRow).where(AlertRow.group_key == META_GROUP)
                        .where(AlertRow.rule_key == name)).first()


def save_meta_alert(*, session: Session, labels: dict[str, str], annotations: dict[str, str],
                    now: float, firing: bool) -> None:
    """Fire or resolve takeover's own alert (it has no rule: the evaluator is what is broken)."""
    row = meta_alert(session=session, name=labels["alertname"])
    if firing:
        row = row or AlertRow(group_key=META_GROUP, rule_key=labels["alertname"],
                              fingerprint=fingerprint(tuple(sorted(labels.items()))), labels=labels,
                              annotations=annotations, state=State.firing.value, value=1.0, active_at=now)
        row.state, row.active_at, row.fired_at, row.resolved_at = State.firing.value, now, now, None
        row.annotations = annotations or row.annotations
    elif row is not None:
        row.state, row.resolved_at = State.inactive.value, now
    if row is not None:
        session.add(row)
        record_audit(session=session, now=now, actor="system:meta-alert",
                     action="alert.firing" if firing else "alert.resolved",
                     subject=f"alert:{labels['alertname']}", after=labels)


ALERTMANAGER_GROUP = "alertmanager"  # alerts an Alertmanager routed to takeover, by its fingerprint


def received_alert(*, session: Session, fingerprint: str, create: dict[str, Any] | None = None) -> AlertRow | None:
    """The alert an Alertmanager notified with this fingerprint, locked until the transaction
    ends, so of two notifications of one alert (an HA pair) the second waits and sees the
    first one's outcome. With `create`, a missing row is inserted first (state "": not yet
    firing; any racing insert wins and this one does nothing)."""
    if create is not None:
        insert_if_missing(session, AlertRow, ("rule_key", "fingerprint"), group_key=ALERTMANAGER_GROUP,
                          rule_key=ALERTMANAGER_GROUP, fingerprint=fingerprint, state="", value=0.0,
                          active_at=0.0, labels=create.get("labels", {}), annotations=create.get("annotations", {}))
    return session.exec(select(AlertRow).where(AlertRow.rule_key == ALERTMANAGER_GROUP,
                                               AlertRow.fingerprint == fingerprint)
                        .with_for_update().execution_options(populate_existing=True)).first()


def prune_received(*, session: Session, before: float) -> None:
    """Forget Alertmanager's alerts resolved before `before` (kept as long as takeover's own)."""
    session.execute(delete(AlertRow).where(col(AlertRow.group_key) == ALERTMANAGER_GROUP,
                                           col(AlertRow.state) == State.inactive.value,
                                           col(AlertRow.resolved_at) < before))


def list_alerts(*, session: Session) -> list[AlertRow]:
    return list(session.exec(select(AlertRow).order_by(col(AlertRow.active_at))))


@dataclass(frozen=True)
class ShadowHold:
    """The hold a firing `takeover: shadow:<mode>` alert would make (and does not)."""

    agent: str
    mode: Mode
    alert: AlertRow


def shadow_holds(*, session: Session, now: float) -> list[ShadowHold]:
    """The holds firing shadow alerts would make now: none where a silence holds the takeover back,
    as it would a real one. A shadow hold lasts while its alert fires."""
    rows = [(r, shadow_mode(r.labels.get("takeover")))
            for r in session.exec(select(AlertRow).where(col(AlertRow.state) == State.firing.value))]
    shadows = [(r, mode) for r, mode in rows if mode is not None]
    silences = active_silences(session=session, now=now) if shadows else []
    return [ShadowHold(r.labels.get("agent", ALL_AGENTS), mode, r) for r, mode in shadows
            if not getattr(silenced_by(r.labels, silences, now), "suppress_takeover", False)]


def firing_with_label(*, session: Session, name: str, value: str) -> list[AlertRow]:
    """Firing alerts whose label `name` is `value` (few alerts fire at once: filtered here)."""
    rows = session.exec(select(AlertRow).where(col(AlertRow.state) == State.firing.value))
    return [r for r in rows if r.labels.get(name) == value]


def alert_firing_on(*, session: Session, agent: str) -> bool:
    """Whether an alert is firing on the agent: labelled with it, or with no agent (every agent)."""
    rows = session.exec(select(AlertRow).where(col(AlertRow.state) == State.firing.value,
                                               col(AlertRow.group_key) != META_GROUP))
    return any(r.labels.get("agent", agent) == agent for r in rows)


def firing_alerts_on(*, session: Session, agent: str) -> list[str]:
    """The names of the alerts firing on the agent (labelled with it, or with no agent), sorted."""
    rows = session.exec(select(AlertRow).where(col(AlertRow.state) == State.firing.value,
                                               col(AlertRow.group_key) != META_GROUP))
    return sorted({r.labels.get("alertname", r.rule_key) for r in rows if r.labels.get("agent", agent) == agent})


def claim_slot(*, session: Session, group_key: str, slot: float, replica: str, now: float) -> float | None:
    """Claim `slot` for the group as `replica`: returns the slot evaluated before it (0.0 when
    none was), or None when this slot or a later one already was. The group's row stays locked
    until the transaction ends, so of two replicas claiming one slot the second waits, then sees
    the first one's claim; every claimed slot is kept in `rule_group_slot` (once, by its key)."""
    locked = select(GroupRow).where(GroupRow.key == group_key).with_for_update() \
        .execution_options(populate_existing=True)
    row = session.exec(locked).first()
    if row is None:  # the group's first slot: whoever inserts first, both then lock the one row
        insert_if_missing(session, GroupRow, "key", key=group_key, last_eval_at=0.0)
        row = session.exec(locked).one()
    if row.last_eval_at >= slot:
        return None
    before = row.last_eval_at
    row.last_eval_at, row.evaluated_by = slot, replica
    session.add(row)
    session.add(GroupSlotRow(group_key=group_key, slot=slot, replica=replica, finished_at=now))
    return before


def save_group_health(*, session: Session, group_key: str, duration: float, health: dict[str, str]) -> None:
    """What the claimed slot found: how long its queries took, each rule's error ("" when none)."""
    row = session.get(GroupRow, group_key)
    if row is not None:
        row.duration, row.health = duration, health
        session.add(row)


def group_rows(*, session: Session) -> dict[str, GroupRow]:
    return {row.key: row for row in session.exec(select(GroupRow))}


def evaluated_slots(*, session: Session, since: float) -> list[GroupSlotRow]:
    """Every slot claimed since `since`, oldest first: who evaluated what."""
    return list(session.exec(select(GroupSlotRow).where(col(GroupSlotRow.slot) >= since)
                             .order_by(col(GroupSlotRow.slot))))


def prune_slots(*, session: Session, before: float) -> None:
    session.execute(delete(GroupSlotRow).where(col(GroupSlotRow.finished_at) < before))
