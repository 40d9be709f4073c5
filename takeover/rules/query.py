"""Instant queries against Prometheus (prometheus-api-client), behind a `QueryFunc`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    """A QueryFunc answering from a fixed table: the test double beside the real one."""

    def query(expr: str, ts: float) -> list[Sample]:
        if expr not in results:
            raise QueryError(f"no result for {expr!r}")
        return results[expr]

    return query
