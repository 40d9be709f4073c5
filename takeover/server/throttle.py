"""Back-off for guessing: failed sign-ins and bad bearer tokens counted per source address (a
token sent again is not another guess: each distinct one counts once). A few mistakes are free; past them the address waits, twice as long after each further failure
(1 s, 2 s, 4 s … at most 5 minutes), and is answered 429 with `Retry-After` meanwhile. In memory,
per process: each replica counts what it sees."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FREE = 10  # failures from one address before it has to wait
WINDOW = 300.0  # seconds without a failure after which an address starts afresh
FIRST = 1.0  # the first wait, doubled by each further failure
LONGEST = 300.0
MAX_ADDRESSES = 10_000  # bounded: a spread of addresses must not grow memory without limit


@dataclass
class Record:
    failures: int = 0
    last: float = 0.0
    blocked_until: float = 0.0
    tried: set[str] = field(default_factory=set)  # the distinct secrets that failed (their hashes)


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic, *, free: int = FREE) -> None:
        self._clock, self._free = clock, free
        self._by_address: dict[str, Record] = {}

    def retry_after(self, address: str) -> int | None:
        """Whole seconds `address` must still wait, or None when it may try."""
        record = self._by_address.get(address)
        left = record.blocked_until - self._clock() if record is not None else 0.0
        return math.ceil(left) if left > 0 else None

    def failed(self, address: str, key: str = "") -> int | None:
        """Count a failure with the secret `key` (its hash; one already counted is not counted
        again); the wait it starts (seconds) once the address is past its free ones."""
        now = self._clock()
        record = self._by_address.get(address)
        if record is None or now - record.last > WINDOW:
            if len(self._by_address) >= MAX_ADDRESSES:
                self._by_address.clear()
            record = self._by_address[address] = Record()
        if key and key in record.tried:
            return None
        if key and len(record.tried) < 1000:
            record.tried.add(key)
        record.failures += 1
        record.last = now
        if record.failures <= self._free:
            return None
        wait: float = min(FIRST * 2.0 ** (record.failures - self._free - 1), LONGEST)
        record.blocked_until = now + wait
        return math.ceil(wait)
