"""What alerts do: a group slot's outcome committed once, by whichever replica evaluated it
(alert state, rule health, the takeovers and releases its transitions cause, their messages),
alerts of removed rules resolved, and acknowledgements."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

from sqlmodel import Session

from takeover import store
from takeover.app.context import App
from takeover.app.modes import commit_changes
from takeover.config.mode import ALL_AGENTS, ROLLBACK, SHADOW, TAKEOVER_MODES, Mode, shadow_mode
from takeover.control.silence import Silence, silenced_by
from takeover.control.sources import ModeChange, Source, SourceKind
from takeover.rules.evaluate import RESOLVED_RETENTION, Alert, Labels, State, Transition
from takeover.rules.format import Group, Rule
from takeover.rules.group import Answer, GroupSlot, RuleResult, evaluate_answers

log = logging.getLogger(__name__)


def alert_ref(rule: Rule, labels: Labels) -> str:
    """`Name{series="labels"}`: how a person recognises the alert (rule labels left out)."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "alertname" and k not in rule.labels)
    return f"{rule.name}{{{inner}}}"


def record_slot(app: App, group: Group, *, at: float, answers: Sequence[Answer], replica: str,
                duration: float) -> tuple[GroupSlot, float] | None:
    """Evaluate the group's answers at slot `at` and commit the outcome in one transaction: the
    slot claimed for `replica` (None when it already was, by this replica or another), each
    rule's alert state and health, and the mode changes its transitions cause (recorded on the
    alert, for its message). Returns the slot and the one evaluated before it (0.0: none)."""
    with app.sessions() as s:
        before = store.claim_slot(session=s, group_key=group.key, slot=at, replica=replica, now=app.clock())
        if before is None:
            return None
        stored = store.load_alerts(session=s, group_key=group.key)
        previous = {i: stored.get(rule.key, {}) for i, rule in enumerate(group.rules)}
        slot = evaluate_answers(group, at=at, previous=previous, answers=answers)
        slot = GroupSlot(group, at, tuple(_check_takeover(r, previous[r.index]) for r in slot.rules))
        store.save_group_health(session=s, group_key=group.key, duration=duration,
                                health={r.rule.key: r.error for r in slot.rules})
        changes: list[ModeChange | None] = []
        announce: list[ModeChange] = []  # changes whose alert is silenced: no alert message tells them
        # read once, and only when something changed (most slots change nothing)
        silences = store.active_silences(session=s, now=at) if any(r.transitions for r in slot.rules) else []
        for result in slot.rules:
            if result.error:
                log.warning("rule %s: %s", result.rule.name, result.error)
                continue
            store.save_alerts(session=s, group_key=group.key, rule_key=result.rule.key,
                              before=previous[result.index], after=result.alerts)
            for transition in result.transitions:
                change = act(s, result.rule, transition, now=at, silences=silences)
                if change is not None and transition.after == State.firing:
                    store.mark_takeover(session=s, group_key=group.key, rule_key=result.rule.key,
                                        labels=transition.alert.labels, effect={
                                            "agent": change.scope, "before": change.before.name,
                                            "after": change.after.name, "actor": change.actor,
                                            "ref": alert_ref(result.rule, transition.alert.labels)})
                changes.append(change)
                if change is not None and silenced_by(transition.alert.label_map, silences, at):
                    announce.append(change)
        app.messages.mode_changes(s, announce, now=at)
        commit_changes(app, s, changes, now=at, announce=False)
    return slot, before


def _check_takeover(result: RuleResult, before: Mapping[Labels, Alert]) -> RuleResult:
    """A `takeover` label whose expanded value is not a mode changes nothing and marks the rule
    `err` (Prometheus would just fire the alert; takeover cannot act on a mode it does not know)."""
    if result.error or not result.rule.acts:
        return result
    for alert in result.alerts.values():
        value = alert.label_map.get("takeover", "")
        if value not in (*TAKEOVER_MODES, ROLLBACK) and shadow_mode(value) is None:
            return replace(result, alerts=before, transitions=(), error=(
                f'rule {result.rule.name}: label takeover expanded to "{value}", which is not a mode '
                f'(one of {", ".join(TAKEOVER_MODES)}, or {SHADOW}<mode>); nothing changed'))
    return result


def act(s: Session, rule: Rule, transition: Transition, *, now: float,
        silences: Sequence[Silence]) -> ModeChange | None:
    """What a transition does to agents: a mode source on firing (unless a silence says to hold
    the takeover too), a release on resolve when the rule opts in. The alert's own messages are
    the dispatcher's: it reads the alert state this transaction writes."""
    alert = transition.alert
    labels = alert.label_map
    if shadow_mode(labels.get("takeover")) is not None:
        record_shadow(s, rule, transition, now=now, silences=silences)
        return None
    if labels.get("takeover") not in TAKEOVER_MODES:
        return None
    if transition.after == State.firing:
        return hold(s, labels=labels, ref=alert_ref(rule, alert.labels), actor=f"rule:{rule.name}",
                    reason=alert.annotations.get("summary", rule.name), now=now, silences=silences)
    if transition.before == State.firing and rule.release_on_resolve:  # resolved
        return release_hold(s, labels=labels, ref=alert_ref(rule, alert.labels), actor=f"rule:{rule.name}",
                            now=now, reason="alert resolved (the rule releases on resolve)")
    return None


