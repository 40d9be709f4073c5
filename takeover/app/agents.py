"""What an agent asks before it acts, and making an agent known: each answer audited."""

from __future__ import annotations

from typing import Any

from takeover import store
from takeover.app.approvals import open_request
from takeover.app.context import App
from takeover.app.decisions import decision_record, judge_now
from takeover.config.mode import Mode
from takeover.control.principal import Principal
from takeover.control.sources import Decision

PAUSE_RETRY_AFTER = 30.0  # seconds an agent is told to wait before retrying a paused write


def ask(app: App, who: Principal, *, agent: str, action: str, kind: str, risk: str, args: dict[str, Any],
        idempotency_key: str | None, variant: dict[str, Any] | None = None) -> dict[str, Any]:
    """May the agent do this now? allow, deny or approval_required (with the request opened).
    The audit row keeps what the decision read — arguments, mode, the release variant it ran
    under (the rollback report lists the canary's writes from it), the firing alerts, grants —
    and the shadow policies' would-be verdicts."""
    now = app.clock()
    with app.sessions() as s:
        row = store.ensure_agent(session=s, name=agent, now=now)
        verdict = judge_now(app, s, agent=agent, action=action, kind=kind, risk=risk, args=args, now=now,
                            variant=(variant or {}).get("name"))
        mode, decision, reason = verdict.mode, verdict.decision, verdict.reason
        retry_after = None
        if mode == Mode.pause_writes and decision == Decision.deny:
            ends = [src.expires_at for src in store.active_sources(session=s, now=now)
                    if src.applies(agent, now) and src.mode == Mode.pause_writes]
            # the pause's own expiry when every pause has one; otherwise a polite default
            retry_after = (max(ends) - now) if ends and None not in ends else PAUSE_RETRY_AFTER  # type: ignore[type-var,operator]
        answer: dict[str, Any] = {"decision": decision.value, "reason": reason, "mode": mode.name,
                                  "version": row.version, "retry_after": retry_after, "approval": None}
        record = decision_record(verdict, idempotency_key=idempotency_key,
                                 **({"variant": variant} if variant is not None else {}))
        if decision == Decision.approval_required:
            approval = open_request(app, s, who, agent=agent, action=action, kind=kind, risk=risk, args=args,
                                    reason=reason, idempotency_key=idempotency_key, expires_in=None,
                                    responders=["role:operator"], policy=verdict.policy)
            answer["approval"] = store.approval_public(approval)
            record["approval_id"] = approval.id
        audit = store.record_audit(session=s, now=now, actor=who.actor, action=f"action.{decision.value}",
                                   subject=f"agent:{agent}", reason=reason, after=record)
        store.record_shadow_verdicts(session=s, audit=audit, agent=agent, action=action, verdicts=verdict.shadow)
        s.commit()
    for shadow in verdict.shadow:
        app.shadow_decided(shadow.policy.name, shadow.would)
    if answer["approval"] is not None:
        app.wake("deliver")
    return answer


def known(app: App, agent: str) -> None:
    """An agent's first poll makes it known (safe when polls and replicas race)."""
    with app.sessions() as s:
        store.ensure_agent(session=s, name=agent, now=app.clock())
        s.commit()


def create(app: App, who: Principal, *, name: str, canary_ratio: float | None) -> None:
    """Make an agent known before it polls (and set its canary ratio)."""
    now = app.clock()
    with app.sessions() as s:
        row = store.ensure_agent(session=s, name=name, now=now)
        row.canary_ratio = canary_ratio
        row.version += 1
        s.add(row)
        store.record_audit(session=s, now=now, actor=who.actor, action="agent.create",
                           subject=f"agent:{name}", after={"canary_ratio": canary_ratio})
        s.commit()
    app.changed([name])
