"""Notifications Slack refused every way: the meta-alert that says so, and what a person does
about one — retry it from the start (after fixing the token or inviting the app) or dismiss it.
Both are operations: validated, audited, committed once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.app.context import App
from takeover.app.errors import Refusal
from takeover.rules.evaluate import RESOLVED_RETENTION, State
from takeover.store.models import OutboxRow

META_ALERT = "TakeoverNotificationsUndeliverable"
RUNBOOK = "https://github.com/takeover/takeover#what-a-person-sees-when-slack-refuses-a-message"
SHOWN_TEXT = 300  # characters of a message's text the list shows
REFUSED = "Slack refused it: "  # how delivery begins the reason of a refused row (said once is enough)


def notification_public(row: OutboxRow) -> dict[str, Any]:
    """An outbox row as the API and the console show it."""
    return {"id": row.id, "message_key": row.message_key, "channel": row.channel,
            "text": str(row.payload.get("text") or "")[:SHOWN_TEXT], "created_at": row.created_at,
            "sent_at": row.sent_at, "undeliverable_at": row.undeliverable_at, "error": row.last_error,
            "dismissed_at": row.dismissed_at, "dismissed_by": row.dismissed_by}


@dataclass(frozen=True)
class Undelivered:
    """What the console's banner says: how many, and the last one's error."""

    count: int
    last_error: str
    last_at: float | None


def undelivered(app: App) -> Undelivered:
    with app.sessions() as s:
        rows = store.undeliverable(session=s, limit=1)
        count = len(store.undeliverable_keys(session=s)) if rows else 0
    last = rows[0] if rows else None
    error = (last.last_error or "").removeprefix(REFUSED) if last else ""
    return Undelivered(count, error, last.undeliverable_at if last else None)


def undeliverable(app: App, *, limit: int = 100) -> list[dict[str, Any]]:
    """The undeliverable rows nobody dismissed, newest first."""
    with app.sessions() as s:
        return [notification_public(r) for r in store.undeliverable(session=s, limit=limit)]


def _undeliverable_row(s: Session, notification_id: int) -> OutboxRow:
    row = s.get(OutboxRow, notification_id)
    if row is None:
        raise Refusal(404, f"no notification {notification_id}")
    if row.undeliverable_at is None:
        state = "delivered" if row.sent_at is not None else "still being delivered"
        raise Refusal(409, f"notification {notification_id} is not undeliverable: it is {state}")
    return row


def retry(app: App, *, notification_id: int, actor: str) -> dict[str, Any]:
    """Queue an undeliverable notification again from the start (as it was, to its own channel,
    no back-off). 409 when a later version of its message was delivered since: sending this one
    would overwrite newer news with older (dismiss it instead)."""
    with app.sessions() as s:
        row = _undeliverable_row(s, notification_id)
        if store.delivered_later(session=s, row=row):
            raise Refusal(409, f"a later version of notification {notification_id}'s message was delivered: "
                               "dismiss this one")
        before = {"channel": row.channel, "error": row.last_error, "dismissed_by": row.dismissed_by}
        store.requeue(session=s, row=row)
        store.record_audit(session=s, now=app.clock(), actor=actor, action="notification.retry",
                           subject=f"notification:{notification_id}", before=before,
                           after={"message_key": row.message_key})
        s.commit()
        shown = notification_public(row)
    app.wake("deliver")
    return shown


def dismiss(app: App, *, notification_id: int, actor: str) -> dict[str, Any]:
    """Let an undeliverable notification go: kept in the outbox, no longer counted, shown or
    alerted on. 409 when someone dismissed it already."""
    now = app.clock()
    with app.sessions() as s:
        row = _undeliverable_row(s, notification_id)
        if row.dismissed_by is not None:
            raise Refusal(409, f"notification {notification_id} was dismissed by {row.dismissed_by}")
        store.dismiss(session=s, row=row, actor=actor, now=now)
        store.record_audit(session=s, now=now, actor=actor, action="notification.dismiss",
                           subject=f"notification:{notification_id}", before={"error": row.last_error},
                           after={"message_key": row.message_key, "channel": row.channel})
        s.commit()
        return notification_public(row)


def meta_alert(s: Session, *, owner: str, now: float) -> str | None:
    """The built-in alert on takeover itself: notifications Slack refused every way. It fires
    while one nobody retried or dismissed remains and goes out like every alert (when Slack is
    what fails, it shows in the console's banner and /metrics instead). Its own messages do not
    keep it firing — or dismissing everything while Slack is down would fire it again with its
    resolved message. Returns what to log as an error once the transaction holds: the start
    of an episode."""
    labels = {"alertname": META_ALERT, "owner": owner, "severity": "page"}
    own = _own_messages(s, labels)
    keys = store.undeliverable_keys(session=s)
    others = [k for k in keys if not any(k == m or k.startswith(m + ":") for m in own)]
    alert = store.meta_alert(session=s, name=META_ALERT)
    firing = alert is not None and alert.state == State.firing.value
    if others and not firing:
        last = store.undeliverable(session=s, limit=1)[0]
        error = (last.last_error or "").removeprefix(REFUSED)
        store.save_meta_alert(session=s, labels=labels, now=now, firing=True, annotations={
            "summary": f"takeover could not deliver {len(others)} notification(s) to Slack: {error}",
            "runbook_url": RUNBOOK,
            "first_check": "the console's Undelivered page (or GET /v1/notifications/undeliverable) lists them "
                           "with Slack's error; fix the token or the channel, then retry them"})
        return (f"takeover cannot deliver notifications to Slack: {len(others)} undeliverable, the last: "
                f"{error} — retry or dismiss them at /ui/notifications")
    if not others and firing:
        store.save_meta_alert(session=s, labels=labels, now=now, firing=False, annotations={})
    elif alert is not None and alert.state == State.inactive.value and not (set(keys) - set(others)) and \
            (alert.resolved_at or now) < now - RESOLVED_RETENTION:
        s.delete(alert)  # kept while its own messages wait: they are known as its own by its group
    return None


def _own_messages(s: Session, labels: dict[str, str]) -> list[str]:
    """The message keys of the Slack messages the meta-alert went out in (its groups')."""
    mine = store.fingerprint(tuple(sorted(labels.items())))
    return [g.message_key for g in store.notify_groups(session=s).values()
            if mine in (g.sent_firing or ()) or mine in (g.sent_resolved or ())]
