"""The dispatcher: turns alert state into grouped Slack messages in the outbox.

Every pass reads the alerts, drops the silenced ones, groups the rest by destination and
`group_by` labels, and for each group asks `grouping.needs_flush` / `escalation_due` whether to
write the group's message (posted once, then updated in place), a thread note for what changed,
or an escalation — all in one transaction with the group's bookkeeping. It needs only store,
control, rules and notify, so it lives beside delivery; `app.dispatch` holds the operation.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.config.mode import shadow_mode
from takeover.control.silence import silenced_by
from takeover.control.sources import SourceKind
from takeover.notify.grouping import GroupState, escalation_due, needs_flush
from takeover.notify.routing import Destination, Routing, mention_text
from takeover.notify.templates import Message, slack_escape
from takeover.rules.evaluate import State
from takeover.store.models import AlertRow, NotifyGroupRow

log = logging.getLogger(__name__)
MAX_LISTED = 10  # alerts listed in one message (Block Kit allows 50 blocks)
Render = Callable[..., Message]  # (kind, **context) -> message
FIRING, RESOLVED, RELEASED, HELD = "🔥", "✅", "🔓", "🛑"  # a thread note's line about one alert starts so


class Dispatcher:
    def __init__(self, *, sessions: Callable[[], Session], routing: Routing, render: Render) -> None:
        self.sessions, self.routing, self.render = sessions, routing, render
        self.held: set[str] = set()  # refs of the alert sources holding agents, read each pass

    def run(self, *, now: float, term: int | None) -> int:
        """One pass as the leader of `term`; returns how many messages were queued."""
        queued = 0
        with self.sessions() as session:
            store.fence(session=session, term=term)
            silences = store.active_silences(session=session, now=now)
            groups = store.notify_groups(session=session)
            self._read_holds(session, now)
            buckets: dict[str, tuple[Destination, list[AlertRow]]] = {}
            for row in store.list_alerts(session=session):
                if row.state == State.pending.value or silenced_by(row.labels, silences, now):
                    continue
                dest = self.routing.destination(row.labels.get("owner", ""))
                key = str(self.routing.group_key(row.labels, channel=dest.channel))
                buckets.setdefault(key, (dest, []))[1].append(row)
            for key, (dest, rows) in buckets.items():
                queued += self._group(session, groups.get(key), key, dest, rows, now)
            for key, group in groups.items():
                if key not in buckets and not group.sent_firing:
                    session.delete(group)  # the episode is over and its alerts are forgotten
            session.commit()
        return queued

    def _group(self, session: Session, group: NotifyGroupRow | None, key: str, dest: Destination,
               rows: list[AlertRow], now: float) -> int:
        firing = frozenset(r.fingerprint for r in rows if r.state == State.firing.value)
        resolved_all = frozenset(r.fingerprint for r in rows if r.state == State.inactive.value)
        if group is not None and not group.sent_firing and group.last_flush is not None and firing:
            session.delete(group)  # resolved and then firing again: a new episode, a new message
            session.flush()
            group = None
        if group is None:
            if not firing:
                return 0  # only resolved alerts that were never announced
            group = NotifyGroupRow(key=key, channel=dest.channel, owner=rows[0].labels.get("owner", ""),
                                   message_key=f"group:{key}:{now}", first_seen=now,
                                   sent_firing=[], sent_resolved=[])
            session.add(group)
            session.flush()
        state = GroupState(first_seen=group.first_seen, last_flush=group.last_flush,
                           sent_firing=frozenset(group.sent_firing),
                           sent_resolved=frozenset(group.sent_resolved),
                           acked_by=group.acked_by, escalated=group.escalated,
                           sent_held=frozenset(group.sent_held or ()))
        resolved = resolved_all & (state.sent_firing | state.sent_resolved)
        urgent = any(r.takeover for r in rows)  # takeover has acted: no batching of the news
        held = frozenset(r.takeover["ref"] for r in rows if r.takeover and r.takeover.get("ref") in self.held)
        queued = 0
        if needs_flush(state, firing=firing, resolved=resolved, now=now, routing=self.routing,
                       urgent=urgent, held=held):
            if group.last_flush is not None:
                self._note(session, group, self._changes(rows, state, firing, resolved, held), now)
                queued += 1
            self.update_message(session, group, rows=rows, dest=dest, now=now)
            if group.last_flush is None:
                for row in rows:  # the takeover, in the incident's thread
                    if row.takeover and row.state == State.firing.value:
                        self._note(session, group, _takeover_note(row.takeover), now)
                        queued += 1
            group.last_flush = now
            group.sent_firing, group.sent_resolved = sorted(firing), sorted(resolved)
            group.sent_held = sorted(held)
            queued += 1
        page = any(r.labels.get("severity") == "page" for r in rows if r.state == State.firing.value)
        step = escalation_due(state, steps=dest.escalation, firing=bool(firing), page=page, now=now)
        if step is not None:
            context = self._context(group, rows, dest, now)
            store.enqueue(session=session, channel=step.target, now=now,
                          message_key=f"{group.message_key}:escalation:{group.escalated}",
                          payload=self.render("escalation", **{**context, "target": step.target,
                                              "fallback_text": f"[ESCALATED] {key}: not acknowledged"}))
            self._note(session, group, f"Escalated to {mention_text(step.target) or step.target}: "
                                       f"not acknowledged after {step.after:.0f}s", now)
            group.escalated += 1
            queued += 2
        session.add(group)
        return queued

    def _changes(self, rows: list[AlertRow], state: GroupState, firing: frozenset[str],
                 resolved: frozenset[str], held: frozenset[str]) -> str:
        names = {r.fingerprint: slack_escape(alert_name(r.labels)) for r in rows}
        parts = [f"{FIRING} firing: {names[f]}" for f in sorted(firing - state.sent_firing)]
        parts += [f"{RESOLVED} resolved: {names[f]}" for f in sorted(resolved - state.sent_resolved)]
        for row in rows:
            ref = (row.takeover or {}).get("ref")
            if ref in state.sent_held and ref not in held:
                parts.append(f"{RELEASED} {hold_scope(row.takeover)} released: "
                             f"the hold by {names[row.fingerprint]} is over")
        return "\n".join(parts) or f"Still firing: {len(firing)} alert(s)"

    def _note(self, session: Session, group: NotifyGroupRow, text: str, now: float) -> None:
        """A thread reply under the group's message, so its history stays readable."""
        store.enqueue(session=session, channel=group.channel, now=now,
                      message_key=f"{group.message_key}:note:{uuid.uuid4().hex}",
                      payload={"text": text, "thread_of": group.message_key})

    def _read_holds(self, session: Session, now: float) -> None:
        self.held = {src.ref for src in store.active_sources(session=session, now=now)
                     if src.kind == SourceKind.alert}

    def acknowledge(self, *, group_id: int, actor: str, now: float) -> NotifyGroupRow | None:
        """Acknowledge a group (stops its escalation): message updated, a note in its thread."""
        with self.sessions() as session:
            before = session.get(NotifyGroupRow, group_id)
            if before is None or before.acked_by is not None:
                return before
            group = store.ack_group(session=session, group_id=group_id, actor=actor, now=now)
            assert group is not None
            if group.acked_by == actor and group.acked_at == now:
                dest = self.routing.destination(group.owner)
                rows = [r for r in store.list_alerts(session=session) if r.state != State.pending.value and
                        str(self.routing.group_key(r.labels, channel=dest.channel)) == group.key]
                if rows and group.last_flush is not None:
                    self._read_holds(session, now)
                    self.update_message(session, group, rows=rows, dest=dest, now=now)
                    self._note(session, group, f"👀 Acknowledged by {slack_escape(actor)}", now)
            session.commit()
            return group

    def update_message(self, session: Session, group: NotifyGroupRow, *, rows: list[AlertRow],
                       dest: Destination, now: float) -> None:
        """Queue the group's message as it stands now (posted the first time, then updated)."""
        context = self._context(group, rows, dest, now)
        kind = "alert_firing" if context["firing"] else "alert_resolved"
        store.enqueue(session=session, channel=group.channel, message_key=group.message_key,
                      now=now, payload=self.render(kind, **context))

    def _context(self, group: NotifyGroupRow, rows: list[AlertRow], dest: Destination,
                 now: float) -> dict[str, Any]:
        alerts = [_alert_context(r, now, self.held) for r in sorted(rows, key=lambda r: (r.state != State.firing.value, r.active_at))]
        firing = [a for a in alerts if a["state"] == State.firing.value]
        first = (firing or alerts)[0]
        return {
            "group": {"id": group.id, "key": group.key, "owner": group.owner, "channel": group.channel,
                      "mention": mention_text(dest.mention), "known_owner": dest.known,
                      "acked_by": group.acked_by, "escalated": group.escalated},
            "alerts": alerts[:MAX_LISTED], "more": max(0, len(alerts) - MAX_LISTED),
            "firing": firing, "first": first, "now": now,
            "fallback_text": f"[{'FIRING' if firing else 'RESOLVED'}] {first['summary']} "
                             f"(owner {group.owner}) runbook: {first['runbook_url']}",
        }


