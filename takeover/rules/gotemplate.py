"""A small interpreter for the Go text/template subset used in Prometheus alerting rules.

It renders labels and annotations exactly as Prometheus 2.42 (Go 1.19) does: a lexer and a
parser that follow text/template/parse, an AST of frozen dataclasses, and an evaluator that
follows text/template's exec.go, funcs.go and Prometheus' template/template.go.
Anything it cannot reproduce faithfully is rejected at compile time with TemplateSyntaxError.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import urllib.parse
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Callable, Mapping, NoReturn, Optional, Union

__all__ = ["Template", "TemplateSyntaxError", "compile_template", "format_value", "render_text"]


class TemplateSyntaxError(ValueError):
    """A template that cannot be compiled; .line and .column are 1-based positions inside the template text, .message is the human text."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column


# ---------------------------------------------------------------- values

class _HTML(str):
    """html/template.HTML, the result of safeHtml: a string kind but not assignable to string."""


class _AnyMap(dict[str, Any]):
    """map[string]interface{}, the result of args: a missing key is nil, not ""."""


@dataclass(frozen=True)
class _Data:
    labels: dict[str, str]
    external_labels: dict[str, str]
    external_url: str
    value: float


_DATA_TYPE = ("struct { Labels map[string]string; ExternalLabels map[string]string; "
              "ExternalURL string; Value float64 }")
_EMPTY: Mapping[str, str] = MappingProxyType({})
_MISSING = object()  # marks "no value piped in from the previous command"
_SPACE = " \t\r\n"


def _typename(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, _HTML):
        return "template.HTML"
    for t, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"),
                    (_AnyMap, "map[string]interface {}"), (dict, "map[string]string")):
        if isinstance(v, t):
            return name
    return _DATA_TYPE


def format_value(value: float) -> str:
    """Go's %v for float64: strconv 'g' shortest repr; 3 -> '3', 0.1 -> '0.1', 100000 -> '100000', 1000000 -> '1e+06', 123456.789 -> '123456.789', 1e-05 -> '1e-05', NaN -> 'NaN', +Inf -> '+Inf', -Inf -> '-Inf'."""
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        return _fmt_g(v, 1)
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    if v == 0:
        return sign + "0"
    mant, _, exp = repr(abs(v)).partition("e")  # repr gives the same shortest digits as Go
    ip, _, fp = mant.partition(".")
    all_digits = ip + fp
    digits = all_digits.lstrip("0")
    x = len(ip) - 1 - (len(all_digits) - len(digits)) + int(exp or 0)
    digits = digits.rstrip("0")
    if x < -4 or x >= 6:  # Go uses %e when the exponent is < -4 or >= 6 in shortest mode
        frac = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{frac}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if x >= 0:
        whole, frac = digits[: x + 1].ljust(x + 1, "0"), digits[x + 1:]
    else:
        whole, frac = "0", "0" * (-x - 1) + digits
    return sign + whole + ("." + frac if frac else "")


def _fmt_g(v: float, prec: int) -> str:
    """Go's %.<prec>g, which spells the special values NaN, +Inf and -Inf."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return "%.*g" % (prec, v)


def _fmt_v(v: Any) -> str:
    """fmt's %v for every value kind the interpreter produces."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_value(v)
    if isinstance(v, (int, str)):
        return str(v)
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_fmt_v(v[k])}" for k in sorted(v)) + "]"
    assert isinstance(v, _Data)
    parts = (v.labels, v.external_labels, v.external_url, v.value)
    return "{" + " ".join(_fmt_v(p) for p in parts) + "}"


def _truth(v: Any) -> bool:
    return True if isinstance(v, _Data) else bool(v)  # NaN is truthy in Go as in Python


# ---------------------------------------------------------------- lexer

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


def _syntax(src: str, pos: int, message: str) -> TemplateSyntaxError:
    line, col = _linecol(src, pos)
    return TemplateSyntaxError(message, line, col)


def _linecol(src: str, pos: int) -> tuple[int, int]:
    return src.count("\n", 0, pos) + 1, pos - (src.rfind("\n", 0, pos) + 1) + 1


# ---------------------------------------------------------------- literals

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(tok: str) -> str:
    """strconv.Unquote for "...", `...` and '.' literals; raises ValueError like Go's invalid syntax."""
    q, body = tok[0], tok[1:-1]
    if q == "`":
        return body.replace("\r", "")  # Go discards carriage returns in raw strings
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1: i + 2]
        if e in _ESCAPES or e == q:
            out += _ESCAPES.get(e, e).encode()
            i += 2
            continue
        m = re.match(r"([0-7]{3})|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})", body[i + 1:])
        if not m:
            raise ValueError("invalid syntax")
        if m.group(1) or m.group(2):
            n = int(m.group(1), 8) if m.group(1) else int(m.group(2), 16)
            if n > 255:
                raise ValueError("invalid syntax")
            out.append(n)
        else:
            n = int(m.group(3) or m.group(4), 16)
            if n > 0x10FFFF or 0xD800 <= n < 0xE000:
                raise ValueError("invalid syntax")
            out += chr(n).encode()
        i += 1 + m.end()
    text = out.decode("utf-8", errors="strict")  # invalid UTF-8 raises UnicodeDecodeError, a ValueError
    if q == "'" and len(text) != 1:
        raise ValueError(f"malformed character constant: {tok}")
    return text


def _go_int(text: str) -> Optional[int]:
    """strconv.ParseInt(text, 0, 64) without the range check."""
    t = text.lstrip("+-")
    if re.fullmatch(r"0[0-7_]+", t):
        t = "0o" + t[1:]  # a leading 0 means octal in Go
    try:
        n = int(t, 0)
    except ValueError:
        return None
    return -n if text.startswith("-") else n


def _go_float(s: str) -> float:
    """strconv.ParseFloat(s, 64), raising ValueError with Go's message."""
    err = f"strconv.ParseFloat: parsing {_go_quote(s)}: "
    if re.fullmatch(r"(?i)[+-]?inf(inity)?", s):
        return -math.inf if s.startswith("-") else math.inf
    if re.fullmatch(r"(?i)nan", s):
        return math.nan
    dec = r"[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d[\d_]*)?"
    hexf = r"[+-]?0[xX](?=[_.]*[\da-fA-F])[\da-fA-F_]*\.?[\da-fA-F_]*[pP][+-]?\d[\d_]*"
    if not (re.fullmatch(dec, s) or re.fullmatch(hexf, s)) or ("_" in s and not _underscore_ok(s)):
        raise ValueError(err + "invalid syntax")
    t = s.replace("_", "")
    f = float.fromhex(t) if re.match(r"[+-]?0[xX]", t) else float(t)
    if math.isinf(f):
        raise ValueError(err + "value out of range")
    return f


