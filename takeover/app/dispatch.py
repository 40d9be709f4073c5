"""Acknowledging a group of alerts: the operation behind the API, the console and Slack's
button. The dispatcher itself (alert state → grouped messages) is `notify.dispatch`."""

from __future__ import annotations

from takeover.app.context import App
from takeover.notify.dispatch import Dispatcher
from takeover.store.models import NotifyGroupRow

__all__ = ["Dispatcher", "acknowledge"]


def acknowledge(app: App, *, group_id: int, actor: str) -> NotifyGroupRow | None:
    """Acknowledge a group of alerts (stops its escalation); the message shows who is on it."""
    group = Dispatcher(sessions=app.sessions, routing=app.messages.routing,
                       render=app.messages.render).acknowledge(group_id=group_id, actor=actor, now=app.clock())
    app.wake("deliver")
    return group
