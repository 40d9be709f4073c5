"""Each rule's health as its group's last evaluation left it in the database (whichever replica
evaluated it), and the rules listing of `GET /v1/rules` (the shape of Prometheus's
/api/v1/rules, plus takeover's fields: which replica evaluates each group, and who did last)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from takeover.rules.format import Group
from takeover.store.models import GroupRow


@dataclass(frozen=True)
class RuleHealth:
    group: str = ""
    rule: str = ""
    health: str = "unknown"  # ok | err | unknown (not evaluated since it was loaded)
    last_error: str = ""
    last_eval_at: float = 0.0
    duration: float = 0.0


def health(groups: Sequence[Group], rows: Mapping[str, GroupRow]) -> dict[str, RuleHealth]:
    """Every loaded rule's health by `group key/rule key`."""
    out = {}
    for group in groups:
        row = rows.get(group.key)
        outcomes = (row.health or {}) if row is not None else {}
        for rule in group.rules:
            key = f"{group.key}/{rule.key}"
            if row is None or rule.key not in outcomes:
                out[key] = RuleHealth(group.name, rule.name)
                continue
            error = outcomes[rule.key]
            out[key] = RuleHealth(group.name, rule.name, "err" if error else "ok", error,
                                  row.last_eval_at, row.duration)
    return out


def status(groups: Sequence[Group], rows: Mapping[str, GroupRow],
           evaluator: Callable[[str], str]) -> list[dict[str, Any]]:
    healths = health(groups, rows)
    out = []
    for group in groups:
        rules: list[dict[str, Any]] = []
        for rule in group.rules:
            h = healths[f"{group.key}/{rule.key}"]
            rules.append({"name": rule.name, "query": rule.expr, "duration": rule.for_,
                          "keepFiringFor": rule.keep_firing_for, "labels": dict(rule.labels),
                          "annotations": dict(rule.annotations), "health": h.health,
                          "lastError": h.last_error, "lastEvaluation": h.last_eval_at,
                          "evaluationTime": h.duration, "type": "alerting",
                          "takeover": rule.takeover.name if rule.takeover else None})
        row = rows.get(group.key)
        out.append({"name": group.name, "file": group.file, "interval": group.interval,
                    "limit": group.limit, "rules": rules,
                    "lastEvaluation": max((float(r["lastEvaluation"]) for r in rules), default=0.0),
                    "evaluationTime": max((float(r["evaluationTime"]) for r in rules), default=0.0),
                    "replica": evaluator(group.key), "lastEvaluatedBy": row.evaluated_by if row else ""})
    return out
