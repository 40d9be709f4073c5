"""Live pages: one server-sent-events stream per open page, pinged with the topics that changed
("agents", "approvals", "alerts", "rules", "audit", "notifications"); the page then fetches only
its fragments showing those. Fed by the control hub's change feed (agents, at once, from any replica) and by
one watch per process — not per connection — over the shared database's audit trail and alert
states, for what the feed does not carry (new approval requests, alerts, silences, messages
Slack refused)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi.concurrency import run_in_threadpool

from takeover.app import console
from takeover.server.service import Service

WATCH_EVERY = 1.0  # seconds between the process's looks at the database while a page listens
KEEPALIVE = 15.0  # seconds between comments that keep proxies from closing an idle stream
SESSIONS = "sessions"  # the topic of sign-outs and revocations: never sent to the page


class Pulse:
    """The process's fan-out of change topics to the open streams."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._queues: set[asyncio.Queue[frozenset[str]]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: asyncio.Task[None] | None = None
        service.hub.subscribe(lambda agents: self.publish({"agents"}))

    def publish(self, topics: set[str]) -> None:
        """Ping every open stream with `topics`; callable from any thread."""
        if topics and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._put, frozenset(topics))

    def _put(self, topics: frozenset[str]) -> None:
        for queue in self._queues:
            queue.put_nowait(topics)

    async def _watching(self) -> None:
        mark = await run_in_threadpool(console.change_mark, self._service.app)
        while self._queues:
            await asyncio.sleep(WATCH_EVERY)
            with contextlib.suppress(Exception):  # a database hiccup: look again next time
                mark, topics = await run_in_threadpool(console.changes_since, self._service.app, mark)
                if topics:
                    self._put(frozenset(topics))

    async def stream(self, *, until: float, signed_in: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
        """The events of one stream, until the session's end (wall clock `until`), its sign-out
        or its token's revocation: `signed_in` is asked again whenever a session or token
        changed anywhere (the audit trail says so) and at each keepalive."""
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[frozenset[str]] = asyncio.Queue()
        self._queues.add(queue)
        if self._watch is None or self._watch.done():
            self._watch = self._loop.create_task(self._watching())
        try:
            yield "retry: 2000\nevent: hello\ndata: live\n\n"
            while True:
                left = until - self._service.clock()
                if left <= 0:
                    yield "event: ended\ndata: sign in again\n\n"
                    return
                try:
                    topics = set(await asyncio.wait_for(queue.get(), min(KEEPALIVE, left)))
                except asyncio.TimeoutError:
                    topics = {SESSIONS}
                while not queue.empty():  # a burst of changes is one ping
                    topics |= queue.get_nowait()
                if SESSIONS in topics:
                    topics.discard(SESSIONS)
                    if signed_in is not None and not await signed_in():
                        yield "event: ended\ndata: sign in again\n\n"
                        return
                yield f"event: change\ndata: {' '.join(sorted(topics))}\n\n" if topics else ": keepalive\n\n"
        finally:
            self._queues.discard(queue)

    @property
    def listening(self) -> int:
        return len(self._queues)
