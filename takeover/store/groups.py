"""Notification groups (one Slack message per group of alerts) and Slack interactions
already applied (a retried delivery or a double click is applied once)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from takeover.store.audit import record_audit
from takeover.store.models import (
    InteractionRow,
    NotifyGroupRow,
)


def notify_groups(*, session: Session) -> dict[str, NotifyGroupRow]:
    return {g.key: g for g in session.exec(select(NotifyGroupRow))}


def ack_group(*, session: Session, group_id: int, actor: str, now: float) -> NotifyGroupRow | None:
    """Acknowledge a group once (a conditional update: the first acknowledgement wins)."""
    result = session.execute(update(NotifyGroupRow)
                             .where(col(NotifyGroupRow.id) == group_id, col(NotifyGroupRow.acked_by).is_(None))
                             .values(acked_by=actor, acked_at=now)
                             .execution_options(synchronize_session=False))
    row = session.get(NotifyGroupRow, group_id)
    if row is not None:
        session.refresh(row)
    if result.rowcount == 1 and row is not None:  # type: ignore[attr-defined]
        record_audit(session=session, now=now, actor=actor, action="alert.ack",
                     subject=f"group:{row.key}", after={"acked_by": actor})
    return row


def claim_interaction(*, session: Session, key: str, now: float) -> bool:
    """True the first time `key` is seen; a retried delivery or a double click gets False."""
    if session.get(InteractionRow, key) is not None:
        return False
    try:
        with session.begin_nested():  # a savepoint: losing the race keeps the caller's transaction
            session.add(InteractionRow(key=key, at=now))
    except IntegrityError:
        return False
    return True
