"""Approval requests: created once per idempotency key, decided by the first writer."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from takeover.control.approval import Status, effective_args
from takeover.control.principal import person_of
from takeover.store.agents import ensure_agent
from takeover.store.audit import record_audit
from takeover.store.models import (
    ApprovalRow,
)


class IdempotencyConflict(ValueError):
    """The same idempotency key with a different action or arguments."""


class VoteRefused(ValueError):
    """An approval vote that cannot count: the person voted already, or for other arguments."""


def args_digest(args: dict[str, Any]) -> str:
    """What a decision covers: the SHA-256 of the exact arguments, as canonical JSON."""
    return hashlib.sha256(json.dumps(args, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def approval_public(row: ApprovalRow) -> dict[str, Any]:
    return {
        "id": row.id, "agent": row.agent, "action": row.action, "kind": row.kind, "risk": row.risk,
        "reason": row.reason, "status": row.status, "requested_by": row.requested_by,
        "requested_at": row.requested_at, "expires_at": row.expires_at,
        "responders": row.responders, "decided_at": row.decided_at, "decided_by": row.decided_by,
        "comment": row.comment, "idempotency_key": row.idempotency_key, "policy": row.policy or None,
        "quorum": row.quorum, "approvals": [{"by": v["by"], "at": v["at"]} for v in row.approvals],
        "args_digest": row.args_digest, "delivery_error": row.delivery_error, "executed_at": row.executed_at,
        "executed_by": row.executed_by, "grant_max": row.grant_max or None,
        "args": {"proposed": row.args_proposed, "approved": row.args_approved,
                 "effective": effective_args(row.args_proposed, row.args_approved)
                 if row.status == Status.approved else None},
    }


def create_approval(*, session: Session, agent: str, action: str, kind: str, risk: str,
                    args: dict[str, Any], reason: str, requested_by: str, now: float,
                    expires_at: float, responders: list[str],
                    idempotency_key: str | None, policy: str = "", quorum: int = 1,
                    forbidden: list[str] | None = None, escalation: list[dict[str, Any]] | None = None,
                    grant_max: float = 0.0) -> tuple[ApprovalRow, bool]:
    """A new pending request, or the existing one for the same (agent, idempotency_key) — also
    when two requests with that key race (a savepoint keeps the caller's transaction)."""
    existing = _approval_by_key(session=session, agent=agent, key=idempotency_key)
    if existing is None:
        ensure_agent(session=session, name=agent, now=now)
        row = ApprovalRow(id=uuid.uuid4().hex, agent=agent, action=action, kind=kind, risk=risk,
                          reason=reason, args_proposed=args, responders=responders,
                          status=Status.pending.value, requested_by=requested_by, requested_at=now,
                          expires_at=expires_at, idempotency_key=idempotency_key, policy=policy, quorum=quorum,
                          forbidden=forbidden or [], escalation=escalation or [], grant_max=grant_max)
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
                        "args": args, "expires_at": expires_at, "responders": responders,
                        "policy": policy or None, "quorum": quorum})
    return row, True


def _approval_by_key(*, session: Session, agent: str, key: str | None) -> ApprovalRow | None:
    if key is None:
        return None
    return session.exec(select(ApprovalRow).where(ApprovalRow.agent == agent,
                                                  ApprovalRow.idempotency_key == key)).first()


def get_approval(*, session: Session, approval_id: str) -> ApprovalRow | None:
    return session.get(ApprovalRow, approval_id)


def decide_approval(*, session: Session, approval_id: str, status: Status, actor: str, now: float,
                    comment: str | None = None, args: dict[str, Any] | None = None, person: str | None = None) -> bool:
    """Move a pending, unexpired request to `status`: one conditional UPDATE, so exactly one
    of any number of concurrent deciders wins (on SQLite and PostgreSQL alike). With a quorum,
    an approval is a vote (compare-and-set on `revision`) and the N-th distinct vote decides;
    a reject decides at once, whatever votes came before. False when it was decided already;
    VoteRefused for a second vote by the same person (`person`, else the actor's: two tokens of
    one person are one vote) or a vote for other arguments."""
    if status == Status.approved:
        decided = _vote(session=session, approval_id=approval_id, actor=actor, now=now, comment=comment, args=args,
                        person=person or person_of(actor))
        if decided is not True:
            return decided is None
    else:
        result = session.execute(
            update(ApprovalRow)
            .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == Status.pending.value,
                   col(ApprovalRow.expires_at) > now)
            .values(status=status.value, decided_at=now, decided_by=actor, comment=comment)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
    row = session.get(ApprovalRow, approval_id)
    assert row is not None
    session.refresh(row)
    record_audit(session=session, now=now, actor=actor, action=f"approval.{status.value}",
                 subject=f"agent:{row.agent}", before=Status.pending.value, after={
                     "approval": row.id, "status": status.value, "action": row.action,
                     "args_proposed": row.args_proposed, "args_approved": row.args_approved,
                     "args_effective": effective_args(row.args_proposed, row.args_approved)
                     if status == Status.approved else None, "args_digest": row.args_digest,
                     "votes": [v["by"] for v in row.approvals] or None},
                 reason=comment or "")
    return True


def voter(vote: dict[str, Any]) -> str:
    """The person who cast a vote (votes before persons were recorded: the actor's name)."""
    return str(vote.get("person") or person_of(str(vote["by"])))


