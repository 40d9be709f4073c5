"""Slack messages: rendered from Jinja2 templates to Block Kit, delivered from the outbox.

`Notifier` is the I/O interface; `SlackNotifier` talks to Slack's Web API through slack-sdk and
`ConsoleNotifier` prints (used when no Slack token is configured, e.g. by `takeover demo`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from slack_sdk.errors import SlackClientError
from sqlmodel import Session

from takeover import store
from takeover.rules.gotemplate import format_value
from takeover.store.models import MessageRow, OutboxRow

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
    settle: float  # seconds after which a post started by another process must have ended
    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        """Post a new message; returns (channel id, ts)."""

    def update(self, *, channel: str, ts: str, message: Message) -> None:
        """Edit the message at (channel, ts) in place."""

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        """A message only `user` sees (refusals of Slack buttons)."""

    def find(self, *, channel: str, key: str, oldest: float, thread_ts: str | None) -> list[tuple[str, str]]:
        """(channel id, ts) of the messages since `oldest` marked with `key`, newest first
        (in the thread of `thread_ts` when given)."""

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (the comment box of a rejection)."""


class SlackNotifier:
    """slack-sdk's WebClient with retries on 429 (honouring Retry-After) and on 5xx."""

    def __init__(self, *, token: str, base_url: str, timeout: float = 10.0, retries: int = 2) -> None:
        # every attempt may take the timeout, plus the retry handlers' waits in between
        self.settle = timeout * (retries + 1) + 5.0 * retries
        self._ids: dict[str, str] = {}
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

    def find(self, *, channel: str, key: str, oldest: float, thread_ts: str | None) -> list[tuple[str, str]]:
        from slack_sdk.errors import SlackApiError

        try:
            return self._find(channel=channel, key=key, oldest=oldest, thread_ts=thread_ts)
        except SlackApiError as exc:
            if exc.response.get("error") == "channel_not_found":
                return []  # a channel never posted to (so its id is unknown) holds no copy
            raise

    def _channel_id(self, name: str) -> str:
        """Slack reads history by channel id: `#name` is looked up (scopes channels:read and
        groups:read) the first time, e.g. after a crash before the first post in a channel."""
        if not name.startswith("#"):
            return name
        if name not in self._ids:
            for page in self.client.conversations_list(types="public_channel,private_channel",
                                                       exclude_archived=True, limit=1000):
                for channel in page.get("channels") or []:
                    self._ids[f"#{channel['name']}"] = str(channel["id"])
        return self._ids.get(name, name)

    def _find(self, *, channel: str, key: str, oldest: float, thread_ts: str | None) -> list[tuple[str, str]]:
        channel = self._channel_id(channel)
        if thread_ts is None:
            response = self.client.conversations_history(channel=channel, oldest=f"{oldest:.6f}",
                                                         include_all_metadata=True, limit=200)
        else:
            response = self.client.conversations_replies(channel=channel, ts=thread_ts, oldest=f"{oldest:.6f}",
                                                         include_all_metadata=True, limit=200)
        return [(channel, str(m["ts"])) for m in response.get("messages") or []
                if (m.get("metadata") or {}).get("event_type") == MARKER
                and (m.get("metadata") or {}).get("event_payload", {}).get("key") == key]

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        self.client.views_open(trigger_id=trigger_id, view=view)


