"""Signing in to the browser console and out again: a session opened by an operator's, admin's
or viewer's token (never an agent's), read on every page, and the one-line notice a form leaves
for the next page. The secret goes to the browser; the database keeps only its hash."""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from takeover import store
from takeover.app import approvals
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.control.approval import check_args, effective_args
from takeover.control.principal import Principal, Role, person_of
from takeover.control.silence import Matcher, Silence, parse_matcher, silenced_by
from takeover.control.validation import MAX_NAME, check_text
from takeover.store import console as watch
from takeover.store.models import AlertRow, AuditRow, NotifyGroupRow, OutboxRow

SESSION_SECONDS = 12 * 3600.0  # a working day: sign in again after it
MAX_MATCHERS = 20  # as the API's silences


@dataclass(frozen=True)
class SignedIn:
    """Who a live session belongs to, and the notice left for this page (shown once)."""

    who: Principal
    expires_at: float
    notice: str | None = None
    notice_error: bool = False


def sign_in(app: App, *, token: str, ttl: float = SESSION_SECONDS) -> tuple[str, Principal]:
    """A new session for the holder of `token`: (the cookie's secret, who). 401 for a token
    that is unknown, revoked or expired; 403 for an agent's token."""
    now = app.clock()
    with app.sessions() as s:
        row = store.find_token(session=s, token=token)
        if row is None or not store.token_usable(row, now=now):
            raise Refusal(401, "invalid, expired or revoked token")
        who = Principal(row.name, Role(row.role), person=person_of(row.name, row.person))
        if who.role in (Role.agent, Role.alertmanager):
            raise Refusal(403, f"an {who.role.value}'s token does not open the console: sign in with an operator, "
                               "admin or viewer token")
        secret = secrets.token_urlsafe(32)
        store.create_console_session(session=s, token=row, secret=secret, now=now, expires_at=now + ttl,
                                     actor=who.actor)
        s.commit()
    return secret, who


def signed_in(app: App, *, secret: str, take_notice: bool = True) -> SignedIn | None:
    """The live session for `secret`, taking its notice (a page shows it; a fragment or the live
    stream leaves it for the page); None when it ended or never was."""
    now = app.clock()
    with app.sessions() as s:
        found = store.console_session(session=s, secret=secret, now=now)
        if found is None:
            return None
        row, token = found
        who = Principal(token.name, Role(token.role), person=person_of(token.name, token.person))
        if not take_notice:
            return SignedIn(who, row.expires_at)
        signed = SignedIn(who, row.expires_at, row.notice, row.notice_error)
        if row.notice is not None:
            row.notice, row.notice_error = None, False
            s.add(row)
            s.commit()
    return signed


def leave_notice(app: App, *, secret: str, text: str, error: bool = False) -> None:
    """What a form did (or why it was refused), for the page the browser goes to next."""
    with app.sessions() as s:
        found = store.console_session(session=s, secret=secret, now=app.clock())
        if found is not None:
            row = found[0]
            row.notice, row.notice_error = text[:2000], error
            s.add(row)
            s.commit()


def sign_out(app: App, *, secret: str, who: Principal) -> None:
    """End the session (audited)."""
    with app.sessions() as s:
        store.end_console_session(session=s, secret=secret, now=app.clock(), actor=who.actor)
        s.commit()


def edited_args(app: App, who: Principal, *, approval_id: str, text: str) -> dict[str, Any] | None:
    """The edits an approver typed over the proposed arguments (the JSON object in the approve
    form), as the API's `args`: only the values that changed; None when nothing did. 422 for text
    that is not a JSON object."""
    with app.sessions() as s:
        proposed = approvals.approval_for(s, who, approval_id).args_proposed
    edits = changed_args(proposed, parse_args(text))
    return edits or None


def preview_args(app: App, who: Principal, *, approval_id: str, text: str) -> tuple[list[ArgChange], str | None]:
    """The diff the approve form shows while arguments are edited, and what is wrong with them
    (not JSON, or a key the agent did not propose: the API would refuse it)."""
    with app.sessions() as s:
        proposed = approvals.approval_for(s, who, approval_id).args_proposed
    try:
        edits = changed_args(proposed, parse_args(text))
    except Refusal as exc:
        return args_diff(proposed, None), str(exc.detail)
    return args_diff(proposed, edits), check_args(edits, proposed=proposed)


