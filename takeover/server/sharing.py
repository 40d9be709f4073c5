"""Rule groups shared among the replicas on one PostgreSQL.

Every replica beats once a second (a row in `replica`, stamped by the database's clock). The
replicas that beat within `LIVE_WITHIN` seconds are the live ones, and each group is evaluated
by one of them (`rules.group.evaluator`, rendezvous hashing), so a replica that joins takes a
share and the groups of one that stops (or is killed and stops beating) go to the others at
their next beat. A group just given away is still tried for `HANDOFF` seconds, while the other
replicas learn of the change: a slot is never left out for a disagreement, and never evaluated
twice, because the slot claim (`store.claim_slot`) lets one evaluation of a slot commit.

The replicas' rows also carry how their Prometheus queries go: the fail-safe and the meta-alert
need every evaluating replica's queries to fail, not the leader's alone. With SQLite there is one
process: it evaluates every group and nothing beats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlmodel import Session

from takeover import store
from takeover.rules.group import evaluator

log = logging.getLogger(__name__)

BEAT = 1.0  # seconds between beats
LIVE_WITHIN = 3.0  # a replica that has not beaten for this long has its groups taken over
HANDOFF = 3.0  # seconds a replica keeps trying a group it gave away
UNTOLD = 30.0  # seconds the last outage verdict stands while no evaluating replica has a view
FORGET_AFTER = 3600.0  # rows of replicas gone this long, and evaluated slots this old, are removed


@dataclass(frozen=True)
class Peer:
    """A live replica as the last beat saw it."""

    id: str
    groups: int
    queried: bool
    failing_since: float | None


class Sharing:
    def __init__(self, *, embedded: bool, identity: str, sessions: Callable[[], Session]) -> None:
        self.embedded, self.identity, self._sessions = embedded, identity, sessions
        self.started_at = time.time()
        self.peers: tuple[Peer, ...] = ()
        self._outage: tuple[float | None, float] = (None, 0.0)  # the last verdict with evidence, and when
        self._live: tuple[str, ...] = (identity,)
        self._mine: frozenset[str] | None = None  # None: every group (embedded, or before the first beat)
        self._given: dict[str, float] = {}  # group key -> monotonic deadline of its handoff
        self._lock = threading.Lock()
        self._pruned = 0.0

    @property
    def replicas(self) -> tuple[str, ...]:
        return self._live

    def evaluator(self, group_key: str) -> str:
        """The replica that evaluates the group, as this replica sees the live ones."""
        return self.identity if self.embedded else evaluator(group_key, self._live)

    def owns(self, group_key: str) -> bool:
        """Whether this replica evaluates the group now (or still tries it while handing it over)."""
        mine = self._mine
        if mine is None or group_key in mine:
            return True
        deadline = self._given.get(group_key)
        return deadline is not None and time.monotonic() < deadline

    def beat(self, group_keys: Sequence[str], *, queried: bool, failing_since: float | None, last_error: str,
             prune: bool = False) -> None:
        """Say this replica is alive, read who else is, and take or give up groups accordingly.
        A beat that cannot reach the database changes nothing here: the groups this replica
        evaluates stay its own until others stop seeing it, and the slot claim keeps any overlap
        harmless."""
        if self.embedded:
            return
        with self._sessions() as session:
            now = store.database_now(session=session)
            rows = [r for r in store.live_replicas(session=session, since=now - LIVE_WITHIN) if r.id != self.identity]
            live = tuple(sorted([self.identity, *(r.id for r in rows)]))
            mine = frozenset(k for k in group_keys if evaluator(k, live) == self.identity)
            store.beat(session=session, replica=self.identity, now=now, started_at=self.started_at, queried=queried,
                       failing_since=failing_since, last_error=last_error, groups=len(mine))
            if prune and now - self._pruned >= 60.0:
                self._pruned = now
                store.prune_slots(session=session, before=now - FORGET_AFTER)
                store.forget_replicas(session=session, before=now - FORGET_AFTER)
            session.commit()
        peers = tuple(Peer(r.id, r.groups, r.queried, r.failing_since) for r in rows)
        with self._lock:
            before, joined = self._mine, live != self._live
            if before is not None:
                deadline = time.monotonic() + HANDOFF
                self._given.update((k, deadline) for k in before - mine)
            self._given = {k: d for k, d in self._given.items() if k not in mine and d > time.monotonic()}
            self.peers, self._live, self._mine = peers, live, mine
        if joined or before != mine:
            log.info("replicas %s: this one evaluates %d of %d rule groups", ", ".join(live), len(mine),
                     len(group_keys))

    def leave(self) -> None:
        """Stop beating and say so: the others take this replica's groups at their next beat."""
        if self.embedded:
            return
        with self._sessions() as session:
            store.leave(session=session, replica=self.identity)
            session.commit()

    def failing_since(self, own: float | None, *, queried: bool) -> float | None:
        """Since when Prometheus cannot be queried, from the replicas that evaluate groups: not
        while any of them had its last query answered; else since the latest first failure among
        them, or since the outage this process (or the leader before it) already counted, if that
        began earlier. Replicas that have not asked yet tell nothing, and while no evaluating
        replica can tell (a group just moved) the last verdict stands, for up to `UNTOLD`
        seconds; after that, or with SQLite, this process's own view (`own`)."""
        if self.embedded:
            return own
        evaluating = [p for p in self.peers if p.groups and p.queried]
        if self._mine is None or self._mine or self.owns_any_given():
            if queried:
                evaluating.append(Peer(self.identity, len(self._mine or ()), queried, own))
        last, at = self._outage
        if evaluating:
            failing = [p.failing_since for p in evaluating if p.failing_since is not None]
            verdict = max(failing) if len(failing) == len(evaluating) else None
            if verdict is not None and last is not None:
                verdict = min(verdict, last)  # a group that moved to a replica failing since later
            self._outage = (verdict, time.monotonic())  # continues the outage; it does not restart it
            return verdict
        return last if time.monotonic() - at < UNTOLD else own

    def inherit(self, failing_since: float | None) -> None:
        """A new leader starts from the outage clock its predecessor kept in the database."""
        self._outage = (failing_since, time.monotonic())

    def owns_any_given(self) -> bool:
        now = time.monotonic()
        return any(d > now for d in self._given.values())
