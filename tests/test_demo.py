"""`takeover demo` as a newcomer runs it: its first lines name the console and a token that signs
in, the story starts (an agent asks a human), and Ctrl-C stops everything quietly (issue 28)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from takeover.tools.promproc import free_port
from tests.conftest import ROOT
from tests.test_console import csrf_of

pytestmark = pytest.mark.slow


def test_the_demo_names_the_console_and_a_token_first_and_stops_quietly_on_ctrl_c(
        prometheus_binaries: None) -> None:
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "takeover", "demo", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in demo.stdout or []], daemon=True)
    reader.start()
    seen: list[str] = []

    def read_until(pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"the demo never printed {pattern!r}: {''.join(seen)}")

    try:
        console = read_until(r"/ui", 30)
        token = read_until(r"tko_", 5)
        assert len(seen) == 2, seen  # the first two lines: where the console is, and how to sign in
        assert f"http://127.0.0.1:{port}/ui" in console
        secret = re.search(r"(tko_\S+)", token).group(1)  # type: ignore[union-attr]
        read_until(r"asks to run a high-risk refund", 60)  # takeover is up and an approval waits
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            form = browser.get("/ui/login")
            signed = browser.post("/ui/login", data={"csrf": csrf_of(form.text), "token": secret, "next": "/ui/"})
            assert signed.status_code == 303
            assert "refund" in browser.get("/ui/approvals").text
        before = len(seen)
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
        reader.join(10)  # it ends at the output's end: everything the process wrote is read
        while not lines.empty():
            seen.append(lines.get())
        after = "".join(seen[before:])
        for noise in ("Traceback", "ERROR", "refused", "WARNING"):
            assert noise not in after, after
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        reader.join(10)
        if demo.stdout is not None:
            demo.stdout.close()
