"""An incident told as its steps — fired, held, acknowledged, approvals asked and decided,
released, resolved, a release rolled back — each with who and when, and under each step the
Slack messages it caused. Pure: built from the rows the console read (the alert, the audit
trail, the outbox); no database, no clock."""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from takeover.notify.dispatch import FIRING, HELD, RELEASED, RESOLVED, alert_name, hold_scope
from takeover.notify.templates import slack_escape
from takeover.store.alerts import ALERTMANAGER_GROUP as ALERTMANAGER
from takeover.store.models import AlertRow, AuditRow, OutboxRow

MAX_TEXT = 300  # characters of a message shown; the whole of it is in Slack
ABOUT_ONE_ALERT = (FIRING, RESOLVED, RELEASED, HELD)


class Kind(str, enum.Enum):
    pending = "pending"  # the rule's expression matched; waiting for its `for`
    fired = "fired"
    held = "held"  # an agent's mode tightened (by the alert, a person or the failsafe)
    acknowledged = "acknowledged"  # someone owns it: the escalation stops
    asked = "asked"  # the agent asked a human to approve an action
    voted = "voted"  # one approver's vote towards a quorum
    decided = "decided"  # approved, rejected, expired or cancelled
    ran = "ran"  # an approved action was executed
    refused = "refused"  # an action refused by the mode, or an approved one refused at execution
    released = "released"  # a hold handed back
    resolved = "resolved"
    release = "release"  # the agent's canary release moved (started, paused, promoted)
    rolled_back = "rolled_back"  # the agent's canary release was rolled back
    other = "other"


class Status(str, enum.Enum):
    delivered = "delivered"
    fallback = "fallback"  # delivered, but only after Slack refused it as it was
    queued = "queued"
    retrying = "retrying"  # failed, tried again later
    undeliverable = "undeliverable"  # every way failed: kept and counted
    dismissed = "dismissed"  # undeliverable, and a person let it go


@dataclass(frozen=True)
class Delivery:
    """One Slack message: a post, an update of it, or a note in its thread."""

    at: float
    how: str  # posted to, updated in, thread note in, escalated to
    channel: str
    text: str
    status: Status
    problem: str = ""  # Slack's error, or the fallback taken

    @property
    def failed(self) -> bool:
        return self.status in (Status.undeliverable, Status.dismissed, Status.retrying)


@dataclass(frozen=True)
class Step:
    """One thing that happened in the incident, and the Slack messages it caused."""

    at: float
    kind: Kind
    title: str
    who: str = ""
    detail: str = ""
    link: str | None = None
    topics: frozenset[str] = field(default=frozenset(), repr=False)  # the messages it causes (see `topic`)
    deliveries: tuple[Delivery, ...] = ()

    @property
    def failed(self) -> int:
        return sum(d.failed for d in self.deliveries)

    @property
    def fell_back(self) -> int:
        return sum(d.status is Status.fallback for d in self.deliveries)


GROUP, NOTE, MODE = "group", "note", "mode"  # the group's message, its thread, a mode change's message
ORDER = list(Kind)  # steps at the same instant: the cause before its effect (fired, then held)


def tell(alert: AlertRow, *, trail: Sequence[AuditRow], sent: Sequence[OutboxRow]) -> list[Step]:
    """The incident's steps in order, each Slack message folded under the step that caused it:
    the latest step at or before it that causes such a message (the group's message, its
    thread, a mode change's message, an approval's, a release's). Thread notes about other
    alerts of the group are left out."""
    steps = sorted(evaluated(alert) + [s for s in map(audited, trail) if s is not None],
                   key=lambda s: (s.at, ORDER.index(s.kind)))
    if not steps:
        return []
    folded: list[list[Delivery]] = [[] for _ in steps]
    posted: set[str] = set()
    for row in sent:
        delivery = delivered(row, first=row.message_key not in posted, alert=alert)
        posted.add(row.message_key)
        at = cause(steps, topic(row), row.created_at)
        if delivery is not None and at is not None:
            folded[at].append(delivery)
    return [replace(s, deliveries=tuple(d)) for s, d in zip(steps, folded, strict=True)]


