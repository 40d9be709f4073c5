"""The double-post window after a crash, measured: kill -9 `takeover serve` while it posts to a
slow Slack, start it again on the same database, and count what reached the channel.

    .venv/bin/python bench/crash_window.py [--kills 24] [--latency 0.2]

Each round queues a few mode changes (each one Slack message), waits a random moment inside the
delivery of the batch, kills the server with SIGKILL and starts it again. At the end every
message must have been posted; the figures are how many were posted twice, how many in-doubt
posts were found in the channel and adopted instead, and how many duplicates were left with
their buttons (an orphan not yet edited). The baseline is what a plain outbox would have done
in the same run: every kill that landed after a post reached Slack and before it was recorded
(the adopted ones, plus the duplicates) would have been a duplicate.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from takeover.notify.delivery import SUPERSEDED  # noqa: E402
from takeover.tools.promproc import free_port  # noqa: E402
from tests.fakeslack import start_fake_slack  # noqa: E402


def start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    out = open(log, "ab")
    process = subprocess.Popen([sys.executable, "-m", "takeover", "serve"], cwd=ROOT, stdout=out,
                               stderr=subprocess.STDOUT,
                               env={**os.environ, **env, "TAKEOVER_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"takeover serve did not start: see {log}")


def token(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "takeover", "token", "create", "--role", "operator",
                           "--name", "bench"], cwd=ROOT, env={**os.environ, **env}, check=True,
                          capture_output=True, text=True).stdout.strip()


def run(*, kills: int, latency: float, seed: int) -> dict[str, int]:
    fake, server = start_fake_slack()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.yml").write_text("groups: []\n")
        env = {"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp}/t.db", "TAKEOVER_RULES": f"{tmp}/rules.yml",
               "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
               "TAKEOVER_SLACK_TOKEN": "xoxb-bench", "TAKEOVER_SLACK_API_URL": fake.url,
               "TAKEOVER_SLACK_TIMEOUT": "2", "TAKEOVER_DELIVER_INTERVAL": "0.2", "TAKEOVER_LOG_FORMAT": "json"}
        headers = {"Authorization": f"Bearer {token(env)}"}
        rng = random.Random(seed)
        fake.delay = latency
        process, url = start(env, Path(tmp) / "serve.log")
        sent = 0
        for _ in range(kills):
            for _ in range(3):
                sent += 1
                httpx.put(f"{url}/v1/agents/bench-{sent}/control", headers=headers,
                          json={"mode": "read_only", "reason": f"crash {sent}"}).raise_for_status()
            time.sleep(rng.uniform(0.05, 3 * latency))  # a random moment inside the batch's delivery
            process.send_signal(signal.SIGKILL)
            process.wait()
            process, url = start(env, Path(tmp) / "serve.log")
        fake.delay = 0.0
        fake.wait_for(lambda f: len(f.posts_by_text("[MODE] bench-")) == sent, timeout=120)
        counts = fake.posts_by_text("[MODE] bench-")
        log = (Path(tmp) / "serve.log").read_text()
        # orphans are edited `settle` seconds after the second post: wait for that pass
        duplicated = sum(n - 1 for n in counts.values())
        deadline = time.monotonic() + 40
        while duplicated and time.monotonic() < deadline and \
                sum(1 for c in fake.of("chat.update") if c.params.get("text") == SUPERSEDED["text"]) < duplicated:
            time.sleep(0.5)
        marked = sum(1 for c in fake.of("chat.update") if c.params.get("text") == SUPERSEDED["text"])
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    server.shutdown()
    return {"messages": sent, "duplicates": duplicated, "adopted": log.count("was posted before a crash"),
            "orphans left live": max(0, duplicated - marked)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds every Slack call takes")
    args = parser.parse_args()
    row = run(kills=args.kills, latency=args.latency, seed=1)
    mid_post = row["adopted"] + row["duplicates"]
    print(f"{args.kills} kill -9 of takeover serve during delivery, Slack latency {args.latency * 1000:.0f} ms, "
          f"{row['messages']} messages")
    print(f"kills between a post reaching Slack and its record (a plain outbox's duplicates): {mid_post}")
    print(f"duplicates: {row['duplicates']}   found in the channel and adopted: {row['adopted']}   "
          f"orphans left live: {row['orphans left live']}")
    print(f"ratio duplicates / plain outbox: {row['duplicates'] / mid_post if mid_post else 0.0:.2f}")


if __name__ == "__main__":
    main()
