"""promql_expr_test: each expression queried at its eval_time against the inputs and the recorded
series, its samples compared with exp_samples as promtool 2.42 does: sorted by labels, values
equal exactly (no tolerance, so NaN never matches), and promtool's text when they differ."""

from __future__ import annotations

from collections.abc import Sequence

from takeover.rules.query import QueryError, QueryFunc
from takeover.tools.ruletest.gotext import go_float_e, go_quote, labels_string, model_duration
from takeover.tools.ruletest.queries import not_a_vector
from takeover.tools.ruletest.series import parse_metric
from takeover.tools.ruletest.testfile import PromqlCheck

Samples = list[tuple[tuple[tuple[str, str], ...], float]]


def check_promql(checks: Sequence[PromqlCheck], query: QueryFunc) -> list[str]:
    """promtool's error for each check that fails, in file order."""
    errors = []
    for check in checks:
        where = f"    expr: {go_quote(check.expr)}, time: {model_duration(check.eval_time)}"
        try:
            got = _query(check, query)
            exp = [(_labels(s.labels), s.value) for s in check.exp_samples]
        except QueryError as exc:
            errors.append(f"{where}, err: {exc}")
            continue
        exp.sort(key=lambda s: s[0])
        got.sort(key=lambda s: s[0])
        if len(exp) != len(got) or any(e[0] != g[0] or not e[1] == g[1] for e, g in zip(exp, got)):
            errors.append(f"{where},\n        exp: {_samples(exp)}\n        got: {_samples(got)}")
    return errors


def _query(check: PromqlCheck, query: QueryFunc) -> Samples:
    if not_a_vector(check.expr):
        raise QueryError("rule result is not a vector or scalar")
    samples = query(check.expr, check.eval_time)
    return [(tuple(sorted(s.labels.items())), s.value) for s in samples]


def _labels(text: str) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(parse_metric(text))
    except ValueError as exc:
        raise QueryError(f"labels {go_quote(text)}: {exc}") from None


def _samples(samples: Samples) -> str:
    """promtool's parsedSamplesString."""
    return ", ".join(f"{labels_string(labels)} {go_float_e(value)}" for labels, value in samples) or "nil"