def cause(steps: Sequence[Step], subject: str, at: float) -> int | None:
    """The index of the step a message about `subject` queued at `at` belongs to; None for an
    approval's or a release's message that no step is about (a key that only starts alike)."""
    takers = [i for i, s in enumerate(steps) if subject in s.topics]
    if not takers and subject not in (GROUP, NOTE, MODE):
        return None
    takers = takers or list(range(len(steps)))
    before = [i for i in takers if steps[i].at <= at]
    return before[-1] if before else takers[0]


def topic(row: OutboxRow) -> str:
    """What a message is about, from its key: `group:K:T` (and `:escalation:N`), its thread's
    `…:note:…`, `mode:AGENT:…`, `approval:ID` (and its escalations), `release:ID` (and its notes)."""
    key = row.message_key
    if key.startswith("group:"):
        return NOTE if row.payload.get("thread_of") else GROUP
    if key.startswith("mode:"):
        return MODE
    head, _, rest = key.partition(":")
    return f"{head}:{rest.split(':', 1)[0]}"


def evaluated(alert: AlertRow) -> list[Step]:
    """What the evaluator (or Alertmanager) recorded on the alert: pending, fired, resolved."""
    outside = alert.group_key == ALERTMANAGER
    rule = ALERTMANAGER if outside else f"rule:{alert.labels.get('alertname', '?')}"
    group = frozenset({GROUP, NOTE})
    found = []
    if not outside and (alert.fired_at is None or alert.fired_at > alert.active_at):
        found.append(Step(alert.active_at, Kind.pending, "Pending", rule, "the expression matched", topics=group))
    if alert.fired_at is not None or outside:
        detail = "active in Alertmanager (startsAt)" if outside else f"value {alert.value:.4g}"
        found.append(Step(alert.fired_at or alert.active_at, Kind.fired, "Fired", rule, detail, topics=group))
    if alert.resolved_at is not None:
        found.append(Step(alert.resolved_at, Kind.resolved, "Resolved", rule, topics=group))
    return found


def audited(row: AuditRow) -> Step | None:
    """A step from an audit row about the agent or the group; None for what a timeline leaves
    out (an allowed call, the "approval required" that its approval request tells)."""
    family, _, verb = row.action.partition(".")
    after: dict[str, Any] = row.after if isinstance(row.after, dict) else {}
    agent = row.subject.removeprefix("agent:")
    if family == "mode":
        return mode_step(row, agent=agent, verb=verb)
    if row.action == "alert.ack":
        return Step(row.at, Kind.acknowledged, "Acknowledged", row.actor, "the escalation stops",
                    topics=frozenset({GROUP, NOTE}))
    if family == "approval":
        approval = str(after.get("approval", ""))
        on = frozenset({f"approval:{approval}"})
        link = f"/ui/approvals#approval-{approval}" if approval else None
        action = str(after.get("action", "an action"))
        kind, title = {
            "request": (Kind.asked, f"Approval asked: {action}"),
            "vote": (Kind.voted, f"Approval vote: {after.get('votes', '?')} of {after.get('quorum', '?')}"),
            "executed": (Kind.ran, f"Approved {action} ran"),
            "execution_refused": (Kind.refused, f"Approved {action} refused at execution"),
        }.get(verb, (Kind.decided, f"Approval {verb}: {action}"))
        detail = row.reason
        if verb == "request":
            args = ", ".join(f"{k}={json.dumps(v)}" for k, v in (after.get("args") or {}).items())
            detail = "; ".join(p for p in (f"{after.get('risk')}-risk {after.get('kind')}", args, row.reason) if p)
        return Step(row.at, kind, title, row.actor, detail[:MAX_TEXT], link, on)
    if row.action in ("alert.shadow_hold", "alert.shadow_release"):  # a shadow takeover: held nothing
        mode = after.get("mode", "?")
        title = (f"{agent} would have been held in {mode} (shadow)" if verb == "shadow_hold"
                 else f"{agent}: shadow hold in {mode} over")
        return Step(row.at, Kind.other, title, row.actor, row.reason[:MAX_TEXT], topics=frozenset({GROUP, NOTE}))
    if row.action == "agent.confirmed":  # the hold (or hand-back) reached every running instance
        return Step(row.at, Kind.other, f"{agent}: all {after.get('instances', '?')} instance(s) hold the new "
                    f"document", row.actor, row.reason)
    if row.action == "action.deny":
        return Step(row.at, Kind.refused, f"Refused: {after.get('action', 'an action')}", row.actor, row.reason)
    if family == "release":
        on = frozenset({f"release:{after.get('release', '')}"})
        if verb == "start":
            title = f"Release started: {after.get('stable', '?')} → {after.get('canary', '?')}"
            return Step(row.at, Kind.release, title, row.actor, row.reason, topics=on)
        weight = f" at {int(after.get('weight_bp', 0)) / 100:g} %"
        kind = Kind.rolled_back if verb == "rolled_back" else Kind.release
        return Step(row.at, kind, f"Release {verb.replace('_', ' ')}{weight}", row.actor, row.reason, topics=on)
    return None


