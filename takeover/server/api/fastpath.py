"""The lean path of the hot control poll, outside FastAPI.

Agents poll `GET /v1/agents/{agent}/control` constantly, so `ControlFastPath` answers it in
front of FastAPI: with a known token and a cached document it answers 200/304 and long-polls
without routing, dependencies, thread pool or database. Anything else (a first poll, an unknown
token, a bad parameter) falls through to the FastAPI route, which answers the same way through
the same `answer_control`.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from time import time
from typing import Any
from urllib.parse import parse_qs

from takeover.control.principal import Role
from takeover.control.validation import seconds_or_duration
from takeover.server.auth import TokenCache
from takeover.server.hub import ControlHub, Entry, Stale
from takeover.server.metrics import Metrics

AGENT = Role.agent
PREFIX, SUFFIX = "/v1/agents/", "/control"  # module constants: an attribute lookup per poll shows
START, END = len(PREFIX), -len(SUFFIX)
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def parse_wait(text: str | None) -> float | None:
    """`?wait=` as a Prometheus duration (`30s`) or plain seconds; ValueError when malformed."""
    return None if text is None or text == "" else seconds_or_duration(text)


def long_poll(wait: float | None, if_none_match: object, version: int | None) -> bool:
    return bool(wait) and (if_none_match is not None or version is not None)


async def answer_control(hub: ControlHub, entry: Entry, *, agent: str, if_none_match: str | None,
                         wait: float | None, version: int | None) -> tuple[int, Entry]:
    """(status, entry) for a control poll: 200 with the entry's document, or 304 when unchanged."""
    if long_poll(wait, if_none_match, version):
        changed = await hub.wait_for_change(agent, etag=if_none_match, version=version, timeout=wait or 0)
        if changed is None:
            return 304, entry
        entry = changed
    return (304 if if_none_match == entry.etag else 200), entry


class ControlFastPath:
    """ASGI middleware answering hot control polls before FastAPI sees them."""

    def __init__(self, app: ASGIApp, *, hub: ControlHub, tokens: TokenCache, metrics: Metrics) -> None:
        self.app, self.hub, self.tokens, self.metrics = app, hub, tokens, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        # measured per poll: every allocation and call here shows in the bench's CPU/poll
        path = scope.get("path", "")
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)) or scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        agent = path[START:END]
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization")
        who = self.tokens.by_header(authorization) if authorization is not None else None
        entry = self.hub.cached(agent)
        if who is None or entry is None or "/" in agent or not who.may_read(agent):
            return await self.app(scope, receive, send)
        wait = version = None
        if scope["query_string"]:
            try:
                query = parse_qs(scope["query_string"].decode("latin-1"))
                wait = parse_wait(query.get("wait", [None])[0])
                version = int(query["version"][0]) if "version" in query else None
            except ValueError:
                return await self.app(scope, receive, send)  # FastAPI explains the bad parameter
        agent_asks = who.role is AGENT  # an operator reading the document is not the agent asking
        if agent_asks:
            self.hub.seen[agent] = time()
        self.metrics.control_polls += 1
        inm = headers.get(b"if-none-match")
        if long_poll(wait, inm, version):
            try:
                status, entry = await answer_control(
                    self.hub, entry, agent=agent, if_none_match=inm.decode("latin-1") if inm else None,
                    wait=wait, version=version)
            except Stale:
                return await self.app(scope, receive, send)  # FastAPI answers the 503
        else:  # answer_control's last line, without a coroutine per poll
            status = 304 if inm == entry.etag_header else 200
        if agent_asks and (instance := headers.get(b"x-takeover-instance")) is not None:
            self.hub.instances[(agent, instance)] = (time(), entry.version)
        if status == 304:
            await send({"type": "http.response.start", "status": 304, "headers": entry.headers_304})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": entry.headers_200})
            await send({"type": "http.response.body", "body": entry.body})
