"""Label matchers as Alertmanager writes them: `name="value"`, `name!="value"`, `name=~"regex"`,
`name!~"regex"` (quotes optional; `\\"`, `\\\\` and `\\n` unescaped as Alertmanager's parser does);
a regex is RE2's, refused where Go's is, anchored as theirs (`^(?:regex)$`), so it matches the whole value in linear time.
Silences, console filters and the routing file's owner defaults all use them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from takeover.config.gosyntax import GoSyntaxError, check_go_syntax
from takeover.config.regex import RegexError, compile_anchored

# Alertmanager 0.25's pkg/labels/parse.go; Go's \s is these five, and the value may span lines
MATCHER_RE = re.compile(r'[\t\n\f\r ]*([a-zA-Z_][a-zA-Z0-9_]*)[\t\n\f\r ]*(=~|!~|!=|=)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*',
                        re.DOTALL)


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
        return f"{self.name}{self.op}{quote(self.value)}"


def quote(value: str) -> str:
    """`value` in double quotes, escaped so that `parse_matcher` (and Alertmanager) read it back."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse_matcher(text: str) -> Matcher:
    """One matcher; ValueError says what is wrong."""
    match = MATCHER_RE.fullmatch(text)
    if match is None:
        raise ValueError(f'bad matcher {text!r}: expected name="value", name!="value", name=~"regex" '
                         'or name!~"regex"')
    name, op, raw = match.groups()
    value = _unescape(raw)
    if value is None:
        stripped = raw.strip()
        if stripped.startswith('"') and (len(stripped) == 1 or not stripped.endswith('"') or stripped.endswith('\\"')):
            raise ValueError(f'bad matcher {text!r}: the value\'s opening quote is never closed (end it with ")')
        raise ValueError(f'bad matcher {text!r}: the value contains an unescaped double quote (write \\")')
    if "~" in op:
        try:
            compile_anchored(value)  # first: RE2's refusals say what to change
            check_go_syntax(value)
        except RegexError as exc:
            raise ValueError(f"bad matcher {text!r}: invalid regex: {exc}") from None
        except GoSyntaxError as exc:  # RE2 takes \C and (?<name>…); Alertmanager's Go regexp does not
            hint = "; a named group is written (?P<name>…)" if "(?<" in str(exc) else ""
            raise ValueError(f"bad matcher {text!r}: invalid regex: {exc} (Alertmanager's Go regexp refuses it{hint})"
                             ) from None
    return Matcher(name, op, value)


def _unescape(raw: str) -> str | None:
    """The value as Alertmanager reads it: an opening quote needs a closing one; `\\"`, `\\\\` and
    `\\n` are unescaped and any other backslash kept; None for a double quote anywhere else."""
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    value: list[str] = []
    escaped = False
    for i, char in enumerate(raw):
        if escaped:
            escaped = False
            value.append("\n" if char == "n" else char if char in '"\\' else "\\" + char)
        elif char == "\\" and i < len(raw) - 1:
            escaped = True
        elif char == '"':
            if not quoted or i < len(raw) - 1:
                return None
            quoted = False
        else:
            value.append(char)
    return None if quoted else "".join(value)
