"""The door in front of FastAPI's routes (pure ASGI): it names the request, checks the bearer
token of `/v1` requests before a byte of the body is read, and caps the body (413), so a
stranger's 300 MB costs a 401 and nothing else.

The hot control poll never comes here: `ControlFastPath` answers it before FastAPI.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from takeover.config import context
from takeover.control.validation import request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Refused:
    """Why the edge answers a request itself: 401 for a bad token, 429 while its address waits."""

    status: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


# (the Authorization header's value, the client's address) → why it is refused (None: a valid token)
CheckToken = Callable[[str | None, str], Awaitable[Refused | None]]


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body outgrows the cap; FastAPI answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes (TAKEOVER_MAX_BODY_BYTES)")


def client_address(scope: Scope) -> str:
    """The source address (the proxy's client when uvicorn trusts its forwarded headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class Edge:
    def __init__(self, app: ASGIApp, *, check_token: CheckToken, max_body_bytes: int,
                 protected: str = "/v1/") -> None:
        self.app, self.check_token, self.limit, self.protected = app, check_token, max_body_bytes, protected

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope["headers"]}
        rid = request_id(headers.get(b"x-request-id", b"").decode("latin-1"), lambda: uuid.uuid4().hex)
        context.request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        if scope.get("path", "").startswith(self.protected):
            refusal = await self.check_token(
                headers[b"authorization"].decode("latin-1") if b"authorization" in headers else None,
                client_address(scope))
            if refusal is not None:
                return await self._answer(scope, receive, send_with_id, refusal.status, refusal.detail,
                                          refusal.headers)
        length = headers.get(b"content-length", b"")
        if length and (not length.isdigit() or int(length) > self.limit):
            return await self._answer(scope, receive, send_with_id, 413, BodyTooLarge(self.limit).detail)
        seen = 0

        async def receive_capped() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, receive_capped, send_with_id)

    @staticmethod
    async def _answer(scope: Scope, receive: Any, send: Any, status: int, detail: str,
                      headers: dict[str, str] | None = None) -> None:
        await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)
