"""Releases, from the API, the CLI and Slack: start, the analysis tick that steps or rolls back,
a person's pause / resume / promote / abort, and the rollback report with reconciliation marks.
Each operation is one transaction: the release row, its audit row, the Slack message and the
agent's document (its agents route by the release on their next answer)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.app.approvals import open_request
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.config.mode import ALL_AGENTS
from takeover.control import release as core
from takeover.control.principal import Principal, Role
from takeover.control.sources import ModeChange, Source, SourceKind
from takeover.rules.query import QueryError, QueryFunc
from takeover.store.models import ReleaseRow

GATE = Principal("release-gate", Role.admin)  # who asks for a promotion's approval
ACTIONS = ("pause", "resume", "promote", "abort")
MOVED_RETRIES = 5  # a release changed by another transaction meanwhile is decided again, this often at most


def start(app: App, *, actor: str, agent: str, stable: dict[str, Any], canary: dict[str, Any],
          plan: core.Plan) -> dict[str, Any]:
    """Start a release of `canary` beside `stable` for a known agent."""
    if problems := core.plan_problems(plan.steps_bp, plan.every):
        raise Refusal(422, "; ".join(problems))
    if stable.get("version") == canary.get("version"):
        raise Refusal(422, f"the canary must be another version than the stable one ({stable.get('version')!r})")
    now = app.clock()
    with app.sessions() as s:
        if agent == ALL_AGENTS or not store.agent_exists(session=s, name=agent):
            raise Refusal(404, f"unknown agent {agent!r}: agents are known once they poll, are named by a "
                               "rule, or are created with POST /v1/agents")
        try:
            row = store.create_release(session=s, agent=agent, stable=stable, canary=canary, plan=plan,
                                       progress=core.start(plan, now=now), actor=actor, now=now)
        except store.ReleaseConflict as exc:
            raise Refusal(409, str(exc)) from None
        app.messages.release(s, row, now=now, note=f"started by {actor}: {_weight(row.weight_bp)} to "
                                                     f"{canary['version']}")
        s.commit()
        public = release_public(s, row)
    _after(app, [agent])
    return public


def act(app: App, *, actor: str, agent: str, action: str, reason: str) -> dict[str, Any]:
    """A person pauses, resumes, promotes or aborts (rolls back) the agent's active release.
    A person's action always applies: when the analysis moved the release meanwhile, it is
    decided again on the release as it is now (a rollback the analysis made stays one)."""
    if action not in ACTIONS:
        raise Refusal(422, f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    for _ in range(MOVED_RETRIES):
        try:
            return _act_once(app, actor=actor, agent=agent, action=action, reason=reason)
        except store.ReleaseMoved:
            continue
    raise Refusal(409, f"the release of {agent!r} kept changing while {action} was saved; try again")


def _act_once(app: App, *, actor: str, agent: str, action: str, reason: str) -> dict[str, Any]:
    now = app.clock()
    with app.sessions() as s:
        row = store.active_release(session=s, agent=agent)
        if row is None:
            raise Refusal(409, f"agent {agent!r} has no active release"
                               + (f" (the last one is {last.state})" if (last := store.latest_release(
                                   session=s, agent=agent)) else ""))
        progress = store.progress_of(row)
        why = f"{action} by {actor}: {reason}"
        if action == "pause":
            if progress.state == core.State.paused:
                raise Refusal(409, "the release is already paused")
            progress = core.pause(progress, reason=why)
        elif action == "resume":
            if progress.state != core.State.paused:
                raise Refusal(409, f"only a paused release resumes; this one is {progress.state.value}")
            progress = core.resume(progress, reason=why, now=now)
        elif action == "promote":
            progress = core.promoted(progress, reason=why, now=now)
        else:
            progress = core.rolled_back(progress, reason=why, now=now)
        changed = _save(app, s, row, progress, actor=actor, now=now)
        public = release_public(s, row)
    _after(app, changed)
    return public


def tick(app: App, *, query: QueryFunc, term: int | None) -> int:
    """The analysis pass of the leader of `term`: for each active release, its checks against
    Prometheus, firing `takeover: rollback` alerts and its promotion gate; returns how many
    moved. Each step is saved fenced by the term (store.Deposed once a newer leader took
    over) and as a compare-and-set: a release a person changed meanwhile is decided again on
    what it is now (a paused or ended release takes no automatic step)."""
    now = app.clock()
    moved = 0
    with app.sessions() as s:
        rows = store.active_releases(session=s)
        alerts = _rollback_alerts(s)
    for row in rows:
        plan = store.plan_of(row)
        seen = core.Observation(
            verdicts={c.name: core.judge(c, _read(c, query, now)) for c in plan.checks},
            rollback_alert=alerts.get(row.agent) or alerts.get(ALL_AGENTS, ""))
        for _ in range(MOVED_RETRIES):
            try:
                changed = _step(app, row.id, plan, seen, term=term, now=now)
            except store.ReleaseMoved:
                continue
            if changed is not None:
                moved += 1
                _after(app, changed)
            break
    return moved


def _step(app: App, release_id: int | None, plan: core.Plan, seen: core.Observation, *, term: int | None,
          now: float) -> list[str] | None:
    """One automatic step of one release, decided on the release as it is in this transaction;
    None when it does not move."""
    with app.sessions() as s:
        store.fence(session=s, term=term)
        row = s.get(ReleaseRow, release_id)
        if row is None or not core.State(row.state).active:
            return None
        progress = core.advance(plan, store.progress_of(row), seen, now=now)
        progress = _gate(app, s, row, plan, progress, now=now)
        if progress == store.progress_of(row):
            return None
        return _save(app, s, row, progress, actor="system:release", now=now)


def status(app: App, *, agent: str) -> dict[str, Any]:
    with app.sessions() as s:
        row = store.latest_release(session=s, agent=agent)
        if row is None:
            raise Refusal(404, f"agent {agent!r} has no release; start one with POST /v1/agents/{agent}/release")
        return release_public(s, row)


def report(app: App, *, agent: str) -> dict[str, Any]:
    """What the newest release's canary wrote: every write it was allowed or approved to make."""
    with app.sessions() as s:
        row = store.latest_release(session=s, agent=agent)
        if row is None:
            raise Refusal(404, f"agent {agent!r} has no release")
        writes = store.canary_writes(session=s, row=row)
        return {"release": release_public(s, row, writes=writes), "writes": writes}


