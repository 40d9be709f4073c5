"""The messages operations queue in the outbox, in the transaction of their change: rendered
from the templates, addressed by the routing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from sqlmodel import Session

from takeover import store
from takeover.config.mode import ALL_AGENTS
from takeover.control.approval import Status
from takeover.control.sources import ModeChange
from takeover.notify.routing import Destination, Routing, mention_text
from takeover.notify.templates import Message, render_message, slack_escape
from takeover.store.models import ApprovalRow, ReleaseRow


@dataclass
class Messages:
    templates: jinja2.Environment
    routing: Routing
    channel: str  # where mode changes and approval requests go (TAKEOVER_SLACK_CHANNEL)

    def render(self, kind: str, **context: Any) -> Message:
        """Render `templates/<kind>.json.j2`; plain text from `fallback_text` if it fails."""
        return render_message(self.templates, kind, context)

    def mode_changes(self, session: Session, changes: list[ModeChange], *, now: float) -> None:
        """Queue a "mode changed" message for each change that changed a mode, to the agent
        owner's route with its mention."""
        for change in changes:
            if not change.mode_changed:
                continue
            who = "all agents" if change.scope == ALL_AGENTS else change.scope
            before, after = change.before.name, change.after.name
            owner, dest = self._route(change.scope)
            store.enqueue(session=session, channel=dest.channel, now=now,
                          message_key=f"mode:{change.scope}:{now}:{after}:{change.actor}",
                          payload=self.render("mode_changed", agent=who, before=before, after=after,
                                              actor=change.actor, reason=change.reason, owner=owner,
                                              mention=mention_text(dest.mention), known_owner=dest.known,
                                              fallback_text=f"{who}: {before} → {after} by {change.actor}: "
                                                            f"{change.reason}"))

    def approval(self, session: Session, row: ApprovalRow, *, now: float,
                 escalation: tuple[int, str] | None = None) -> None:
        """Queue the request's Slack message (to the agent owner's route): posted when requested,
        updated at each vote and when decided. `escalation` (step, target): the request again,
        as its own message, to the step's target (a channel or a user)."""
        approval = store.approval_public(row)
        kind = "approval_requested" if row.status == Status.pending.value else "approval_decided"
        owner, dest = self._route(row.agent)
        key, channel, prefix = f"approval:{row.id}", dest.channel, ""
        if escalation is not None:
            key, channel, prefix = f"approval:{row.id}:escalation:{escalation[0]}", escalation[1], "[ESCALATED] "
        store.enqueue(session=session, channel=channel, now=now, message_key=key, payload=self.render(
            kind, approval=approval, owner=owner, mention=mention_text(dest.mention), known_owner=dest.known,
            escalated=escalation is not None,
            fallback_text=f"{prefix}[{row.status}] {row.agent}: {row.action} (approval {row.id})"))

    def release(self, session: Session, row: ReleaseRow, *, now: float, note: str,
                writes: int | None = None) -> None:
        """The release's one message (to the agent owner's route), updated at each change, and
        `note` in its thread."""
        owner, dest = self._route(row.agent)
        key = f"release:{row.id}"
        release = {"id": row.id, "agent": row.agent, "state": row.state, "weight": row.weight_bp / 100,
                   "stable": row.stable["version"], "canary": row.canary["version"], "reason": row.reason,
                   "to_reconcile": writes}
        store.enqueue(session=session, channel=dest.channel, now=now, message_key=key, payload=self.render(
            "release", release=release, owner=owner, mention=mention_text(dest.mention), known_owner=dest.known,
            fallback_text=f"[RELEASE {row.state}] {row.agent}: {row.stable['version']} → {row.canary['version']} "
                          f"at {row.weight_bp / 100:g} %"))
        store.enqueue(session=session, channel=dest.channel, now=now, message_key=f"{key}:note:{now}:{row.state}",
                      payload={"text": slack_escape(note), "thread_of": key})  # a text-only post: all of it shows

    def _route(self, agent: str) -> tuple[str, Destination]:
        owner, dest = self.routing.agent_destination(agent)
        if owner:
            return owner, dest
        return "", Destination(self.channel, known=dest.known)  # TAKEOVER_SLACK_CHANNEL
