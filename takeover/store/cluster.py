"""What replicas share: the fencing term of the leader, the outage clock of Prometheus, the
replicas that beat (they share the rule groups), and the marks a replica compares with what it
serves to catch up on changes it did not hear about."""

from __future__ import annotations

import time

from sqlalchemy import delete, func, text, update
from sqlmodel import Session, col, select

from takeover.store.engine import insert_if_missing
from takeover.store.models import (
    AgentRow,
    ApprovalRow,
    LeaderTermRow,
    PrometheusStateRow,
    ReplicaRow,
    TokenRow,
)


class Deposed(RuntimeError):
    """A newer leader took over: this process must make no further side effect as leader."""

    def __init__(self, term: int | None, current: int | None) -> None:
        super().__init__(f"leader term {term} is over (current term {current})")
        self.term = term


FENCED_IDLE_MS = 5000  # PostgreSQL ends a fenced transaction left idle this long (a frozen leader)


def new_term(*, session: Session, holder: str, now: float) -> int:
    """Bump the fencing term for a new leader that needs no lease (the one embedded process)."""
    row = session.get(LeaderTermRow, 1, with_for_update=True) or LeaderTermRow(id=1)
    row.term, row.holder, row.since = row.term + 1, holder, now
    session.add(row)
    session.flush()
    return row.term


def lease(*, session: Session) -> tuple[LeaderTermRow, float]:
    """The leader's lease as it stands (the row is made on first use) and the database's clock."""
    insert_if_missing(session, LeaderTermRow, "id", id=1, term=0, holder="", since=0.0, expires_at=0.0)
    row = session.exec(select(LeaderTermRow).where(LeaderTermRow.id == 1)
                       .execution_options(populate_existing=True)).one()
    return row, database_now(session=session)


def take_lease(*, session: Session, seen: LeaderTermRow, holder: str, now: float, ttl: float) -> int | None:
    """Start the next term for `holder` until `now + ttl`, unless the lease moved (renewed or
    taken) since `seen` was read; returns the new term, or None. It waits for the transactions
    fenced by the old term to end (their FOR SHARE lock), so they commit before it begins."""
    term = seen.term + 1
    result = session.execute(
        update(LeaderTermRow)
        .where(col(LeaderTermRow.id) == 1, col(LeaderTermRow.term) == seen.term,
               col(LeaderTermRow.expires_at) == seen.expires_at)
        .values(term=term, holder=holder, since=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False))
    return term if result.rowcount == 1 else None  # type: ignore[attr-defined]


def renew_lease(*, session: Session, term: int, holder: str, now: float, ttl: float) -> bool:
    """Push the lease of `term` to `now + ttl`; False when that term is over."""
    result = session.execute(
        update(LeaderTermRow)
        .where(col(LeaderTermRow.id) == 1, col(LeaderTermRow.term) == term, col(LeaderTermRow.holder) == holder)
        .values(expires_at=now + ttl).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def release_lease(*, session: Session, term: int, holder: str) -> None:
    """End the lease of `term` now (a clean stop): the next replica takes over at its next check."""
    session.execute(update(LeaderTermRow)
                    .where(col(LeaderTermRow.id) == 1, col(LeaderTermRow.term) == term,
                           col(LeaderTermRow.holder) == holder)
                    .values(expires_at=0.0).execution_options(synchronize_session=False))


def leader_term(*, session: Session) -> LeaderTermRow | None:
    """The current leader's term and who took it."""
    return session.get(LeaderTermRow, 1)


def fence(*, session: Session, term: int | None) -> None:
    """Raise Deposed unless `term` is still current. On PostgreSQL the row stays share-locked
    until the transaction ends, so a new leader's take waits for this transaction: whatever
    commits after the check, commits before the next term begins. A process frozen with the
    lock held cannot stall the next leader for long: PostgreSQL ends the transaction once it is
    idle for FENCED_IDLE_MS."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {FENCED_IDLE_MS}"))
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


def database_now(*, session: Session) -> float:
    """The database's clock (PostgreSQL), so replicas on hosts whose clocks differ agree on
    who beat recently; this process's clock with SQLite (one process)."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.exec(select(func.extract("epoch", func.clock_timestamp()))).one())
    return time.time()


def beat(*, session: Session, replica: str, now: float, started_at: float, queried: bool,
         failing_since: float | None, last_error: str, groups: int) -> None:
    """This replica is alive (seen `now`, by the database's clock), how its queries go and how
    many groups it evaluates."""
    row = session.get(ReplicaRow, replica) or ReplicaRow(id=replica, started_at=started_at, seen_at=now)
    row.seen_at, row.queried, row.failing_since = now, queried, failing_since
    row.last_error, row.groups = last_error[:500], groups
    session.add(row)


def live_replicas(*, session: Session, since: float) -> list[ReplicaRow]:
    """The replicas that beat at or after `since`, by id."""
    return list(session.exec(select(ReplicaRow).where(col(ReplicaRow.seen_at) >= since)
                             .order_by(col(ReplicaRow.id))))


def leave(*, session: Session, replica: str) -> None:
    """A replica stopping: the others take its groups at their next beat."""
    session.execute(delete(ReplicaRow).where(col(ReplicaRow.id) == replica))


def forget_replicas(*, session: Session, before: float) -> None:
    session.execute(delete(ReplicaRow).where(col(ReplicaRow.seen_at) < before))