def reconcile(app: App, *, actor: str, agent: str, audit_id: int, note: str) -> dict[str, Any]:
    """A person marks one of the canary's writes reconciled (audited); the release's message
    counts what is left."""
    now = app.clock()
    with app.sessions() as s:
        row = store.latest_release(session=s, agent=agent)
        writes = store.canary_writes(session=s, row=row) if row is not None else []
        item = next((w for w in writes if w["audit_id"] == audit_id), None)
        if row is None or item is None:
            raise Refusal(404, f"audit row {audit_id} is not a write of {agent!r}'s canary: see "
                               f"takeover release report {agent}")
        if item["reconciled_by"]:
            raise Refusal(409, f"already reconciled by {item['reconciled_by']}")
        store.mark_reconciled(session=s, row=row, audit_id=audit_id, actor=actor, note=note, now=now)
        left = sum(1 for w in writes if not w["reconciled_by"]) - 1
        app.messages.release(s, row, now=now, note=f"{actor} reconciled {item['action']} (audit {audit_id}): "
                                                     f"{note}; {left} left", writes=left)
        s.commit()
    app.wake("deliver")
    return report(app, agent=agent)


def release_public(s: Session, row: ReleaseRow, *, writes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    plan = row.plan
    out = {"id": row.id, "agent": row.agent, "state": row.state, "weight_bp": row.weight_bp,
           "weight": row.weight_bp / 100, "step": row.step, "stable": row.stable, "canary": row.canary,
           "steps": [bp / 100 for bp in plan["steps_bp"]], "every": plan["every"], "gate": plan["gate"],
           "hold": plan["hold"], "checks": plan["checks"], "reason": row.reason, "failures": row.failures,
           "inconclusive": row.inconclusive, "started_at": row.started_at, "started_by": row.started_by,
           "step_since": row.step_since, "ended_at": row.ended_at, "gate_approval_id": row.gate_approval_id,
           "to_reconcile": None}
    if row.state == core.State.rolled_back.value:
        items = writes if writes is not None else store.canary_writes(session=s, row=row)
        out["to_reconcile"] = sum(1 for w in items if not w["reconciled_by"])
    return out


def _save(app: App, s: Session, row: ReleaseRow, progress: core.Progress, *, actor: str, now: float) -> list[str]:
    """Store the progress; on a move, the message, and after a rollback the plan's hold."""
    before = row.state
    moved = store.save_progress(session=s, row=row, progress=progress, actor=actor, now=now)
    changes: list[ModeChange] = []
    if moved and row.state == core.State.rolled_back.value and before != row.state and row.plan.get("hold"):
        plan = store.plan_of(row)
        assert plan.hold is not None
        changes.append(store.add_source(session=s, now=now, source=Source(
            agent=row.agent, mode=plan.hold, kind=SourceKind.override, ref=f"release:{row.id}",
            reason=f"release {row.id} rolled back: reconcile the canary's writes, then release",
            actor=actor, since=now)))
        app.messages.mode_changes(s, changes, now=now)
    if moved:
        writes = store.canary_writes(session=s, row=row) if row.state == core.State.rolled_back.value else None
        left = None if writes is None else sum(1 for w in writes if not w["reconciled_by"])
        app.messages.release(s, row, now=now, note=f"{_weight(row.weight_bp)}, {row.state}: {row.reason}",
                             writes=left)
    s.commit()
    return sorted({row.agent, *(a for c in changes for a in c.agents)}) if moved else []


def _gate(app: App, s: Session, row: ReleaseRow, plan: core.Plan, progress: core.Progress, *,
          now: float) -> core.Progress:
    """The promotion gate: an approval request, opened once; approved promotes, a rejection or
    an expiry leaves the release waiting (a person may still promote or abort it)."""
    if progress.state != core.State.waiting_promotion or not plan.gate:
        return progress
    if row.gate_approval_id is None:
        approval = open_request(app, s, GATE, agent=row.agent, action="release.promote", kind="write", risk="high",
                                args={"release": row.id, "canary": row.canary["version"],
                                      "stable": row.stable["version"]},
                                reason=f"promote {row.canary['version']} to 100 % of {row.agent} (release {row.id})",
                                idempotency_key=f"release-{row.id}-promotion", expires_in=None,
                                responders=["role:operator"])
        row.gate_approval_id = approval.id
        s.add(row)
        return progress
    gate = store.get_approval(session=s, approval_id=row.gate_approval_id)
    if gate is None or gate.status == "pending":
        return progress
    if gate.status == "approved":
        return core.promoted(progress, reason=f"promotion approved by {gate.decided_by}", now=now)
    why = f"promotion {gate.status}" + (f" by {gate.decided_by}: {gate.comment}" if gate.decided_by else "")
    return replace(progress, reason=why)


def _read(check: core.Check, query: QueryFunc, now: float) -> core.Reading:
    """One check's values from Prometheus: canary, stable and the canary's sample count."""
    def one(text: str, variant: str) -> float | None:
        samples = query(check.for_variant(text, variant), now)
        if len(samples) > 1:
            raise QueryError(f"{len(samples)} series: a check's query must give one value (aggregate it)")
        return samples[0].value if samples else None

    try:
        canary, stable = one(check.query, "canary"), one(check.query, "stable")
        count = one(check.samples, "canary") if check.samples else None
    except QueryError as exc:
        return core.Reading(None, None, error=str(exc))
    return core.Reading(canary, stable, None if count is None or math.isnan(count) else count)


def _rollback_alerts(s: Session) -> Mapping[str, str]:
    """Firing alerts labelled `takeover: rollback`, by agent (`*` when the alert names none)."""
    out: dict[str, str] = {}
    for alert in store.firing_with_label(session=s, name="takeover", value="rollback"):
        out.setdefault(alert.labels.get("agent", ALL_AGENTS), alert.labels.get("alertname", "?"))
    return out


def _after(app: App, agents: Iterable[str]) -> None:
    changed = list(agents)
    if changed:
        app.changed(changed)
        app.wake("deliver")


def _weight(bp: int) -> str:
    return f"{bp / 100:g} %"
