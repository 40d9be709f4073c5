"""Prometheus's template functions (humanize*, reReplaceAll, title, ...) and the table of every callable function."""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from takeover.rules.gotemplate.errors import _CallError
from takeover.rules.gotemplate.fmt import _fmt_g, _fmt_v, _go_quote, _sprint, _sprintf, format_value
from takeover.rules.gotemplate.literals import _go_float
from takeover.rules.gotemplate.predefined import (
    _call,
    _eq,
    _eval_args,
    _html,
    _index,
    _js,
    _le,
    _len,
    _lt,
    _slice,
)
from takeover.rules.gotemplate.regexp import _expand, _go_regexp
from takeover.rules.gotemplate.values import _HTML, _AnyMap, _Data, _truth, _typename


def _re_replace_all(_: _Data, pattern: str, repl: str, text: str) -> str:
    try:
        rx = _go_regexp(pattern)
    except _CallError as e:
        q = f"`{pattern}`" if "`" not in pattern and pattern.isprintable() else _go_quote(pattern)
        raise _CallError(f"regexp: Compile({q}): {e}") from None  # MustCompile panics with this text
    out, last, matched = [], 0, False
    for m in rx.finditer(text):  # regexp.ReplaceAllString: no empty match right after a match
        if matched and m.start() == m.end() == last:
            continue
        out.append(text[last:m.start()])
        out.append(_expand(repl, m, rx))
        last, matched = m.end(), True
    out.append(text[last:])
    return "".join(out)


def _match(_: _Data, pattern: str, s: str) -> bool:
    return _go_regexp(pattern).search(s)


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
