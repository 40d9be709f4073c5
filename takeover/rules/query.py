"""Instant queries against Prometheus (prometheus-api-client), behind a `QueryFunc`; and the
combined query that asks for many rules' results in one request, each row tagged with its rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from takeover.rules.evaluate import Sample

# (promql, evaluation timestamp) -> samples; raises QueryError
QueryFunc = Callable[[str, float], list[Sample]]


class QueryError(Exception):
    """The query failed (unreachable, timed out, bad expression, non-vector result)."""


def parse_result(result: Sequence[Any]) -> list[Sample]:
    """Turn the API's `data.result` into samples: a vector, or a scalar as one unlabelled sample."""
    if len(result) == 2 and not isinstance(result[0], Mapping):
        return [Sample({}, _float(result[1]))]  # scalar: [ts, "value"]
    samples = []
    for item in result:
        if "value" not in item:
            raise QueryError("rule result is not a vector or scalar")
        samples.append(Sample(item.get("metric", {}), _float(item["value"][1])))
    return samples


def _float(text: str) -> float:
    try:
        return float(text)  # Python reads Go's "NaN", "+Inf", "-Inf" too
    except ValueError:
        raise QueryError(f"rule result is not a vector or scalar: {text!r}") from None


def prometheus_query(url: str, *, timeout: float) -> QueryFunc:
    """A QueryFunc for the Prometheus at `url`; no retries inside a slot (the next slot retries)."""
    from prometheus_api_client import PrometheusConnect
    from prometheus_api_client.exceptions import PrometheusApiClientException
    from requests import RequestException
    from urllib3.util.retry import Retry

    prom = PrometheusConnect(url=url, retry=Retry(total=0), timeout=timeout)

    def query(expr: str, ts: float) -> list[Sample]:
        try:
            result = prom.custom_query(expr, params={"time": f"{ts:.3f}"})
        except PrometheusApiClientException as exc:
            raise QueryError(str(exc)) from None
        except RequestException as exc:
            raise QueryError(f"{type(exc).__name__}: {exc}") from None
        return parse_result(result)

    return query


def static_query(results: Mapping[str, list[Sample]]) -> QueryFunc:
    """A QueryFunc answering from a fixed table: the test double beside the real one. It answers
    a combined query as Prometheus does: every part's rows, tagged, or an error when a part has
    no result."""

    def query(expr: str, ts: float) -> list[Sample]:
        if expr in results:
            return results[expr]
        parts = Combined.parse(expr)
        if parts is None:
            raise QueryError(f"no result for {expr!r}")
        missing = [e for _, e in parts if e not in results]
        if missing:
            raise QueryError(f"no result for {missing[0]!r}")
        return [Sample({**s.labels, RULE_LABEL: str(tag)}, s.value) for tag, e in parts for s in results[e]]

    return query


# ---------------------------------------------------------------- many rules in one query

RULE_LABEL = "__takeover_rule"  # the label a combined query puts on each row: its part's tag
# characters of PromQL per combined query: URL-encoded (up to 3x) it stays well inside the 1 MB
# request line Prometheus's HTTP server accepts
MAX_COMBINED = 100_000
# rules per combined query: a group of 100 goes as two requests at once, which Prometheus answers
# on two cores (14–16 ms against 19–25 ms for one request, bench/README.md)
MAX_PARTS = 50
_LEAF = 80  # at most the characters a part adds around its expression (wrapper, tag, `or`, parentheses)
_PART = re.compile(rf'label_replace\((vector\()?\n(.*?)\n\)?, "{RULE_LABEL}", "(\d+)", "", ""\)', re.DOTALL)


@lru_cache(maxsize=65536)
def combinable(expr: str) -> str | None:
    """How `expr` can join a combined query: "vector", "scalar" (wrapped in `vector()`), or None
    (a range vector, a string, or what promql_parser cannot read: asked on its own)."""
    import promql_parser

    try:
        node = promql_parser.parse(expr)
    except ValueError:
        return None
    kind = _value_type(node)
    return kind if kind in ("vector", "scalar") else None


