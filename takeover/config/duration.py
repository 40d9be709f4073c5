"""Prometheus durations (`1h30m`, `15s`, `0`), as every file and flag takeover reads writes them."""

from __future__ import annotations

import re

DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(text: str) -> float:
    """Prometheus duration in seconds; ValueError when malformed."""
    match = DURATION_RE.match(text)
    if text == "0":
        return 0.0
    if not text or match is None:
        raise ValueError(f'not a valid duration string: "{text}"')
    return float(sum(int(g) * unit for g, unit in zip(match.groups(), DURATION_UNITS) if g))
