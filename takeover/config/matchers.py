"""Label matchers as Alertmanager writes them: `name="value"`, `name!="value"`, `name=~"regex"`,
`name!~"regex"` (quotes optional); a regex is RE2's, anchored as theirs (`^(?:regex)$`), so it
matches the whole value in linear time. Silences, console filters and the routing file's owner
defaults all use them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from takeover.config.regex import RegexError, compile_anchored

MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """A missing label is the empty string, as in Alertmanager."""
        actual = labels.get(self.name, "")
        hit = compile_anchored(self.value).search(actual) if "~" in self.op else actual == self.value
        return hit != self.op.startswith("!")

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """One matcher; ValueError says what is wrong."""
    match = MATCHER_RE.fullmatch(text)
    if match is None:
        raise ValueError(f'bad matcher {text!r}: expected name="value", name!="value", name=~"regex" '
                         'or name!~"regex"')
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if "~" in op:
        try:
            compile_anchored(value)
        except RegexError as exc:
            raise ValueError(f"bad matcher {text!r}: invalid regex: {exc}") from None
    return Matcher(name, op, value)