def _value_type(node: Any) -> str | None:
    import promql_parser as p

    if isinstance(node, (p.ParenExpr, p.UnaryExpr)):
        return _value_type(node.expr)
    if isinstance(node, p.NumberLiteral):
        return "scalar"
    if isinstance(node, (p.VectorSelector, p.AggregateExpr)):
        return "vector"
    if isinstance(node, p.BinaryExpr):
        sides = (_value_type(node.lhs), _value_type(node.rhs))
        return "scalar" if sides == ("scalar", "scalar") else "vector" if None not in sides else None
    if isinstance(node, p.Call):
        kind = node.func.return_type
        return "vector" if kind == p.ValueType.Vector else "scalar" if kind == p.ValueType.Scalar else None
    return None  # matrix selector, subquery, string


@dataclass(frozen=True)
class Combined:
    """One query for many expressions: `label_replace(<expr>, "__takeover_rule", "<tag>", "",
    "") or …`. Rows of different parts never match in `or` (their tags differ), and each part
    keeps its own rows, `__name__` included, as its own query would return them; a scalar part
    is wrapped in `vector()` (one unlabelled row, as a scalar answer reads). Each expression
    stands on lines of its own, so a `#` comment in it ends there. The `or`s nest as a balanced
    tree, so Prometheus copies each row log2(parts) times rather than once per later part.
    Prometheus fails the whole query when any part fails: then ask the parts one by one."""

    expr: str
    tags: tuple[int, ...]

    @classmethod
    def of(cls, parts: Sequence[tuple[int, str]]) -> Combined:
        """Combine (tag, expression) pairs; every expression must be `combinable`."""
        leaves = []
        for tag, expr in parts:
            if combinable(expr) == "scalar":
                leaves.append(f'label_replace(vector(\n{expr}\n), "{RULE_LABEL}", "{tag}", "", "")')
            else:
                leaves.append(f'label_replace(\n{expr}\n, "{RULE_LABEL}", "{tag}", "", "")')
        return cls(_either(leaves), tuple(tag for tag, _ in parts))

    @classmethod
    def batches(cls, parts: Sequence[tuple[int, str]], *, limit: int = MAX_COMBINED,
                most: int = MAX_PARTS) -> list[Combined]:
        """The parts in order, in as few queries as hold at most `most` parts and `limit`
        characters each, the parts spread evenly over them."""
        queries = max(1, math.ceil(len(parts) / most))
        most = max(1, math.ceil(len(parts) / queries))  # 101 parts: 34 + 34 + 33, not 50 + 50 + 1
        out: list[Combined] = []
        batch: list[tuple[int, str]] = []
        size = 0
        for tag, expr in parts:
            if batch and (size + len(expr) + _LEAF > limit or len(batch) == most):
                out.append(cls.of(batch))
                batch, size = [], 0
            batch.append((tag, expr))
            size += len(expr) + _LEAF
        if batch:
            out.append(cls.of(batch))
        return out

    @staticmethod
    def parse(expr: str) -> list[tuple[int, str]] | None:
        """The (tag, expression) pairs of a combined query, or None when `expr` is not one."""
        parts = [(int(m[3]), m[2]) for m in _PART.finditer(expr)]
        if not parts or Combined.of(parts).expr != expr:
            return None
        return parts

    def split(self, samples: Sequence[Sample]) -> dict[int, list[Sample]]:
        """Each tag's rows, the tag label removed; raises QueryError on a row without a known tag."""
        rows: dict[int, list[Sample]] = {tag: [] for tag in self.tags}
        names = {str(tag): rows[tag] for tag in self.tags}
        for sample in samples:
            labels = dict(sample.labels)
            into = names.get(labels.pop(RULE_LABEL, ""))
            if into is None:
                raise QueryError(f"combined query: a row without a known {RULE_LABEL} label: {sample.labels}")
            into.append(Sample(labels, sample.value))
        return rows


def _either(leaves: Sequence[str]) -> str:
    """`a or b or …` as a balanced tree, the leaves in order."""
    if len(leaves) == 1:
        return leaves[0]
    middle = len(leaves) // 2
    return f"(\n{_either(leaves[:middle])}\n)\nor\n(\n{_either(leaves[middle:])}\n)"
