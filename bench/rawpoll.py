"""A bare-socket long-poller: a response is timed in the callback where its last byte arrives.

httpx needs about 0.4 ms of CPU per response, so 1,000 agents in one process on one core add
about 0.4 s to the slowest agent, whatever the server does. This poller costs a few
microseconds per response and shows when the server actually answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import urlsplit


def request(host: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class LongPoller(asyncio.Protocol):
    """Sends a plain poll, then the long-poll with the ETag it got; `done` is (time, status, body)."""

    def __init__(self, host: str, path: str, headers: dict[str, str], polled: Callable[[], None]) -> None:
        self.host, self.path, self.headers, self.polled = host, path, headers, polled
        self.buffer = b""
        self.first = True
        self.done: asyncio.Future[tuple[float, int, bytes]] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(request(self.host, self.path, self.headers))

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        self.buffer += data
        head, sep, body = self.buffer.partition(b"\r\n\r\n")
        fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
        if not sep or len(body) < int(fields.get(b"content-length", b"0")):
            return  # the rest is still on its way
        self.buffer = b""
        status = int(head.split(b" ", 2)[1])
        if self.first:
            self.first = False
            etag = fields[b"etag"].decode("latin-1")
            self.transport.write(request(self.host, f"{self.path}?wait=30s",
                                         {**self.headers, "If-None-Match": etag}))
            self.polled()
        elif not self.done.done():
            self.done.set_result((at, status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed before the long-poll returned"))


async def long_poll(base_url: str, path: str, headers: dict[str, str],
                    polled: Callable[[], None]) -> tuple[float, int, bytes]:
    """Poll, long-poll, and return (perf_counter at the last byte, status, body)."""
    url = urlsplit(base_url)
    transport, poller = await asyncio.get_running_loop().create_connection(
        lambda: LongPoller(url.netloc, path, headers, polled), url.hostname or "127.0.0.1", url.port or 80)
    try:
        return await poller.done
    finally:
        transport.close()
