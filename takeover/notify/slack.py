"""The Slack client behind a small interface: `Notifier`, with `SlackNotifier` (slack-sdk's
WebClient with retries) and `ConsoleNotifier` (prints; used without a Slack token)."""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO

from takeover.notify.templates import Message

MARKER = "takeover_message"  # Slack metadata event type carrying a post's outbox key


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


