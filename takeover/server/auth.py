"""Bearer tokens at the door: parsed from the header and looked up through a cache, so the
agents' hot path does not ask the database on every poll."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel import Session

from takeover import store
from takeover.control.principal import Principal, Role, person_of

# How long a looked-up token is trusted before the database is asked again. Long, because a
# miss costs a database round trip on the hot path (measured: every poll after a 30 s long-poll
# missed a 5 s cache). Every revocation clears the cache: through the API at once, on every
# replica by the change feed (NOTIFY), on SQLite by the data-version watch within 0.25 s.
CACHE_SECONDS = 60.0
UNKNOWN_SECONDS = 5.0  # a token that was not found is asked again sooner
MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <token>'"
BAD_TOKEN = "invalid, expired or revoked token"


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization` header; the scheme is case-insensitive (RFC 6750)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenCache:
    """Token lookups without a database round trip on every poll; a miss asks the database."""

    def __init__(self, sessions: Callable[[], Session], clock: Callable[[], float] = time.monotonic):
        self._sessions = sessions
        self._clock = clock
        self._known: dict[str, tuple[Principal | None, float]] = {}  # by the token's hash
        # the hot path's shortcut: the Authorization header as sent → the same (principal,
        # deadline), so a poll skips parsing and hashing; in memory only, like the request itself
        self._headers: dict[bytes, tuple[Principal | None, float]] = {}
        # bumped by every forget(): a lookup that began before a revocation is not cached after it
        self._generation = 0

    def forget(self) -> None:
        """Drop every cached lookup (after a revocation, here or on another replica)."""
        self._generation += 1
        self._known.clear()
        self._headers.clear()

    def by_header(self, authorization: bytes) -> Principal | None:
        """`cached` for the raw `Authorization` header value; never asks the database."""
        hit = self._headers.get(authorization)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        generation = self._generation
        token = bearer_token(authorization.decode("latin-1"))
        hit = self._known.get(store.hash_token(token)) if token else None
        if hit is None or hit[0] is None or hit[1] <= self._clock():
            return None
        if len(self._headers) > 10_000:
            self._headers.clear()  # bounded, as `_known` is
        if generation == self._generation:
            self._headers[authorization] = hit
        return hit[0]

    def cached(self, token: str) -> Principal | None:
        """The principal if the token was looked up recently; never asks the database."""
        hit = self._known.get(store.hash_token(token))
        return hit[0] if hit is not None and hit[1] > self._clock() else None

    def principal(self, token: str) -> Principal | None:
        key = store.hash_token(token)
        hit = self._known.get(key)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        generation = self._generation
        with self._sessions() as session:
            row = store.find_token(session=session, token=token)
        now = time.time()
        principal, trust = None, UNKNOWN_SECONDS
        if row is not None and row.revoked_at is None and (row.expires_at is None or row.expires_at > now):
            principal = Principal(row.name, Role(row.role), tuple(row.agents), person_of(row.name, row.person))
            # never trusted past its own expiry
            trust = CACHE_SECONDS if row.expires_at is None else min(CACHE_SECONDS, row.expires_at - now)
        if len(self._known) > 10_000:
            self._known.clear()  # bounded: bad tokens must not grow memory without limit
        if generation == self._generation:  # a revocation meanwhile: this answer may be stale, keep none
            self._known[key] = (principal, self._clock() + trust)
        return principal
