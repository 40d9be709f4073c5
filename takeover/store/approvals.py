"""Approval requests: created once per idempotency key, decided by the first writer."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from takeover.control.approval import Status, effective_args
from takeover.store.agents import ensure_agent
from takeover.store.audit import record_audit
from takeover.store.models import (
    ApprovalRow,
)


class IdempotencyConflict(ValueError):
    """The same idempotency key with a different action or arguments."""


def approval_public(row: ApprovalRow) -> dict[str, Any]:
    return {
        "id": row.id, "agent": row.agent, "action": row.action, "kind": row.kind, "risk": row.risk,
        "reason": row.reason, "status": row.status, "requested_by": row.requested_by,
        "requested_at": row.requested_at, "expires_at": row.expires_at,
        "responders": row.responders, "decided_at": row.decided_at, "decided_by": row.decided_by,
        "comment": row.comment, "idempotency_key": row.idempotency_key,
        "args": {"proposed": row.args_proposed, "approved": row.args_approved,
                 "effective": effective_args(row.args_proposed, row.args_approved)
                 if row.status == Status.approved else None},
    }


def create_approval(*, session: Session, agent: str, action: str, kind: str, risk: str,
                    args: dict[str, Any], reason: str, requested_by: str, now: float,
                    expires_at: float, responders: list[str],
                    idempotency_key: str | None) -> tuple[ApprovalRow, bool]:
    """A new pending request, or the existing one for the same (agent, idempotency_key) — also
    when two requests with that key race (a savepoint keeps the caller's transaction)."""
    existing = _approval_by_key(session=session, agent=agent, key=idempotency_key)
    if existing is None:
        ensure_agent(session=session, name=agent, now=now)
        row = ApprovalRow(id=uuid.uuid4().hex, agent=agent, action=action, kind=kind, risk=risk,
                          reason=reason, args_proposed=args, responders=responders,
                          status=Status.pending.value, requested_by=requested_by, requested_at=now,
                          expires_at=expires_at, idempotency_key=idempotency_key)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = _approval_by_key(session=session, agent=agent, key=idempotency_key)
            assert existing is not None
    if existing is not None:
        if (existing.action, existing.args_proposed) != (action, args):
            raise IdempotencyConflict(
                f"idempotency key {idempotency_key!r} was used for another request "
                f"({existing.action} with other arguments): use a new key for a new action")
        return existing, False
    record_audit(session=session, now=now, actor=requested_by, action="approval.request",
                 subject=f"agent:{agent}", reason=reason,
                 after={"approval": row.id, "action": action, "kind": kind, "risk": risk,
                        "args": args, "expires_at": expires_at, "responders": responders})
    return row, True


def _approval_by_key(*, session: Session, agent: str, key: str | None) -> ApprovalRow | None:
    if key is None:
        return None
    return session.exec(select(ApprovalRow).where(ApprovalRow.agent == agent,
                                                  ApprovalRow.idempotency_key == key)).first()


def get_approval(*, session: Session, approval_id: str) -> ApprovalRow | None:
    return session.get(ApprovalRow, approval_id)


def decide_approval(*, session: Session, approval_id: str, status: Status, actor: str, now: float,
                    comment: str | None = None, args: dict[str, Any] | None = None) -> bool:
    """Move a pending, unexpired request to `status`: one conditional UPDATE, so exactly one
    of any number of concurrent deciders wins (on SQLite and PostgreSQL alike)."""
    result = session.execute(
        update(ApprovalRow)
        .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == Status.pending.value,
               col(ApprovalRow.expires_at) > now)
        .values(status=status.value, decided_at=now, decided_by=actor, comment=comment,
                args_approved=args)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    row = session.get(ApprovalRow, approval_id)
    assert row is not None
    session.refresh(row)
    record_audit(session=session, now=now, actor=actor, action=f"approval.{status.value}",
                 subject=f"agent:{row.agent}", before=Status.pending.value, after={
                     "approval": row.id, "status": status.value, "action": row.action,
                     "args_proposed": row.args_proposed, "args_approved": args,
                     "args_effective": effective_args(row.args_proposed, args)
                     if status == Status.approved else None},
                 reason=comment or "")
    return True


def expire_approvals(*, session: Session, now: float) -> list[ApprovalRow]:
    """Turn every pending request past its expiry into `expired` (audited as the system)."""
    ids = list(session.exec(select(ApprovalRow.id).where(
        col(ApprovalRow.status) == Status.pending.value, col(ApprovalRow.expires_at) <= now)))
    expired = []
    for approval_id in ids:
        result = session.execute(
            update(ApprovalRow)
            .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == Status.pending.value)
            .values(status=Status.expired.value, decided_at=now, decided_by="system:expiry")
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            row = session.get(ApprovalRow, approval_id)
            assert row is not None
            session.refresh(row)
            record_audit(session=session, now=now, actor="system:expiry", action="approval.expired",
                         subject=f"agent:{row.agent}", before=Status.pending.value,
                         after={"approval": row.id, "status": "expired", "action": row.action},
                         reason="no decision before the request expired")
            expired.append(row)
    return expired


def list_approvals(*, session: Session, status: str | None = None, agent: str | None = None,
                   limit: int = 100, after: tuple[float, str] | None = None) -> list[ApprovalRow]:
    """A page of requests, oldest first; `after` is the (requested_at, id) of the last one seen."""
    query = select(ApprovalRow)
    if status is not None:
        query = query.where(col(ApprovalRow.status) == status)
    if agent is not None:
        query = query.where(col(ApprovalRow.agent) == agent)
    if after is not None:
        at, last_id = after
        query = query.where(or_(col(ApprovalRow.requested_at) > at,
                                and_(col(ApprovalRow.requested_at) == at, col(ApprovalRow.id) > last_id)))
    return list(session.exec(query.order_by(col(ApprovalRow.requested_at), col(ApprovalRow.id)).limit(limit)))
