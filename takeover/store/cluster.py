"""What replicas share: the fencing term of the leader, the outage clock of Prometheus, and the
marks a replica compares with what it serves to catch up on changes it did not hear about."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from takeover.store.models import (
    AgentRow,
    ApprovalRow,
    LeaderTermRow,
    PrometheusStateRow,
    TokenRow,
)


class Deposed(RuntimeError):
    """A newer leader took over: this process must make no further side effect as leader."""

    def __init__(self, term: int | None, current: int | None) -> None:
        super().__init__(f"leader term {term} is over (current term {current})")
        self.term = term


def new_term(*, session: Session, holder: str, now: float) -> int:
    """Bump the fencing term for a new leader (the caller holds the leader lock); returns it."""
    row = session.get(LeaderTermRow, 1, with_for_update=True) or LeaderTermRow(id=1)
    row.term, row.holder, row.since = row.term + 1, holder, now
    session.add(row)
    session.flush()
    return row.term


def fence(*, session: Session, term: int | None) -> None:
    """Raise Deposed unless `term` is still current. On PostgreSQL the row stays share-locked
    until the transaction ends, so a new leader's bump waits for this transaction: whatever
    commits after the check, commits before the next term begins."""
    current = session.exec(select(LeaderTermRow.term).where(LeaderTermRow.id == 1)
                           .with_for_update(read=True)).first()
    if term is None or current != term:
        raise Deposed(term, current)


def prometheus_state(*, session: Session) -> PrometheusStateRow:
    return session.get(PrometheusStateRow, 1) or PrometheusStateRow(id=1)


def save_prometheus_state(*, session: Session, failing_since: float | None, last_error: str,
                          now: float) -> None:
    row = prometheus_state(session=session)
    row.failing_since, row.last_error, row.updated_at = failing_since, last_error[:500], now
    session.add(row)


def agent_versions(*, session: Session) -> dict[str, int]:
    return dict(session.exec(select(AgentRow.name, AgentRow.version)).all())


def revocation_mark(*, session: Session) -> tuple[int, float | None]:
    """Changes when any token is revoked: (how many are revoked, the latest revocation)."""
    count, latest = session.exec(select(func.count(), func.max(TokenRow.revoked_at))
                                 .where(col(TokenRow.revoked_at).is_not(None))).one()
    return int(count), latest


def decided_since(*, session: Session, since: float) -> list[str]:
    return list(session.exec(select(ApprovalRow.id).where(col(ApprovalRow.decided_at) >= since)))
