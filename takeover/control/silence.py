"""Silences: label matchers with a start and an end (Alertmanager's semantics). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MATCHER_RE = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # = != =~ !~ ; regexes are anchored, like Alertmanager's
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex`; ValueError when malformed."""
    match = MATCHER_RE.match(text)
    if match is None:
        raise ValueError(f"bad matcher {text!r}: use name=value, name!=value, name=~regex or name!~regex")
    name, op, value = match.groups()
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regex in matcher {text!r}: {exc}") from None
    return Matcher(name, op, value)


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
