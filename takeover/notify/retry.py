"""The retry stage's two rules, the one place back-off lives: how long a row waits after a
failure that may pass later (`Backoff`: exponential with jitter, never less than Slack's
Retry-After), and which Slack methods are paused for every worker of the process because Slack
answered 429 (`RateLimits`)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

# methods Slack limits per workspace (Tier 2-3); chat.* is limited per channel as well, so a 429
# there pauses that method for that channel only, and other channels' messages go on
WORKSPACE_LIMITED = frozenset({"conversations.list", "conversations.history", "conversations.replies"})


@dataclass
class Backoff:
    """Exponential back-off with equal jitter: the n-th failure waits between half and all of
    `base * 2**(n-1)`, at most `cap`, and at least the Retry-After Slack asked for."""

    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int, *, retry_after: float | None = None) -> float:
        step = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return max(step * (0.5 + self.rng.random() / 2), retry_after or 0.0)


class RateLimits:
    """Retry-After as Slack meant it: per method (and channel, for chat.*), for every worker.
    While a pause is open, no call to that method (in that channel) is made."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(method: str, channel: str) -> tuple[str, str]:
        return method, "" if method in WORKSPACE_LIMITED else channel

    def pause(self, method: str, channel: str, *, until: float) -> None:
        with self._lock:
            key = self._key(method, channel)
            self._until[key] = max(until, self._until.get(key, 0.0))

    def open_until(self, method: str, channel: str, *, now: float) -> float | None:
        """When the pause on `method` in `channel` ends, or None when calls may go."""
        with self._lock:
            until = self._until.get(self._key(method, channel))
            return until if until is not None and until > now else None
