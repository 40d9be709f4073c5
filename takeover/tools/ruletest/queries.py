"""Instant and range queries against the throwaway Prometheus (prometheus-api-client), failing
with Prometheus's own error text: promtool prints the engine's error, not an HTTP status. The
replay of a long window asks one range query per expression (stepped_query), not one instant
query per step."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

from takeover.rules.evaluate import Labels, Sample
from takeover.rules.query import QueryError, QueryFunc, parse_result

QUERY_TIMEOUT = 10.0
RANGE_TIMEOUT = 120.0
MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series

Matrix = dict[Labels, dict[int, float]]  # each series: step index -> value
RangeFunc = Callable[[str, int, int], Matrix]  # (promql, first step, last step) -> results; raises QueryError
_AT_BOUNDS = re.compile(r"@\s*(?:start|end)\s*\(\s*\)")


def instant_query(url: str) -> QueryFunc:
    """A QueryFunc for the Prometheus at `url` (no retries); errors in Prometheus's words."""
    prom = _client(url, QUERY_TIMEOUT)

    def query(expr: str, ts: float) -> list[Sample]:
        return parse_result(_ask(lambda: prom.custom_query(expr, params={"time": f"{ts:.3f}"})))

    return query


def range_query(url: str, *, interval: float) -> RangeFunc:
    """A RangeFunc for the Prometheus at `url`: step k is at `k * interval` seconds; split into
    queries of at most MAX_POINTS steps, or one instant query per step where the expression
    holds `@ start()` or `@ end()` (a range query reads them as its own bounds)."""
    from datetime import datetime, timezone

    prom, instant = _client(url, RANGE_TIMEOUT), instant_query(url)
    step_ms = round(interval * 1000)
    epoch = datetime.fromtimestamp(0, timezone.utc)  # the client wants datetimes; params say it exactly

    def query(expr: str, first: int, last: int) -> Matrix:
        if _AT_BOUNDS.search(expr):  # `@ start()`/`@ end()` are the range's bounds there, the step's here
            return _stepwise(instant, expr, first, last, interval)
        matrix: Matrix = {}
        for start in range(first, last + 1, MAX_POINTS):
            end = min(start + MAX_POINTS - 1, last)
            params = {"start": _seconds(start * step_ms), "end": _seconds(end * step_ms)}
            result = _ask(lambda: prom.custom_query_range(expr, epoch, epoch, _seconds(step_ms), params=params))
            for series in result:
                labels = tuple(sorted(series.get("metric", {}).items()))
                points = matrix.setdefault(labels, {})
                for ts, value in series["values"]:
                    points[round(float(ts) * 1000) // step_ms] = float(value)
        return matrix

    return query


def _stepwise(instant: QueryFunc, expr: str, first: int, last: int, interval: float) -> Matrix:
    """A range query as one instant query per step; the first failing step's error is raised."""
    matrix: Matrix = {}
    for k in range(first, last + 1):
        for sample in instant(expr, k * interval):
            matrix.setdefault(tuple(sorted(sample.labels.items())), {})[k] = sample.value
    return matrix


def stepped_query(query: RangeFunc, instant: QueryFunc, *, last: int, interval: float) -> QueryFunc:
    """A QueryFunc for evaluations at steps 0..last (`k * interval`): one range query per
    expression, each step answered from it, instead of an instant query per step. An expression
    whose range query fails, or a time off the steps, is asked instantly, so an error comes at
    its step with its own words, as promtool's."""
    step_ms = round(interval * 1000)
    answers: dict[str, dict[int, list[Sample]]] = {}
    failed: set[str] = set()

    def ask(expr: str, ts: float) -> list[Sample]:
        ms = round(ts * 1000)
        if expr in failed or ms % step_ms or not 0 <= ms // step_ms <= last:
            return instant(expr, ts)
        if expr not in answers:
            try:
                matrix = query(expr, 0, last)
            except QueryError:
                failed.add(expr)
                return instant(expr, ts)
            steps: dict[int, list[Sample]] = {}
            for labels, points in matrix.items():
                for k, value in points.items():
                    steps.setdefault(k, []).append(Sample(dict(labels), value))
            answers[expr] = steps
        return answers[expr].get(ms // step_ms, [])

    return ask


def not_a_vector(expr: str) -> bool:
    """A range vector or a string at the top: promtool fails such a query, whatever it finds
    ("rule result is not a vector or scalar"); False when the expression does not parse."""
    import promql_parser

    try:
        node = promql_parser.parse(expr)
    except ValueError:
        return False
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return isinstance(node, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr,
                             promql_parser.StringLiteral))


def _client(url: str, timeout: float) -> Any:
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    return PrometheusConnect(url=url, retry=Retry(total=0), timeout=timeout)


def _ask(call: Callable[[], Any]) -> Any:
    from prometheus_api_client.exceptions import PrometheusApiClientException
    from requests import RequestException

    try:
        return call()
    except PrometheusApiClientException as exc:
        raise QueryError(api_error(str(exc))) from None
    except RequestException as exc:
        raise QueryError(f"{type(exc).__name__}: {exc}") from None


_STATUS = re.compile(r"HTTP Status Code \d+ \((b'.*'|b\".*\")\)", re.DOTALL)


def api_error(text: str) -> str:
    """Prometheus's error from the client's `HTTP Status Code 422 (b'{"error": ...}')`, without
    the API's `invalid parameter "query": ` before a parse error."""
    match = _STATUS.fullmatch(text)
    try:
        error = json.loads(ast.literal_eval(match[1]))["error"] if match else None
    except (ValueError, SyntaxError, KeyError, TypeError):
        error = None
    if not isinstance(error, str):
        return text
    return error.removeprefix('invalid parameter "query": ')


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"
