"""When each agent last polled: an agent that stops asking is no longer governed.

The control poll marks `hub.seen[agent]` in memory (a dict write, nothing more on the hot path);
`LastSeen.flush` writes the new marks to `agent.last_seen_at` every few seconds, on every
replica (the latest time wins), and once more when the service stops. The API, the CLI and
/metrics read the database, merged with this replica's marks not yet written.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from takeover.server.hub import ControlHub
from takeover.store.agents import (
    instance_confirmation,
    last_confirmed,
    last_polls,
    record_instances,
    record_polls,
    unconfirmed_instances,
)
from takeover.store.audit import record_audit

FLUSH_SECONDS = 5.0  # how stale the database's last_seen_at may be, at most (plus one flush)
INSTANCE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")  # what an instance id may be; others are not recorded
MAX_INSTANCE_MARKS = 10_000  # instance marks written per flush, at most (an agent inventing ids)
log = logging.getLogger(__name__)


class LastSeen:
    """The marks of one replica, written to the database in batches."""

    def __init__(self, hub: ControlHub, sessions: Callable[[], Session], *, silent_after: float,
                 clock: Callable[[], float] = time.time, leading: Callable[[], bool] = lambda: True) -> None:
        self._hub, self._sessions, self.silent_after, self.clock = hub, sessions, silent_after, clock
        self._written: dict[str, float] = {}  # what this replica last wrote for each agent
        self._leading = leading  # only the leader records confirmations (once, not once per replica)
        self._confirmed: dict[str, int] = {}  # agent -> the version whose confirmation is recorded

    def flush(self) -> int:
        """Write the marks made since the last flush (one statement per batch), and the
        instances' marks; how many agents' marks."""
        marks = {agent: at for agent, at in dict(self._hub.seen).items() if self._written.get(agent) != at}
        taken, self._hub.instances = self._hub.instances, {}
        instances = {(agent, instance.decode("latin-1")): mark for (agent, instance), mark in
                     list(taken.items())[:MAX_INSTANCE_MARKS] if INSTANCE_ID.fullmatch(instance)}
        leading = self._leading()
        if not marks and not instances and not leading:
            return 0
        try:
            with self._sessions() as session:
                record_polls(session=session, seen=marks)
                record_instances(session=session, marks=instances, now=self.clock())
                confirmed = self._record_confirmations(session) if leading else {}
                session.commit()
        except SQLAlchemyError:
            for key, mark in taken.items():  # retried whole with the next flush
                self._hub.instances.setdefault(key, mark)
            raise
        self._written.update(marks)  # only once written: a failed flush is retried whole
        self._confirmed.update(confirmed)
        return len(marks)

    def _record_confirmations(self, session: Session) -> dict[str, int]:
        """An audit row `agent.confirmed` when every running instance of an agent has fetched a
        changed document (a version after the first) that no row confirms yet: when a hold took
        effect everywhere (the incident timeline shows it)."""
        seen: dict[str, int] = {}  # remembered once committed
        for agent, (version, count, behind) in instance_confirmation(session=session).items():
            if behind or version <= 1 or self._confirmed.get(agent) == version:
                continue
            seen[agent] = version
            if last_confirmed(session=session, agent=agent) != version:  # another leader's row, before this one
                record_audit(session=session, now=self.clock(), actor="system:instances", action="agent.confirmed",
                             subject=f"agent:{agent}", after={"version": version, "instances": count},
                             reason=f"all {count} instance(s) hold version {version}")
        return seen

    def flush_on_stop(self) -> None:
        try:
            self.flush()
        except SQLAlchemyError as exc:
            log.warning("could not write the agents' last polls on the way out (%s): up to %.0fs of them "
                        "are lost, and the next poll marks them again", exc, FLUSH_SECONDS)

    def latest(self, agent: str, written: float | None) -> float | None:
        """The later of the database's time and this replica's unwritten mark."""
        mark = self._hub.seen.get(agent)
        return mark if written is None or (mark is not None and mark > written) else written

    def all(self) -> dict[str, float]:
        """Every agent that ever polled → when it last did."""
        with self._sessions() as session:
            polls = last_polls(session=session)
        for agent, mark in dict(self._hub.seen).items():
            polls[agent] = max(mark, polls.get(agent, mark))
        return polls

    def unconfirmed(self) -> dict[str, int]:
        """Agent -> how many of its instances do not hold its current document (as written)."""
        with self._sessions() as session:
            return unconfirmed_instances(session=session)

    def collector(self) -> Collector:
        """The /metrics gauges: each agent's last poll, and how many have gone silent."""
        return _Gauges(self)


class _Gauges(Collector):
    def __init__(self, seen: LastSeen) -> None:
        self._seen = seen

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # read at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        polls = self._seen.all()
        last = GaugeMetricFamily("takeover_agent_last_poll_timestamp_seconds",
                                 "When the agent last polled its control document (Unix time)", labels=["agent"])
        for agent, at in sorted(polls.items()):
            last.add_metric([agent], at)
        yield last
        unconfirmed = GaugeMetricFamily(
            "takeover_agent_instances_unconfirmed", "Running instances of the agent (seen in the last hour) "
            "that have not fetched its current control document", labels=["agent"])
        for agent, count in sorted(self._seen.unconfirmed().items()):
            unconfirmed.add_metric([agent], count)
        yield unconfirmed
        now = self._seen.clock()
        yield GaugeMetricFamily("takeover_agents_silent", "Agents that polled once but not in the last "
                                "TAKEOVER_SILENT_AFTER seconds", value=sum(1 for at in polls.values()
                                                                           if now - at > self._seen.silent_after))
