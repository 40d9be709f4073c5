"""A local fake of Slack's Web API for the real slack-sdk client (`WebClient(base_url=...)`).

It records every request, keeps the messages it was sent (so `chat.update` is checked against a
real `ts`), and can be told to answer the next requests with 429 + Retry-After, 500, or to hang.
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


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    faults: list[tuple[int, float]] = field(default_factory=list)  # (status, retry_after or hang s)
    _lock: "threading.RLock" = field(default_factory=threading.RLock)
    _changed: threading.Condition = field(init=False)
    _ts: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    def fail_next(self, count: int, *, status: int = 500, retry_after: float = 1.0) -> None:
        """Answer the next `count` API calls with `status` (429 carries Retry-After)."""
        with self._lock:
            self.faults.extend([(status, retry_after)] * count)

    def hang_next(self, count: int, *, seconds: float) -> None:
        with self._lock:
            self.faults.extend([(0, seconds)] * count)

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts(self, prefix: str = "", *, thread: bool = False) -> list[dict[str, Any]]:
        """The chat.postMessage params whose text starts with `prefix` (thread replies or not)."""
        return [c.params for c in self.of("chat.postMessage")
                if str(c.params.get("text", "")).startswith(prefix) and ("thread_ts" in c.params) == thread]

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
        with self._changed:
            self.calls.append(Call(method, params, headers))
            fault = self.faults.pop(0) if self.faults else None
            self._changed.notify_all()
            if fault is None:
                return 200, {}, self._ok(method, params)
        status, arg = fault
        if status == 0:
            time.sleep(arg)  # hang: the client's timeout fires first
            return 500, {}, {"ok": False, "error": "fatal_error"}
        extra = {"Retry-After": str(int(arg))} if status == 429 else {}
        return status, extra, {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}

    def _ok(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        # called with the lock held
        if method == "chat.postMessage":
            self._ts += 1
            channel = "C" + str(params.get("channel", "")).lstrip("#").upper()
            ts = f"{1700000000 + self._ts}.000100"
            self.messages[(channel, ts)] = params
            return {"ok": True, "channel": channel, "ts": ts, "message": params}
        if method == "chat.update":
            key = (str(params.get("channel")), str(params.get("ts")))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key] = params
            return {"ok": True, "channel": key[0], "ts": key[1]}
        return {"ok": True}


def start_fake_slack() -> tuple[FakeSlack, ThreadingHTTPServer]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(body or "{}")
            else:
                params = dict(parse_qsl(body))
                for key in ("blocks", "attachments"):
                    if isinstance(params.get(key), str):
                        params[key] = json.loads(params[key])
            method = self.path.rsplit("/", 1)[-1]
            status, headers, payload = fake.answer(method, params, dict(self.headers))
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
