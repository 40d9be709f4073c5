"""Policies' records: shadow policies' would-be verdicts, and the action decisions (and how long
humans took to decide approvals) that a replay of a candidate policy file reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from takeover.control.shadow import ShadowVerdict
from takeover.store.models import ApprovalRow, AuditRow, ShadowVerdictRow

DECISION_ACTIONS = ("action.allow", "action.approval_required", "action.deny")


def record_shadow_verdicts(*, session: Session, audit: AuditRow, agent: str, action: str,
                           verdicts: Sequence[ShadowVerdict]) -> None:
    """Keep each shadow verdict on the action that `audit` records, in the caller's transaction."""
    for v in verdicts:
        session.add(ShadowVerdictRow(at=audit.at, policy=v.policy.name, decision=v.decision.value,
                                     changes=v.changes, agent=agent, action=action, audit_id=audit.id or 0))


def shadow_counts(*, session: Session, since: float) -> dict[str, dict[str, int]]:
    """{policy: {decision: count}} of the shadow verdicts since `since`."""
    rows = session.exec(select(ShadowVerdictRow.policy, ShadowVerdictRow.decision, func.count())
                        .where(col(ShadowVerdictRow.at) >= since)
                        .group_by(col(ShadowVerdictRow.policy), col(ShadowVerdictRow.decision)))
    counts: dict[str, dict[str, int]] = {}
    for policy, decision, n in rows:
        counts.setdefault(policy, {})[decision] = int(n)
    return counts


def shadow_examples(*, session: Session, policy: str, since: float, limit: int = 3) -> list[ShadowVerdictRow]:
    """The latest verdicts of `policy` that differ from what the agent was told."""
    return list(session.exec(select(ShadowVerdictRow).where(
        col(ShadowVerdictRow.policy) == policy, col(ShadowVerdictRow.at) >= since, col(ShadowVerdictRow.changes))
        .order_by(col(ShadowVerdictRow.id).desc()).limit(limit)))


def action_decisions(*, session: Session, since: float, until: float, agent: str | None = None,
                     batch: int = 1000) -> Iterator[AuditRow]:
    """The audited action decisions in [since, until), oldest first, read in batches."""
    after_id = 0
    while True:
        query = select(AuditRow).where(col(AuditRow.id) > after_id, col(AuditRow.at) >= since,
                                       col(AuditRow.at) < until, col(AuditRow.action).in_(DECISION_ACTIONS))
        if agent is not None:
            query = query.where(col(AuditRow.subject) == f"agent:{agent}")
        rows = list(session.exec(query.order_by(col(AuditRow.id)).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after_id = rows[-1].id or 0


def decision_times(*, session: Session, since: float, until: float) -> list[float]:
    """Seconds from request to a person's decision, for the approvals decided in [since, until)
    (expired and cancelled ones are no one's time)."""
    rows = session.exec(select(ApprovalRow.requested_at, ApprovalRow.decided_at).where(
        col(ApprovalRow.status).in_(["approved", "rejected"]), col(ApprovalRow.decided_at) >= since,
        col(ApprovalRow.decided_at) < until))
    return [decided - requested for requested, decided in rows if decided is not None]