def _vote(*, session: Session, approval_id: str, actor: str, now: float, comment: str | None,
          args: dict[str, Any] | None, person: str) -> bool | None:
    """One approval vote: True when it decided the request, None when it counted and the
    request waits for more, False when the request was decided (or expired) already."""
    for _ in range(50):  # a lost compare-and-set means another vote landed first: read again
        row = session.get(ApprovalRow, approval_id)
        if row is None:
            return False
        session.refresh(row)
        if row.status != Status.pending.value or row.expires_at <= now:
            return False
        same = next((v["by"] for v in row.approvals if voter(v) == person), None)
        if same is not None:
            who = actor if same == actor else f"{person} (as {same})"
            raise VoteRefused(f"{who} approved already ({len(row.approvals)} of {row.quorum}): one person is one "
                              "vote, whatever token they use; another approver must add theirs")
        edits = next((v["args"] for v in row.approvals if v.get("args") is not None), None)
        if args is not None and edits is not None and args != edits:
            raise VoteRefused(f"{row.approvals[0]['by']} approved other arguments: approve those, or reject")
        votes = [*row.approvals, {"by": actor, "person": person, "at": now, "args": args}]
        final = len(votes) >= row.quorum
        values: dict[str, Any] = {"approvals": votes, "revision": row.revision + 1}
        if final:
            approved = args if args is not None else edits
            values |= {"status": Status.approved.value, "decided_at": now, "decided_by": actor, "comment": comment,
                       "args_approved": approved,
                       "args_digest": args_digest(effective_args(row.args_proposed, approved))}
        result = session.execute(
            update(ApprovalRow)
            .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == Status.pending.value,
                   col(ApprovalRow.revision) == row.revision, col(ApprovalRow.expires_at) > now)
            .values(**values).execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            if not final:
                session.refresh(row)
                record_audit(session=session, now=now, actor=actor, action="approval.vote",
                             subject=f"agent:{row.agent}", reason=comment or "",
                             after={"approval": row.id, "votes": len(votes), "quorum": row.quorum})
            return True if final else None
        session.expire_all()
    raise VoteRefused("too many approvals at once: try again")


def execute_approval(*, session: Session, row: ApprovalRow, args: dict[str, Any], actor: str, now: float) -> bool:
    """The agent runs an approved action, once, with exactly the arguments the decision covers:
    the first call consumes the approval (a conditional UPDATE, so of any number of concurrent
    calls one wins); any other call is refused and audited. `row` is refreshed either way."""
    digest = args_digest(args)
    result = session.execute(
        update(ApprovalRow)
        .where(col(ApprovalRow.id) == row.id, col(ApprovalRow.status) == Status.approved.value,
               col(ApprovalRow.args_digest) == digest, col(ApprovalRow.executed_at).is_(None))
        .values(executed_at=now, executed_by=actor).execution_options(synchronize_session=False))
    session.refresh(row)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        record_audit(session=session, now=now, actor=actor, action="approval.executed",
                     subject=f"agent:{row.agent}", after={"approval": row.id, "action": row.action,
                                                          "args_digest": digest})
        return True
    record_audit(session=session, now=now, actor=actor, action="approval.execution_refused",
                 subject=f"agent:{row.agent}", reason=execution_refusal(row, digest),
                 after={"approval": row.id, "action": row.action, "args": args, "args_digest": digest,
                        "approved_digest": row.args_digest})
    return False


def execution_refusal(row: ApprovalRow, digest: str) -> str:
    """Why a run of the approved action is refused: it ran already, it is not approved, or
    other arguments."""
    if row.executed_at is not None:
        return f"it ran already, at {row.executed_at:.3f} by {row.executed_by or 'the agent'}: an approval runs once"
    if row.status != Status.approved.value:
        return f"the request is {row.status}"
    return "the arguments differ from the approved ones" if digest != row.args_digest else "refused"


def pending_escalations(*, session: Session, now: float) -> list[tuple[ApprovalRow, dict[str, Any]]]:
    """Pending requests whose next escalation step is due, each with that step."""
    rows = session.exec(select(ApprovalRow).where(col(ApprovalRow.status) == Status.pending.value,
                                                  col(ApprovalRow.expires_at) > now))
    return [(r, r.escalation[r.escalated]) for r in rows
            if r.escalated < len(r.escalation) and now - r.requested_at >= float(r.escalation[r.escalated]["after"])]


def mark_escalated(*, session: Session, row: ApprovalRow, step: int) -> bool:
    """Claim escalation step `step` of the request (once, whichever pass gets there first)."""
    result = session.execute(update(ApprovalRow).where(col(ApprovalRow.id) == row.id,
                                                       col(ApprovalRow.escalated) == step)
                             .values(escalated=step + 1).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


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


def count_approvals(*, session: Session, status: str | None = None) -> int:
    """How many requests there are (in `status`)."""
    query = select(func.count()).select_from(ApprovalRow)
    if status is not None:
        query = query.where(col(ApprovalRow.status) == status)
    return int(session.exec(query).one())


def recent_decisions(*, session: Session, limit: int = 20) -> list[ApprovalRow]:
    """The latest decided (or expired, or cancelled) requests, newest decision first."""
    return list(session.exec(select(ApprovalRow).where(col(ApprovalRow.status) != Status.pending.value)
                             .order_by(col(ApprovalRow.decided_at).desc(), col(ApprovalRow.id)).limit(limit)))
