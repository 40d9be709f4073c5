"""promtool's series notation: expanding values (`1+2x3`, `_x2`, `stale`) and `name{label="value"}`."""

from __future__ import annotations

import re
from typing import Literal

Point = float | None | Literal["stale"]  # a sample value, a missing sample (`_`), a stale marker

_NUMBER = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF]|[nN][aA][nN]"
_ITEM = re.compile(rf"(?P<a>[+-]?(?:{_NUMBER})|stale)(?:(?P<b>[+-](?:{_NUMBER}))?x(?P<n>[0-9]+))?")
_BLANK = re.compile(r"_(?:x(?P<n>[0-9]+))?")


def parse_values(text: str) -> list[Point]:
    """promtool's expanding notation: `a+bxN` is N+1 values a, a+b, ..., `axN` N+1 times a,
    `_` one missing sample, `_xN` N missing samples, `stale` a staleness marker."""
    points: list[Point] = []
    for item in text.split():
        if blank := _BLANK.fullmatch(item):
            points.extend([None] * (int(blank["n"]) if blank["n"] else 1))
            continue
        match = _ITEM.fullmatch(item)
        if match is None or (match["a"] == "stale" and match["n"] is not None):
            raise ValueError(f'bad item "{item}" in series values: expected a number, "stale", '
                             '"_", "_xN", "axN", "a+bxN" or "a-bxN"')
        if match["a"] == "stale":
            points.append("stale")
            continue
        value = float(match["a"])
        step = float(match["b"]) if match["b"] else 0.0
        for _ in range(int(match["n"]) + 1 if match["n"] else 1):
            points.append(value)
            value += step  # repeated addition, as the Go parser does: 0.1 steps drift alike
    return points


def parse_series(text: str) -> dict[str, str]:
    """`name{label="value", ...}` (PromQL metric notation) as labels, `__name__` included."""
    import promql_parser

    try:
        expr = promql_parser.parse(text)
    except ValueError as exc:
        raise ValueError(f"bad series {text!r}: {exc}") from None
    if not isinstance(expr, promql_parser.VectorSelector) or expr.offset or expr.at:
        raise ValueError(f"bad series {text!r}: expected name{{label=\"value\", ...}}")
    labels = {"__name__": expr.name} if expr.name else {}
    for m in expr.matchers.matchers:
        if m.op != promql_parser.MatchOp.Equal:
            raise ValueError(f"bad series {text!r}: labels must be given with =")
        labels[m.name] = m.value
    return labels