def _underscore_ok(s: str) -> bool:
    """strconv's underscoreOK: every _ sits between two digits (a base prefix counts as a digit)."""
    s = s[1:] if s[:1] in ("+", "-") else s
    body = "0" + s[2:] if re.match(r"0[xXoObB]", s) else s
    d = "[0-9a-fA-F]" if re.match(r"0[xX]", s) else "[0-9]"
    return not re.search(f"(?<!{d})_|_(?!{d})", body)


# ---------------------------------------------------------------- AST

@dataclass(frozen=True)
class _Node:
    pos: int


@dataclass(frozen=True)
class _Text(_Node):
    text: str


@dataclass(frozen=True)
class _Dot(_Node):
    pass


@dataclass(frozen=True)
class _Field(_Node):
    names: tuple[str, ...]  # .Labels.job -> ("Labels", "job")


@dataclass(frozen=True)
class _Var(_Node):
    name: str
    names: tuple[str, ...]  # $labels.job -> "$labels", ("job",)


@dataclass(frozen=True)
class _Chain(_Node):
    node: _Node  # (pipeline).Field or ident.Field
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Ident(_Node):
    name: str


@dataclass(frozen=True)
class _Lit(_Node):
    value: Any  # str, bool, int or float, as Go's idealConstant would produce
    text: str   # source spelling, for error messages


@dataclass(frozen=True)
class _Cmd(_Node):
    args: tuple[_Node, ...]


@dataclass(frozen=True)
class _Pipe(_Node):
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[_Cmd, ...]


@dataclass(frozen=True)
class _Action(_Node):
    pipe: _Pipe


@dataclass(frozen=True)
class _Control(_Node):
    kind: str  # if, with, range
    pipe: _Pipe
    body: tuple[_Node, ...]
    orelse: Optional[tuple[_Node, ...]]


@dataclass(frozen=True)
class _Jump(_Node):
    kind: str  # break or continue


def _show(n: _Node) -> str:
    """Go's Node.String(), used as the <context> of execution errors."""
    if isinstance(n, _Dot):
        return "."
    if isinstance(n, _Field):
        return "." + ".".join(n.names)
    if isinstance(n, _Var):
        return ".".join((n.name,) + n.names)
    if isinstance(n, _Chain):
        base = f"({_show(n.node)})" if isinstance(n.node, _Pipe) else _show(n.node)
        return ".".join((base,) + n.names)
    if isinstance(n, _Ident):
        return n.name
    if isinstance(n, _Lit):
        return n.text
    if isinstance(n, _Cmd):
        return " ".join(f"({_show(a)})" if isinstance(a, _Pipe) else _show(a) for a in n.args)
    assert isinstance(n, _Pipe)
    decl = ", ".join(n.decl) + (" = " if n.is_assign else " := ") if n.decl else ""
    return decl + " | ".join(_show(c) for c in n.cmds)


# ---------------------------------------------------------------- parser

_ENGINE_FUNCS = {"query", "first", "label", "value", "strvalue", "sortByLabel", "toTime"}
_PREDEFINED = ["$", "$labels", "$externalLabels", "$externalURL", "$value"]


