"""A release's analysis file (`takeover release start --analysis FILE`): checks that compare the
canary with the stable version, each problem reported as file:line:column.

    inconclusive_limit: 10            # analyses in a row without a verdict before pausing
    checks:
      - name: error-ratio
        query: sum(rate(agent_requests_total{agent="refund-bot",variant="$variant",outcome="error"}[2m]))
               / sum(rate(agent_requests_total{agent="refund-bot",variant="$variant"}[2m]))
        max_ratio: 1.5                # canary <= stable * 1.5 + 0.01
        max_delta: 0.01
        samples: sum(increase(agent_requests_total{agent="refund-bot",variant="$variant"}[2m]))
        min_samples: 20
        failure_limit: 2
"""

from __future__ import annotations

from typing import Any

import yaml

from takeover.config.yamlfile import ConfigError, ErrorSink, compose_yaml, mapping, scalar
from takeover.control.release import Check, check_problems

CHECK_FIELDS = {"name", "query", "max_ratio", "max_delta", "samples", "min_samples", "failure_limit"}


def load_analysis(text: str, *, filename: str) -> tuple[tuple[Check, ...], int]:
    """The checks and the inconclusive limit; ConfigError with every problem."""
    root, errors, err = compose_yaml(text, filename=filename)
    checks: list[Check] = []
    limit = 10
    top = mapping(root, err, "analysis file") if root is not None else {}
    for key in top:
        if key not in ("checks", "inconclusive_limit"):
            err(top[key], f"unknown field {key} (allowed: checks, inconclusive_limit)")
    if (node := top.get("inconclusive_limit")) is not None:
        limit = int(_number(node, err, "inconclusive_limit", int) or 10)
    nodes = top.get("checks")
    if not isinstance(nodes, yaml.SequenceNode) or not nodes.value:
        err(nodes or root, "checks must be a list of checks (name, query, max_ratio, …)")
        nodes = yaml.SequenceNode("tag:yaml.org,2002:seq", [])
    for node in nodes.value:
        fields = mapping(node, err, "check")
        for key in fields:
            if key not in CHECK_FIELDS:
                err(fields[key], f"unknown field {key} in a check (allowed: {', '.join(sorted(CHECK_FIELDS))})")
        numbers: dict[str, Any] = {
            name: _number(fields[name], err, name, int if name == "failure_limit" else float)
            for name in ("max_ratio", "max_delta", "min_samples", "failure_limit") if name in fields}
        check = Check(name=scalar(fields.get("name"), err, "name") or "",
                      query=scalar(fields.get("query"), err, "query") or "",
                      samples=scalar(fields.get("samples"), err, "samples") or "",
                      **{k: v for k, v in numbers.items() if v is not None})
        if not check.name or not check.query:
            err(node, "a check needs a name and a query")
            continue
        for problem in check_problems(check):
            err(fields.get("query") if "query" in problem else node, problem)
        checks.append(check)
    if errors:
        raise ConfigError(sorted(errors, key=lambda e: (e.line, e.column)))
    return tuple(checks), limit


def _number(node: yaml.Node, err: ErrorSink, what: str, kind: type[int] | type[float]) -> float | None:
    text = str(node.value) if isinstance(node, yaml.ScalarNode) else ""
    try:
        return kind(text)
    except ValueError:
        err(node, f"{what} must be a number; got {text!r}")
        return None
