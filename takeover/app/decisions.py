"""How every action is decided, however it is asked (`POST …/actions`, `POST /v1/approvals`,
the policy explainer): the policies, the mode's floor and the agent's grants, in one order."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.app.context import App
from takeover.config.mode import Mode
from takeover.control.grants import Grant
from takeover.control.grants import judge_action as decide_action
from takeover.control.policy import Policy, Situation
from takeover.control.sources import Decision, Source, SourceKind, resolve_mode


@dataclass(frozen=True)
class Judged:
    decision: Decision
    reason: str
    mode: Mode
    policy: Policy | None = None
    trace: tuple[str, ...] = ()


def judge_action(app: App, s: Session, situation: Situation, *, granted: list[Source]) -> Judged:
    """The policies' verdict (or the mode's decision table without policies) in the agent's live
    state, in the one order of `control.grants.judge_action`: a deny decides, the mode's floor
    holds, and an active grant only allows what its own policy asks a human for, within the
    approved arguments' bounds."""
    if any(p.uses_alerts for p in app.policies):
        situation = replace(situation, alert_firing=store.alert_firing_on(session=s, agent=situation.agent))
    grants = [Grant.from_json(g.covers, reason=g.reason) for g in granted
              if g.kind == SourceKind.grant and g.covers is not None]
    verdict = decide_action(app.policies, situation, grants)
    return Judged(verdict.decision, verdict.reason, situation.mode, verdict.policy, verdict.trace)


def active_grants(sources: list[Source], *, action: str) -> list[Source]:
    """The grants among `sources` given for `action`."""
    return [g for g in sources if g.kind == SourceKind.grant and g.ref == action]


def judge_now(app: App, s: Session, *, agent: str, action: str, kind: str, risk: str, args: dict[str, Any],
              now: float, variant: str | None = None) -> Judged:
    """`judge_action` in the agent's state at `now`: its mode and its grants for `action`."""
    sources = [src for src in store.active_sources(session=s, now=now) if src.applies(agent, now)]
    return judge_action(app, s, Situation(agent=agent, action=action, kind=kind, risk=risk, args=args,
                                          mode=resolve_mode(sources, agent=agent, now=now), variant=variant),
                        granted=active_grants(sources, action=action))
