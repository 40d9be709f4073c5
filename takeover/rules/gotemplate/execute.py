"""The evaluator: walks a parse tree over the alert's data, following text/template's exec.go."""

from __future__ import annotations

from typing import Any

from takeover.rules.gotemplate.errors import _CallError
from takeover.rules.gotemplate.fmt import _fmt_v
from takeover.rules.gotemplate.functions import _FUNCS
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
from takeover.rules.gotemplate.values import _AnyMap, _Data, _truth, _typename

_MISSING = object()  # marks "no value piped in from the previous command"


class _ExecError(Exception):
    def __init__(self, node: _Node, message: str) -> None:
        super().__init__(message)
        self.node = node


class _Jumped(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


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
