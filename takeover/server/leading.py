"""This process as the leader: a lease in the database with a deadline by the database's clock,
and the fencing term it starts. Only the leader dispatches, delivers, runs the fail-safe, the
meta-alert and release analysis; every such job fences its transaction with the term.

A lease, not a lock held by a connection: a leader that is frozen (SIGSTOP, a long GC pause, a
stalled VM) or cut off stops renewing, and its lease runs out after `LEASE` seconds however
long its connections stay open; another replica then starts the next term. The holder counts
its own deadline on the monotonic clock from before each renewal, `MARGIN` short of the
database's, so when it wakes it knows it may no longer act before it has asked the database.
With SQLite there is one process: it always leads.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from takeover import store
from takeover.notify.delivery import IDENTITY, maybe_alive

log = logging.getLogger(__name__)

LEASE = 5.0  # seconds a lease lasts unrenewed: how long a frozen or cut-off leader can hold on
MARGIN = 0.5  # the holder stops acting this long before the database's deadline


class Leadership:
    def __init__(self, *, embedded: bool, sessions: Callable[[], Session], clock: Callable[[], float],
                 on_term: Callable[[float | None], None], identity: str = IDENTITY, ttl: float = LEASE) -> None:
        self.embedded, self.identity, self.ttl = embedded, identity, ttl
        self._sessions, self._clock = sessions, clock
        self._on_term = on_term  # called with the outage clock the new term inherits
        self._lock = threading.Lock()
        self.current: int | None = None  # the fencing term while this process leads
        self._until = math.inf if embedded else 0.0  # monotonic: acts as leader until then

    @property
    def leader(self) -> bool:
        """Whether this process may act as the leader now: it holds a term whose lease, as
        this process counts it, has not run out."""
        return self.embedded or (self.current is not None and time.monotonic() < self._until)

    def term(self) -> int | None:
        """The term to fence leader work with, None when this process may not act as leader
        (the embedded process takes its term when it is first asked)."""
        if self.embedded and self.current is None:
            self.check()
        return self.current if self.leader else None

    def check(self) -> bool:
        """Renew the lease, or take it when it is free; returns whether this process leads.
        A database error leaves things as they are: a lease not renewed runs out by itself."""
        with self._lock:
            started = time.monotonic()
            try:
                if self.embedded:
                    if self.current is None:
                        self._start(lambda s: store.new_term(session=s, holder=self.identity, now=self._clock()))
                    return True
                if self.current is not None:
                    self._renew(started)
                else:
                    self._start(self._take, started)
            except SQLAlchemyError as exc:
                log.warning("could not %s the leader lease (%s: %s)", "renew" if self.current else "check",
                            type(exc).__name__, str(exc).splitlines()[0][:200])
            return self.leader

    def _renew(self, started: float) -> None:
        with self._sessions() as session:
            now = store.database_now(session=session)
            renewed = store.renew_lease(session=session, term=self.current or 0, holder=self.identity,
                                        now=now, ttl=self.ttl)
            session.commit()
        if renewed:
            self._until = started + self.ttl - MARGIN
        else:
            log.error("leader term %s is over: another replica took the lease", self.current)
            self.current = None

    def _take(self, session: Session) -> int | None:
        seen, now = store.lease(session=session)
        free = seen.expires_at < now or seen.holder == self.identity or not maybe_alive(seen.holder)
        if not free:
            return None
        return store.take_lease(session=session, seen=seen, holder=self.identity, now=now, ttl=self.ttl)

    def _start(self, take: Callable[[Session], int | None], started: float | None = None) -> None:
        with self._sessions() as session:
            term = take(session)
            if term is None:
                return
            outage = store.prometheus_state(session=session)
            session.commit()
        self.current = term
        if started is not None:
            self._until = started + self.ttl - MARGIN
        # the outage clock is the database's: a new leader gives no false all-clear
        self._on_term(outage.failing_since)
        log.info("leading as term %d: dispatching and delivering notifications%s", term,
                 f" (Prometheus failing since {outage.failing_since:.0f})" if outage.failing_since else "")

    def deposed(self, exc: store.Deposed) -> None:
        """A fence found a newer term: stop leading (unless that was an older term's work)."""
        if exc.term is not None and exc.term != self.current:
            return
        log.error("stopped leader work: %s", exc)
        self.current = None

    def release(self) -> None:
        """A clean stop: end the lease now, so another replica takes over at its next check."""
        term, self.current = self.current, None
        if term is None or self.embedded:
            return
        try:
            with self._sessions() as session:
                store.release_lease(session=session, term=term, holder=self.identity)
                session.commit()
        except SQLAlchemyError as exc:
            log.warning("could not release the leader lease (%s): another replica takes over when it "
                        "runs out, within %.0fs", type(exc).__name__, self.ttl)
