"""The lexer: template text to tokens, following Go's text/template/parse/lex.go."""

from __future__ import annotations

from dataclasses import dataclass

from takeover.rules.gotemplate.fmt import _go_quote

_SPACE = " \t\r\n"


@dataclass(frozen=True)
class _Tok:
    kind: str  # text, {{, }}, space, ident, field, var, dot, bool, str, raw, num, char, (, ), |, =, :=, keyword, chr, eof
    val: str
    pos: int


_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block", "nil"}


def _alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _at_terminator(s: str, i: int) -> bool:
    return i >= len(s) or s[i] in _SPACE + ".,|:)(" or s.startswith("}}", i)


def _right_trim(s: str, i: int) -> bool:
    return s[i: i + 1] != "" and s[i] in _SPACE and s.startswith("-}}", i + 1)


def _digit_at(s: str, i: int) -> bool:
    return s[i: i + 1] != "" and "0" <= s[i] <= "9"


class _LexError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos


def _lex(src: str) -> list[_Tok]:
    """Tokenize; like Go's lazy lexer, a lexing error becomes a token the parser may never reach."""
    toks: list[_Tok] = []
    try:
        _lex_into(src, toks)
    except _LexError as e:
        toks.append(_Tok("error", str(e), e.pos))
    return toks


def _lex_into(src: str, toks: list[_Tok]) -> None:
    i = 0
    while i < len(src):
        j = src.find("{{", i)
        if j < 0:
            toks.append(_Tok("text", src[i:], i))
            break
        trim = src[j + 2: j + 3] == "-" and src[j + 3: j + 4] != "" and src[j + 3] in _SPACE
        end = i + len(src[i:j].rstrip(_SPACE)) if trim else j
        if end > i:
            toks.append(_Tok("text", src[i:end], i))
        k = j + (4 if trim else 2)
        if src.startswith("/*", k):
            close = src.find("*/", k + 2)
            if close < 0:
                raise _LexError(j, "unclosed comment")
            k = close + 2
            if src.startswith("}}", k):
                i = k + 2
            elif _right_trim(src, k):
                i = k + 4
                while i < len(src) and src[i] in _SPACE:
                    i += 1
            else:
                raise _LexError(j, "comment ends before closing delimiter")
            continue
        toks.append(_Tok("{{", "{{", j))
        i = _lex_action(src, k, toks)
    toks.append(_Tok("eof", "", len(src)))


def _lex_action(s: str, i: int, toks: list[_Tok]) -> int:
    depth = 0
    while True:
        trim = _right_trim(s, i)
        if trim or s.startswith("}}", i):
            if depth:
                raise _LexError(i, "unclosed left paren")
            toks.append(_Tok("}}", "}}", i))
            i += 4 if trim else 2
            while trim and i < len(s) and s[i] in _SPACE:
                i += 1
            return i
        if i >= len(s):
            raise _LexError(i, "unclosed action")
        c, j = s[i], i + 1
        if c in _SPACE:
            while j < len(s) and s[j] in _SPACE and not _right_trim(s, j):
                j += 1
            kind = "space"
        elif c == ":":
            if s[j: j + 1] != "=":
                raise _LexError(i, "expected :=")
            kind, j = ":=", j + 1
        elif c in "=|":
            kind = c
        elif c in "\"'":
            while j < len(s) and s[j] != c and s[j] != "\n":
                j += 2 if s[j] == "\\" and s[j + 1: j + 2] not in ("", "\n") else 1
            if j >= len(s) or s[j] != c:
                what = "quoted string" if c == '"' else "character constant"
                raise _LexError(i, f"unterminated {what}")
            kind, j = ("str" if c == '"' else "char"), j + 1
        elif c == "`":
            j = s.find("`", j) + 1
            if j == 0:
                raise _LexError(i, "unterminated raw quoted string")
            kind = "raw"
        elif c in "$." and not (c == "." and _digit_at(s, j)):
            while j < len(s) and _alnum(s[j]):
                j += 1
            if not _at_terminator(s, j):
                raise _LexError(j, f"bad character {_rune(s[j])}")
            kind = "var" if c == "$" else ("dot" if j == i + 1 else "field")
        elif c in "+-." or "0" <= c <= "9":
            j = _scan_number(s, i)
            if s[j: j + 1] in ("+", "-"):
                raise _LexError(i, "complex numbers are not supported by takeover")
            kind = "num"
        elif _alnum(c):
            while j < len(s) and _alnum(s[j]):
                j += 1
            if not _at_terminator(s, j):
                raise _LexError(j, f"bad character {_rune(s[j])}")
            word = s[i:j]
            kind = "keyword" if word in _KEYWORDS else "bool" if word in ("true", "false") else "ident"
        elif c in "()":
            depth += 1 if c == "(" else -1
            if depth < 0:
                toks.append(_Tok(c, c, i))
                raise _LexError(i, "unexpected right paren U+0029 ')'")
            kind = c
        elif " " < c < "\x7f":
            kind = "chr"
        else:
            raise _LexError(i, f"unrecognized character in action: {_rune(c)}")
        toks.append(_Tok(kind, s[i:j], i))
        i = j


def _scan_number(s: str, i: int) -> int:
    def accept(j: int, valid: str) -> int:
        return j + 1 if j < len(s) and s[j] in valid else j

    def run(j: int, valid: str) -> int:
        while j < len(s) and s[j] in valid:
            j += 1
        return j

    j, digits = accept(i, "+-"), "0123456789_"
    if s[j: j + 1] == "0":
        j += 1
        for prefix, ds in (("xX", "0123456789abcdefABCDEF_"), ("oO", "01234567_"), ("bB", "01_")):
            if s[j: j + 1] and s[j] in prefix:
                j, digits = j + 1, ds
                break
    j = run(j, digits)
    if accept(j, ".") > j:
        j = run(j + 1, digits)
    for marker, base_len in (("eE", 11), ("pP", 23)):
        if len(digits) == base_len and accept(j, marker) > j:
            j = run(accept(j + 1, "+-"), "0123456789_")
    j = accept(j, "i")
    if j < len(s) and _alnum(s[j]):
        raise _LexError(i, f"bad number syntax: {_go_quote(s[i:j + 1])}")
    return j


def _rune(c: str) -> str:
    return f"U+{ord(c):04X} '{c}'"
