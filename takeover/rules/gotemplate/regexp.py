"""Go's RE2 regular expressions, run by RE2 itself (takeover.config.regex: linear time, as in Go),
after a check of Go's syntax that refuses what Go 1.19's regexp refuses, in its words; and regexp.Expand."""

from __future__ import annotations

import functools
import re

from takeover.config.gosyntax import GoSyntaxError, check_go_syntax
from takeover.config.regex import Match, Regex, RegexError, compile_regex
from takeover.rules.gotemplate.errors import _CallError


@functools.lru_cache(maxsize=256)  # alert templates re-render the same few patterns every evaluation
def _go_regexp(pattern: str) -> Regex:
    try:
        check_go_syntax(pattern)
        return compile_regex(pattern)
    except GoSyntaxError as e:
        raise _CallError(f"error parsing regexp: {e}") from None
    except RegexError as e:  # what Go's check above lets through: RE2's words, quoted as Go quotes them
        code, _, arg = e.detail.partition(": ")
        raise _CallError(f"error parsing regexp: {code}: `{arg}`" if arg else f"error parsing regexp: {code}") from None


def _expand(template: str, m: Match, rx: Regex) -> str:
    """regexp.Expand: $1, ${1}, $name, ${name}; $$ is a dollar; unknown groups are empty."""
    def sub(g: re.Match[str]) -> str:
        name = g.group(1) or g.group(2)
        if name is None:
            return "$"
        numeric = name.isascii() and name.isdecimal() and (name == "0" or name[0] != "0") and len(name) <= 8
        idx = int(name) if numeric else rx.groupindex.get(name)  # Go: "$01" is a (missing) name
        if idx is None or idx > rx.groups:
            return ""
        return m.group(idx) or ""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+)|\$?)", sub, template)