class _Parser:
    def __init__(self, src: str) -> None:
        self.src, self.toks, self.i = src, _lex(src), 0
        self.vars = list(_PREDEFINED)
        self.range_depth = 0

    def fail(self, tok: _Tok, message: str) -> NoReturn:
        raise _syntax(self.src, tok.pos, message)

    def next(self) -> _Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next_nonspace(self) -> _Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_nonspace(self) -> _Tok:
        while self.peek().kind == "space":
            self.i += 1
        return self.peek()

    def unexpected(self, tok: _Tok, context: str) -> NoReturn:
        self.fail(tok, tok.val if tok.kind == "error" else f"unexpected {_tokstr(tok)} in {context}")

    def parse(self) -> tuple[_Node, ...]:
        nodes: list[_Node] = []
        while self.peek().kind != "eof":
            n = self.text_or_action()
            if isinstance(n, _Tok):
                self.fail(n, f"unexpected {{{{{n.val}}}}}")
            nodes.append(n)
        return tuple(nodes)

    def item_list(self) -> tuple[tuple[_Node, ...], _Tok]:
        nodes: list[_Node] = []
        while self.peek_nonspace().kind != "eof":
            n = self.text_or_action()
            if isinstance(n, _Tok):
                return tuple(nodes), n
            nodes.append(n)
        self.fail(self.peek(), "unexpected EOF")

    def text_or_action(self) -> Union[_Node, _Tok]:
        tok = self.next_nonspace()
        if tok.kind == "text":
            return _Text(tok.pos, tok.val)
        if tok.kind != "{{":
            self.unexpected(tok, "input")
        tok = self.next_nonspace()
        if tok.kind == "keyword":
            if tok.val in ("if", "range", "with"):
                return self.control(tok)
            if tok.val == "end":
                if (t := self.next_nonspace()).kind != "}}":
                    self.unexpected(t, "end")
                return tok
            if tok.val == "else":
                if self.peek_nonspace().val != "if" and (t := self.next_nonspace()).kind != "}}":
                    self.unexpected(t, "else")
                return tok
            if tok.val in ("break", "continue"):
                if (t := self.next_nonspace()).kind != "}}":
                    self.unexpected(t, f"{{{{{tok.val}}}}}")
                if not self.range_depth:
                    self.fail(tok, f"{{{{{tok.val}}}}} outside {{{{range}}}}")
                return _Jump(tok.pos, tok.val)
            if tok.val != "nil":
                self.fail(tok, f"{{{{{tok.val}}}}} is not supported by takeover")
        self.i -= 1
        return _Action(tok.pos, self.pipeline("command", "}}"))

    def control(self, kw: _Tok) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kw.val, "}}")
        self.range_depth += kw.val == "range"
        body, end = self.item_list()
        self.range_depth -= kw.val == "range"
        orelse: Optional[tuple[_Node, ...]] = None
        if end.val == "else":
            if kw.val == "if" and self.peek_nonspace().val == "if":
                orelse = (self.control(self.next()),)  # {{else if}} shares the {{end}}
            else:
                orelse, end = self.item_list()
                if end.val != "end":
                    self.fail(end, "expected end; found {{else}}")
        del self.vars[mark:]
        return _Control(kw.pos, kw.val, pipe, body, orelse)

    def pipeline(self, context: str, end: str) -> _Pipe:
        start = self.peek_nonspace()
        decl: list[str] = []
        is_assign = False
        while (v := self.peek_nonspace()).kind == "var":
            save = self.i
            self.next()
            nxt = self.peek_nonspace()
            if nxt.kind in (":=", "="):
                self.next()
                is_assign = nxt.kind == "="
                decl.append(v.val)
            elif nxt.kind == "chr" and nxt.val == ",":
                self.next()
                decl.append(v.val)
                if context != "range" or len(decl) >= 2:
                    self.fail(nxt, f"too many declarations in {context}")
                if self.peek_nonspace().kind not in ("var", "}}", ")"):
                    self.fail(nxt, "range can only initialize variables")
                continue
            else:
                self.i = save
            break
        self.vars.extend(decl)
        cmds: list[_Cmd] = []
        while True:
            tok = self.next_nonspace()
            if tok.kind == end:
                break
            if tok.kind not in ("bool", "char", "dot", "field", "ident", "num", "raw", "str", "var", "(") and \
                    tok.val != "nil":
                self.unexpected(tok, context)
            self.i -= 1
            cmds.append(self.command())
        if not cmds:
            self.fail(tok, f"missing value for {context}")
        for i, c in enumerate(cmds[1:]):
            if isinstance(c.args[0], (_Lit, _Dot)):
                raise _syntax(self.src, c.pos, f"non executable command in pipeline stage {i + 2}")
        return _Pipe(start.pos, tuple(decl), is_assign, tuple(cmds))

    def command(self) -> _Cmd:
        start = self.peek_nonspace()
        args: list[_Node] = []
        while True:
            self.peek_nonspace()
            if (op := self.operand()) is not None:
                args.append(op)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("}}", ")"):
                self.i -= 1
            elif tok.kind != "|":
                self.unexpected(tok, "operand")
            break
        if not args:
            self.fail(start, "empty command")
        return _Cmd(start.pos, tuple(args))

    def operand(self) -> Optional[_Node]:
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        names: list[str] = []
        while self.peek().kind == "field":
            names.append(self.next().val[1:])
        if isinstance(node, _Field):
            return _Field(node.pos, node.names + tuple(names))
        if isinstance(node, _Var):
            return _Var(node.pos, node.name, node.names + tuple(names))
        if isinstance(node, (_Lit, _Dot)):
            self.fail(self.toks[self.i - 1], f"unexpected . after term {_go_quote(_show(node))}")
        return _Chain(node.pos, node, tuple(names))

    def term(self) -> Optional[_Node]:
        tok = self.next_nonspace()
        k, v = tok.kind, tok.val
        if k == "ident":
            if v in _ENGINE_FUNCS:
                self.fail(tok, f"function {_go_quote(v)} is not supported by takeover")
            if v not in _FUNCS:
                self.fail(tok, f"function {_go_quote(v)} not defined")
            return _Ident(tok.pos, v)
        if k == "keyword" and v == "nil":
            self.fail(tok, "nil is not supported by takeover")
        if k == "dot":
            return _Dot(tok.pos)
        if k == "var":
            if v not in self.vars:
                self.fail(tok, f"undefined variable {_go_quote(v)}")
            return _Var(tok.pos, v, ())
        if k == "field":
            return _Field(tok.pos, (v[1:],))
        if k == "bool":
            return _Lit(tok.pos, v == "true", v)
        if k in ("num", "char"):
            return _Lit(tok.pos, self.number(tok), v)
        if k == "(":
            return self.pipeline("parenthesized pipeline", ")")
        if k in ("str", "raw"):
            try:
                return _Lit(tok.pos, _unquote(v), v)
            except UnicodeDecodeError:
                self.fail(tok, "strings that are not valid UTF-8 are not supported by takeover")
            except ValueError as e:
                self.fail(tok, str(e))
        self.i -= 1
        return None

    def number(self, tok: _Tok) -> Union[int, float]:
        """Go's newNumber + idealConstant: the value a number literal has when passed as interface{}."""
        text = tok.val
        if tok.kind == "char":
            try:
                return ord(_unquote(text))
            except ValueError:
                self.fail(tok, f"malformed character constant: {text}")
        if text.endswith("i"):
            self.fail(tok, "complex numbers are not supported by takeover")
        n = _go_int(text)
        if n is not None and -(2**63) <= n < 2**63:
            is_hex_int = re.match(r"[+-]?0[xX]", text) and not re.search("[pP]", text)
            if is_hex_int or not re.search("[.eEpP]", text):
                return n
        try:
            f = _go_float(text)
        except ValueError:
            f = None
        if n is not None and n < 2**64:
            self.fail(tok, f"{text} overflows int")  # Go reports this when executing; it can never succeed
        if f is None:
            self.fail(tok, f"illegal number syntax: {_go_quote(text)}")
        if not re.search("[.eEpP]", text):
            self.fail(tok, f"integer overflow: {_go_quote(text)}")
        return f


def _tokstr(t: _Tok) -> str:
    if t.kind == "eof":
        return "EOF"
    if t.kind == "keyword" or t.kind == "dot":
        return f"<{t.val}>"
    return _go_quote(t.val) if len(t.val) <= 10 else _go_quote(t.val[:10]) + "..."


@functools.lru_cache(maxsize=4096)  # rules render the same few templates every evaluation
def compile_template(text: str) -> Template:
    """Parse once; raise TemplateSyntaxError for bad syntax AND for any construct or function this interpreter does not support (never silently render something different from Prometheus)."""
    parser = _Parser(text)
    root = parser.parse()
    _check_literals(text, root)
    return Template(text, root)


def _check_literals(src: str, nodes: Any) -> None:
    """Reject, at compile time, literal regexes and printf formats that use features not reproduced here."""
    for n in nodes if isinstance(nodes, tuple) else (nodes,):
        if isinstance(n, _Cmd) and isinstance(n.args[0], _Ident) and len(n.args) > 1 and \
                isinstance(n.args[1], _Lit) and isinstance(n.args[1].value, str):
            name, lit = n.args[0].name, n.args[1]
            try:
                if name in ("match", "reReplaceAll"):
                    _re2py(lit.value)
                if name == "printf" and any(m.group(4) in ("*", "[") for m in _VERB_RE.finditer(lit.value)):
                    raise _Unsupported("printf argument indexes and * widths are not supported by takeover")
            except _Unsupported as e:
                raise _syntax(src, lit.pos, str(e)) from None
            except _RegexError:
                pass  # Go fails too, but only when executing: keep that behaviour
        if isinstance(n, _Node):
            for f in fields(n):
                child = getattr(n, f.name)
                if isinstance(child, (tuple, _Node)):
                    _check_literals(src, child)


# ---------------------------------------------------------------- evaluator

class _ExecError(Exception):
    def __init__(self, node: _Node, message: str) -> None:
        super().__init__(message)
        self.node = node


class _CallError(Exception):
    """An error returned by a template function; reported as 'error calling NAME: ...'."""


