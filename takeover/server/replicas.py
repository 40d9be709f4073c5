"""Several `takeover serve` processes on one PostgreSQL: the `ChangeFeed`. Control documents
changed on one process wake long-polls on every other (LISTEN/NOTIFY), so agents behind a load
balancer see a change as fast as on one node. (Who leads is `takeover.server.leading`.)

With SQLite the feed is `takeover.server.sqlitewatch` (the file's data version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
MAX_PAYLOAD = 7000  # NOTIFY payloads must stay under 8000 bytes


def conninfo(database_url: str) -> str:
    """A libpq URI for psycopg from a SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _namespace(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """Replicas share a database and schema; tests run many schemas in one database."""
    row = conn.execute("SELECT current_database(), current_schema()").fetchone()
    return hashlib.sha256(f"takeover:{row}".encode()).hexdigest()[:16]


class ChangeFeed:
    """LISTEN for other processes' changes; NOTIFY ours."""

    def __init__(self, database_url: str, *, on_agents: Callable[[list[str] | None], None],
                 on_signal: Callable[[str], None], name: str = "takeover") -> None:
        self._url = conninfo(database_url)
        # as the engine's connections: named, and no wait on a peer that stopped answering is unbounded
        self._bounds: dict[str, Any] = {
            "application_name": name[:63], "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5,
            "keepalives_interval": 2, "keepalives_count": 3, "tcp_user_timeout": 10_000}
        self._on_agents, self._on_signal = on_agents, on_signal
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._channel = ""
        self._send_lock = threading.Lock()
        self._sender: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread = threading.Thread(target=self._listen, name="change-feed", daemon=True)
        self._origin = uuid.uuid4().hex  # our own notifications come back to us: skip them

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if self._sender is not None:
            self._sender.close()

    def publish_agents(self, agents: list[str]) -> None:
        payload = json.dumps({"agents": agents, "from": self._origin})
        self._notify(payload if len(payload) < MAX_PAYLOAD else json.dumps({"agents": None, "from": self._origin}))

    def publish_signal(self, key: str) -> None:
        self._notify(json.dumps({"signal": key, "from": self._origin}))

    def _notify(self, payload: str) -> None:
        """NOTIFY the others; an idle connection that died (a database restart) is replaced and
        the notification sent again. If that fails too, the others catch up by reconciling."""
        with self._send_lock:
            for attempt in (1, 2):
                try:
                    if self._sender is None or self._sender.closed:
                        self._sender = psycopg.connect(self._url, autocommit=True, **self._bounds)
                        self._channel = self._channel or f"takeover_{_namespace(self._sender)}"
                    self._sender.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))
                    return
                except psycopg.Error as exc:
                    if self._sender is not None:
                        self._sender.close()
                    self._sender = None
                    if attempt == 2:
                        log.warning("could not notify other replicas (they catch up within their "
                                    "reconcile interval): %s", exc)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, **self._bounds) as conn:
                    self._channel = f"takeover_{_namespace(conn)}"
                    conn.execute(f'LISTEN "{self._channel}"')
                    if self._ready.is_set():
                        log.info("change feed listening again; rereading every document")
                    self._ready.set()
                    self._on_agents(None)  # anything may have changed while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._deliver(note.payload)
            except psycopg.Error as exc:
                log.warning("change feed lost its connection (%s); reconnecting", exc)
                self._stop.wait(1.0)

    def _deliver(self, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if message.get("from") == self._origin:
            return
        if "signal" in message:
            self._on_signal(str(message["signal"]))
        else:
            self._on_agents(message.get("agents"))
