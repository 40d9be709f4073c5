"""The fallback stage: what to try when Slack refuses a message for good (a permanent
`Failure`), in order — the same message as minimal plain text, then the default channel with a
line saying why the owner's channel failed (plain text again if need be) — and when nothing is
left, undeliverable (kept, counted and shown; never dropped). Pure: no I/O."""

from __future__ import annotations

from typing import Any

from takeover.notify.failures import Failure, Kind
from takeover.notify.fit import MAX_SECTION, cut
from takeover.notify.templates import Message, slack_escape

PLAIN, DEFAULT, DEFAULT_PLAIN, REPOST = "plain", "default channel", "default channel, plain", "posted anew"
HINTS = {"not_in_channel": "invite the takeover app to it", "channel_not_found": "check the channel in the routing file",
         "is_archived": "unarchive it or route the owner elsewhere"}


def next_stage(failure: Failure, *, stage: str | None, channel: str, default_channel: str) -> str | None:
    """The next way to try after `failure` at `stage` (None: the message as it was); None
    when nothing is left (the message is undeliverable)."""
    elsewhere = channel != default_channel
    if failure.kind is Kind.auth:
        return None  # the token is refused: no channel will take any message
    if failure.kind is Kind.gone and stage is None:
        return REPOST
    if failure.kind is Kind.channel:
        return DEFAULT if elsewhere and stage in (None, PLAIN, REPOST) else None
    if failure.kind in (Kind.message, Kind.gone):
        return {None: PLAIN, REPOST: PLAIN, DEFAULT: DEFAULT_PLAIN}.get(stage)
    return None


def plain(message: Message, *, link: str | None) -> Message:
    """The message as plain text only: no blocks (an update clears them), text within a
    section's limit, so what Slack refused in the blocks cannot refuse it again."""
    return {"text": cut(str(message.get("text") or "takeover notification"), MAX_SECTION, link=link),
            "blocks": []}


def redirected(message: Message, *, channel: str, error: str) -> Message:
    """The message for the default channel, saying first where it was meant to go and why it
    is here instead."""
    where = slack_escape(channel)
    hint = HINTS.get(error, "")
    line = (f":warning: Meant for {where}, but Slack refused it there (`{slack_escape(error)}`)"
            + (f": {hint}." if hint else "."))
    blocks: list[dict[str, Any]] = list(message.get("blocks") or [])
    text = f"[for {where}: {slack_escape(error)}] {message.get('text') or ''}"
    if not blocks:  # a text-only message: its text becomes a block under the line
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": cut(str(message.get("text") or "-"),
                                                                              MAX_SECTION)}}]
    return {**message, "text": text,
            "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}] + blocks}
