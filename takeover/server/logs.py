"""Logging: one JSON event per line (with the request id) for machines, plain text on a terminal.

Nothing here logs secrets: tokens are never passed to a logger, and settings are not logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from takeover.config.context import request_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            event["request_id"] = rid
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info)
        return json.dumps(event)


def configure_logging(fmt: str = "auto", level: int = logging.INFO) -> None:
    """`auto`: text on a terminal, JSON otherwise; `json` or `text` to choose."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if use_json else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every job run at INFO (≈ 98% of a replica's lines) and every skipped
    # run of a busy job at WARNING: the service counts overruns and reports persistent ones
    logging.getLogger("apscheduler.executors").setLevel(max(level, logging.WARNING))
    logging.getLogger("apscheduler.scheduler").setLevel(max(level, logging.ERROR))
