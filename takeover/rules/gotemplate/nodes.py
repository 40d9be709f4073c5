"""The parse tree: frozen dataclasses for text/template's nodes, and Go's Node.String() for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


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
