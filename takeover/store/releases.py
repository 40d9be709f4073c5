"""Releases: the row per release, its progress saved with an audit row and the agent's document
bumped, and what the canary wrote (from the audit trail) for the rollback report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from takeover.config.mode import Mode
from takeover.control.release import Check, Plan, Progress, State
from takeover.store.audit import record_audit
from takeover.store.models import AgentRow, ApprovalRow, AuditRow, ReleaseRow


class ReleaseConflict(Exception):
    """The agent already has an active release."""


class ReleaseMoved(Exception):
    """The release changed since it was read (a person, or the analysis): nothing was saved;
    roll back and decide again on what it is now."""


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"steps_bp": list(plan.steps_bp), "every": plan.every, "gate": plan.gate,
            "hold": plan.hold.name if plan.hold else None, "inconclusive_limit": plan.inconclusive_limit,
            "checks": [asdict(c) for c in plan.checks]}


def plan_of(row: ReleaseRow) -> Plan:
    p = row.plan
    return Plan(tuple(p["steps_bp"]), float(p["every"]), tuple(Check(**c) for c in p.get("checks", [])),
                bool(p.get("gate")), Mode[p["hold"]] if p.get("hold") else None, int(p.get("inconclusive_limit", 10)))


def progress_of(row: ReleaseRow) -> Progress:
    return Progress(State(row.state), row.step, row.weight_bp, row.step_since, dict(row.failures),
                    row.inconclusive, row.reason)


def create_release(*, session: Session, agent: str, stable: dict[str, Any], canary: dict[str, Any], plan: Plan,
                   progress: Progress, actor: str, now: float) -> ReleaseRow:
    """A new active release (audited, the agent's document bumped); ReleaseConflict if one is
    active — also when another start won the race to the unique index (the session is then
    rolled back: this must be the transaction's first write)."""
    if (active := active_release(session=session, agent=agent)) is not None:
        raise ReleaseConflict(f"agent {agent!r} already has an active release ({active.id}: "
                              f"{active.stable['version']} → {active.canary['version']}, {active.state}); "
                              "promote or abort it first")
    row = ReleaseRow(agent=agent, active_agent=agent, stable=stable, canary=canary, plan=plan_json(plan),
                     state=progress.state.value, step=progress.step, weight_bp=progress.weight_bp,
                     step_since=progress.step_since, failures=dict(progress.failures), reason=progress.reason,
                     started_at=now, started_by=actor)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ReleaseConflict(f"agent {agent!r} already has an active release (started just now); "
                              "promote or abort it first") from None
    record_audit(session=session, now=now, actor=actor, action="release.start", subject=f"agent:{agent}",
                 after={"release": row.id, "stable": stable, "canary": canary, "plan": row.plan,
                        "state": row.state, "weight_bp": row.weight_bp})
    _bump(session, agent)
    return row


def save_progress(*, session: Session, row: ReleaseRow, progress: Progress, actor: str, now: float) -> bool:
    """Store where the release stands, as a compare-and-set on the revision `row` was read at
    (ReleaseMoved if another transition was saved since: a person's action and the analysis
    never overwrite each other). A change of state or weight is audited and bumps the agent's
    document (its agents route by it). Returns whether state or weight changed."""
    before = {"state": row.state, "weight_bp": row.weight_bp}
    moved = (progress.state.value, progress.weight_bp) != (row.state, row.weight_bp)
    values: dict[str, Any] = {
        "state": progress.state.value, "step": progress.step, "weight_bp": progress.weight_bp,
        "step_since": progress.step_since, "failures": dict(progress.failures),
        "inconclusive": progress.inconclusive, "reason": progress.reason,
        "gate_approval_id": row.gate_approval_id, "revision": row.revision + 1}
    if not progress.state.active:
        values |= {"active_agent": None, "ended_at": now}
    result = session.execute(update(ReleaseRow)
                             .where(col(ReleaseRow.id) == row.id, col(ReleaseRow.revision) == row.revision)
                             .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ReleaseMoved(f"release {row.id} changed since it was read (revision {row.revision})")
    for name, value in values.items():
        set_committed_value(row, name, value)  # as saved: nothing left for the session to write
    if moved:
        record_audit(session=session, now=now, actor=actor, action=f"release.{progress.state.value}",
                     subject=f"agent:{row.agent}", before=before, reason=progress.reason,
                     after={"release": row.id, "state": row.state, "weight_bp": row.weight_bp})
        _bump(session, row.agent)
    session.flush()
    return moved


def _bump(session: Session, agent: str) -> None:
    """The agent's document changed: its agents route by the release."""
    session.execute(update(AgentRow).values(version=AgentRow.version + 1).where(col(AgentRow.name) == agent))


def active_release(*, session: Session, agent: str) -> ReleaseRow | None:
    return session.exec(select(ReleaseRow).where(col(ReleaseRow.active_agent) == agent)).first()


def active_releases(*, session: Session) -> list[ReleaseRow]:
    return list(session.exec(select(ReleaseRow).where(col(ReleaseRow.active_agent).is_not(None))
                             .order_by(col(ReleaseRow.id))))


def latest_release(*, session: Session, agent: str) -> ReleaseRow | None:
    return session.exec(select(ReleaseRow).where(col(ReleaseRow.agent) == agent)
                        .order_by(col(ReleaseRow.id).desc()).limit(1)).first()


def latest_releases(*, session: Session, agents: list[str]) -> dict[str, ReleaseRow]:
    """Each agent's newest release (the one its document shows)."""
    rows = session.exec(select(ReleaseRow).where(col(ReleaseRow.agent).in_(agents)).order_by(col(ReleaseRow.id)))
    return {row.agent: row for row in rows}


def release_document(row: ReleaseRow | None) -> dict[str, Any] | None:
    """The release as agents see it in their control document: once promoted, the canary is
    the stable version and there is no canary; rolled back, the weight is 0."""
    if row is None:
        return None
    promoted = row.state == State.promoted.value
    return {"id": row.id, "state": row.state, "weight_bp": 0 if promoted else row.weight_bp,
            "stable": row.canary if promoted else row.stable, "canary": None if promoted else row.canary}


def canary_writes(*, session: Session, row: ReleaseRow) -> list[dict[str, Any]]:
    """Every write the release's canary was allowed, or approved, to perform: from the audit
    trail, oldest first, each with whether a person has marked it reconciled."""
    subject = f"agent:{row.agent}"
    rows = session.exec(select(AuditRow).where(col(AuditRow.subject) == subject, col(AuditRow.at) >= row.started_at,
                                               col(AuditRow.action).in_(["action.allow", "action.approval_required"]))
                        .order_by(col(AuditRow.id)))
    marks = {int(r.after["audit_id"]): r for r in session.exec(
        select(AuditRow).where(col(AuditRow.action) == "release.reconciled",
                               col(AuditRow.subject) == f"release:{row.id}")) if isinstance(r.after, dict)}
    items = []
    for audit in rows:
        after = audit.after if isinstance(audit.after, dict) else {}
        variant = after.get("variant") or {}
        if after.get("kind") != "write" or variant.get("release") != row.id or variant.get("name") != "canary":
            continue
        approval = None
        if audit.action == "action.approval_required":
            approval = session.get(ApprovalRow, after.get("approval_id") or "")
            if approval is None or approval.status != "approved":
                continue  # never allowed to run
        mark = marks.get(int(audit.id or 0))
        items.append({"audit_id": audit.id, "at": audit.at, "action": after.get("action"),
                      "args": (approval.args_approved if approval and approval.args_approved is not None
                               else after.get("args", {})),
                      "idempotency_key": after.get("idempotency_key"),
                      "approval_id": approval.id if approval else None,
                      "approved_by": approval.decided_by if approval else None,
                      "reconciled_by": mark.actor if mark else None, "reconciled_at": mark.at if mark else None,
                      "note": mark.reason if mark else None})
    return items


def mark_reconciled(*, session: Session, row: ReleaseRow, audit_id: int, actor: str, note: str, now: float) -> None:
    record_audit(session=session, now=now, actor=actor, action="release.reconciled", subject=f"release:{row.id}",
                 after={"audit_id": audit_id, "agent": row.agent}, reason=note)
