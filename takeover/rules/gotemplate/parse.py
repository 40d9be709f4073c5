"""The parser: tokens to a parse tree, following text/template/parse, rejecting what takeover cannot reproduce."""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any, NoReturn, Optional, Union

from takeover.rules.gotemplate.errors import _syntax
from takeover.rules.gotemplate.fmt import _VERB_RE, _go_quote
from takeover.rules.gotemplate.functions import _FUNCS
from takeover.rules.gotemplate.lexer import _lex, _Tok
from takeover.rules.gotemplate.literals import _go_float, _go_int, _unquote
from takeover.rules.gotemplate.nodes import (
    _Action,
    _Chain,
    _Cmd,
    _Control,
    _Dot,
    _Field,
    _Ident,
    _Jump,
    _Lit,
    _Node,
    _Pipe,
    _show,
    _Text,
    _Var,
)

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


def _check_literals(src: str, nodes: Any) -> None:
    """Reject, at compile time, literal printf formats that use features not reproduced here (a bad
    literal regex fails when executing, as in Go)."""
    for n in nodes if isinstance(nodes, tuple) else (nodes,):
        if isinstance(n, _Cmd) and isinstance(n.args[0], _Ident) and len(n.args) > 1 and \
                isinstance(n.args[1], _Lit) and isinstance(n.args[1].value, str):
            name, lit = n.args[0].name, n.args[1]
            if name == "printf" and any(m.group(4) in ("*", "[") for m in _VERB_RE.finditer(lit.value)):
                raise _syntax(src, lit.pos, "printf argument indexes and * widths are not supported by takeover")
        if isinstance(n, _Node):
            for f in fields(n):
                child = getattr(n, f.name)
                if isinstance(child, (tuple, _Node)):
                    _check_literals(src, child)
