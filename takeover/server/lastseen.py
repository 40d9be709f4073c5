"""When each agent last polled: an agent that stops asking is no longer governed.

The control poll marks `hub.seen[agent]` in memory (a dict write, nothing more on the hot path);
`LastSeen.flush` writes the new marks to `agent.last_seen_at` every few seconds, on every
replica (the latest time wins), and once more when the service stops. The API, the CLI and
/metrics read the database, merged with this replica's marks not yet written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from takeover.server.hub import ControlHub
from takeover.store.agents import last_polls, record_polls

FLUSH_SECONDS = 5.0  # how stale the database's last_seen_at may be, at most (plus one flush)
log = logging.getLogger(__name__)


class LastSeen:
    """The marks of one replica, written to the database in batches."""

    def __init__(self, hub: ControlHub, sessions: Callable[[], Session], *, silent_after: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._hub, self._sessions, self.silent_after, self.clock = hub, sessions, silent_after, clock
        self._written: dict[str, float] = {}  # what this replica last wrote for each agent

    def flush(self) -> int:
        """Write the marks made since the last flush (one statement per batch); how many."""
        marks = {agent: at for agent, at in dict(self._hub.seen).items() if self._written.get(agent) != at}
        if not marks:
            return 0
        with self._sessions() as session:
            record_polls(session=session, seen=marks)
            session.commit()
        self._written.update(marks)  # only once written: a failed flush is retried whole
        return len(marks)

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
        now = self._seen.clock()
        yield GaugeMetricFamily("takeover_agents_silent", "Agents that polled once but not in the last "
                                "TAKEOVER_SILENT_AFTER seconds", value=sum(1 for at in polls.values()
                                                                           if now - at > self._seen.silent_after))
