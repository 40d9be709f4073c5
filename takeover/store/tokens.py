"""Bearer tokens, stored as SHA-256 hashes; created and revoked with an audit row."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from takeover.control.principal import person_of
from takeover.store.audit import record_audit
from takeover.store.models import (
    TokenRow,
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, name: str, role: str, agents: Iterable[str], token: str,
                 now: float, actor: str, expires_at: float | None = None, person: str | None = None) -> TokenRow:
    """Store a token's hash (never the token) and audit who created it."""
    row = TokenRow(name=name, role=role, agents=list(agents), token_hash=hash_token(token),
                   created_at=now, expires_at=expires_at, person=person)
    session.add(row)
    session.flush()
    record_audit(session=session, now=now, actor=actor, action="token.create",
                 subject=f"token:{row.id}", after=token_public(row))
    return row


def token_public(row: TokenRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "agents": row.agents,
            "person": person_of(row.name, row.person),
            "created_at": row.created_at, "expires_at": row.expires_at, "revoked_at": row.revoked_at}


def list_tokens(*, session: Session) -> list[TokenRow]:
    return list(session.exec(select(TokenRow).order_by(col(TokenRow.id))))


def revoke_token(*, session: Session, token_id: int, actor: str, now: float) -> TokenRow | None:
    row = session.get(TokenRow, token_id)
    if row is None or row.revoked_at is not None:
        return row
    row.revoked_at = now
    session.add(row)
    record_audit(session=session, now=now, actor=actor, action="token.revoke",
                 subject=f"token:{row.id}", after=token_public(row))
    return row


def find_token(*, session: Session, token: str) -> TokenRow | None:
    return session.exec(select(TokenRow).where(TokenRow.token_hash == hash_token(token))).first()