class _Jumped(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# Prometheus prepends "{{$labels := .Labels}}{{$externalLabels := ...}}..." to every template
PROMETHEUS_PREFIX_LEN = 112


@dataclass(frozen=True)
class Template:
    """A compiled template; render it as often as needed."""

    source: str
    root: tuple[_Node, ...]

    def render(self, *, labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] = _EMPTY, external_url: str = "", name: str = "") -> str:
        """Never raises: a failure while executing returns '<error expanding template: ...>' like Prometheus.

        With `name` (Prometheus's is `__alert_<alertname>`) the error text is Prometheus's to the
        letter, columns on the first line counted after the variable definitions it prepends."""
        data = _Data(dict(labels), dict(external_labels), external_url, float(value))
        state = _State(data)
        try:
            state.walk(data, self.root)
        except _ExecError as e:
            line, col = _linecol(self.source, e.node.pos)
            if name:  # Go counts columns from 0, on line 1 after the prepended definitions
                col += -1 + (PROMETHEUS_PREFIX_LEN if line == 1 else 0)
                return (f"<error expanding template: error executing template {name}: template: {name}:{line}:{col}: "
                        f'executing "{name}" at <{_show(e.node)}>: {e}>')
            return (f"<error expanding template: error executing template: template: {line}:{col}: "
                    f"executing at <{_show(e.node)}>: {e}>")
        except Exception as e:  # a bug here must not take the alerting pipeline down
            return f"<error expanding template: panic expanding template: {e!r}>"
        return "".join(state.out)


