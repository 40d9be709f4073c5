"""Go's fmt and strconv printing of template values: %v, %g, strconv.Quote, Sprint and Sprintf."""

from __future__ import annotations

import math
import re
from typing import Any, Optional

from takeover.rules.gotemplate.errors import _CallError
from takeover.rules.gotemplate.values import _Data, _typename


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


def _sprint(args: tuple[Any, ...]) -> str:
    out, prev_str = [], False
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i and not is_str and not prev_str:
            out.append(" ")
        out.append(_fmt_v(a))
        prev_str = is_str
    return "".join(out)


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
