"""Cheap aggregate counts for /metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from takeover.control.approval import Status
from takeover.store.models import (
    AlertRow,
    ApprovalRow,
    OutboxRow,
)


def snapshot_counts(*, session: Session) -> dict[str, Any]:
    """Cheap aggregate counts for /metrics."""
    alerts = dict(session.exec(select(AlertRow.state, func.count()).group_by(AlertRow.state)).all())
    queued, oldest = session.exec(select(func.count(), func.min(OutboxRow.created_at))
                                  .where(col(OutboxRow.sent_at).is_(None))
                                  .where(col(OutboxRow.undeliverable_at).is_(None))).one()
    undeliverable = session.exec(select(func.count()).select_from(OutboxRow)
                                 .where(col(OutboxRow.undeliverable_at).is_not(None))
                                 .where(col(OutboxRow.dismissed_at).is_(None))).one()
    pending = session.exec(select(func.count()).select_from(ApprovalRow)
                           .where(col(ApprovalRow.status) == Status.pending.value)).one()
    return {"alerts": alerts, "queued": queued, "oldest": oldest, "pending": pending,
            "undeliverable": undeliverable}