class _State:
    def __init__(self, data: _Data) -> None:
        self.data = data
        self.out: list[str] = []
        self.vars: list[list[Any]] = [["$", data], ["$labels", data.labels],
                                      ["$externalLabels", data.external_labels],
                                      ["$externalURL", data.external_url], ["$value", data.value]]

    def walk(self, dot: Any, nodes: tuple[_Node, ...]) -> None:
        for n in nodes:
            if isinstance(n, _Text):
                self.out.append(n.text)
            elif isinstance(n, _Action):
                v = self.pipe(dot, n.pipe)
                if not n.pipe.decl:
                    self.out.append("<no value>" if v is None else _fmt_v(v))
            elif isinstance(n, _Control):
                mark = len(self.vars)
                try:
                    if n.kind == "range":
                        self.range(dot, n)
                    else:
                        v = self.pipe(dot, n.pipe)
                        if _truth(v):
                            self.walk(v if n.kind == "with" else dot, n.body)
                        elif n.orelse is not None:
                            self.walk(dot, n.orelse)
                finally:
                    del self.vars[mark:]
            elif isinstance(n, _Jump):
                raise _Jumped(n.kind)

    def range(self, dot: Any, n: _Control) -> None:
        val = self.pipe(dot, n.pipe)
        if isinstance(val, dict) and val:
            mark = len(self.vars)
            for k in sorted(val):
                if n.pipe.decl:
                    self.vars[-1][1] = val[k]
                if len(n.pipe.decl) > 1:
                    self.vars[-2][1] = k
                try:
                    self.walk(val[k], n.body)
                except _Jumped as j:
                    if j.kind == "break":
                        break
                finally:
                    del self.vars[mark:]
            return
        if val is not None and not isinstance(val, dict):
            raise _ExecError(n.pipe, f"range can't iterate over {_fmt_v(val)}")
        if n.orelse is not None:
            self.walk(dot, n.orelse)

    def pipe(self, dot: Any, p: _Pipe) -> Any:
        value: Any = _MISSING
        for cmd in p.cmds:
            value = self.command(dot, cmd, value)
        for name in p.decl:
            if not p.is_assign:
                self.vars.append([name, value])
                continue
            for var in reversed(self.vars):
                if var[0] == name:
                    var[1] = value
                    break
            else:
                raise _ExecError(p, f"undefined variable: {name}")
        return value

    def command(self, dot: Any, cmd: _Cmd, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            return self.fields(first, dot, first.names, cmd.args, final)
        if isinstance(first, _Chain):
            return self.fields(first, self.arg(dot, "any", first.node), first.names, cmd.args, final)
        if isinstance(first, _Ident):
            return self.call(dot, first.name, cmd, cmd.args[1:], final)
        if isinstance(first, _Var) and first.names:
            return self.fields(first, self.lookup(first), first.names, cmd.args, final)
        if len(cmd.args) > 1 or final is not _MISSING:
            raise _ExecError(first, f"can't give argument to non-function {_show(first)}")
        if isinstance(first, _Pipe):
            return self.pipe(dot, first)
        if isinstance(first, _Var):
            return self.lookup(first)
        if isinstance(first, _Dot):
            return dot
        assert isinstance(first, _Lit)
        return first.value

    def lookup(self, v: _Var) -> Any:
        for name, value in reversed(self.vars):
            if name == v.name:
                return value
        raise _ExecError(v, f"undefined variable: {v.name}")

    def fields(self, node: _Node, recv: Any, names: tuple[str, ...], args: tuple[_Node, ...], final: Any) -> Any:
        iface = False  # a value just taken from map[string]interface{} still has the interface type
        for i, name in enumerate(names):
            has_args = i == len(names) - 1 and (len(args) > 1 or final is not _MISSING)
            if recv is None:
                return None
            if isinstance(recv, _Data) and name in ("Labels", "ExternalLabels", "ExternalURL", "Value"):
                if has_args:
                    raise _ExecError(node, f"{name} has arguments but cannot be invoked as function")
                recv = {"Labels": recv.labels, "ExternalLabels": recv.external_labels,
                        "ExternalURL": recv.external_url, "Value": recv.value}[name]
            elif isinstance(recv, dict):
                if has_args:
                    raise _ExecError(node, f"{name} is not a method but has arguments")
                iface, recv = isinstance(recv, _AnyMap), recv.get(name, None if isinstance(recv, _AnyMap) else "")
                continue  # a missing key gives the zero value (missingkey=zero)
            else:
                raise _ExecError(node, f"can't evaluate field {name} in type "
                                       f"{'interface {}' if iface else _typename(recv)}")
            iface = False
        return recv

    def arg(self, dot: Any, kind: str, n: _Node) -> Any:
        """evalArg: literals are typed by the parameter, expressions are checked against it."""
        if isinstance(n, _Lit):
            if kind == "string" and not isinstance(n.value, str):
                raise _ExecError(n, f"expected string; found {n.text}")
            return n.value
        if isinstance(n, _Dot):
            v = dot
        elif isinstance(n, _Pipe):
            v = self.pipe(dot, n)
        elif isinstance(n, _Ident):
            v = self.call(dot, n.name, n, (), _MISSING)
        else:
            v = self.command(dot, _Cmd(n.pos, (n,)), _MISSING)
        return self.check(n, v, kind)

    @staticmethod
    def check(n: _Node, v: Any, kind: str) -> Any:
        if kind == "string" and v is None:
            raise _ExecError(n, "invalid value; expected string")
        if kind == "string" and type(v) is not str:
            raise _ExecError(n, f"wrong type for value; expected string; got {_typename(v)}")
        return v

    def call(self, dot: Any, name: str, node: _Node, args: tuple[_Node, ...], final: Any) -> Any:
        params, variadic, fn = _FUNCS[name]
        n_in = len(args) + (final is not _MISSING)
        ident = node.args[0] if isinstance(node, _Cmd) else node
        if variadic is not None and n_in < len(params):
            raise _ExecError(ident, f"wrong number of args for {name}: want at least {len(params)} got {len(args)}")
        if variadic is None and n_in != len(params):
            raise _ExecError(ident, f"wrong number of args for {name}: want {len(params)} got {n_in}")
        if name in ("and", "or"):  # short-circuit: later arguments are not evaluated
            v = None
            for a in args:
                v = self.arg(dot, "any", a)
                if _truth(v) == (name == "or"):
                    return v
            return final if final is not _MISSING else v
        kinds = [params[i] if i < len(params) else variadic for i in range(n_in)]
        argv = [self.arg(dot, k or "any", a) for k, a in zip(kinds, args)]
        if final is not _MISSING:
            argv.append(self.check(node, final, kinds[-1] or "any"))
        try:
            return fn(self.data, *argv)
        except _CallError as e:
            raise _ExecError(node, f"error calling {name}: {e}") from None


# ---------------------------------------------------------------- builtin functions

def _basic(v: Any) -> str:
    for t, k in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string")):
        if isinstance(v, t):
            return k
    return "invalid"


def _eq(_: _Data, a: Any, *bs: Any) -> bool:
    if not bs:
        raise _CallError("missing argument for comparison")
    for b in bs:
        ka, kb = _basic(a), _basic(b)
        if ka != kb:
            if a is not None and b is not None:
                raise _CallError("incompatible types for comparison")
        elif ka == "invalid":
            if a is not None and b is not None:
                raise _CallError(f"non-comparable type {_fmt_v(b)}: {_typename(b)}")
            if a is None and b is None:
                return True
        elif a == b:
            return True
    return False


def _lt(_: _Data, a: Any, b: Any) -> bool:
    ka, kb = _basic(a), _basic(b)
    if "invalid" in (ka, kb) or (ka == kb == "bool"):
        raise _CallError("invalid type for comparison")
    if ka != kb:
        raise _CallError("incompatible types for comparison")
    return bool(a < b)


def _le(d: _Data, a: Any, b: Any) -> bool:
    return _lt(d, a, b) or _eq(d, a, b)


def _len(_: _Data, v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())  # Go counts bytes
    if isinstance(v, dict):
        return len(v)
    raise _CallError(f"len of type {_typename(v)}")


def _index(_: _Data, item: Any, *keys: Any) -> Any:
    if item is None:
        raise _CallError("index of untyped nil")
    for k in keys:
        if isinstance(item, dict):
            if type(k) is not str:
                raise _CallError(f"value has type {_typename(k)}; should be string" if k is not None
                                 else "value is nil; should be of type string")
            item = item.get(k, None if isinstance(item, _AnyMap) else "")
        elif isinstance(item, str):
            if type(k) is not int:
                raise _CallError("cannot index slice/array with " + ("nil" if k is None else f"type {_typename(k)}"))
            b = item.encode()
            if not 0 <= k < len(b):
                raise _CallError(f"index out of range: {k}")
            item = b[k]
        else:
            raise _CallError(f"can't index item of type {_typename(item)}")
    return item


def _slice(_: _Data, item: Any, *idx: Any) -> Any:
    if not isinstance(item, str):
        raise _CallError("slice of untyped nil" if item is None else f"can't slice item of type {_typename(item)}")
    b = item.encode()
    if len(idx) > 2:
        raise _CallError("cannot 3-index slice a string")
    bounds = [0, len(b)]
    for i, x in enumerate(idx):
        if type(x) is not int:
            raise _CallError(f"cannot index slice/array with type {_typename(x)}")
        if not 0 <= x <= len(b):
            raise _CallError(f"index out of range: {x}")
        bounds[i] = x
    if bounds[0] > bounds[1]:
        raise _CallError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    try:
        return type(item)(b[bounds[0]:bounds[1]].decode())
    except UnicodeDecodeError:
        raise _CallError("slicing through a multi-byte character is not supported by takeover") from None


def _sprint(args: tuple[Any, ...]) -> str:
    out, prev_str = [], False
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i and not is_str and not prev_str:
            out.append(" ")
        out.append(_fmt_v(a))
        prev_str = is_str
    return "".join(out)


def _eval_args(args: tuple[Any, ...]) -> str:
    return args[0] if len(args) == 1 and type(args[0]) is str else _sprint(args)


def _html(_: _Data, *args: Any) -> str:
    s = _eval_args(args)
    for a, b in (("&", "&amp;"), ("\0", "\uFFFD"), ('"', "&#34;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;")):
        s = s.replace(a, b)
    return s


def _js(_: _Data, *args: Any) -> str:
    special = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    out = []
    for c in _eval_args(args):
        if c in special:
            out.append(special[c])
        elif c < " ":
            out.append(f"\\u00{ord(c):02X}")
        elif c >= "\x80" and not c.isprintable():
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _call(_: _Data, fn: Any, *args: Any) -> Any:
    raise _CallError("call of nil" if fn is None else f"non-function of type {_typename(fn)}")


# ---------------------------------------------------------------- printf

_QUOTE_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
              "\\": "\\\\", '"': '\\"'}


def _go_quote(s: str) -> str:
    """strconv.Quote."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c in _QUOTE_ESC:
            out.append(_QUOTE_ESC[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out) + '"'


_VERB_RE = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.?)", re.S)


def _sprintf(_: _Data, fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs alert templates use: %s %d %f %e %g %v %q %x %X %t %c %%."""
    out, pos, used = [], 0, 0
    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if verb in ("*", "["):
            raise _CallError(f"printf %{verb} is not supported by takeover")
        if not verb:
            out.append("%!(NOVERB)")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg, used = args[used], used + 1
        p = None if prec is None else int(prec or 0)
        flags = flags.replace("+", "").replace("#", "") if verb == "v" else flags  # %+v and %#v are not signs
        s = _fmt_verb(verb, flags, p, arg)
        w = int(width or 0)
        if len(s) < w:
            if "-" in flags:
                s = s.ljust(w)
            elif "0" in flags and not (isinstance(arg, float) and not math.isfinite(arg)):
                sign = s[0] if s[:1] in ("-", "+", " ") and not isinstance(arg, str) else ""
                s = sign + s[len(sign):].rjust(w - len(sign), "0")
            else:
                s = s.rjust(w)
        out.append(s)
    out.append(fmt[pos:])
    if used < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_typename(a)}={_fmt_v(a)}" for a in args[used:]) + ")")
    return "".join(out)


