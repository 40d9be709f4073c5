"""Silences: label matchers with a start, an end, who and why."""

from __future__ import annotations

import logging

from sqlmodel import Session, col, select

from takeover.control.silence import Silence, parse_matcher
from takeover.store.audit import record_audit
from takeover.store.models import (
    SilenceRow,
)

log = logging.getLogger(__name__)


def silence_from_row(row: SilenceRow) -> Silence:
    return Silence(id=row.id or 0, matchers=tuple(parse_matcher(m) for m in row.matchers),
                   starts_at=row.starts_at, ends_at=row.ends_at, created_by=row.created_by,
                   comment=row.comment, suppress_takeover=row.suppress_takeover)


def create_silence(*, session: Session, matchers: list[str], starts_at: float, ends_at: float,
                   created_by: str, comment: str, suppress_takeover: bool, now: float) -> SilenceRow:
    matchers = [str(parse_matcher(m)) for m in matchers]  # canonical: name op "value"
    row = SilenceRow(matchers=matchers, starts_at=starts_at, ends_at=ends_at, created_by=created_by,
                     comment=comment, suppress_takeover=suppress_takeover)
    session.add(row)
    session.flush()
    record_audit(session=session, now=now, actor=created_by, action="silence.create",
                 subject=f"silence:{row.id}", reason=comment,
                 after={"matchers": matchers, "starts_at": starts_at, "ends_at": ends_at,
                        "suppress_takeover": suppress_takeover})
    return row


def active_silences(*, session: Session, now: float) -> list[Silence]:
    found = []
    for row in session.exec(select(SilenceRow).where(col(SilenceRow.ends_at) > now)):
        try:
            silence = silence_from_row(row)
        except ValueError as exc:  # stored before matchers were RE2's: it mutes nothing now (expire it)
            log.warning("silence %s is not applied: %s", row.id, exc)
            continue
        if silence.active(now):
            found.append(silence)
    return found


def list_silences(*, session: Session, now: float, include_expired: bool = False) -> list[SilenceRow]:
    query = select(SilenceRow)
    if not include_expired:
        query = query.where(col(SilenceRow.ends_at) > now)
    return list(session.exec(query.order_by(col(SilenceRow.id))))


def expire_silence(*, session: Session, silence_id: int, actor: str, now: float) -> SilenceRow | None:
    row = session.get(SilenceRow, silence_id)
    if row is None or row.ends_at <= now:
        return row
    row.ends_at = now
    session.add(row)
    record_audit(session=session, now=now, actor=actor, action="silence.expire",
                 subject=f"silence:{row.id}", after={"ends_at": now})
    return row