def parse_args(text: str) -> dict[str, Any]:
    """The approve form's arguments field: a JSON object (422 otherwise, saying where)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Refusal(422, f"arguments: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Refusal(422, "arguments: a JSON object, like the proposed one")
    return value


def changed_args(proposed: Mapping[str, Any], edited: Mapping[str, Any]) -> dict[str, Any]:
    """The keys whose value differs from the proposal (a removed key keeps its proposed value)."""
    return {k: v for k, v in edited.items() if k not in proposed or proposed[k] != v}


@dataclass(frozen=True)
class ArgChange:
    """One argument in the diff an approver sees: proposed value, the value approved, changed?"""

    name: str
    proposed: str
    approved: str
    changed: bool
    added: bool = False


def args_diff(proposed: Mapping[str, Any], edits: Mapping[str, Any] | None) -> list[ArgChange]:
    """Proposed against proposed-with-edits, key by key (values as compact JSON)."""
    effective = effective_args(proposed, edits)

    def shown(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    return [ArgChange(name, shown(proposed[name]) if name in proposed else "—", shown(effective[name]),
                      name not in proposed or proposed[name] != effective[name], name not in proposed)
            for name in [*proposed, *(k for k in effective if k not in proposed)]]


# what a page shows, by the audit action that changes it (an action's first word)
TOPICS = {"approval": ("approvals", "agents"), "mode": ("agents",), "agent": ("agents",), "release": ("agents",),
          "action": ("agents",), "alert": ("alerts",), "silence": ("alerts",), "rules": ("rules",),
          "notification": ("notifications",),
          # a sign-out or a revoked token: each open stream checks that its session still stands
          "console": ("sessions",), "token": ("sessions",)}


@dataclass(frozen=True)
class Mark:
    """Where the console's change watch stands: the last audit row seen, the alerts' digest,
    the undeliverable notifications' digest."""

    audit_id: int
    alerts: tuple[tuple[Any, ...], ...]
    undeliverable: tuple[int, int] = (0, 0)


def change_mark(app: App) -> Mark:
    with app.sessions() as s:
        return Mark(watch.last_audit_id(session=s), watch.alerts_mark(session=s),
                    watch.undeliverable_mark(session=s))


def changes_since(app: App, mark: Mark) -> tuple[Mark, set[str]]:
    """What changed since `mark`, as the topics of the pages it shows on (every replica writes
    the same database, so this sees their changes too), and the new mark."""
    with app.sessions() as s:
        rows = watch.audit_actions_after(session=s, after_id=mark.audit_id)
        alerts = watch.alerts_mark(session=s)
        lost = watch.undeliverable_mark(session=s)
    topics = {"audit"} if rows else set()
    for _, action in rows:
        topics.update(TOPICS.get(action.split(".", 1)[0], ()))
    if alerts != mark.alerts:
        topics.add("alerts")
    if lost != mark.undeliverable:
        topics.add("notifications")
    return Mark(rows[-1][0] if rows else mark.audit_id, alerts, lost), topics


@dataclass(frozen=True)
class AlertLine:
    """An alert as the alerts page shows it: its row, the Slack message's group it went out in
    (to acknowledge), and the silence muting it."""

    row: AlertRow
    group: NotifyGroupRow | None
    silence: Silence | None


def parse_matchers(texts: Sequence[str]) -> list[Matcher]:
    """Label matchers typed in a filter or a silence form (one per entry, blanks skipped); 422 names the bad one."""
    found = []
    for text in (t.strip() for t in texts):
        if text:
            try:
                found.append(parse_matcher(check_text(text, max_length=MAX_NAME)))
            except ValueError as exc:
                raise Refusal(422, str(exc)) from None
    if len(found) > MAX_MATCHERS:
        raise Refusal(422, f"at most {MAX_MATCHERS} matchers")
    return found