def hold(s: Session, *, labels: Mapping[str, str], ref: str, actor: str, reason: str, now: float,
         silences: Sequence[Silence]) -> ModeChange | None:
    """A firing alert with a `takeover` mode label holds its `agent` (every agent without one)
    in that mode, as an alert source named `ref` — unless a silence also holds the takeover back.
    Takeover's own rules and Alertmanager's alerts both take over through here."""
    muted = silenced_by(labels, silences, now)
    if muted is not None and muted.suppress_takeover:
        log.info("alert %s fired; takeover held back by silence %d", ref, muted.id)
        return None
    return store.add_source(session=s, now=now, source=Source(
        agent=labels.get("agent", ALL_AGENTS), mode=Mode[labels["takeover"]], kind=SourceKind.alert,
        ref=ref, reason=reason, actor=actor, since=now))


def record_shadow(s: Session, rule: Rule, transition: Transition, *, now: float,
                  silences: Sequence[Silence]) -> None:
    """A `shadow:<mode>` rule holds nothing: its firing and its resolving are audited as the hold
    it would have made (`alert.shadow_hold`, unless a silence would have held the takeover back)
    and that hold's end (`alert.shadow_release`); the agent's document and grants are untouched."""
    alert = transition.alert
    labels = alert.label_map
    agent, mode, ref = labels.get("agent", ALL_AGENTS), shadow_mode(labels.get("takeover")), alert_ref(rule, alert.labels)
    assert mode is not None
    facts = {"agent": agent, "mode": mode.name, "alert": ref,
             "effective": store.effective_mode(session=s, agent=agent, now=now).name}
    if transition.after == State.firing:
        muted = silenced_by(labels, silences, now)
        if muted is not None and muted.suppress_takeover:
            log.info("shadow alert %s fired; its would-be takeover held back by silence %d", ref, muted.id)
            return
        store.record_audit(session=s, now=now, actor=f"rule:{rule.name}", action="alert.shadow_hold",
                           subject=f"agent:{agent}", after=facts,
                           reason=f"would have held {agent} in {mode.name} (shadow): "
                                  f"{alert.annotations.get('summary', rule.name)}")
    elif transition.before == State.firing:
        store.record_audit(session=s, now=now, actor=f"rule:{rule.name}", action="alert.shadow_release",
                           subject=f"agent:{agent}", after=facts,
                           reason=f"alert resolved: the shadow hold of {agent} in {mode.name} ends")


def release_hold(s: Session, *, labels: Mapping[str, str], ref: str, actor: str, reason: str,
                 now: float) -> ModeChange | None:
    """Release the hold the alert `ref` put on its agent (for an alert that releases on resolve)."""
    return store.release_sources(session=s, agent=labels.get("agent", ALL_AGENTS), kind=SourceKind.alert,
                                 ref=ref, actor=actor, now=now, reason=reason)


def resolve_removed(app: App, groups: Sequence[Group], *, actor: str | None) -> None:
    """Alerts of rules that are gone: firing ones resolve (so their messages are updated), the
    rest are forgotten once the dispatcher has had them for the retention time."""
    now = app.clock()
    live = {(g.key, r.key) for g in groups for r in g.rules}
    with app.sessions() as s:
        for row in store.list_alerts(session=s):
            if (row.group_key, row.rule_key) in live or row.group_key in (store.META_GROUP, store.ALERTMANAGER_GROUP):
                continue
            if row.state == State.firing.value:
                row.state, row.resolved_at = State.inactive.value, now  # the dispatcher reports it
                s.add(row)
            elif row.state == State.pending.value or (row.resolved_at or now) < now - RESOLVED_RETENTION:
                s.delete(row)
        if actor is not None:
            store.record_audit(session=s, now=now, actor=actor, action="rules.reload",
                               subject="rules", after={"groups": [g.key for g in groups]})
        s.commit()
    app.wake("deliver")


def register_agents(app: App, groups: Sequence[Group]) -> None:
    """Agents a rule names by a fixed `agent` label are known before they poll."""
    names = {r.labels["agent"] for g in groups for r in g.rules
             if "agent" in r.labels and "{{" not in r.labels["agent"]}
    with app.sessions() as s:
        for name in sorted(names):
            store.ensure_agent(session=s, name=name, now=app.clock())
        s.commit()
