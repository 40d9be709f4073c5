"""An operation refused: raised by every door's operation with an HTTP status and a message a
person can act on (the API answers it as is; Slack shows it to the person who pressed)."""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """`status` is the HTTP status, `detail` what to tell the caller."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail
