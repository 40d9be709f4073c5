"""Approvals: an agent asks, a human decides (first decision wins), no decision in time means
no. Each operation is one transaction with its audit row and its Slack message."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.control.approval import Status, check_args, may_respond
from takeover.control.principal import Principal
from takeover.store.models import ApprovalRow


def approval_for(s: Session, who: Principal, approval_id: str) -> ApprovalRow:
    """The request, if `who` may see it (404/403 otherwise)."""
    row = store.get_approval(session=s, approval_id=approval_id)
    if row is None:
        raise Refusal(404, f"no approval {approval_id!r}")
    if not who.may_read(row.agent):
        raise Refusal(403, f"{who.actor} may not see approvals of agent {row.agent!r}")
    return row


def open_request(app: App, s: Session, who: Principal, *, agent: str, action: str, kind: str, risk: str,
                 args: dict[str, Any], reason: str, idempotency_key: str | None, expires_in: float | None,
                 responders: list[str]) -> ApprovalRow:
    """A pending request in the caller's transaction (an action's answer may carry one), its
    message queued; the same request again for the same idempotency key."""
    now = app.clock()
    ttl = app.limits.approval_expiry
    if expires_in is not None:
        ttl = expires_in
        if ttl > app.limits.approval_max_expiry:
            raise Refusal(422, f"expires_in must be more than 0 and at most {app.limits.approval_max_expiry:.0f}s")
    try:
        row, created = store.create_approval(
            session=s, agent=agent, action=action, kind=kind, risk=risk, args=args, reason=reason,
            requested_by=who.actor, now=now, expires_at=now + ttl, responders=responders,
            idempotency_key=idempotency_key)
    except store.IdempotencyConflict as exc:
        raise Refusal(409, str(exc)) from None
    if created:
        app.messages.approval(s, row, now=now)
    return row


def request(app: App, who: Principal, **request: Any) -> dict[str, Any]:
    """Ask a human to approve an action (idempotent per agent and idempotency key)."""
    with app.sessions() as s:
        row = open_request(app, s, who, **request)
        s.commit()
    app.wake("deliver")
    return store.approval_public(row)


def decide(app: App, *, approval_id: str, status: Status, who: Principal,
           comment: str | None = None, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Approve, reject or cancel a pending request: the first decision wins, atomically."""
    now = app.clock()
    with app.sessions() as s:
        row = approval_for(s, who, approval_id)
        if status in (Status.approved, Status.rejected) and not may_respond(
                row.responders, role=who.role.value, name=who.name):
            raise Refusal(403, f"{who.actor} may not answer this request (responders: {', '.join(row.responders)})")
        if status == Status.cancelled and who.is_operator():
            raise Refusal(403, "only the requesting agent cancels its request; operators reject it (with a comment)")
        if status == Status.rejected and not (comment or "").strip():
            raise Refusal(422, "a rejection needs a comment: tell the agent why")
        if args is not None:
            if status != Status.approved:
                raise Refusal(422, "only an approval may carry edited args")
            problem = check_args(args, proposed=row.args_proposed)
            if problem:
                raise Refusal(422, problem)
        expired = row.status == Status.pending.value and row.expires_at <= now
    if expired:
        expire(app)
    with app.sessions() as s:
        if not store.decide_approval(session=s, approval_id=approval_id, status=status,
                                     actor=who.actor, now=now, comment=comment, args=args):
            s.rollback()
            current = approval_for(s, who, approval_id)
            s.refresh(current)
            by = f" by {current.decided_by}" if current.decided_by else ""
            raise Refusal(409, {"message": f"already {current.status}{by}",
                                "approval": store.approval_public(current)})
        row = approval_for(s, who, approval_id)
        app.messages.approval(s, row, now=now)
        s.commit()
    app.decided_after(now - row.requested_at)
    app.signal(f"approval:{approval_id}")
    app.wake("deliver")
    return store.approval_public(row)


def expire(app: App) -> None:
    """Turn pending approvals past their expiry into `expired` (safe on any replica)."""
    now = app.clock()
    with app.sessions() as s:
        expired = store.expire_approvals(session=s, now=now)
        for row in expired:
            app.messages.approval(s, row, now=now)
        s.commit()
    for row in expired:
        app.signal(f"approval:{row.id}")
    if expired:
        app.wake("deliver")
