"""Messages that fit: Block Kit's published limits, checked (`problems`) and enforced (`fit`)
before a message is sent, because Slack truncates nothing — it refuses the whole message
(`invalid_blocks`, `msg_too_long`).

Text that is too long is cut at a character boundary (never inside an `&amp;` entity or a
`<…>` the template wrote) and ends with "… (N more characters — full text in the console)",
linked to the console when its address is known. Pure: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

Message = dict[str, Any]  # chat.postMessage arguments (as templates.Message)

MAX_BLOCKS = 50
MAX_TEXT = 40_000  # top-level `text`
MAX_HEADER = 150
MAX_SECTION = 3_000  # a section's text, and any other text object
MAX_FIELDS, MAX_FIELD = 10, 2_000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS = 25
MAX_BUTTON_TEXT, MAX_BUTTON_VALUE, MAX_URL = 75, 2_000, 3_000
MAX_ID = 255  # action_id, block_id


def more_text(dropped: int, link: str | None) -> str:
    """What ends a cut text: how much is missing and where to read it."""
    where = f"<{link}|full text in the console>" if link else "full text in the console"
    return f"… ({dropped:,} more characters — {where})"


def cut(text: str, limit: int, *, link: str | None = None, plain: bool = False) -> str:
    """`text` if it fits in `limit` characters, else its start and what ends a cut text (just
    "…" for a short plain text such as a header or a button)."""
    if len(text) <= limit:
        return text
    if plain and limit < 200:
        return _safe_end(text[:limit - 1]) + "…"
    keep = limit
    for _ in range(3):  # the suffix names the number it drops: settle it
        suffix = more_text(len(text) - keep, None if plain else link)
        keep = max(0, limit - len(suffix) - 4)
    head = _safe_end(text[:keep])
    if head.count("```") % 2:
        head += "```"  # close a code block the cut opened
    return head + "\n" + more_text(len(text) - len(head), None if plain else link)


def _safe_end(head: str) -> str:
    """Cut back so the text does not end inside an entity or a `<…>` markup token."""
    opened = head.rfind("<")
    if opened > head.rfind(">"):
        head = head[:opened]
    amp = head.rfind("&")
    if amp != -1 and len(head) - amp <= 4 and ";" not in head[amp:]:
        head = head[:amp]  # `&am` of an `&amp;` cut in two
    return head


def problems(message: Message) -> list[str]:
    """Each place `message` breaks a published limit, as `where: what` (empty when it fits)."""
    found: list[str] = []
    _Check(found, None, fix=False).message(message)
    return found


def fit(message: Message, *, link: str | None = None) -> tuple[Message, list[str]]:
    """`message` within Block Kit's limits, and what had to be cut (empty: it fitted as it was)."""
    found = problems(message)
    if not found:
        return message, []
    fitted = copy.deepcopy(message)
    _Check([], link, fix=True).message(fitted)
    return fitted, found


class _Check:
    """One pass over a message: each limit checked where Block Kit states it."""

    def __init__(self, found: list[str], link: str | None, *, fix: bool) -> None:
        self.found, self.link, self.fix = found, link, fix

    def problem(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    def text(self, holder: dict[str, Any], key: str, limit: int, where: str, *, plain: bool = False) -> None:
        value = holder.get(key)
        if isinstance(value, str) and len(value) > limit:
            self.problem(f"{where}.{key}", f"{len(value):,} characters, more than {limit:,}")
            if self.fix:
                holder[key] = cut(value, limit, link=self.link, plain=plain)

    def text_object(self, obj: Any, limit: int, where: str) -> None:
        if isinstance(obj, dict):
            self.text(obj, "text", limit, where, plain=obj.get("type") == "plain_text")

    def message(self, message: Message) -> None:
        self.text(message, "text", MAX_TEXT, "message")
        blocks = message.get("blocks")
        if not isinstance(blocks, list):
            return
        if len(blocks) > MAX_BLOCKS:
            self.problem("message.blocks", f"{len(blocks)} blocks, more than {MAX_BLOCKS}")
            if self.fix:
                last = [blocks[-1]] if blocks[-1].get("type") == "actions" else []
                kept = blocks[:MAX_BLOCKS - 1 - len(last)]
                note = {"type": "context", "elements": [{"type": "mrkdwn", "text": more_text(
                    len(blocks) - len(kept) - len(last), self.link).replace("characters", "blocks")}]}
                blocks[:] = kept + [note] + last
        for i, block in enumerate(blocks):
            if isinstance(block, dict):
                self.block(block, f"blocks[{i}]")

    def block(self, block: dict[str, Any], where: str) -> None:
        self.text(block, "block_id", MAX_ID, where, plain=True)
        kind = block.get("type")
        if kind == "header":
            self.text_object(block.get("text"), MAX_HEADER, f"{where}.text")
        elif kind == "section":
            self.text_object(block.get("text"), MAX_SECTION, f"{where}.text")
            fields = block.get("fields")
            if isinstance(fields, list):
                if len(fields) > MAX_FIELDS:
                    self.problem(f"{where}.fields", f"{len(fields)} fields, more than {MAX_FIELDS}")
                    if self.fix:
                        del fields[MAX_FIELDS:]
                for j, field in enumerate(fields):
                    self.text_object(field, MAX_FIELD, f"{where}.fields[{j}]")
            if isinstance(block.get("accessory"), dict):
                self.element(block["accessory"], f"{where}.accessory")
        elif kind == "context":
            elements = block.get("elements")
            if isinstance(elements, list):
                if len(elements) > MAX_CONTEXT_ELEMENTS:
                    self.problem(f"{where}.elements", f"{len(elements)} elements, more than {MAX_CONTEXT_ELEMENTS}")
                    if self.fix:
                        del elements[MAX_CONTEXT_ELEMENTS:]
                for j, element in enumerate(elements):
                    self.text_object(element, MAX_SECTION, f"{where}.elements[{j}]")
        elif kind == "actions":
            elements = block.get("elements")
            if isinstance(elements, list):
                if len(elements) > MAX_ACTIONS:
                    self.problem(f"{where}.elements", f"{len(elements)} elements, more than {MAX_ACTIONS}")
                    if self.fix:
                        del elements[MAX_ACTIONS:]
                for j, element in enumerate(elements):
                    if isinstance(element, dict):
                        self.element(element, f"{where}.elements[{j}]")

    def element(self, element: dict[str, Any], where: str) -> None:
        self.text(element, "action_id", MAX_ID, where, plain=True)
        if element.get("type") == "button":
            self.text_object(element.get("text"), MAX_BUTTON_TEXT, f"{where}.text")
            self.text(element, "value", MAX_BUTTON_VALUE, where, plain=True)
            url = element.get("url")
            if isinstance(url, str) and len(url) > MAX_URL:
                self.problem(f"{where}.url", f"{len(url):,} characters, more than {MAX_URL:,}")
                if self.fix:
                    del element["url"]  # a cut URL leads nowhere: the button opens nothing instead
