"""Control documents served from memory: the agents' hot path (304 and long-poll) never
touches the database. Every change invalidates the changed agents' entries and wakes their
long-polls, which receive the rebuilt documents (built in one batch for a global change).

An answer from memory is a statement about the present, so this replica answers only while it
can vouch for what it holds: the database confirmed it (`confirmed`) within `bound` seconds.
Past that (a pause of the process, a change feed that went quiet, a database that does not
answer) a poll first has the database confirm it (`vouch`: one confirmation shared by every
poll, at most `CONFIRM_TIMEOUT` seconds) and otherwise answers 503 (`Stale`), never a 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_WAIT = 60.0  # seconds a long-poll may block
CONFIRM_TIMEOUT = 2.0  # seconds a poll waits for the database to confirm what this replica holds
RETRY_AFTER_FAILURE = 0.5  # after a failed confirmation, polls get 503 at once for this long
TOKENS_SIGNAL = "tokens"  # a token was revoked: cached lookups are dropped on every replica
Loader = Callable[[Sequence[str]], dict[str, dict[str, Any]]]  # agents -> their documents


class Stale(RuntimeError):
    """This replica cannot confirm its documents are current: it must not serve them."""


Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Entry:
    etag: str
    body: bytes
    version: int
    # the ETag and response headers as bytes, built once per document rather than once per poll
    etag_header: bytes = b""
    headers_304: Headers = ()
    headers_200: Headers = ()


def make_entry(doc: dict[str, Any]) -> Entry:
    body = json.dumps(doc, separators=(",", ":")).encode()
    etag = f'"{doc["version"]}-{hashlib.sha256(body).hexdigest()[:12]}"'
    common = ((b"etag", etag.encode()), (b"cache-control", b"no-cache"))
    return Entry(etag, body, int(doc["version"]), etag.encode(), common,
                 (*common, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())))


class ControlHub:
    """The cache of control documents and the long-polls waiting on them."""

    def __init__(self, load: Loader, *, confirm: Callable[[], None] | None = None, bound: float = 5.0) -> None:
        self._load = load
        # confirm(): compare what is held with the database, catch up, call `confirmed`; raises
        # when it cannot. None: this process is the database's only writer (always current).
        self._confirm, self.bound = confirm, bound
        self.confirmed_at = -math.inf if confirm is not None else math.inf  # monotonic
        self._confirming: asyncio.Future[None] | None = None
        self.closing = False  # the server is stopping: held long-polls answer now
        self._failed_at = -math.inf
        self._entries: dict[str, Entry] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._signals: dict[str, set[asyncio.Future[None]]] = {}
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Callable[[list[str]], None]] = []
        self._lock = threading.Lock()
        # set by the service when other replicas share the database
        self.publish: Callable[[list[str]], None] | None = None
        self.publish_signal: Callable[[str], None] | None = None
        # agent -> when it last polled this replica (wall clock); a plain dict write on the
        # hot path, written to the database in batches (`takeover.server.lastseen`)
        self.seen: dict[str, float] = {}
        # (agent, instance id as sent) -> (when, the version it was answered with): whether each
        # running instance holds the current document; written like `seen`, then cleared
        self.instances: dict[tuple[str, bytes], tuple[float, int]] = {}

    def close(self) -> None:
        """The server is stopping: every held long-poll answers now (as vouched for), rather than
        being cut off when the graceful shutdown runs out; any thread."""
        self.closing = True
        self.alarm()

    def alarm(self) -> None:
        """Wake every long-poll to vouch again (this replica may have fallen behind); any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

    def confirmed(self, at: float) -> None:
        """The database confirmed what is held as of `at` (monotonic, taken before the read)."""
        self.confirmed_at = max(self.confirmed_at, at)

    def age(self) -> float:
        """Seconds since the database last confirmed what this replica holds."""
        return time.monotonic() - self.confirmed_at

    def fresh(self) -> bool:
        return time.monotonic() - self.confirmed_at <= self.bound

    async def vouch(self) -> None:
        """Return once this replica can vouch for its documents; raise Stale when it cannot."""
        if self.fresh():
            return
        assert self._confirm is not None  # without it, always fresh
        loop = asyncio.get_running_loop()
        task = self._confirming
        if task is None or task.done():
            if time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE:
                raise Stale(self._why())
            task = self._confirming = loop.run_in_executor(None, self._confirm)
        try:
            await asyncio.wait_for(asyncio.shield(task), CONFIRM_TIMEOUT)
        except Exception:  # noqa: BLE001 - whatever stopped the confirmation, it did not confirm
            self._failed_at = time.monotonic()
            raise Stale(self._why()) from None
        if not self.fresh():
            raise Stale(self._why())

    def _why(self) -> str:
        return (f"this replica cannot confirm its control documents are current (last confirmed "
                f"{self.age():.1f}s ago, the bound is {self.bound:g}s): the database does not answer")

    def _wake_all(self) -> None:
        for futures in list(self._waiters.values()):
            for future in futures:
                if not future.done():
                    future.set_result(None)

    def versions(self) -> dict[str, int]:
        """The version of every document held (to compare with the database)."""
        return {agent: entry.version for agent, entry in list(self._entries.items())}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the event loop the long-polls run on (at API startup)."""
        self._loop = loop

    def subscribe(self, listener: Callable[[list[str]], None]) -> None:
        """Call `listener(agents)` after every change (e.g. the demo prints new modes)."""
        self._listeners.append(listener)

    def cached(self, agent: str) -> Entry | None:
        """The agent's entry while this replica can vouch for it without asking (the fast path)."""
        return self._entries.get(agent) if self.fresh() else None

    def entry(self, agent: str) -> Entry | None:
        """The agent's entry, loading it (blocking, from the database) on a miss. Callers
        `vouch` first."""
        hit = self._entries.get(agent)
        if hit is not None:
            return hit
        docs = self._load([agent])
        if agent not in docs:
            return None
        with self._lock:
            return self._entries.setdefault(agent, make_entry(docs[agent]))

    def invalidate(self, agents: Sequence[str] | None, *, remote: bool = False) -> None:
        """Forget the agents' documents (None: every document) and wake their long-polls;
        callable from any thread. A local change is also published to the other replicas."""
        if agents is not None and not agents:
            return
        with self._lock:
            if agents is None:
                agents = list(self._entries) + [a for a in self._waiters if a not in self._entries]
                self._entries.clear()
            for agent in agents:
                self._entries.pop(agent, None)
        for listener in self._listeners:
            listener(list(agents))
        if not remote and self.publish is not None:
            self.publish(list(agents))
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._refresh_and_wake, list(agents))

    def _refresh_and_wake(self, agents: list[str]) -> None:
        waiting = [a for a in agents if self._waiters.get(a)]
        if not waiting:
            return
        assert self._loop is not None
        task = self._loop.run_in_executor(None, self._load, waiting)
        task.add_done_callback(lambda f: self._wake(waiting, f))

    def _wake(self, agents: list[str], loaded: asyncio.Future[dict[str, dict[str, Any]]]) -> None:
        docs = loaded.result() if not loaded.exception() else {}
        with self._lock:
            for agent, doc in docs.items():
                self._entries.setdefault(agent, make_entry(doc))
        for agent in agents:
            for future in self._waiters.pop(agent, set()):
                if not future.done():
                    future.set_result(None)

    async def wait_for_change(self, agent: str, *, etag: str | None, version: int | None,
                              timeout: float) -> Entry | None:
        """Block until the agent's document differs from `etag`/`version`, or None at the
        deadline: "unchanged" only once vouched for (a long-poll can outlive a pause of the
        process, and wakes before the change feed has caught up)."""
        loop = asyncio.get_running_loop()
        # jitter spreads the reconnects of many pollers that started together
        deadline = loop.time() + min(timeout, MAX_WAIT) * random.uniform(0.9, 1.0)
        while True:
            await self.vouch()
            current = self._entries.get(agent)
            if current is None:
                current = await loop.run_in_executor(None, self.entry, agent)
                if current is None:
                    return None
            if current.etag != etag and (version is None or current.version != version):
                return current
            left = deadline - loop.time()
            if left <= 0 or self.closing:
                return None
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(agent, set()).add(future)
            try:
                await asyncio.wait_for(future, left)
            except asyncio.TimeoutError:
                pass  # vouch, then answer
            finally:
                self._waiters.get(agent, set()).discard(future)

    @property
    def waiting(self) -> int:
        return sum(len(w) for w in self._waiters.values()) + sum(len(w) for w in self._signals.values())

    def signal(self, key: str, *, remote: bool = False) -> None:
        """Wake everyone in `wait_signal(key)` (e.g. an approval was decided); any thread."""
        if not remote and self.publish_signal is not None:
            self.publish_signal(key)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire, key)

    def on_signal(self, key: str, callback: Callable[[], None]) -> None:
        """Also call `callback` whenever `key` is signalled, here or on another replica."""
        self._callbacks.setdefault(key, []).append(callback)

    def _fire(self, key: str) -> None:
        for callback in self._callbacks.get(key, []):
            callback()
        for future in self._signals.pop(key, set()):
            if not future.done():
                future.set_result(None)

    async def wait_signal(self, key: str, timeout: float) -> bool:
        """Wait until `signal(key)` or the (capped) timeout; True when signalled."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._signals.setdefault(key, set()).add(future)
        try:
            await asyncio.wait_for(future, min(timeout, MAX_WAIT))
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._signals.get(key, set()).discard(future)
