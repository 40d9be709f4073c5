"""The embedded default's change feed: another process (the CLI, a second `serve`, a migration)
wrote the SQLite file. One dedicated connection reads `PRAGMA data_version` every `INTERVAL`
seconds: SQLite changes it only when a connection other than this one committed (any process,
or this process's own pool), and reading it costs no I/O beyond the WAL index in shared memory.
On a change the service catches up as a replica does after a NOTIFY (`Service.catch_up`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
INTERVAL = 0.25  # seconds between two looks: a CLI change is served within about this long


def database_file(database_url: str) -> str | None:
    """The file of a SQLite URL; None for an in-memory database (no other process can write it)."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return url.database


class DataVersionWatch:
    """Call `on_change()` (in the watch's thread) after any other connection committed; a
    failing `on_change` is tried again at the next look, so no change is lost."""

    def __init__(self, path: str, *, on_change: Callable[[], None], interval: float = INTERVAL) -> None:
        self._path, self._on_change, self._interval = path, on_change, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sqlite-watch", daemon=True)
        self._conn: sqlite3.Connection | None = None

    def start(self) -> None:
        """Open the watch's connection and take the current version as seen (the caller has
        read the database after this, or reads it now), then look every `interval`."""
        self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=5)
        self._seen = self._version()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if self._conn is not None:
            self._conn.close()

    def _version(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _watch(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            try:
                version = self._version()
                if version == self._seen:
                    continue
                # read the version before catching up: a commit after this read changes it again
                self._on_change()
                self._seen = version
            except Exception as exc:  # noqa: BLE001 - the watch must outlive a busy or failing database
                if not failing:
                    log.warning("cannot catch up on changes made by other processes (%s: %s); trying "
                                "again every %gs", type(exc).__name__, exc, self._interval)
                failing = True
                continue
            if failing:
                log.info("caught up on changes made by other processes again")
            failing = False
