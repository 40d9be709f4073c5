"""This process as the leader: the advisory lock (`Leadership`) plus the fencing term it takes
when it starts to lead. Every leader job asks `term()` and fences its transaction with it; a
`Deposed` from that fence ends the term and gives the lock back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlmodel import Session

from takeover import store
from takeover.notify.delivery import IDENTITY
from takeover.server.replicas import Leadership

log = logging.getLogger(__name__)


class Lead:
    def __init__(self, leadership: Leadership, *, sessions: Callable[[], Session],
                 clock: Callable[[], float], on_term: Callable[[float | None], None]) -> None:
        self.leadership = leadership
        self._sessions, self._clock = sessions, clock
        self._on_term = on_term  # called with the outage clock the new term inherits
        self._lock = threading.Lock()
        self.current: int | None = None  # the fencing term while this process leads

    @property
    def leader(self) -> bool:
        return self.leadership.leader

    def check(self) -> bool:
        """Keep or take the lock; a process that leads has a term. Returns whether it leads."""
        if not self.leadership.check():
            with self._lock:
                self.current = None
            return False
        self.term()
        return True

    def term(self) -> int | None:
        """The term to fence leader work with; taken once (whichever job asks first)."""
        with self._lock:
            if self.current is None and self.leadership.leader:
                with self._sessions() as session:
                    self.current = store.new_term(session=session, holder=IDENTITY, now=self._clock())
                    outage = store.prometheus_state(session=session)
                    session.commit()
                # the outage clock is the database's: a new leader gives no false all-clear
                self._on_term(outage.failing_since)
                log.info("leading as term %d: evaluating rules and delivering notifications%s", self.current,
                         f" (Prometheus failing since {outage.failing_since:.0f})" if outage.failing_since else "")
            return self.current

    def deposed(self, exc: store.Deposed) -> None:
        """A fence found a newer term: stop leading (unless that was an older term's work)."""
        with self._lock:
            if exc.term is not None and exc.term != self.current:
                return
            log.error("stopped leader work: %s", exc)
            self.current = None
            self.leadership.resign()