def _fmt_verb(verb: str, flags: str, prec: Optional[int], a: Any) -> str:
    if isinstance(a, dict):
        return "map[" + " ".join(f"{_fmt_verb(verb, flags, prec, k)}:{_fmt_verb(verb, flags, prec, a[k])}"
                                 for k in sorted(a)) + "]"
    if isinstance(a, bool) and verb in "vt":
        return _fmt_v(a)
    if isinstance(a, int) and not isinstance(a, bool):
        if verb == "c":
            return chr(a)
        if verb == "q":
            return "'" + _go_quote(chr(a))[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        if verb == "U":
            return f"U+{a:04X}"
        if verb in "vdxXob":
            base = {"v": "d", "d": "d"}.get(verb, verb)
            digits = format(abs(a), base)
            if prec is not None:
                digits = "" if prec == 0 and a == 0 else digits.zfill(prec)
            prefix = {"x": "0x", "X": "0X", "o": "0", "b": ""}.get(verb, "") if "#" in flags else ""
            return _sign(a < 0, flags) + prefix + digits
    if isinstance(a, float):
        if not math.isfinite(a) and verb in "vgGeEfFxXb":
            s = _fmt_g(a, 1)
            return s if s[0] in "+-" else ("+" if "+" in flags else " " if " " in flags else "") + s
        if verb in "vgG" and prec is None:
            s = format_value(a)
            s = s.upper() if verb == "G" else s
        elif verb in "vgGeEfF":
            s = "%.*{}".format("g" if verb == "v" else verb) % (6 if prec is None else prec, a)
        elif verb in "xX" and prec is None:
            s = _hex_float(a)
            s = s.upper() if verb == "X" else s
        elif verb == "b":
            m, e = math.frexp(abs(a))
            mant, exp = (int(abs(a) * 2**1074), -1074) if abs(a) < 2.2250738585072014e-308 else (int(m * 2**53), e - 53)
            s = f"{'-' if math.copysign(1, a) < 0 else ''}{mant}p{exp:+d}"
        else:
            return _bad_verb(verb, a)
        return s if s.startswith("-") else _sign(False, flags) + s
    if isinstance(a, str):
        if verb in "vs":
            return a if prec is None else a[:prec]
        if verb == "q":
            return _go_quote(a)
        if verb in "xX":
            h = a.encode().hex()
            return h.upper() if verb == "X" else h
    if a is None:
        return "<nil>" if verb == "v" else f"%!{verb}(<nil>)"
    if isinstance(a, _Data):
        parts = (a.labels, a.external_labels, a.external_url, a.value)
        return "{" + " ".join(_fmt_verb(verb, flags, prec, p) for p in parts) + "}"
    return _bad_verb(verb, a)


def _hex_float(v: float) -> str:
    """strconv's 'x' format with shortest precision: -0x1.8p+00."""
    sign = "-" if math.copysign(1, v) < 0 else ""
    if v == 0:
        return sign + "0x0p+00"
    m, e = math.frexp(abs(v))  # normalizes subnormals too, as Go does
    digits = f"{int((m * 2 - 1) * 2**52):013x}".rstrip("0")
    return f"{sign}0x1{'.' + digits if digits else ''}p{'+' if e - 1 >= 0 else '-'}{abs(e - 1):02d}"


def _sign(negative: bool, flags: str) -> str:
    return "-" if negative else "+" if "+" in flags else " " if " " in flags else ""


def _bad_verb(verb: str, a: Any) -> str:
    return f"%!{verb}({_typename(a)}={_fmt_v(a)})"


# ---------------------------------------------------------------- regular expressions (RE2 -> re)

class _RegexError(Exception):
    """Go's regexp would reject this pattern too."""


class _Unsupported(Exception):
    """Valid RE2 that Python's re cannot reproduce exactly."""


_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_POSIX = {"alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
          "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
          "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f"}


def _re2py(p: str) -> str:
    """Translate a Go RE2 pattern into an equivalent Python pattern."""
    out: list[str] = []
    groups: list[tuple[bool, list[str]]] = [(False, [])]  # per open group: (?m) state, mid-group (?flags) opened
    i, last_rep = 0, ""
    while i < len(p):
        c, rep = p[i], ""
        if c == "\\":
            s, i = _re_escape(p, i, False)
            out.append(s)
        elif c == "[":
            s, i = _re_class(p, i)
            out.append(s)
        elif c == "(":
            m = re.match(r"\(\?(?:P<(\w+)>|([imsU]*)(?:-([imsU]*))?([:)]))", p[i:])
            if p.startswith("(?", i) and not m:
                raise _RegexError(f"invalid or unsupported Perl syntax: `{p[i:i + 3]}`")
            multiline, opened = groups[-1]
            if m and m.group(4):
                on, off = m.group(2), m.group(3) or ""
                if "U" in on + off:
                    raise _Unsupported("the regexp flag U is not supported by takeover")
                multiline = ("m" in on or multiline) and "m" not in off
                out.append(f"(?{on}{'-' + off if off else ''}:")
                if m.group(4) == ")":  # flags for the rest of the current group, in every later alternative
                    groups[-1] = (multiline, opened + [out[-1]])
                else:
                    groups.append((multiline, []))
            else:
                out.append(m.group(0) if m else "(")
                groups.append((multiline, []))
            i += len(m.group(0)) if m else 1
        elif c == ")":
            if len(groups) == 1:
                raise _RegexError(f"unexpected ): `{p}`")
            out.append(")" * (len(groups.pop()[1]) + 1))
            i += 1
        elif c == "|":
            opened = groups[-1][1]
            out.append(")" * len(opened) + "|" + "".join(opened))
            i += 1
        elif c in "*+?{":
            m = re.match(r"\{(\d+)(,(\d*))?\}", p[i:]) if c == "{" else None
            if c == "{" and not m:
                out.append("\\{")
                i += 1
            else:
                n = m.group(0) if m else c
                if last_rep:
                    raise _RegexError(f"invalid nested repetition operator: `{last_rep}{n}`")
                if m and max(int(m.group(1)), int(m.group(3) or 0)) > 1000:
                    raise _RegexError(f"invalid repeat count: `{n}`")
                lazy = p[i + len(n): i + len(n) + 1] == "?"
                out.append(n + "?" * lazy)
                i += len(n) + lazy
                rep = n + "?" * lazy
        elif c == "$":
            out.append("$" if groups[-1][0] else "\\Z")  # without (?m) Go's $ matches only at the very end
            i += 1
        else:
            out.append(c)
            i += 1
        last_rep = rep
    if len(groups) > 1:
        raise _RegexError(f"missing closing ): `{p}`")
    return "".join(out) + ")" * len(groups[0][1])


def _re_escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    e = p[i + 1: i + 2]
    if not e:
        raise _RegexError("trailing backslash at end of expression: ``")
    if e in _PERL or e.lower() in _PERL:
        body = _PERL[e.lower()]
        if in_class and e.isupper():
            raise _Unsupported(f"\\{e} inside a character class is not supported by takeover")
        return (body if in_class else f"[{'^' if e.isupper() else ''}{body}]"), i + 2
    if e in "01234567":
        m = re.match(r"[0-7]{1,3}", p[i + 1:])
        assert m
        if e != "0" and len(m.group(0)) == 1:
            raise _RegexError(f"invalid escape sequence: `\\{e}`")
        return re.escape(chr(int(m.group(0), 8))), i + 1 + m.end()
    if e == "x":
        m = re.match(r"x(?:\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2}))", p[i + 1:])
        if not m or int(m.group(1) or m.group(2), 16) > 0x10FFFF:
            raise _RegexError(f"invalid escape sequence: `{p[i:i + 4]}`")
        return re.escape(chr(int(m.group(1) or m.group(2), 16))), i + 1 + m.end()
    if e == "Q":
        end = p.find("\\E", i + 2)
        lit = p[i + 2:] if end < 0 else p[i + 2:end]
        return re.escape(lit), len(p) if end < 0 else end + 2
    if e in "afnrtv":
        return "\\" + e, i + 2
    if not in_class and e in "AzbB":
        return {"A": "\\A", "z": "\\Z", "b": "(?a:\\b)", "B": "(?a:\\B)"}[e], i + 2
    if e in "pPC":
        raise _Unsupported(f"the regexp escape \\{e} is not supported by takeover")
    if e.isascii() and not e.isalnum():
        return "\\" + e, i + 2
    raise _RegexError(f"invalid escape sequence: `\\{e}`")


def _re_class(p: str, i: int) -> tuple[str, int]:
    out, j = ["["], i + 1
    if p.startswith("^", j):
        out.append("^")
        j += 1
    first = True
    while j < len(p) and (p[j] != "]" or first):
        first = False
        m = re.match(r"\[:(\^?)(\w+):\]", p[j:])
        if m and m.group(2) in _POSIX:
            if m.group(1):
                raise _Unsupported("negated POSIX classes are not supported by takeover")
            out.append(_POSIX[m.group(2)])
            j += m.end()
            continue
        if p[j] == "\\":
            s, j = _re_escape(p, j, True)
        else:
            s, j = re.escape(p[j]), j + 1
        out.append(s)
        if p.startswith("-", j) and p[j + 1: j + 2] not in ("", "]"):
            out.append("-")
            j += 1
    if j >= len(p):
        raise _RegexError(f"missing closing ]: `{p[i:]}`")
    return "".join(out) + "]", j + 1


@functools.lru_cache(maxsize=256)  # alert templates re-render the same few patterns every evaluation
def _go_regexp(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_re2py(pattern))
    except _RegexError as e:
        raise _CallError(f"error parsing regexp: {e}") from None
    except _Unsupported as e:
        raise _CallError(str(e)) from None
    except re.error as e:
        raise _CallError(f"error parsing regexp: {e.msg}: `{pattern}`") from None


def _expand(template: str, m: re.Match[str]) -> str:
    """regexp.Expand: $1, ${1}, $name, ${name}; $$ is a dollar; unknown groups are empty."""
    def sub(g: re.Match[str]) -> str:
        name = g.group(1) or g.group(2)
        if name is None:
            return "$"
        numeric = name.isascii() and name.isdecimal() and (name == "0" or name[0] != "0") and len(name) <= 8
        idx = int(name) if numeric else m.re.groupindex.get(name)  # Go: "$01" is a (missing) name
        if idx is None or idx > (m.re.groups or 0):
            return ""
        return m.group(idx) or ""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+)|\$?)", sub, template)


