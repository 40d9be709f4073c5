"""Each rule's health as the live evaluator last saw it, and the rules listing of
`GET /v1/rules` (the shape of Prometheus's /api/v1/rules, plus takeover's fields)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from takeover.rules.format import Group
from takeover.rules.group import GroupSlot


@dataclass
class RuleHealth:
    group: str = ""
    rule: str = ""
    health: str = "unknown"  # ok | err | unknown
    last_error: str = ""
    last_eval_at: float = 0.0
    duration: float = 0.0


class RuleStates:
    def __init__(self) -> None:
        self.health: dict[str, RuleHealth] = {}

    def record(self, slot: GroupSlot, *, duration: float) -> int:
        """Keep what the slot says about each rule; returns how many rules failed."""
        failed = 0
        for result in slot.rules:
            h = self.health.setdefault(f"{slot.group.key}/{result.rule.key}",
                                       RuleHealth(slot.group.name, result.rule.name))
            h.last_eval_at, h.duration = slot.at, duration
            h.health, h.last_error = ("err", result.error) if result.error else ("ok", "")
            failed += bool(result.error)
        return failed

    def keep_only(self, groups: Sequence[Group]) -> None:
        keys = {f"{g.key}/{r.key}" for g in groups for r in g.rules}
        self.health = {k: v for k, v in self.health.items() if k in keys}

    def status(self, groups: Sequence[Group]) -> list[dict[str, Any]]:
        out = []
        for group in groups:
            rules: list[dict[str, Any]] = []
            for rule in group.rules:
                h = self.health.get(f"{group.key}/{rule.key}", RuleHealth())
                rules.append({"name": rule.name, "query": rule.expr, "duration": rule.for_,
                              "keepFiringFor": rule.keep_firing_for, "labels": dict(rule.labels),
                              "annotations": dict(rule.annotations), "health": h.health,
                              "lastError": h.last_error, "lastEvaluation": h.last_eval_at,
                              "evaluationTime": h.duration, "type": "alerting",
                              "takeover": rule.takeover.name if rule.takeover else None})
            out.append({"name": group.name, "file": group.file, "interval": group.interval,
                        "limit": group.limit, "rules": rules,
                        "lastEvaluation": max((float(r["lastEvaluation"]) for r in rules), default=0.0),
                        "evaluationTime": max((float(r["evaluationTime"]) for r in rules), default=0.0)})
        return out
