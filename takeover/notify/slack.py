"""The Slack client behind a small interface: `Notifier`, with `SlackNotifier` (slack-sdk's
WebClient, one attempt per call, failures raised with their class) and `ConsoleNotifier` (prints; used without a Slack token)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from takeover.notify.failures import DeliveryError, from_exception
from takeover.notify.templates import Message, slack_escape

MARKER = "takeover_message"  # Slack metadata event type carrying a post's outbox key


class Notifier(Protocol):
    settle: float  # seconds after which a post started by another process must have ended
    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        """Post a new message; returns (channel id, ts). Every method raises `DeliveryError`
        (or an OSError, classified as a network error) when the call fails."""

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
    """slack-sdk's WebClient, one attempt per call: a failure is raised as a `DeliveryError`
    with its class, and the delivery's retry stage decides when (and whether) to try again —
    so no call sleeps on a Retry-After inside the client, where no leader term could stop it."""

    LIST_AGAIN_AFTER = 300.0  # seconds before a channel name not found is looked up again

    def __init__(self, *, token: str, base_url: str, timeout: float = 10.0) -> None:
        # the longest a call can take: a post started by a crashed leader has ended after this
        self.settle = timeout + 5.0
        self._ids: dict[str, str] = {}
        self._listed_at: float | None = None
        from slack_sdk import WebClient

        self.client = WebClient(token=token, base_url=base_url, timeout=max(1, int(timeout)), retry_handlers=[])

    def _call(self, method: str, call: Callable[..., Any], **params: Any) -> Any:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            return call(**params)
        except SlackApiError as exc:
            raise DeliveryError(from_exception(exc, method=method)) from exc
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(from_exception(exc, method=method)) from exc

    def post(self, *, channel: str, message: Message) -> tuple[str, str]:
        response = self._call("chat.postMessage", self.client.chat_postMessage, channel=channel, **message)
        return str(response["channel"]), str(response["ts"])

    def update(self, *, channel: str, ts: str, message: Message) -> None:
        self._call("chat.update", self.client.chat_update, channel=channel, ts=ts, **message)

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        self._call("chat.postEphemeral", self.client.chat_postEphemeral, channel=channel, user=user, text=text)

    def find(self, *, channel: str, key: str, oldest: float, thread_ts: str | None) -> list[tuple[str, str]]:
        try:
            return self._find(channel=channel, key=key, oldest=oldest, thread_ts=thread_ts)
        except DeliveryError as exc:
            if exc.failure.error == "channel_not_found":
                return []  # a channel never posted to (so its id is unknown) holds no copy
            raise

    def _channel_id(self, name: str) -> str:
        """Slack reads history by channel id: `#name` is looked up (scopes channels:read and
        groups:read) once and cached; a name not found is looked up again only after
        LIST_AGAIN_AFTER seconds (conversations.list is Tier 2: about 20 calls a minute)."""
        if not name.startswith("#"):
            return name
        if name not in self._ids and (self._listed_at is None
                                      or time.monotonic() - self._listed_at > self.LIST_AGAIN_AFTER):
            self._listed_at = time.monotonic()
            for page in self._call("conversations.list", self.client.conversations_list,
                                   types="public_channel,private_channel", exclude_archived=True, limit=1000):
                for channel in page.get("channels") or []:
                    self._ids[f"#{channel['name']}"] = str(channel["id"])
        return self._ids.get(name, name)

    def _find(self, *, channel: str, key: str, oldest: float, thread_ts: str | None) -> list[tuple[str, str]]:
        channel = self._channel_id(channel)
        if thread_ts is None:
            response = self._call("conversations.history", self.client.conversations_history, channel=channel,
                                  oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200)
        else:
            response = self._call("conversations.replies", self.client.conversations_replies, channel=channel,
                                  ts=thread_ts, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200)
        return [(channel, str(m["ts"])) for m in response.get("messages") or []
                if (m.get("metadata") or {}).get("event_type") == MARKER
                and (m.get("metadata") or {}).get("event_payload", {}).get("key") in (key, slack_escape(key))]

    def open_modal(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        self._call("views.open", self.client.views_open, trigger_id=trigger_id, view=view)


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


