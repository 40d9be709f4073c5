"""A local fake of Slack's Web API for the real slack-sdk client (`WebClient(base_url=...)`).

It records every request, keeps the messages it was sent (so `chat.update` is checked against a
real `ts`, and `conversations.history` / `conversations.replies` answer with them and their
metadata), and can be told to answer the next requests with 429 + Retry-After, 500, to hang, or
to take `delay` seconds over every request (a slow Slack).

Like the real Slack it refuses what breaks Block Kit's published limits (`invalid_blocks`, and
`msg_too_long` for a top-level text over 40,000 characters) — checked here on its own, not with
takeover's code — answers a permanent error per channel (`refuse`) or for every call (`refuse_all`,
e.g. `invalid_auth`), and can rate-limit every call for a period (`rate_limit`: HTTP 429 with
Retry-After, counted from each 429 answered).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Call:
    method: str  # e.g. "chat.postMessage"
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.time)  # when it arrived


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    faults: list[tuple[int, float]] = field(default_factory=list)  # (status, retry_after or hang s)
    _lock: "threading.RLock" = field(default_factory=threading.RLock)
    _changed: threading.Condition = field(init=False)
    _ts: int = 0
    _last_ts: float = 0.0
    url: str = ""
    delay: float = 0.0  # seconds every request takes (after it is recorded and applied)
    blocked: str | None = None  # posts to this channel wait until `unblock` is set
    unblock: threading.Event = field(default_factory=threading.Event)
    refused: dict[str, str] = field(default_factory=dict)  # channel → the error every call there gets
    refuse_all: str | None = None  # an error every call gets (invalid_auth, token_revoked)
    storm: tuple[float, float] | None = None  # (until, Retry-After): every call before `until` gets 429
    limited: list[tuple[str, str, float, float]] = field(default_factory=list)  # (method, channel, at, until) per 429

    def rate_limit(self, *, seconds: float, retry_after: float) -> None:
        """Answer every call with 429 and `Retry-After: retry_after` for the next `seconds`."""
        with self._lock:
            self.storm = (time.time() + seconds, retry_after)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def fail_next(self, count: int, *, status: int = 500, retry_after: float = 1.0) -> None:
        """Answer the next `count` API calls with `status` (429 carries Retry-After)."""
        with self._lock:
            self.faults.extend([(status, retry_after)] * count)

    def hang_next(self, count: int, *, seconds: float) -> None:
        with self._lock:
            self.faults.extend([(0, seconds)] * count)

    def late_next(self, count: int, *, seconds: float) -> None:
        """The next calls take `seconds`, then are applied: a client that timed out first
        does not know its post reached the channel."""
        with self._lock:
            self.faults.extend([(-1, seconds)] * count)

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts(self, prefix: str = "", *, thread: bool = False) -> list[dict[str, Any]]:
        """The chat.postMessage params whose text starts with `prefix` (thread replies or not)."""
        return [c.params for c in self.of("chat.postMessage")
                if str(c.params.get("text", "")).startswith(prefix) and ("thread_ts" in c.params) == thread]

    def posts_by_text(self, prefix: str) -> dict[str, int]:
        """How many times each message whose text starts with `prefix` was posted."""
        counts: dict[str, int] = {}
        for call in self.of("chat.postMessage"):
            text = str(call.params.get("text", ""))
            if text.startswith(prefix):
                counts[text] = counts.get(text, 0) + 1
        return counts

    def wait_for(self, predicate: Callable[[FakeSlack], bool], *, timeout: float = 30.0) -> None:
        """Block until `predicate(self)` holds after some request; fail at the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Slack: condition not met in {timeout}s; calls: "
                                         f"{[(c.method, c.params.get('text')) for c in self.calls]}")
                self._changed.wait(left)

    def answer(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.blocked is not None and params.get("channel") == self.blocked:
            self.unblock.wait(60)
        with self._changed:
            self.calls.append(Call(method, params, headers))
            self._changed.notify_all()
            refusal = self._refusal(method, params)
            if refusal is not None:
                return refusal
            fault = self.faults.pop(0) if self.faults else None
            if fault is None:
                answer = self._ok(method, params)
        if fault is None:
            if self.delay:
                time.sleep(self.delay)  # applied, but the answer is slow: a crash now leaves a post
            return 200, {}, answer
        status, arg = fault
        if status == -1:
            time.sleep(arg)
            with self._changed:
                answer = self._ok(method, params)
                self._changed.notify_all()
            return 200, {}, answer
        if status == 0:
            time.sleep(arg)  # hang: the client's timeout fires first
            return 500, {}, {"ok": False, "error": "fatal_error"}
        extra = {"Retry-After": str(int(arg))} if status == 429 else {}
        return status, extra, {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}

    def _refusal(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        """What Slack answers without applying the call (called with the lock held)."""
        now = time.time()
        if self.storm is not None and now < self.storm[0]:
            wait = self.storm[1]
            self.limited.append((method, str(params.get("channel", "")), now, now + wait))
            return 429, {"Retry-After": f"{wait:g}"}, {"ok": False, "error": "ratelimited"}
        if self.refuse_all is not None:
            return 200, {}, {"ok": False, "error": self.refuse_all}
        channel = str(params.get("channel", ""))
        if channel in self.refused and method.startswith("chat."):
            return 200, {}, {"ok": False, "error": self.refused[channel]}
        if method in ("chat.postMessage", "chat.update"):
            if len(str(params.get("text") or "")) > 40_000:
                return 200, {}, {"ok": False, "error": "msg_too_long"}
            broken = block_kit_problems(params.get("blocks") or [])
            if broken:
                return 200, {}, {"ok": False, "error": "invalid_blocks", "errors": broken}
        return None

    def _ok(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        # called with the lock held
        if method == "chat.postMessage":
            self._ts += 1
            channel = "C" + str(params.get("channel", "")).lstrip("#").upper()
            self._last_ts = max(round(time.time(), 6), self._last_ts + 0.000001)  # like Slack: now, unique
            ts = f"{self._last_ts:.6f}"
            if "thread_ts" in params:
                channel = str(params["channel"])  # replies go to the parent's channel id
            self.messages[(channel, ts)] = params
            return {"ok": True, "channel": channel, "ts": ts, "message": params}
        if method == "chat.update":
            key = (str(params.get("channel")), str(params.get("ts")))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key] = params
            return {"ok": True, "channel": key[0], "ts": key[1]}
        if method == "conversations.list":
            ids = sorted({ch for ch, _ in self.messages})
            return {"ok": True, "channels": [{"id": i, "name": i[1:].lower()} for i in ids],
                    "response_metadata": {"next_cursor": ""}}
        if method in ("conversations.history", "conversations.replies"):
            channel, oldest = str(params.get("channel")), float(params.get("oldest") or 0)
            thread = params.get("ts") if method == "conversations.replies" else None
            found = [{"ts": ts, "text": m.get("text"), "metadata": m.get("metadata"),
                      "thread_ts": m.get("thread_ts")}
                     for (ch, ts), m in self.messages.items()
                     if ch == channel and float(ts) >= oldest and (m.get("thread_ts") == thread or
                                                                   (thread is not None and ts == thread))]
            if not any(ch == channel for ch, _ in self.messages):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "messages": sorted(found, key=lambda m: m["ts"], reverse=True)}
        return {"ok": True}


def block_kit_problems(blocks: list[dict[str, Any]]) -> list[str]:
    """Where `blocks` break Block Kit's published limits (api.slack.com/reference/block-kit)."""
    found: list[str] = []

    def over(value: Any, limit: int, where: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            found.append(f"{where}: {len(value)} > {limit}")

    if len(blocks) > 50:
        found.append(f"{len(blocks)} blocks > 50")
    for i, block in enumerate(blocks):
        over(block.get("block_id"), 255, f"[{i}].block_id")
        text = (block.get("text") or {}).get("text")
        if block.get("type") == "header":
            over(text, 150, f"[{i}].text")
        elif block.get("type") == "section":
            over(text, 3000, f"[{i}].text")
            fields = block.get("fields") or []
            if len(fields) > 10:
                found.append(f"[{i}].fields: {len(fields)} > 10")
            for j, item in enumerate(fields):
                over(item.get("text"), 2000, f"[{i}].fields[{j}]")
        elif block.get("type") == "context":
            elements = block.get("elements") or []
            if len(elements) > 10:
                found.append(f"[{i}].elements: {len(elements)} > 10")
            for j, item in enumerate(elements):
                over(item.get("text"), 3000, f"[{i}].elements[{j}]")
        elif block.get("type") == "actions":
            elements = block.get("elements") or []
            if len(elements) > 25:
                found.append(f"[{i}].elements: {len(elements)} > 25")
            for j, item in enumerate(elements):
                over(item.get("action_id"), 255, f"[{i}].elements[{j}].action_id")
                over((item.get("text") or {}).get("text"), 75, f"[{i}].elements[{j}].text")
                over(item.get("value"), 2000, f"[{i}].elements[{j}].value")
                over(item.get("url"), 3000, f"[{i}].elements[{j}].url")
    return found


def start_fake_slack() -> tuple[FakeSlack, ThreadingHTTPServer]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            self._reply(path.rsplit("/", 1)[-1], dict(parse_qsl(query)))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(body or "{}")
            else:
                params = dict(parse_qsl(body))
                for key in ("blocks", "attachments"):
                    if isinstance(params.get(key), str):
                        params[key] = json.loads(params[key])
            self._reply(self.path.rsplit("/", 1)[-1], params)

        def _reply(self, method: str, params: dict[str, Any]) -> None:
            status, headers, payload = fake.answer(method, params, dict(self.headers))
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up or was killed: the request was still applied

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
