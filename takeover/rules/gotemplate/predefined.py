"""text/template's predefined functions (funcs.go): comparisons, len, index, slice, html, js and call."""

from __future__ import annotations

from typing import Any

from takeover.rules.gotemplate.errors import _CallError
from takeover.rules.gotemplate.fmt import _fmt_v, _sprint
from takeover.rules.gotemplate.values import _AnyMap, _Data, _typename


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
