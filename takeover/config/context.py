"""What the current change is attributed to: the request id of an API call (`slack:U…` for a
Slack button), stored with each audit row and printed with each log line."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
