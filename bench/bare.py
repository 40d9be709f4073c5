"""The baselines: the least an ASGI app on uvicorn can do for each benchmark.

`python bench/bare.py {304|longpoll} PORT` serves one of them with the uvicorn settings
`takeover serve` uses (`serve_like_takeover`), so a ratio measures takeover's own code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def not_modified(scope: Scope, receive: Any, send: Send) -> None:
    """Answers every request 304 with an ETag: the floor for a control poll."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    await send({"type": "http.response.start", "status": 304,
                "headers": [(b"etag", b'"1-bare"'), (b"cache-control", b"no-cache")]})
    await send({"type": "http.response.body", "body": b""})


class LongPoll:
    """GET holds while If-None-Match is the current ETag; POST changes the document, waking all."""

    def __init__(self) -> None:
        self.version = 1
        self.etag, self.body = b'"1-bare"', b'{"mode":"normal","version":1}'
        self.waiters: list[asyncio.Future[None]] = []

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            self.version += 1
            self.etag = f'"{self.version}-bare"'.encode()
            self.body = f'{{"mode":"read_only","version":{self.version}}}'.encode()
            for waiter in self.waiters:
                waiter.set_result(None)
            self.waiters.clear()
            return await answer(send, 201, self.etag, self.body)
        if dict(scope["headers"]).get(b"if-none-match") == self.etag:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter
        await answer(send, 200, self.etag, self.body)


async def answer(send: Send, status: int, etag: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"etag", etag), (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_like_takeover(app: Any, port: int) -> None:
    """What `takeover.server.run.run_server` does: one process, default (auto) loop and http, no access log."""
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                  access_log=False)).run()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    serve_like_takeover(not_modified if kind == "304" else LongPoll(), port)
