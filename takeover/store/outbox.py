"""The outbox: notifications written in the transaction of their change, claimed by the
leader's term before Slack is called, and where each posted message lives."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from takeover.store.engine import insert_if_missing
from takeover.store.models import (
    ApprovalRow,
    MessageRow,
    OutboxRow,
    SlackChannelRow,
)


def enqueue(*, session: Session, message_key: str, channel: str, payload: dict[str, Any],
            now: float) -> None:
    session.add(OutboxRow(message_key=message_key, channel=channel, payload=payload, created_at=now))


def undelivered(*, session: Session, limit: int = 100) -> list[OutboxRow]:
    """Rows still to deliver, oldest first (not those kept as undeliverable)."""
    return list(session.exec(select(OutboxRow).where(col(OutboxRow.sent_at).is_(None))
                             .where(col(OutboxRow.undeliverable_at).is_(None))
                             .order_by(col(OutboxRow.id)).limit(limit)))


def undeliverable(*, session: Session, limit: int = 20) -> list[OutboxRow]:
    """Rows that every way of delivering failed and nobody dismissed, newest first (what the
    console shows)."""
    return list(session.exec(select(OutboxRow).where(col(OutboxRow.undeliverable_at).is_not(None))
                             .where(col(OutboxRow.dismissed_at).is_(None))
                             .order_by(col(OutboxRow.id).desc()).limit(limit)))


def undeliverable_keys(*, session: Session) -> list[str]:
    """The message keys of every undeliverable row nobody dismissed (the meta-alert's count)."""
    return list(session.exec(select(OutboxRow.message_key).where(col(OutboxRow.undeliverable_at).is_not(None))
                             .where(col(OutboxRow.dismissed_at).is_(None))))


def delivered_later(*, session: Session, row: OutboxRow) -> bool:
    """Whether a later version of `row`'s message was delivered (sending `row` again would
    overwrite it with older news)."""
    return session.exec(select(OutboxRow.id).where(OutboxRow.message_key == row.message_key)
                        .where(col(OutboxRow.id) > row.id).where(col(OutboxRow.sent_at).is_not(None))).first() is not None


def requeue(*, session: Session, row: OutboxRow) -> None:
    """Deliver an undeliverable row again from the start: as it was, in its own channel, with
    no back-off; its approval no longer says nobody could be asked."""
    row.undeliverable_at = row.dismissed_at = row.dismissed_by = None
    row.attempts, row.fallback, row.next_attempt_at, row.last_error = 0, None, None, None
    row.claim_term = row.claimed_at = row.claimed_by = None
    session.add(row)
    approval = _approval_of(session, row)
    if approval is not None and approval.delivery_error is not None:
        approval.delivery_error = None
        session.add(approval)


def dismiss(*, session: Session, row: OutboxRow, actor: str, now: float) -> None:
    """A person let an undeliverable row go: kept, but no longer counted or shown."""
    row.dismissed_at, row.dismissed_by = now, actor
    session.add(row)


def mark_undeliverable(*, session: Session, row: OutboxRow, reason: str, now: float) -> None:
    """Keep `row` as undeliverable (never dropped); an approval whose own message it was says
    so on its record, so the agent can see why nobody answers."""
    row.undeliverable_at, row.last_error = now, reason[:500]
    session.add(row)
    approval = _approval_of(session, row)
    if approval is not None and approval.delivery_error is None:
        approval.delivery_error = reason[:500]
        session.add(approval)


def _approval_of(session: Session, row: OutboxRow) -> ApprovalRow | None:
    """The approval whose request message `row` is (not its updates' thread notes)."""
    kind, _, rest = row.message_key.partition(":")
    return session.get(ApprovalRow, rest) if kind == "approval" and rest and ":" not in rest else None


def posted_message(*, session: Session, key: str) -> MessageRow | None:
    return session.get(MessageRow, key)


def claim_outbox(*, session: Session, row_id: int, term: int, now: float) -> tuple[OutboxRow, int | None] | None:
    """Claim an unsent row for this term before Slack is called: (row, the term of an earlier
    unfinished claim or None). None when the row was sent meanwhile. The caller has fenced."""
    row = session.get(OutboxRow, row_id)
    if row is None or row.sent_at is not None:
        return None
    earlier = row.claim_term
    row.claim_term, row.claimed_at = term, now
    session.add(row)
    return row, earlier


def record_post(*, session: Session, key: str, channel: str, ts: str, asked_channel: str,
                orphan_check_at: float | None = None) -> None:
    """Remember where a message was posted (and the channel's id, for reading history later)."""
    session.merge(MessageRow(key=key, channel=channel, ts=ts, orphan_check_at=orphan_check_at))
    if asked_channel != channel:
        insert_if_missing(session, SlackChannelRow, "name", name=asked_channel, id=channel)


def channel_id(*, session: Session, name: str) -> str:
    row = session.get(SlackChannelRow, name)
    return row.id if row is not None else name


def orphan_checks_due(*, session: Session, now: float) -> list[MessageRow]:
    return list(session.exec(select(MessageRow).where(col(MessageRow.orphan_check_at) <= now)))
