"""Console sessions: a row per signed-in person, keyed by the hash of the cookie's secret and
tied to the token that opened it; sign-in and sign-out are audited."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col

from takeover.store.audit import record_audit
from takeover.store.models import ConsoleSessionRow, TokenRow
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
