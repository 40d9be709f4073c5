"""promtool's series notation: expanding values (`1+2x3`, `_x2`, `stale`) and `name{label="value"}`."""

from __future__ import annotations

import re
from typing import Literal

Point = float | None | Literal["stale"]  # a sample value, a missing sample (`_`), a stale marker
Run = tuple[Point, float, int]  # one item: its first value, the step added each time, how many values

_NUMBER = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF]|[nN][aA][nN]"
_ITEM = re.compile(rf"(?P<a>[+-]?(?:{_NUMBER})|stale)(?:(?P<b>[+-](?:{_NUMBER}))?x(?P<n>[0-9]+))?")
_BLANK = re.compile(r"_(?:x(?P<n>[0-9]+))?")


def parse_values(text: str, *, limit: int | None = None) -> list[Point]:
    """promtool's expanding notation: `a+bxN` is N+1 values a, a+b, ..., `axN` N+1 times a,
    `_` one missing sample, `_xN` N missing samples, `stale` a staleness marker. Every item is
    checked, but only the first `limit` values are expanded: a series written as ten million
    samples costs what is read of it."""
    points: list[Point] = []
    for value, step, count in _runs(text):
        count = count if limit is None else min(count, limit - len(points))
        if count <= 0:
            break
        if not isinstance(value, float) or step == 0.0:
            points.extend([value] * count)
            continue
        for _ in range(count):
            points.append(value)
            value += step  # repeated addition, as the Go parser does: 0.1 steps drift alike
    return points


def values_read(text: str, *, interval: float, end: float) -> list[Point]:
    """The values a test can read when its evaluations end at `end`: sample i is at
    `i * interval`, and nothing after `end` is read (queries only look back). With interval 0
    every sample lands on 0, where the first one wins: that one is all there is to read."""
    if interval > 0:
        return parse_values(text, limit=round(end * 1000) // round(interval * 1000) + 1)
    return next(([value] for value, _, _ in _runs(text) if value is not None), [])


def _runs(text: str) -> list[Run]:
    """Each item of the notation as (first value, step, count), checked but not expanded."""
    runs: list[Run] = []
    for item in text.split():
        if blank := _BLANK.fullmatch(item):
            runs.append((None, 0.0, int(blank["n"]) if blank["n"] else 1))
            continue
        match = _ITEM.fullmatch(item)
        if match is None or (match["a"] == "stale" and match["n"] is not None):
            raise ValueError(f'bad item "{item}" in series values: expected a number, "stale", '
                             '"_", "_xN", "axN", "a+bxN" or "a-bxN"')
        if match["a"] == "stale":
            runs.append(("stale", 0.0, 1))
            continue
        count = int(match["n"]) + 1 if match["n"] else 1
        runs.append((float(match["a"]), float(match["b"]) if match["b"] else 0.0, count))
    return runs


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


def parse_metric(text: str) -> list[tuple[str, str]]:
    """Prometheus's parser.ParseMetric, as promtool reads `exp_samples` labels: `name{a="b"}`,
    `{a="b"}`, `{}` or nothing; empty values and repeated names are kept. Sorted by name."""
    import promql_parser

    body = text.strip()
    if not body:
        return []
    # a dummy matcher makes `{}` and `{a=""}` a selector promql_parser accepts
    selector = '{__dummy__="1",' + body[1:] if body.startswith("{") else body
    try:
        expr = promql_parser.parse(selector)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(expr, promql_parser.VectorSelector) or expr.offset or expr.at:
        raise ValueError('expected name{label="value", ...}')
    labels = [("__name__", expr.name)] if expr.name else []
    for m in expr.matchers.matchers:
        if m.op != promql_parser.MatchOp.Equal:
            raise ValueError("labels must be given with =")
        if m.name != "__dummy__":
            labels.append((m.name, m.value))
    return sorted(labels, key=lambda label: label[0])
