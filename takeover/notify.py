"""Slack messages: rendered from Jinja2 templates to Block Kit, delivered from the outbox.

`Notifier` is the I/O interface; `SlackNotifier` talks to Slack's Web API through slack-sdk and
`ConsoleNotifier` prints (used when no Slack token is configured, e.g. by `takeover demo`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from slack_sdk.errors import SlackClientError
from sqlmodel import Session

from takeover import store
from takeover.gotemplate import format_value
from takeover.models import MessageRow

log = logging.getLogger(__name__)
LOUD_AFTER = 300.0  # seconds undelivered after which each failure is logged as an error
Message = dict[str, Any]  # {"text": str, "blocks": [...]}: chat.postMessage arguments


def humanize_seconds(seconds: float | None) -> str:
    """`3h 5m`, `42s`: how long an alert has fired, for messages."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    parts = [(whole // 86400, "d"), (whole % 86400 // 3600, "h"), (whole % 3600 // 60, "m"), (whole % 60, "s")]
    return " ".join([f"{n}{unit}" for n, unit in parts if n][:2]) or "0s"


def slack_escape(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def template_env(directory: str | Path) -> jinja2.Environment:
    env = SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(directory)),
                               undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["slack"] = slack_escape
    env.filters["value"] = format_value
    env.filters["duration"] = humanize_seconds
    return env


def render_message(env: jinja2.Environment, kind: str, context: dict[str, Any]) -> Message:
    """Render `<kind>.json.j2` to a message; a failing template falls back to plain text."""
    try:
        message = json.loads(env.get_template(f"{kind}.json.j2").render(**context))
        if not isinstance(message, dict) or not message.get("text"):
            raise ValueError("a message must be a JSON object with a top-level text")
        return message
    except (jinja2.TemplateError, ValueError) as exc:
        log.error("template %s failed (%s); sending plain text instead", kind, exc)
        return {"text": context.get("fallback_text") or f"takeover {kind}: {context}"}


_ALERT = {"name": "AgentErrorRateHigh", "id": 'AgentErrorRateHigh{agent="bot"}', "labels": {"agent": "bot"},
          "annotations": {}, "state": "firing", "value": 0.25, "summary": "bot fails", "severity": "page",
          "runbook_url": "https://runbooks.example.com/x", "first_check": "look", "agent": "bot",
          "takeover": "read_only", "fired_for": 90.0, "resolved_at": None}
_GROUP = {"group": {"id": 1, "key": "#c|alertname=A,owner=o", "owner": "o", "channel": "#c", "mention": "",
                    "known_owner": True, "acked_by": None, "escalated": 0},
          "alerts": [_ALERT], "more": 0, "firing": [_ALERT], "first": _ALERT, "now": 0.0, "target": "U1"}
_APPROVAL = {"approval": {"id": "abc", "agent": "bot", "action": "refund", "kind": "write", "risk": "high",
                          "reason": "r", "status": "approved", "requested_at": 0.0, "expires_at": 900.0,
                          "responders": ["role:operator"], "decided_by": "operator:a", "comment": "ok",
                          "args": {"proposed": {"a": 1}, "approved": None, "effective": {"a": 1}}}}
SAMPLES: dict[str, dict[str, Any]] = {
    "alert_firing": _GROUP, "alert_resolved": _GROUP, "escalation": _GROUP,
    "approval_requested": _APPROVAL, "approval_decided": _APPROVAL,
    "mode_changed": {"agent": "bot", "before": "normal", "after": "read_only", "actor": "rule:A", "reason": "r"},
}


def check_templates(directory: str | Path) -> list[str]:
    """Render every message kind with a sample: each problem as `file:line: message`."""
    env = template_env(directory)
    problems = []
    for kind, context in SAMPLES.items():
        name = f"{kind}.json.j2"
        path = Path(directory) / name
        try:
            message = json.loads(env.get_template(name).render(**context))
            if not isinstance(message, dict) or not message.get("text"):
                problems.append(f"{path}:1: must render a JSON object with a top-level text")
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: {exc.message}")
        except jinja2.TemplateNotFound:
            problems.append(f"{path}:1: missing (takeover sends {kind} messages)")
        except (jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"{path}:{_template_line(exc, name)}: {type(exc).__name__}: {exc}")
    return problems


