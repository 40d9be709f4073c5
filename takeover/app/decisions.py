"""How every action is decided, however it is asked (`POST …/actions`, `POST /v1/approvals`,
the policy explainer): the policies, the mode's floor and the agent's grants, in one order;
beside them, the shadow policies' would-be verdicts; and the audit record of what was read."""

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
from takeover.control.shadow import ShadowVerdict, shadow_verdicts
from takeover.control.sources import Decision, Source, SourceKind, resolve_mode


@dataclass(frozen=True)
class Judged:
    decision: Decision
    reason: str
    mode: Mode
    policy: Policy | None = None
    trace: tuple[str, ...] = ()
    situation: Situation | None = None  # what the decision read (alert_firing filled in)
    alerts: tuple[str, ...] = ()  # the alerts firing on the agent
    grants: tuple[Grant, ...] = ()  # the agent's active grants for the action
    shadow: tuple[ShadowVerdict, ...] = ()


def judge_action(app: App, s: Session, situation: Situation, *, granted: list[Source]) -> Judged:
    """The policies' verdict (or the mode's decision table without policies) in the agent's live
    state, in the one order of `control.grants.judge_action`: a deny decides, the mode's floor
    holds, and an active grant only allows what its own policy asks a human for, within the
    approved arguments' bounds. Shadow policies are judged beside it and change nothing."""
    firing = tuple(store.firing_alerts_on(session=s, agent=situation.agent))
    situation = replace(situation, alert_firing=bool(firing))
    grants = tuple(Grant.from_json(g.covers, reason=g.reason) for g in granted
                   if g.kind == SourceKind.grant and g.covers is not None)
    verdict = decide_action(app.policies, situation, grants)
    shadow = shadow_verdicts(app.policies, situation, grants, actual=verdict.decision)
    return Judged(verdict.decision, verdict.reason, situation.mode, verdict.policy, verdict.trace,
                  situation, firing, grants, shadow)


def decision_record(judged: Judged, **extra: Any) -> dict[str, Any]:
    """The audit detail of an action decision: everything the decision read (arguments, mode,
    release variant, firing alerts, grants), so `takeover policy replay` can judge it again."""
    s = judged.situation
    assert s is not None
    record: dict[str, Any] = {"action": s.action, "kind": s.kind, "risk": s.risk, "mode": judged.mode.name,
                              "args": dict(s.args), "alert_firing": s.alert_firing, "alerts": list(judged.alerts)}
    if s.variant is not None:
        record["variant"] = {"name": s.variant}
    if judged.grants:
        record["grants"] = [g.to_json() for g in judged.grants]
    if judged.policy is not None:
        record["policy"] = f"{judged.policy.name} ({judged.policy.where})"
    if judged.shadow:
        record["shadow"] = [v.to_json() for v in judged.shadow]
    return record | extra


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