def hold_scope(effect: dict[str, Any] | None) -> str:
    """Whom a takeover holds, as its notes name it: `agent`, or all agents."""
    agent = (effect or {}).get("agent", "")
    return "all agents" if agent == "*" else f"`{slack_escape(agent)}`"


def _takeover_note(effect: dict[str, Any]) -> str:
    return (f"{HELD} {hold_scope(effect)}: {effect['before']} → {effect['after']} by {slack_escape(effect['actor'])} "
            "(held until someone releases it)")


def alert_name(labels: dict[str, str]) -> str:
    """An alert as its notes name it: `alertname{label="value",…}` without the routing labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())
                     if k not in ("alertname", "owner", "severity", "takeover"))
    return f"{labels.get('alertname', '')}{{{inner}}}"


def _alert_context(row: AlertRow, now: float, held: set[str]) -> dict[str, Any]:
    labels, annotations = row.labels, row.annotations
    return {
        "name": labels.get("alertname", ""), "id": alert_name(labels), "labels": labels,
        "annotations": annotations, "state": row.state, "value": row.value,
        "summary": annotations.get("summary") or labels.get("alertname", ""),
        "runbook_url": annotations.get("runbook_url", ""), "first_check": annotations.get("first_check", ""),
        "severity": labels.get("severity", "none"), "agent": labels.get("agent", "all agents"),
        "takeover": labels.get("takeover"),
        "shadow": (mode.name if (mode := shadow_mode(labels.get("takeover"))) else None),  # would hold, holds nothing
        # what its firing did (agent, before, after, actor) and whether that hold still stands
        "effect": row.takeover, "held": bool(row.takeover and row.takeover.get("ref") in held),
        "fired_for": now - row.fired_at if row.fired_at and row.state == State.firing.value else None,
        "resolved_at": row.resolved_at,
    }
