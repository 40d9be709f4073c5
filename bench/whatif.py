"""`takeover serve` with a proposed server change applied from outside, to measure it first.

    .venv/bin/python bench/run.py --gc-freeze --token-ttl=3600

runs every benchmark against `python bench/whatif.py FLAGS` instead of `takeover serve`.
An experiment, not a way to run takeover: it reaches into internals that may change.

--gc-freeze      gc.freeze() once started, so full collections skip the startup heap
--token-ttl=S    trust a looked-up token for S seconds instead of auth.CACHE_SECONDS
--gc-trace       print every collection that takes over 2 ms to the server's log
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

import uvicorn

from takeover.server import auth
from takeover.server.api import asgi_app
from takeover.server.run import build_service
from takeover.server.settings import Settings

FLAGS = ("--gc-freeze", "--token-ttl=", "--gc-trace")  # --outer is how takeover serve runs now


def trace_collections() -> None:
    started: dict[int, float] = {}

    def observe(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[info["generation"]] = time.perf_counter()
            return
        took = time.perf_counter() - started.pop(info["generation"], time.perf_counter())
        if took > 0.002:
            print(f"gc: generation {info['generation']} took {took * 1e3:.1f} ms", file=sys.stderr, flush=True)

    gc.callbacks.append(observe)


def main(flags: list[str]) -> None:
    unknown = [f for f in flags if not f.startswith(FLAGS)]
    if unknown:
        sys.exit(f"unknown flag(s) {unknown}; see {__file__}")
    for flag in flags:
        if flag.startswith("--token-ttl="):
            auth.CACHE_SECONDS = float(flag.partition("=")[2])
    if "--gc-trace" in flags:
        trace_collections()
    settings = Settings()
    service = build_service(settings)
    app = asgi_app(service)  # the fast path in front of FastAPI, as `takeover serve` runs it
    if "--gc-freeze" in flags:
        threading.Timer(3.0, gc.freeze).start()  # once uvicorn and the app have started
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                          log_level="warning", access_log=False))
    service.start()
    try:
        server.run()
    finally:
        service.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
