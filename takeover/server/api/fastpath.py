"""The lean path of the hot control poll, outside FastAPI.

Agents poll `GET /v1/agents/{agent}/control` constantly, so `ControlFastPath` answers it in
front of FastAPI: with a known token and a cached document it answers 200/304 and long-polls
without routing, dependencies, thread pool or database. Anything else (a first poll, an unknown
token, a bad parameter) falls through to the FastAPI route, which answers the same way through
the same `answer_control`.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from takeover.control.validation import seconds_or_duration
from takeover.server.auth import TokenCache
from takeover.server.hub import ControlHub, Entry, Stale
from takeover.server.metrics import Metrics

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def parse_wait(text: str | None) -> float | None:
    """`?wait=` as a Prometheus duration (`30s`) or plain seconds; ValueError when malformed."""
    return None if text is None or text == "" else seconds_or_duration(text)


async def answer_control(hub: ControlHub, entry: Entry, *, agent: str, if_none_match: str | None,
                         wait: float | None, version: int | None) -> tuple[int, str, bytes]:
    """(status, etag, body) for a control poll: 200 with the document, or 304 when unchanged."""
    if wait and (if_none_match is not None or version is not None):
        changed = await hub.wait_for_change(agent, etag=if_none_match, version=version, timeout=wait)
        if changed is None:
            return 304, entry.etag, b""
        entry = changed
    if if_none_match == entry.etag:
        return 304, entry.etag, b""
    return 200, entry.etag, entry.body


class ControlFastPath:
    """ASGI middleware answering hot control polls before FastAPI sees them."""

    PREFIX, SUFFIX = "/v1/agents/", "/control"

    def __init__(self, app: ASGIApp, *, hub: ControlHub, tokens: TokenCache, metrics: Metrics) -> None:
        self.app, self.hub, self.tokens, self.metrics = app, hub, tokens, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not (
                path.startswith(self.PREFIX) and path.endswith(self.SUFFIX)):
            return await self.app(scope, receive, send)
        agent = path[len(self.PREFIX):-len(self.SUFFIX)]
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        who = self.tokens.cached(token.strip()) if scheme.lower() == "bearer" else None
        entry = self.hub.cached(agent)
        try:
            query = parse_qs(scope["query_string"].decode("latin-1"))
            wait = parse_wait(query.get("wait", [None])[0])
            version = int(query["version"][0]) if "version" in query else None
        except ValueError:
            wait = version = entry = None  # let FastAPI explain the bad parameter
        if "/" in agent or who is None or entry is None or not who.may_read(agent):
            return await self.app(scope, receive, send)
        self.metrics.control_polls += 1
        inm = headers.get(b"if-none-match")
        try:
            status, etag, body = await answer_control(
                self.hub, entry, agent=agent, if_none_match=inm.decode("latin-1") if inm else None,
                wait=wait, version=version)
        except Stale:
            return await self.app(scope, receive, send)  # FastAPI answers the 503
        out_headers = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
        if status == 200:
            out_headers += [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": body})