def mode_step(row: AuditRow, *, agent: str, verb: str) -> Step:
    """A mode change: held (tightened), released (handed back), or a grant begun or ended."""
    on = frozenset({MODE, NOTE})
    who = "all agents" if agent == "*" else agent
    if verb == "grant_ended":
        grant = row.before if isinstance(row.before, dict) else {}
        return Step(row.at, Kind.other, f"{who}: grant for {grant.get('action', 'an action')} ended", row.actor,
                    row.reason, topics=on)
    change = f"{row.before} → {row.after}"
    if verb == "grant":
        return Step(row.at, Kind.other, f"{who}: one action granted", row.actor, row.reason, topics=on)
    if verb == "release" or row.after == "normal":
        return Step(row.at, Kind.released, f"{who} released: {change}", row.actor, row.reason, topics=on)
    return Step(row.at, Kind.held, f"{who} held: {change}", row.actor, row.reason, topics=on)


def delivered(row: OutboxRow, *, first: bool, alert: AlertRow) -> Delivery | None:
    """A queued message as the timeline shows it; None for a thread note only about other
    alerts of the group."""
    text = str(row.payload.get("text") or row.payload.get("fallback_text") or "")
    if row.payload.get("thread_of"):
        how = "thread note in"
        text = about(text, alert=alert)
        if not text:
            return None
    elif ":escalation:" in row.message_key:
        how = "escalated to"
    else:
        how = "posted to" if first else "updated in"
    if row.message_key.startswith("group:") and not row.payload.get("thread_of"):
        tag = re.match(r"\[([A-Z ]+)\]", text)  # the group's message names its first alert: say which message
        text = f"the alert message of {alert.labels.get('alertname', '?')}" + (f" ({tag.group(1)})" if tag else "")
    return Delivery(row.created_at, how, row.channel, plain(text)[:MAX_TEXT], *state(row))


def state(row: OutboxRow) -> tuple[Status, str]:
    """Where the message stands: delivered (perhaps after a fallback), waiting, or failed."""
    if row.undeliverable_at is not None:
        why = row.last_error or "every way of delivering it failed"
        if row.dismissed_at is not None:
            return Status.dismissed, f"{why}; dismissed by {row.dismissed_by}"
        return Status.undeliverable, why
    if row.sent_at is not None and row.fallback:
        stage, _, refused = row.fallback.partition(": ")
        return Status.fallback, f"{stage} (Slack refused it as it was: {refused})" if refused else stage
    if row.sent_at is not None:
        return Status.delivered, ""
    return (Status.retrying, row.last_error) if row.last_error else (Status.queued, "")


def about(text: str, *, alert: AlertRow) -> str:
    """The lines of a thread note that concern this alert: a line about one alert is kept when
    it names this one (or the agent it holds); a line about the group is kept."""
    names = [slack_escape(alert_name(alert.labels))]
    if alert.takeover:
        names.append(hold_scope(alert.takeover))
    elif "agent" in alert.labels:
        names.append(hold_scope({"agent": alert.labels["agent"]}))
    kept = [line for line in text.splitlines()
            if not line.startswith(ABOUT_ONE_ALERT) or any(n in line for n in names)]
    return "\n".join(kept)


def plain(text: str) -> str:
    """Slack's text for a page: no leading emoji (a page may have no font for it; the step's
    icon says what it is), no mrkdwn code ticks, Slack's three escapes undone."""
    lines = []
    for line in text.splitlines():
        while line and (unicodedata.category(line[0]) == "So" or line[0] in "\ufe0f\u200d"):
            line = line[1:]
        lines.append(line.strip())
    joined = " · ".join(line for line in lines if line).replace("`", "")
    return joined.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