def _one_block(text: str) -> str:
    """Text for the terminal: every line indented under its message (so text from an agent can
    never pass for a log line of its own) and other control characters shown escaped."""
    escaped = "".join(ch if ch == "\n" or ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return escaped.replace("\n", "\n    ")


class ConsoleNotifier:
    """Prints each message's text and block text to a terminal stream."""

    settle = 0.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.count = 0

    def _print(self, header: str, message: Message) -> None:
        lines = [header, message["text"]]
        for block in message.get("blocks", []):
            for part in [block.get("text")] + list(block.get("fields", [])) + list(block.get("elements", [])):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    lines.append(part["text"])
        print("\n  ".join(map(_one_block, lines)), file=self.stream, flush=True)

    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        self.count += 1
        self._print(f"── slack {channel} (new message {self.count}) ──", message)
        return channel, str(self.count)

    def update(self, *, channel: str, ts: str, message: Message) -> None:
        self._print(f"── slack {channel} (update of message {ts}) ──", message)

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        self._print(f"── slack {channel} (only {user} sees this) ──", {"text": text})

    def find(self, *, channel: str, key: str, oldest: float, thread_ts: str | None) -> list[tuple[str, str]]:
        return []  # a terminal has no history to search

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        self._print("── slack modal ──", {"text": str(view.get("title", {}).get("text", ""))})


MARKER = "takeover_message"  # Slack metadata event type carrying a post's outbox key
SUPERSEDED: Message = {
    "text": "♻️ takeover posted this message again after a restart; this copy is no longer updated.",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                "♻️ _takeover posted this message again after a restart; this copy is no longer "
                "updated and its buttons are gone. Follow the newer message._"}}],
}
Claim = Literal["sent", "wait", "claimed", "in_doubt"]


def marked(message: Message, key: str) -> Message:
    """The message with its outbox key as Slack metadata, so it can be found after a crash."""
    return {**message, "metadata": {"event_type": MARKER, "event_payload": {"key": key}}}


IDENTITY = f"{socket.gethostname()}:{os.getpid()}"


