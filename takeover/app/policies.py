"""Approval policies as operators change them: a reload (audited, so promoting a shadow policy
is on the record), the loaded policies with what the shadow ones would have done, and a replay
of a candidate file over the recorded action decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from takeover import store
from takeover.app.context import App
from takeover.control.policy import Policy
from takeover.control.policyreplay import Report, recorded, replay
from takeover.control.sources import Decision

SHADOW_WINDOW = 86400.0  # the policy view counts shadow verdicts of the last 24 h


def _summary(policies: Sequence[Policy]) -> dict[str, str]:
    return {p.name: f"{'shadow' if p.shadow else 'enforcing'} {p.decision.value} ({p.where})" for p in policies}


def reloaded(app: App, policies: tuple[Policy, ...], *, actor: str) -> None:
    """Put a reloaded policy file in force; when it differs from the running one, audit
    `policies.reload` with each policy before and after (a promotion reads shadow → enforcing)."""
    before, after = _summary(app.policies), _summary(policies)
    changed = app.policies != policies
    app.policies = policies
    if not changed:
        return
    now = app.clock()
    with app.sessions() as s:
        store.record_audit(session=s, now=now, actor=actor, action="policies.reload", subject="policies",
                           before={k: v for k, v in before.items() if after.get(k) != v},
                           after={k: v for k, v in after.items() if before.get(k) != v})
        s.commit()


def overview(app: App) -> list[dict[str, Any]]:
    """The loaded policies in order; a shadow one with its would-be verdicts of the last 24 h
    (counts per decision, and the latest that differed from what the agent was told)."""
    since = app.clock() - SHADOW_WINDOW
    with app.sessions() as s:
        counts = store.shadow_counts(session=s, since=since)
        examples = {p.name: store.shadow_examples(session=s, policy=p.name, since=since)
                    for p in app.policies if p.shadow}
    out = []
    for p in app.policies:
        item: dict[str, Any] = {"name": p.name, "where": p.where, "decision": p.decision.value, "shadow": p.shadow,
                                "agent": p.agent, "action": p.action, "reason": p.reason}
        if p.shadow:
            got = counts.get(p.name, {})
            item["last_24h"] = {d.value: got.get(d.value, 0) for d in Decision}
            item["examples"] = [{"audit_id": e.audit_id, "at": e.at, "agent": e.agent, "action": e.action,
                                 "decision": e.decision} for e in examples[p.name]]
        out.append(item)
    return out


def replay_candidate(app: App, candidate: Sequence[Policy], *, since: float, until: float,
                     agent: str | None = None) -> Report:
    """What `candidate` would have decided about the action decisions audited in [since, until)
    (optionally one agent's), against what was decided; the human time priced at the median
    time people took to decide approvals in the same window."""
    with app.sessions() as s:
        records = [recorded(audit_id=row.id or 0, at=row.at, subject=row.subject, action=row.action,
                            detail=row.after)
                   for row in store.action_decisions(session=s, since=since, until=until, agent=agent)]
        times = store.decision_times(session=s, since=since, until=until)
    return replay(candidate, records, decision_seconds=times)
