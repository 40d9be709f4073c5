"""The token cache at the door: what the hot path trusts without asking the database, and for how
long. A real SQLite store; only the cache's monotonic clock is stepped by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from takeover import store
from takeover.control.principal import new_token
from takeover.server.auth import CACHE_SECONDS, TokenCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = store.make_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    yield engine
    engine.dispose()


def add_token(engine: Engine, *, expires_in: float | None = None) -> tuple[str, int]:
    token = new_token()
    now = time.time()
    with Session(engine) as s:
        row = store.create_token(session=s, name="bot", role="agent", agents=["bot"], token=token, now=now,
                                 actor="admin:test", expires_at=None if expires_in is None else now + expires_in)
        s.commit()
        assert row.id is not None
        return token, row.id


def cache(engine: Engine, clock: Clock) -> TokenCache:
    return TokenCache(lambda: Session(engine), clock=clock)


def test_the_hot_path_knows_a_token_by_its_header_once_it_was_looked_up(engine: Engine) -> None:
    clock = Clock()
    tokens = cache(engine, clock)
    token, _ = add_token(engine)
    header = f"Bearer {token}".encode()
    assert tokens.by_header(header) is None  # never asks the database itself
    who = tokens.principal(token)
    assert who is not None and who.may_read("bot")
    assert tokens.by_header(header) == who
    assert tokens.by_header(f"bearer  {token}".encode()) == who  # the scheme is case-insensitive
    assert tokens.by_header(b"Basic " + token.encode()) is None
    clock.now += CACHE_SECONDS + 1
    assert tokens.by_header(header) is None  # the shortcut expires with the lookup it copied


def test_a_revocation_clears_the_header_shortcut_at_once(engine: Engine) -> None:
    tokens = cache(engine, Clock())
    token, token_id = add_token(engine)
    assert tokens.principal(token) is not None
    assert tokens.by_header(f"Bearer {token}".encode()) is not None
    with Session(engine) as s:
        store.revoke_token(session=s, token_id=token_id, actor="admin:test", now=time.time())
        s.commit()
    tokens.forget()  # what the tokens signal does on every replica
    assert tokens.by_header(f"Bearer {token}".encode()) is None
    assert tokens.principal(token) is None


def test_a_cached_token_is_not_trusted_past_its_own_expiry(engine: Engine) -> None:
    clock = Clock()
    tokens = cache(engine, clock)
    token, _ = add_token(engine, expires_in=5.0)
    assert tokens.principal(token) is not None
    assert tokens.by_header(f"Bearer {token}".encode()) is not None
    clock.now += 5.5  # past the token's expiry, well inside the cache's lifetime
    assert tokens.cached(token) is None
    assert tokens.by_header(f"Bearer {token}".encode()) is None


def test_a_lookup_that_a_revocation_overtakes_is_not_cached(engine: Engine) -> None:
    """The row was read before a revocation was signalled: what it said may be stale, so it is
    returned once but not remembered (the next poll asks the database again)."""
    token, _ = add_token(engine)
    tokens: TokenCache

    def sessions() -> Session:
        tokens.forget()  # the tokens signal, from a revocation elsewhere, lands while the lookup runs
        return Session(engine)

    tokens = TokenCache(sessions, clock=Clock())
    assert tokens.principal(token) is not None
    assert tokens.cached(token) is None
    assert tokens.by_header(f"Bearer {token}".encode()) is None