def maybe_alive(identity: str | None) -> bool:
    """False only when `host:pid` names a process of this host that is gone (a crash, a
    restart): its Slack call is over. A process on another host might still be running."""
    host, _, pid = (identity or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@dataclass
class Delivery:
    """Delivers the outbox as the leader of `term`.

    Each row is claimed for the term (in a fenced transaction) before Slack is called, and its
    outcome recorded in another fenced transaction, so a deposed leader stops before its next
    post and two processes never post the same row. A row claimed earlier and never finished is
    *in doubt*: the post may have reached Slack. Once the earlier call must be over (`settle`
    seconds after its claim, for another term's claim), the channel's history is searched for
    the row's marker: found, the message is adopted; not found, it is posted and, `settle`
    seconds later, the history is searched again for a copy that arrived late (an orphan),
    which is edited to say so and loses its buttons.

    Messages are independent: rows are delivered in order per message (a thread goes with its
    parent), different messages in parallel, so one failing message holds up only itself.
    """

    sessions: Callable[[], Session]
    notifier: Notifier
    term: int
    settle: float
    clock: Callable[[], float] = time.time
    pool: Executor | None = None

    def run(self) -> tuple[int, int]:
        """One pass over the outbox and the orphan checks due; returns (sent, failed)."""
        with self.sessions() as session:
            rows = store.undelivered(session=session)
            orphans = store.orphan_checks_due(session=session, now=self.clock())
        chains: dict[str, list[OutboxRow]] = {}
        for row in rows:
            chains.setdefault(row.payload.get("thread_of") or row.message_key, []).append(row)
        mapper = self.pool.map if self.pool is not None else map
        outcomes = list(mapper(self._chain, chains.values()))
        for message in orphans:
            self._check_orphans(message)
        return sum(s for s, _ in outcomes), sum(f for _, f in outcomes)

    def _chain(self, rows: list[OutboxRow]) -> tuple[int, int]:
        sent = 0
        for row in rows:
            outcome = self._row(row)
            if outcome is not True:
                return sent, int(outcome is False)  # later rows of this message wait
            sent += 1
        return sent, 0

    def _claim(self, row_id: int) -> tuple[Claim, OutboxRow | None, MessageRow | None, MessageRow | None, str]:
        now = self.clock()
        with self.sessions() as session:
            store.fence(session=session, term=self.term)
            row = session.get(OutboxRow, row_id)
            if row is None or row.sent_at is not None:
                return "sent", None, None, None, ""
            if row.claim_term not in (None, self.term) and (row.claimed_at or 0) + self.settle > now \
                    and maybe_alive(row.claimed_by):
                return "wait", None, None, None, ""  # another leader's call may still be running
            in_doubt = row.claim_term is not None
            row.claim_term, row.claimed_at, row.claimed_by = self.term, now, IDENTITY
            session.add(row)
            parent_key = row.payload.get("thread_of")
            posted = store.posted_message(session=session, key=row.message_key)
            parent = store.posted_message(session=session, key=parent_key) if parent_key else None
            channel = store.channel_id(session=session, name=row.channel)
            session.commit()
            return ("in_doubt" if in_doubt else "claimed"), row, posted, parent, channel

    def _row(self, queued: OutboxRow) -> bool | None:
        """True when delivered, False when Slack failed, None when it has to wait."""
        assert queued.id is not None
        claim, row, posted, parent, channel_id = self._claim(queued.id)
        if claim == "sent":
            return True
        if row is None:
            return None
        parent_key = row.payload.get("thread_of")
        if parent_key is not None and parent is None:
            return None  # the thread's first message is not posted yet
        new: tuple[str, str] | None = None
        orphan_check = None
        error = None
        try:
            if parent is not None or posted is None:
                message = {k: v for k, v in row.payload.items() if k != "thread_of"}
                where = parent.channel if parent is not None else row.channel
                thread_ts = parent.ts if parent is not None else None
                found = self.notifier.find(channel=parent.channel if parent is not None else channel_id,
                                           key=row.message_key, oldest=row.created_at - 1,
                                           thread_ts=thread_ts) if claim == "in_doubt" else []
                if found:
                    new = found[-1]  # the first copy posted is the one kept
                    for orphan in found[:-1]:
                        self.notifier.update(channel=orphan[0], ts=orphan[1], message=SUPERSEDED)
                    log.info("outbox row %s was posted before a crash: adopted %s", row.id, new[1])
                else:
                    if thread_ts is not None:
                        message["thread_ts"] = thread_ts
                    new = self.notifier.post(channel=where, message=marked(message, row.message_key))
                    if claim == "in_doubt" and thread_ts is None:
                        orphan_check = self.clock() + self.settle
            else:
                assert posted is not None
                self.notifier.update(channel=posted.channel, ts=posted.ts, message=row.payload)
        except (SlackClientError, OSError) as exc:  # retried on a later pass
            error = f"{type(exc).__name__}: {exc}"[:500]
        with self.sessions() as session:
            store.fence(session=session, term=self.term)  # deposed meanwhile: the next leader looks
            fresh = session.get(OutboxRow, row.id)
            assert fresh is not None
            if new is not None:
                store.record_post(session=session, key=row.message_key, channel=new[0], ts=new[1],
                                  asked_channel=row.channel if parent is None else new[0],
                                  orphan_check_at=orphan_check)
            if error is None:
                fresh.sent_at = self.clock()
            else:
                fresh.attempts += 1
                fresh.last_error = error
                age = self.clock() - fresh.created_at
                level = logging.ERROR if age > LOUD_AFTER else logging.WARNING
                log.log(level, "slack delivery of outbox row %s failed (attempt %d, undelivered for %.0fs): %s",
                        fresh.id, fresh.attempts, age, error)
            session.add(fresh)
            session.commit()
        return error is None

    def _check_orphans(self, message: MessageRow) -> None:
        """A message posted again after an in-doubt claim: edit any other copy of it."""
        assert message.orphan_check_at is not None
        try:
            found = self.notifier.find(channel=message.channel, key=message.key,
                                       oldest=message.orphan_check_at - 3 * self.settle - 60, thread_ts=None)
            for channel, ts in found:
                if ts != message.ts:
                    self.notifier.update(channel=channel, ts=ts, message=SUPERSEDED)
                    log.warning("message %s was posted twice after a crash: the orphan %s is marked", message.key, ts)
        except (SlackClientError, OSError) as exc:
            log.warning("could not look for orphans of message %s: %s", message.key, exc)
            return
        with self.sessions() as session:
            store.fence(session=session, term=self.term)
            row = session.get(MessageRow, message.key)
            if row is not None:
                row.orphan_check_at = None
                session.add(row)
            session.commit()
