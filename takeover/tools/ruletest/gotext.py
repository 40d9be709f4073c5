"""promtool's text: Go's strconv.Quote, FormatFloat and Duration.String, Prometheus's labels and alerts
as strings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from takeover.rules.evaluate import Labels

AlertPair = tuple[Labels, Labels]  # labels and annotations, both sorted by name


def alerts_string(alerts: Sequence[AlertPair]) -> str:
    """promtool's labelsAndAnnotations.String()."""
    if not alerts:
        return "[]"
    items = [f"{i}:" + indent_lines(f"\nLabels:{labels_string(lb)}\nAnnotations:{labels_string(an)}", "  ")
             for i, (lb, an) in enumerate(alerts)]
    return "[\n" + ",\n".join(items) + "\n]"


def labels_string(labels: Labels) -> str:
    """Prometheus's labels.Labels.String(): `{a="1", b="2"}`."""
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in labels) + "}"


def indent_lines(text: str, indent: str) -> str:
    return ("\n" + indent).join(text.split("\n"))


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's strconv.Quote."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


_MODEL_UNITS = (("y", 365 * 86_400_000, True), ("w", 7 * 86_400_000, True), ("d", 86_400_000, False),
                ("h", 3_600_000, False), ("m", 60_000, False), ("s", 1000, False), ("ms", 1, False))


def model_duration(seconds: float) -> str:
    """prometheus/common model.Duration.String(): `1m`, `1h30m`, `0s`."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in _MODEL_UNITS:
        if (exact and ms % size) or ms < size:
            continue
        out += f"{ms // size}{unit}"
        ms %= size
    return out


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for a non-negative duration: `0s`, `1m0s`, `1h0m30s`, `500ms`."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1000), ("ns", 1)):
            if ns >= size:
                return _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if hours or minutes else ""
    return text + _decimal(rest, 1_000_000_000) + "s"


def _decimal(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0") if frac else ""
    return f"{whole}.{digits}" if digits else str(whole)


def go_float_e(value: float) -> str:
    """Go's strconv.FormatFloat(value, 'E', -1, 64): the shortest digits, `1.5E+00`, `NaN`, `+Inf`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"  # Python's repr has the same shortest digits
    power = len(digits) - 1 + int(exponent) if text != "0" else 0
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}E{'-' if power < 0 else '+'}{abs(power):02d}"