def alert_board(app: App, *, matchers: Sequence[Matcher]) -> dict[str, dict[str, list[AlertLine]]]:
    """Firing and pending alerts matching every matcher, by owner then alertname (firing first)."""
    now = app.clock()
    with app.sessions() as s:
        rows = [r for r in store.list_alerts(session=s)
                if r.state in ("firing", "pending") and all(m.matches(r.labels) for m in matchers)]
        groups = list(store.notify_groups(session=s).values())
        silences = store.active_silences(session=s, now=now)
    sent = {fp: g for g in groups for fp in g.sent_firing}
    board: dict[str, dict[str, list[AlertLine]]] = {}
    for row in sorted(rows, key=lambda r: (r.state != "firing", r.active_at)):
        owner = board.setdefault(row.labels.get("owner", "(no owner)"), {})
        owner.setdefault(row.labels.get("alertname", "?"), []).append(
            AlertLine(row, sent.get(row.fingerprint), silenced_by(row.labels, silences, now)))
    return {o: dict(sorted(names.items())) for o, names in sorted(board.items())}


def silence_preview(app: App, *, matchers: Sequence[Matcher]) -> list[AlertRow]:
    """The firing and pending alerts a silence with these matchers would mute now."""
    if not matchers:
        return []
    now = app.clock()
    would = Silence(0, tuple(matchers), now, now + 1, "", "")
    with app.sessions() as s:
        return [r for r in store.list_alerts(session=s)
                if r.state in ("firing", "pending") and would.silences(r.labels, now)]


AFTER_RESOLVED = 3600.0  # a resolved episode's timeline runs on this long (a hold is often released later)
QUIET_ACTIONS = ("action.allow",)  # the agent's allowed calls: the trail keeps them, a timeline does not
SHADOW_ACTIONS = ("alert.shadow_hold", "alert.shadow_release")  # a shadow takeover's would-be hold: held nothing


@dataclass(frozen=True)
class Moment:
    """One line of an incident's timeline."""

    at: float
    kind: str  # evaluation, slack, mode, shadow, approval, ack, release, action
    what: str
    who: str = ""
    detail: str = ""
    link: str | None = None


@dataclass(frozen=True)
class Incident:
    alert: AlertRow
    until: float
    moments: list[Moment]


def incident(app: App, *, alert_id: int) -> Incident | None:
    """One alert episode, from its first evaluation to its end (and an hour after it resolved):
    the evaluations that made it pending, firing and resolved (the alert row), the Slack
    messages queued for its group, its agent and its approvals (the outbox), and the mode
    changes, approvals, acknowledgement and release (the audit trail)."""
    now = app.clock()
    with app.sessions() as s:
        row = s.get(AlertRow, alert_id)
        if row is None:
            return None
        since = row.active_at - 1
        until = min(now, row.resolved_at + AFTER_RESOLVED) if row.resolved_at and row.state == "inactive" else now
        routing = app.messages.routing
        group = routing.group_key(row.labels, channel=routing.destination(row.labels.get("owner", "")).channel)
        agent = row.labels.get("agent")
        subjects = [f"group:{group}"] + ([f"agent:{agent}"] if agent else [])
        trail = [r for r in watch.audit_about(session=s, subjects=subjects, since=since, until=until)
                 if not r.action.startswith(QUIET_ACTIONS)]
        asked = sorted({str(r.after["approval"]) for r in trail
                        if r.action.startswith("approval.") and isinstance(r.after, dict) and "approval" in r.after})
        prefixes = [f"group:{group}:"] + ([f"mode:{agent}:"] if agent else []) + [f"approval:{a}" for a in asked]
        sent = watch.outbox_about(session=s, prefixes=prefixes, since=since, until=until)
    moments, seen = evaluations(row) + [audited(r) for r in trail], set()
    for message in sent:
        moments.append(slack(message, first=message.message_key not in seen))
        seen.add(message.message_key)
    return Incident(row, until, sorted(moments, key=lambda m: m.at))


