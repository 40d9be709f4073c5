"""Go's strconv parsing of literal text: Unquote for strings and characters, ParseInt and ParseFloat for numbers."""

from __future__ import annotations

import math
import re
from typing import Optional

from takeover.rules.gotemplate.fmt import _go_quote

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