def _template_line(exc: BaseException, name: str) -> int:
    """The line of the template where rendering failed (Jinja keeps it in the traceback)."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Notifier(Protocol):
    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        """Post a new message; returns (channel id, ts)."""

    def update(self, *, channel: str, ts: str, message: Message) -> None:
        """Edit the message at (channel, ts) in place."""

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        """A message only `user` sees (refusals of Slack buttons)."""

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (the comment box of a rejection)."""


class SlackNotifier:
    """slack-sdk's WebClient with retries on 429 (honouring Retry-After) and on 5xx."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 10.0, retries: int = 2) -> None:
        from slack_sdk import WebClient
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            RateLimitErrorRetryHandler,
            ServerErrorRetryHandler,
        )

        self.client = WebClient(token=token, base_url=base_url, timeout=int(timeout), retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=retries),
            RateLimitErrorRetryHandler(max_retry_count=retries),
            ServerErrorRetryHandler(max_retry_count=retries),
        ])

    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        response = self.client.chat_postMessage(channel=channel, **message)
        return str(response["channel"]), str(response["ts"])

    def update(self, *, channel: str, ts: str, message: Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, **message)

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        self.client.views_open(trigger_id=trigger_id, view=view)


class ConsoleNotifier:
    """Prints each message's text and block text to a terminal stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.count = 0

    def _print(self, header: str, message: Message) -> None:
        lines = [header, message["text"]]
        for block in message.get("blocks", []):
            for part in [block.get("text")] + list(block.get("fields", [])) + list(block.get("elements", [])):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    lines.append(part["text"])
        print("\n  ".join(lines), file=self.stream, flush=True)

    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        self.count += 1
        self._print(f"── slack {channel} (new message {self.count}) ──", message)
        return channel, str(self.count)

    def update(self, *, channel: str, ts: str, message: Message) -> None:
        self._print(f"── slack {channel} (update of message {ts}) ──", message)

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        self._print(f"── slack {channel} (only {user} sees this) ──", {"text": text})

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        self._print("── slack modal ──", {"text": str(view.get("title", {}).get("text", ""))})


def deliver(*, sessions: Callable[[], Session], notifier: Notifier,
            clock: Callable[[], float] = time.time) -> tuple[int, int]:
    """Send undelivered outbox rows in order; a message is posted once, then only updated.

    A failed row stays in the outbox (and holds back later rows for the same message) until a
    later pass delivers it. No transaction is open while Slack is called. Returns (rows sent,
    attempts failed).
    """
    sent = failed = 0
    blocked: set[str] = set()
    with sessions() as session:
        rows = store.undelivered(session=session)
    for row in rows:
        parent_key = row.payload.get("thread_of")
        if row.message_key in blocked or (parent_key is not None and parent_key in blocked):
            blocked.add(row.message_key)
            continue
        with sessions() as session:
            posted = store.posted_message(session=session, key=row.message_key)
            parent = store.posted_message(session=session, key=parent_key) if parent_key else None
        if parent_key is not None and parent is None:
            blocked.add(row.message_key)  # the thread's first message is not posted yet
            continue
        new: MessageRow | None = None
        error = None
        try:
            if parent is not None:
                message = {k: v for k, v in row.payload.items() if k != "thread_of"}
                channel, ts = notifier.post(channel=parent.channel, message={**message, "thread_ts": parent.ts})
                new = MessageRow(key=row.message_key, channel=channel, ts=ts)
            elif posted is None:
                channel, ts = notifier.post(channel=row.channel, message=row.payload)
                new = MessageRow(key=row.message_key, channel=channel, ts=ts)
            else:
                notifier.update(channel=posted.channel, ts=posted.ts, message=row.payload)
        except (SlackClientError, OSError) as exc:  # retried on a later pass
            error = f"{type(exc).__name__}: {exc}"[:500]
        with sessions() as session:
            # committed right after the post: the only window for a double post
            if new is not None:
                session.add(new)
            if error is None:
                row.sent_at = clock()
                sent += 1
            else:
                blocked.add(row.message_key)
                failed += 1
                row.attempts += 1
                row.last_error = error
                age = clock() - row.created_at
                level = logging.ERROR if age > LOUD_AFTER else logging.WARNING
                log.log(level, "slack delivery of outbox row %s failed (attempt %d, undelivered for %.0fs): %s",
                        row.id, row.attempts, age, error)
            session.add(row)
            session.commit()
    return sent, failed
