"""Silences: label matchers with a start and an end (Alertmanager's semantics). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from takeover.config.matchers import Matcher, parse_matcher

__all__ = ["Matcher", "Silence", "parse_matcher", "silenced_by"]


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    suppress_takeover: bool = False  # by default a silence mutes messages, not the takeover

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def silences(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: float) -> Silence | None:
    return next((s for s in silences if s.silences(labels, now)), None)
