"""Console sessions: a row per signed-in person, keyed by the hash of the cookie's secret and
tied to the token that opened it; sign-in and sign-out are audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from takeover.store.audit import record_audit
from takeover.store.models import AlertRow, AuditRow, ConsoleSessionRow, OutboxRow, TokenRow
from takeover.store.tokens import hash_token


def token_usable(row: TokenRow | None, *, now: float) -> bool:
    """Neither revoked nor expired at `now`."""
    return row is not None and row.revoked_at is None and (row.expires_at is None or row.expires_at > now)


def create_console_session(*, session: Session, token: TokenRow, secret: str, now: float,
                           expires_at: float, actor: str) -> ConsoleSessionRow:
    """A new session for `secret` (only its hash is stored), audited; ended sessions are swept."""
    session.execute(delete(ConsoleSessionRow).where(col(ConsoleSessionRow.expires_at) <= now))
    row = ConsoleSessionRow(id_hash=hash_token(secret), token_id=token.id or 0, created_at=now,
                            expires_at=expires_at)
    session.add(row)
    record_audit(session=session, now=now, actor=actor, action="console.sign_in", subject=f"token:{token.id}",
                 after={"expires_at": expires_at})
    session.flush()
    return row


def console_session(*, session: Session, secret: str, now: float) -> tuple[ConsoleSessionRow, TokenRow] | None:
    """The live session for `secret` and its token; None once either has ended."""
    row = session.get(ConsoleSessionRow, hash_token(secret))
    if row is None or row.expires_at <= now:
        return None
    token = session.get(TokenRow, row.token_id)
    if token is None or not token_usable(token, now=now):
        return None
    return row, token


def end_console_session(*, session: Session, secret: str, now: float, actor: str) -> bool:
    """Sign out: the row is deleted (audited); False when there was none."""
    row = session.get(ConsoleSessionRow, hash_token(secret))
    if row is None:
        return False
    session.delete(row)
    record_audit(session=session, now=now, actor=actor, action="console.sign_out", subject=f"token:{row.token_id}")
    session.flush()
    return True


def audit_actions_after(*, session: Session, after_id: int, limit: int = 1000) -> list[tuple[int, str]]:
    """(id, action) of the rows appended after `after_id`, oldest first (what changed since)."""
    query = select(AuditRow.id, AuditRow.action).where(col(AuditRow.id) > after_id)
    return [(int(i or 0), a) for i, a in session.exec(query.order_by(col(AuditRow.id)).limit(limit))]


def last_audit_id(*, session: Session) -> int:
    return int(session.exec(select(func.max(AuditRow.id))).one() or 0)


def alerts_mark(*, session: Session) -> tuple[tuple[Any, ...], ...]:
    """A digest of the alert states that changes when an alert turns pending, fires or
    resolves (not when only its value moves)."""
    query = (sql_select(col(AlertRow.state), func.count(), func.max(AlertRow.active_at),
                        func.max(func.coalesce(AlertRow.fired_at, 0.0)), func.max(func.coalesce(AlertRow.resolved_at, 0.0)))
             .group_by(col(AlertRow.state)).order_by(col(AlertRow.state)))
    return tuple(tuple(r) for r in session.execute(query))


def undeliverable_mark(*, session: Session) -> tuple[int, int]:
    """A digest of the undeliverable rows nobody dismissed (how many, the newest id): it changes
    when one is kept, retried or dismissed."""
    count, newest = session.exec(select(func.count(), func.max(OutboxRow.id))
                                 .where(col(OutboxRow.undeliverable_at).is_not(None))
                                 .where(col(OutboxRow.dismissed_at).is_(None))).one()
    return int(count or 0), int(newest or 0)


def audit_about(*, session: Session, subjects: list[str], since: float, until: float,
                limit: int = 500) -> list[AuditRow]:
    """The rows about these subjects (`agent:NAME`, `group:KEY`) in [since, until], oldest first."""
    query = select(AuditRow).where(col(AuditRow.subject).in_(subjects), col(AuditRow.at) >= since,
                                   col(AuditRow.at) <= until)
    return list(session.exec(query.order_by(col(AuditRow.id)).limit(limit)))


def outbox_about(*, session: Session, prefixes: list[str], since: float, until: float,
                 limit: int = 500) -> list[OutboxRow]:
    """The messages queued in [since, until] whose key starts with one of `prefixes`, oldest first."""
    keyed = or_(*(col(OutboxRow.message_key).startswith(p, autoescape=True) for p in prefixes))
    query = select(OutboxRow).where(keyed, col(OutboxRow.created_at) >= since, col(OutboxRow.created_at) <= until)
    return list(session.exec(query.order_by(col(OutboxRow.id)).limit(limit)))


def find_audit(*, session: Session, actor: str | None = None, action: str | None = None,
               subject: str | None = None, since: float | None = None, until: float | None = None,
               before_id: int | None = None, after_id: int | None = None, newest_first: bool = True,
               limit: int = 50) -> list[AuditRow]:
    """A page of the trail: actor, action and subject each match from the start (`operator:`,
    `approval.`, `agent:pay-bot`), time in [since, until); before or after a row id."""
    query = select(AuditRow)
    for column, prefix in ((AuditRow.actor, actor), (AuditRow.action, action), (AuditRow.subject, subject)):
        if prefix:
            query = query.where(col(column).startswith(prefix, autoescape=True))
    if since is not None:
        query = query.where(col(AuditRow.at) >= since)
    if until is not None:
        query = query.where(col(AuditRow.at) < until)
    if before_id is not None:
        query = query.where(col(AuditRow.id) < before_id)
    if after_id is not None:
        query = query.where(col(AuditRow.id) > after_id)
    order = col(AuditRow.id).desc() if newest_first else col(AuditRow.id)
    return list(session.exec(query.order_by(order).limit(limit)))