def _re_replace_all(_: _Data, pattern: str, repl: str, text: str) -> str:
    try:
        rx = _go_regexp(pattern)
    except _CallError as e:
        q = f"`{pattern}`" if "`" not in pattern and pattern.isprintable() else _go_quote(pattern)
        raise _CallError(f"regexp: Compile({q}): {e}") from None  # MustCompile panics with this text
    out, last, pos = [], 0, 0
    while pos <= len(text):  # regexp.ReplaceAllString: no empty match right after a match
        m = rx.search(text, pos)
        if not m:
            break
        out.append(text[last:m.start()])
        if m.end() > last or m.start() == 0:
            out.append(_expand(repl, m))
        last = m.end()
        pos = max(pos + 1, m.end())
    out.append(text[last:])
    return "".join(out)


def _match(_: _Data, pattern: str, s: str) -> bool:
    return _go_regexp(pattern).search(s) is not None


# ---------------------------------------------------------------- Prometheus functions

def _to_float(v: Any) -> float:
    """Prometheus' convertToFloat."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if type(v) is str:
        try:
            return _go_float(v)
        except ValueError as e:
            raise _CallError(str(e)) from None
    raise _CallError(f"can't convert {_typename(v)} to float")


def _scaled(v: float, step: float, prefixes: str, unit: str = "") -> str:
    prefix = ""
    for p in prefixes.split():
        if (abs(v) < step) if step > 1 else (abs(v) >= 1):
            break
        prefix, v = p, (v / step if step > 1 else v * 1000)
    return f"{_fmt_g(v, 4)}{prefix}{unit}"


def _humanize(_: _Data, i: Any) -> str:
    v = _to_float(i)
    if v == 0 or not math.isfinite(v):
        return _fmt_g(v, 4)
    if abs(v) >= 1:
        return _scaled(v, 1000, "k M G T P E Z Y")
    return _scaled(v, 0.001, "m u n p f a z y")


def _humanize1024(_: _Data, i: Any) -> str:
    v = _to_float(i)
    if abs(v) <= 1 or not math.isfinite(v):
        return _fmt_g(v, 4)
    return _scaled(v, 1024, "ki Mi Gi Ti Pi Ei Zi Yi")


def _humanize_duration(_: _Data, i: Any) -> str:
    v = _to_float(i)
    if not math.isfinite(v):
        return _fmt_g(v, 4)
    if v == 0:
        return _fmt_g(v, 4) + "s"
    if abs(v) < 1:
        return _scaled(v, 0.001, "m u n p f a z y", "s")
    sign, v = ("-", -v) if v < 0 else ("", v)
    d = int(v) if v < 2**63 else -(2**63)  # Go's int64() of an out-of-range float on amd64

    def tdiv(a: int, b: int) -> int:  # Go's truncating integer division
        return abs(a) // b * (1 if a >= 0 else -1)
    seconds, minutes = d - tdiv(d, 60) * 60, tdiv(d, 60) - tdiv(d, 3600) * 60
    hours, days = tdiv(d, 3600) - tdiv(d, 86400) * 24, tdiv(d, 86400)
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{_fmt_g(v, 4)}s"


def _humanize_timestamp(_: _Data, i: Any) -> str:
    v = _to_float(i)
    if not math.isfinite(v):
        return _fmt_g(v, 4)
    ns = v * 1e9
    if ns > float(2**63 - 1) or ns < -(2**63):  # Go compares against float64(MaxInt64)
        raise _CallError(f"{format_value(v)} cannot be represented as a nanoseconds timestamp since it overflows int64")
    ms = abs(int(ns)) // 10**6 * (1 if ns >= 0 else -1)  # model.TimeFromUnixNano truncates to milliseconds
    t = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    frac = f".{t.microsecond // 1000:03d}".rstrip("0") if t.microsecond else ""
    return f"{t:%Y-%m-%d %H:%M:%S}{frac} +0000 UTC"


def _map_runes(s: str, conv: Callable[[str], str]) -> str:
    """Go maps rune by rune with simple case mappings, so multi-rune results are not applied."""
    out = []
    for c in s:
        r = "i" if c == "\u0130" and conv is str.lower else conv(c)
        out.append(r if len(r) == 1 else c)
    return "".join(out)


def _title(_: _Data, s: str) -> str:
    """strings.Title: upper-case the first letter of each word, leave the rest alone."""
    out, prev = [], " "
    for c in s:
        if prev.isascii():
            sep = not (prev.isalnum() or prev == "_")
        else:
            sep = not (prev.isalpha() or prev.isdecimal()) and prev.isspace()
        out.append(_map_runes(c, str.title) if sep else c)
        prev = c
    return "".join(out)


def _split_host_port(hp: str) -> Optional[tuple[str, str]]:
    """net.SplitHostPort; None when Go returns an error."""
    i = hp.rfind(":")
    if i < 0:
        return None
    if hp.startswith("["):
        end = hp.find("]")
        if end < 0 or end + 1 != i:
            return None
        host, j, k = hp[1:end], 1, end + 1
    else:
        host, j, k = hp[:i], 0, 0
        if ":" in host:
            return None
    if "[" in hp[j:] or "]" in hp[k:]:
        return None
    return host, hp[i + 1:]


def _strip_port(_: _Data, hp: str) -> str:
    split = _split_host_port(hp)
    return split[0] if split else hp


def _strip_domain(_: _Data, hp: str) -> str:
    host, port = _split_host_port(hp) or (hp, "")
    try:
        if "%" not in host:
            ipaddress.ip_address(host)
            return hp
    except ValueError:
        pass
    host = host.split(".")[0]
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_duration(_: _Data, d: str) -> float:
    if d == "0":
        return 0.0
    if d == "":
        raise _CallError("empty duration string")
    m = re.fullmatch(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?", d)
    if not m:
        raise _CallError(f"not a valid duration string: {_go_quote(d)}")
    mults = (31536000000, 604800000, 86400000, 3600000, 60000, 1000, 1)
    ms = sum(int(g) * k for g, k in zip(m.groups(), mults) if g)
    if ms * 10**6 >= 2**63:
        raise _CallError("duration out of range")
    return ms / 1000


def _link(tab: int) -> Callable[[_Data, str], str]:
    return lambda _, expr: f"/graph?g0.expr={urllib.parse.quote_plus(expr, safe='')}&g0.tab={tab}"


_S, _A, _V = "string", "any", "value"
_Func = Callable[..., Any]
# name -> (fixed parameter kinds, variadic kind or None, implementation taking the data first)
_FUNCS: dict[str, tuple[tuple[str, ...], Optional[str], _Func]] = {
    "and": ((_V,), _V, _call), "or": ((_V,), _V, _call),
    "not": ((_V,), None, lambda _, v: not _truth(v)),
    "len": ((_V,), None, _len), "index": ((_V,), _V, _index), "slice": ((_V,), _V, _slice),
    "call": ((_V,), _V, _call),
    "eq": ((_V,), _V, _eq), "ne": ((_V, _V), None, lambda d, a, b: not _eq(d, a, b)),
    "lt": ((_V, _V), None, _lt), "le": ((_V, _V), None, _le),
    "gt": ((_V, _V), None, lambda d, a, b: not _le(d, a, b)),
    "ge": ((_V, _V), None, lambda d, a, b: not _lt(d, a, b)),
    "print": ((), _A, lambda _, *a: _sprint(a)),
    "println": ((), _A, lambda _, *a: " ".join(_fmt_v(x) for x in a) + "\n"),
    "printf": ((_S,), _A, _sprintf),
    "html": ((), _A, _html), "js": ((), _A, _js),
    "urlquery": ((), _A, lambda _, *a: urllib.parse.quote_plus(_eval_args(a), safe="")),
    "args": ((), _A, lambda _, *a: _AnyMap({f"arg{i}": x for i, x in enumerate(a)})),
    "reReplaceAll": ((_S, _S, _S), None, _re_replace_all),
    "match": ((_S, _S), None, _match),
    "safeHtml": ((_S,), None, lambda _, s: _HTML(s)),
    "title": ((_S,), None, _title),
    "toUpper": ((_S,), None, lambda _, s: _map_runes(s, str.upper)),
    "toLower": ((_S,), None, lambda _, s: _map_runes(s, str.lower)),
    "graphLink": ((_S,), None, _link(0)), "tableLink": ((_S,), None, _link(1)),
    "stripPort": ((_S,), None, _strip_port), "stripDomain": ((_S,), None, _strip_domain),
    "humanize": ((_A,), None, _humanize), "humanize1024": ((_A,), None, _humanize1024),
    "humanizeDuration": ((_A,), None, _humanize_duration),
    "humanizePercentage": ((_A,), None, lambda _, i: _fmt_g(_to_float(i) * 100, 4) + "%"),
    "humanizeTimestamp": ((_A,), None, _humanize_timestamp),
    "pathPrefix": ((), None, lambda d: urllib.parse.unquote(urllib.parse.urlsplit(d.external_url).path)),
    "externalURL": ((), None, lambda d: d.external_url),
    "parseDuration": ((_S,), None, _parse_duration),
}


def render_text(text: str, *, labels: Mapping[str, str], value: float,
                external_labels: Mapping[str, str] = _EMPTY, external_url: str = "", name: str = "") -> str:
    """compile + render convenience; a syntax error renders as '<error expanding template: ...>' too."""
    try:
        tmpl = compile_template(text)
    except TemplateSyntaxError as e:
        return f"<error expanding template: error parsing template: template: {e.line}:{e.column}: {e.message}>"
    return tmpl.render(labels=labels, value=value, external_labels=external_labels, external_url=external_url,
                       name=name)
