"""The audit trail: append-only rows, each chained to the one before by its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from takeover.config.context import request_id
from takeover.store.models import (
    AuditRow,
)

AUDIT_LOCK = 0x7A6B0  # PostgreSQL advisory lock serialising appends to the audit chain


def audit_content(row: AuditRow) -> str:
    """The canonical text of a row that its hash covers."""
    return json.dumps({"at": row.at, "actor": row.actor, "action": row.action,
                       "subject": row.subject, "before": row.before, "after": row.after,
                       "reason": row.reason, "request_id": row.request_id},
                      sort_keys=True, separators=(",", ":"))


def audit_hash(prev_hash: str, row: AuditRow) -> str:
    return hashlib.sha256((prev_hash + audit_content(row)).encode()).hexdigest()


def record_audit(*, session: Session, now: float, actor: str, action: str, subject: str,
                 before: Any = None, after: Any = None, reason: str = "") -> AuditRow:
    """Append a row to the audit chain, in the caller's transaction (so no change goes unrecorded)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
    last = session.exec(select(AuditRow.hash).order_by(col(AuditRow.id).desc()).limit(1)).first()
    row = AuditRow(at=now, actor=actor, action=action, subject=subject, before=before, after=after,
                   reason=reason, request_id=request_id.get(), prev_hash=last or "")
    row.hash = audit_hash(row.prev_hash, row)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class AuditMark:
    """How far the chain is verified: `checked` rows, the last of them `last_id` with `last_hash`."""

    checked: int = 0
    last_id: int = 0
    last_hash: str = ""


def verify_audit(*, session: Session, batch: int = 1000, since: AuditMark | None = None,
                 ) -> tuple[int, AuditRow | None]:
    """Walk the chain (from the start, or on from a verified `since`): (rows checked, the first
    row whose hash does not match, or None)."""
    checked, broken, _ = verify_audit_from(session=session, mark=since or AuditMark(), batch=batch)
    return checked, broken


def verify_audit_from(*, session: Session, mark: AuditMark, batch: int = 1000,
                      ) -> tuple[int, AuditRow | None, AuditMark]:
    """Verify the rows after `mark` (a prefix already verified, whose last row must still hash
    as it did): (rows checked in all, the first broken row or None, the new mark)."""
    if mark.last_id:
        last = session.get(AuditRow, mark.last_id)
        if last is None or last.hash != mark.last_hash or audit_hash(last.prev_hash, last) != mark.last_hash:
            return verify_audit_from(session=session, mark=AuditMark(), batch=batch)  # rewritten: from the start
    prev, checked, after_id = mark.last_hash, mark.checked, mark.last_id
    while True:
        rows = list(session.exec(select(AuditRow).where(col(AuditRow.id) > after_id)
                                 .order_by(col(AuditRow.id)).limit(batch)))
        if not rows:
            return checked, None, AuditMark(checked, after_id, prev)
        for row in rows:
            if row.prev_hash != prev or row.hash != audit_hash(prev, row):
                return checked, row, AuditMark(checked, after_id, prev)
            prev, checked, after_id = row.hash, checked + 1, row.id or 0


def audit_rows(*, session: Session, since: float | None = None, until: float | None = None,
               agent: str | None = None, actor: str | None = None, action: str | None = None,
               after_id: int = 0, limit: int = 100) -> list[AuditRow]:
    """A page of the trail, oldest first, after the row `after_id`."""
    query = select(AuditRow).where(col(AuditRow.id) > after_id)
    if since is not None:
        query = query.where(col(AuditRow.at) >= since)
    if until is not None:
        query = query.where(col(AuditRow.at) < until)
    if agent is not None:
        query = query.where(col(AuditRow.subject) == f"agent:{agent}")
    if actor is not None:
        query = query.where(col(AuditRow.actor) == actor)
    if action is not None:
        query = query.where(col(AuditRow.action).startswith(action))
    return list(session.exec(query.order_by(col(AuditRow.id)).limit(limit)))


def recent_audit_rows(*, session: Session, agent: str | None = None, before_id: int | None = None,
                      limit: int = 50) -> list[AuditRow]:
    """A page of the trail, newest first, before the row `before_id` (the console reads it so)."""
    query = select(AuditRow)
    if before_id is not None:
        query = query.where(col(AuditRow.id) < before_id)
    if agent is not None:
        query = query.where(col(AuditRow.subject) == f"agent:{agent}")
    return list(session.exec(query.order_by(col(AuditRow.id).desc()).limit(limit)))
