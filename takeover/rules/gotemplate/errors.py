"""The errors of the interpreter: TemplateSyntaxError with its line and column, and a function's _CallError."""

from __future__ import annotations


class TemplateSyntaxError(ValueError):
    """A template that cannot be compiled; .line and .column are 1-based positions inside the template text, .message is the human text."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column


def _syntax(src: str, pos: int, message: str) -> TemplateSyntaxError:
    line, col = _linecol(src, pos)
    return TemplateSyntaxError(message, line, col)


def _linecol(src: str, pos: int) -> tuple[int, int]:
    return src.count("\n", 0, pos) + 1, pos - (src.rfind("\n", 0, pos) + 1) + 1


class _CallError(Exception):
    """An error returned by a template function; reported as 'error calling NAME: ...'."""
