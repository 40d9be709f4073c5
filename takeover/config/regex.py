"""The one regex engine for patterns that people and files supply: RE2 (google-re2), whose time is
linear in the text, as Prometheus and Alertmanager use. Label matchers are anchored as they anchor
them (`^(?:pattern)$`); a policy condition searches. Compiled patterns are cached (bounded).
RE2 releases the GIL while it matches, so a match on a worker thread never stalls the event loop."""

from __future__ import annotations

import functools
from typing import Any, Protocol

import re2

MAX_MEM = 1 << 20  # RE2's budget per pattern (program and DFA); a larger pattern is refused as too large
CACHE_SIZE = 128  # compiled patterns kept (google-re2's own cache holds 128 too): at most ~256 MiB


class RegexError(ValueError):
    """A pattern RE2 refuses (a backreference, a lookaround, a bad repetition…): str() says why and
    what to change; `.detail` is RE2's own words."""

    def __init__(self, message: str, *, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class Match(Protocol):
    """What a search finds (the positions are in characters)."""

    def start(self) -> int: ...

    def end(self) -> int: ...

    def group(self, index: int) -> str | None: ...


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEM
    options.log_errors = False  # RE2 would print each refusal on stderr; the caller says it instead
    return options


_OPTIONS = _options()


class Regex:
    """A compiled pattern. `search` answers whether it matches; `finditer` gives the matches
    themselves (for replacement)."""

    __slots__ = ("pattern", "_compiled")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            self._compiled = re2.compile(_utf8(pattern), _OPTIONS)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else ""
            detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            raise RegexError(_reason(detail), detail=detail) from None

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`."""
        return self._compiled.search(_utf8(text)) is not None

    def finditer(self, text: str) -> Any:
        """Every non-overlapping match, left to right, as `Match`es (an empty match advances one character)."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate reads as U+FFFD, as Go reads a bad byte
            text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
        return self._compiled.finditer(text)

    @property
    def groups(self) -> int:
        return int(self._compiled.groups)

    @property
    def groupindex(self) -> dict[str, int]:
        return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in self._compiled.groupindex.items()}


@functools.lru_cache(maxsize=CACHE_SIZE)
def compile_regex(pattern: str) -> Regex:
    """`pattern` compiled by RE2, unanchored; RegexError says why RE2 refuses it."""
    return Regex(pattern)


def compile_anchored(pattern: str) -> Regex:
    """`pattern` anchored at both ends as Prometheus and Alertmanager anchor a label matcher's regex."""
    try:
        return compile_regex(f"^(?:{pattern})$")
    except RegexError:
        compile_regex(pattern)  # its own refusal names the pattern as written, not as wrapped
        raise


def _utf8(text: str) -> bytes:
    # bytes, not str: no per-call offset bookkeeping, and a lone surrogate cannot raise
    return text.encode("utf-8", "surrogatepass")


def _reason(text: str) -> str:
    if "pattern too large" in text:
        return (f"the pattern is too large for RE2's {MAX_MEM >> 20} MiB budget: "
                "use fewer or smaller repetitions and alternatives")
    if "invalid UTF-8" in text:
        return "the pattern is not valid UTF-8"
    return f"{text} ({_hint(text)})"


def _hint(text: str) -> str:
    """What to change, for the refusals people meet when they bring a pattern from Python or PCRE."""
    if text.startswith("invalid perl operator"):
        return "RE2 has no lookahead or lookbehind such as (?=…) or (?<!…)"
    if text.startswith("invalid escape sequence: \\") and text[len("invalid escape sequence: \\"):][:1].isdigit():
        return "RE2 has no backreferences such as \\1"
    if text.startswith(("invalid repetition size", "bad repetition operator")):
        return "RE2 counts a repetition up to 1000, nested ones multiplied, and refuses a**"
    return "RE2 syntax: https://github.com/google/re2/wiki/Syntax"
