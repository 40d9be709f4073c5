"""Control documents served from memory: the agents' hot path (304 and long-poll) never
touches the database. Every change invalidates the changed agents' entries and wakes their
long-polls, which receive the rebuilt documents (built in one batch for a global change)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_WAIT = 60.0  # seconds a long-poll may block
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

    def __init__(self, load: Loader) -> None:
        self._load = load
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
        self.stale: str | None = None  # why the documents may be stale; None: they are current
        # agent -> when it last polled this replica (wall clock); a plain dict write on the
        # hot path, written to the database in batches (`takeover.server.lastseen`)
        self.seen: dict[str, float] = {}

    def set_stale(self, reason: str | None) -> None:
        """Refuse (reason) or serve again (None); waiting long-polls return to say so."""
        self.stale = reason
        if reason is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

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
        return self._entries.get(agent) if self.stale is None else None

    def entry(self, agent: str) -> Entry | None:
        """The agent's entry, loading it (blocking, from the database) on a miss."""
        if self.stale is not None:
            raise Stale(self.stale)
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
        """Block until the agent's document differs from `etag`/`version`, or None at the deadline."""
        loop = asyncio.get_running_loop()
        # jitter spreads the reconnects of many pollers that started together
        deadline = loop.time() + min(timeout, MAX_WAIT) * random.uniform(0.9, 1.0)
        while True:
            if self.stale is not None:
                raise Stale(self.stale)
            current = self._entries.get(agent)
            if current is None:
                current = await loop.run_in_executor(None, self.entry, agent)
                if current is None:
                    return None
            if current.etag != etag and (version is None or current.version != version):
                return current
            left = deadline - loop.time()
            if left <= 0:
                return None
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(agent, set()).add(future)
            try:
                await asyncio.wait_for(future, left)
            except asyncio.TimeoutError:
                return None
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
