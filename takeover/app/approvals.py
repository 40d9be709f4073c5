"""Approvals: an agent asks, a human decides (first decision wins), no decision in time means
no. Each operation is one transaction with its audit row and its Slack message."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.app.context import App
from takeover.app.decisions import decision_record, judge_now
from takeover.app.errors import Refusal
from takeover.config.mode import Mode
from takeover.control.approval import Status, check_args, effective_args, may_respond
from takeover.control.grants import grant_for as grant_scope
from takeover.control.policy import Approval, Policy
from takeover.control.principal import Principal
from takeover.control.sources import Decision, Source, SourceKind
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
                 responders: list[str], policy: Policy | None = None) -> ApprovalRow:
    """A pending request in the caller's transaction (an action's answer may carry one), its
    message queued; the same request again for the same idempotency key. A policy sets who
    approves, how many, the expiry and the escalation (by default, the agent owner's from the
    routing file)."""
    now = app.clock()
    ttl = app.limits.approval_expiry
    need = policy.approval if policy is not None else Approval()
    if need.expires_in is not None:  # the policy's expiry; a request may ask for a shorter one, never a longer
        expires_in = min(need.expires_in, app.limits.approval_max_expiry, expires_in or need.expires_in)
    if expires_in is not None:
        ttl = expires_in
        if ttl > app.limits.approval_max_expiry:
            raise Refusal(422, f"expires_in must be more than 0 and at most {app.limits.approval_max_expiry:.0f}s")
    owner, dest = app.messages.routing.agent_destination(agent)
    steps = [{"after": e.after, "target": e.target} for e in need.escalation or dest.escalation]
    try:
        row, created = store.create_approval(
            session=s, agent=agent, action=action, kind=kind, risk=risk, args=args, reason=reason,
            requested_by=who.actor, now=now, expires_at=now + ttl,
            responders=list(need.approvers) if policy is not None else responders,
            idempotency_key=idempotency_key, policy=f"{policy.name} ({policy.where})" if policy else "",
            quorum=need.quorum, forbidden=[f"operator:{owner}"] if owner and not need.owner_may_approve else [],
            escalation=steps, grant_max=need.grant_max)
    except store.IdempotencyConflict as exc:
        raise Refusal(409, str(exc)) from None
    if created:
        app.messages.approval(s, row, now=now)
    return row


def request(app: App, who: Principal, *, agent: str, action: str, kind: str, risk: str, args: dict[str, Any],
            reason: str, idempotency_key: str | None, expires_in: float | None,
            responders: list[str] | None = None) -> dict[str, Any]:
    """Ask a human to approve an action (idempotent per agent and idempotency key), decided as
    `POST …/actions` decides it: a deny (a policy's or the mode's) is refused (403); otherwise
    the deciding policy sets the responders, quorum, owner rule and expiry — an agent asks, it
    does not choose who answers (`responders`, if sent, must be what the decision names: 422
    otherwise). An action the decision allows outright may still be put to an operator."""
    now = app.clock()
    with app.sessions() as s:
        judged = judge_now(app, s, agent=agent, action=action, kind=kind, risk=risk, args=args, now=now)
        if judged.decision == Decision.deny:
            audit = store.record_audit(session=s, now=now, actor=who.actor, action="action.deny",
                                       subject=f"agent:{agent}", reason=judged.reason,
                                       after=decision_record(judged, via="approvals"))
            store.record_shadow_verdicts(session=s, audit=audit, agent=agent, action=action, verdicts=judged.shadow)
            s.commit()
            for shadow in judged.shadow:
                app.shadow_decided(shadow.policy.name, shadow.would)
            raise Refusal(403, f"denied, so no approval can be asked for: {judged.reason}")
        policy = judged.policy if judged.decision == Decision.approval_required else None
        decided = list(policy.approval.approvers) if policy is not None else ["role:operator"]
        if responders is not None and sorted(responders) != sorted(decided):
            raise Refusal(422, f"responders are decided by the policies, not by the agent: this request goes to "
                               f"{', '.join(decided)}" + (f" (policy {policy.name}, {policy.where})" if policy else "")
                               + "; leave responders out")
        row = open_request(app, s, who, agent=agent, action=action, kind=kind, risk=risk, args=args,
                           reason=reason, idempotency_key=idempotency_key, expires_in=expires_in,
                           responders=decided, policy=policy)
        s.commit()
    app.wake("deliver")
    return store.approval_public(row)


def decide(app: App, *, approval_id: str, status: Status, who: Principal,
           comment: str | None = None, args: dict[str, Any] | None = None,
           grant_for: float | None = None) -> dict[str, Any]:
    """Approve, reject or cancel a pending request: the first decision wins, atomically (with a
    quorum, approvals are votes and the N-th decides). `grant_for`: approve, and allow the same
    action for this agent for that many seconds (up to the policy's grant_max)."""
    now = app.clock()
    with app.sessions() as s:
        row = approval_for(s, who, approval_id)
        if status in (Status.approved, Status.rejected) and not may_respond(
                row.responders, role=who.role.value, name=who.name):
            raise Refusal(403, f"{who.actor} may not answer this request (responders: {', '.join(row.responders)})")
        if status == Status.approved and ({f"operator:{who.name}", f"operator:{who.person}"} & set(row.forbidden)):
            raise Refusal(403, f"{who.actor} owns agent {row.agent!r} and policy {row.policy} says its owner "
                               "may not approve its requests")
        if grant_for is not None and (status != Status.approved or not 0 < grant_for <= row.grant_max):
            raise Refusal(422, f"a grant needs an approval and at most the policy's grant_max "
                               f"({row.grant_max:.0f}s{'; this policy allows no grants' if not row.grant_max else ''})")
        if grant_for is not None and store.effective_mode(session=s, agent=row.agent, now=now) != Mode.normal:
            raise Refusal(409, f"agent {row.agent!r} is held in "
                               f"{store.effective_mode(session=s, agent=row.agent, now=now).name}: a takeover ends "
                               "grants, so none is given now; approve without grant_for")
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
        try:
            done = store.decide_approval(session=s, approval_id=approval_id, status=status,
                                         actor=who.actor, now=now, comment=comment, args=args, person=who.person)
        except store.VoteRefused as exc:
            raise Refusal(409, str(exc)) from None
        if not done:
            s.rollback()
            current = approval_for(s, who, approval_id)
            s.refresh(current)
            by = f" by {current.decided_by}" if current.decided_by else ""
            raise Refusal(409, {"message": f"already {current.status}{by}",
                                "approval": store.approval_public(current)})
        row = approval_for(s, who, approval_id)
        app.messages.approval(s, row, now=now)
        changed = []
        if grant_for is not None and row.status == Status.approved.value:
            effective = effective_args(row.args_proposed, row.args_approved)
            grant = grant_scope(policy=row.policy.rsplit(" (", 1)[0], approval=row.id, args=effective)
            bounds = ", ".join(f"{k} ≤ {v:g}" for k, v in grant.bounds)
            change = store.add_source(session=s, now=now, source=Source(
                agent=row.agent, mode=Mode.normal, kind=SourceKind.grant, ref=row.action,
                reason=f"{who.actor} allowed {row.action} for {grant_for:.0f}s (approval {row.id}"
                       + (f"; {bounds}" if bounds else "") + ")",
                actor=who.actor, since=now, expires_at=now + grant_for, covers=grant.to_json()))
            changed = list(change.agents)
        s.commit()
    if changed:
        app.changed(changed)
    app.decided_after(now - row.requested_at)
    app.signal(f"approval:{approval_id}")
    app.wake("deliver")
    return store.approval_public(row)


def execute(app: App, who: Principal, *, approval_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """The requesting agent is about to run an approved action: only with the arguments the
    decision covers; another attempt is refused (409) and audited."""
    now = app.clock()
    with app.sessions() as s:
        row = approval_for(s, who, approval_id)
        if who.role.value != "agent":
            raise Refusal(403, "only the requesting agent runs its approved action")
        ok = store.execute_approval(session=s, row=row, args=args, actor=who.actor, now=now)
        s.commit()
        public = store.approval_public(row)
    if not ok:
        effective = effective_args(row.args_proposed, row.args_approved) if row.status == "approved" else None
        if row.executed_at is not None:
            message = f"not run: {store.execution_refusal(row, '')}"
        elif effective is not None:
            message = f"not run: the approval covers {effective!r}"
        else:
            message = f"not run: the request is {row.status}"
        raise Refusal(409, {"message": message, "executed_at": row.executed_at, "executed_by": row.executed_by,
                            "approval": public})
    return public


def escalate(app: App) -> int:
    """Post each pending request whose escalation step is due to that step's target (once)."""
    now = app.clock()
    posted = 0
    with app.sessions() as s:
        for row, step in store.pending_escalations(session=s, now=now):
            if store.mark_escalated(session=s, row=row, step=row.escalated):
                app.messages.approval(s, row, now=now, escalation=(row.escalated, str(step["target"])))
                posted += 1
        s.commit()
    if posted:
        app.wake("deliver")
    return posted


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