def evaluations(row: AlertRow) -> list[Moment]:
    """What the evaluator recorded on the alert: pending, firing (and the takeover it caused), resolved."""
    if row.group_key == store.ALERTMANAGER_GROUP:  # evaluated elsewhere: takeover saw it when notified
        rule = "alertmanager"
        found = [Moment(row.active_at, "evaluation", "active in Alertmanager (startsAt)", rule)]
    else:
        rule = f"rule:{row.labels.get('alertname', '?')}"
        found = [Moment(row.active_at, "evaluation", "pending: the expression matched", rule)]
    if row.fired_at is not None:
        effect = row.takeover or {}
        held = f"; {effect.get('agent')}: {effect.get('before')} → {effect.get('after')}" if effect else ""
        found.append(Moment(row.fired_at, "evaluation", "firing", rule, f"value {row.value:.4g}{held}"))
    if row.resolved_at is not None:
        found.append(Moment(row.resolved_at, "evaluation", "resolved", rule))
    return found


def audited(row: AuditRow) -> Moment:
    kind = {"mode": "mode", "approval": "approval", "alert": "ack", "release": "release"}.get(
        row.action.split(".", 1)[0], "action")
    if row.action == "mode.release":
        kind = "release"
    elif row.action in SHADOW_ACTIONS:
        kind = "shadow"
    change = f"{row.before} → {row.after}" if isinstance(row.before, str) and isinstance(row.after, str) else ""
    approval = row.after.get("approval") if isinstance(row.after, dict) else None
    return Moment(row.at, kind, row.action, row.actor, "; ".join(p for p in (change, row.reason) if p),
                  f"/ui/approvals#approval-{approval}" if approval else None)


def slack(row: OutboxRow, *, first: bool) -> Moment:
    """A queued Slack message: a post, an update of an earlier post (same key), or a thread note."""
    text = str(row.payload.get("text") or row.payload.get("fallback_text") or row.message_key)
    how = "thread note in" if row.payload.get("thread_of") else ("posted to" if first else "updated in")
    state = f"{how} {row.channel}" + ("" if row.sent_at is not None else " (not sent yet)")
    return Moment(row.created_at, "slack", state, "", text[:300])


@dataclass(frozen=True)
class AuditQuery:
    """The audit page's filters, as its URL carries them (times as UTC `YYYY-MM-DDTHH:MM`)."""

    actor: str = ""
    action: str = ""
    subject: str = ""
    since: str = ""
    until: str = ""

    def bounds(self) -> tuple[float | None, float | None]:
        """The time range in seconds; 422 for a time that is not one."""
        return moment(self.since, "from"), moment(self.until, "to")

    def search(self) -> dict[str, Any]:
        since, until = self.bounds()
        return {"actor": self.actor or None, "action": self.action or None, "subject": self.subject or None,
                "since": since, "until": until}

    def params(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def moment(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise Refusal(422, f"{name}: a time like 2026-11-27T14:30 (UTC), not {text[:40]!r}") from None
    return (at if at.tzinfo else at.replace(tzinfo=datetime.UTC)).timestamp()


def audit_page(app: App, query: AuditQuery, *, before_id: int | None, limit: int,
               full: bool = False) -> tuple[list[AuditRow], int, AuditRow | None]:
    """A page of matching rows newest first, and the chain's verification: (rows checked, the
    first broken row or None) — the rows appended since the last view, or (`full`) all of them."""
    with app.sessions() as s:
        rows = watch.find_audit(session=s, before_id=before_id, limit=limit, **query.search())
        checked, broken = app.audit.verify(s, now=app.clock(), full=full)
    return rows, checked, broken


def audit_export(app: App, query: AuditQuery, *, batch: int = 1000) -> Iterator[list[AuditRow]]:
    """Every matching row oldest first, a batch at a time (each batch its own short transaction)."""
    search, after = query.search(), 0
    while True:
        with app.sessions() as s:
            rows = watch.find_audit(session=s, after_id=after, newest_first=False, limit=batch, **search)
        if not rows:
            return
        yield rows
        after = rows[-1].id or 0
