"""`takeover readiness`: read the file, gather the facts, assess and print; the exit status."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from takeover.config.yamlfile import ConfigError
from takeover.server.settings import Settings
from takeover.tools.readiness.assessment import assess
from takeover.tools.readiness.facts import gather_facts
from takeover.tools.readiness.items import load_readiness
from takeover.tools.readiness.report import print_report, report_json

EXIT_READY, EXIT_NOT_READY, EXIT_BAD_FILE = 0, 1, 2


def run_readiness(path: str | Path, *, settings: Settings, as_json: bool = False,
                  now: float | None = None) -> int:
    """`takeover readiness`: print the report; 0 ready, 1 not ready, 2 a bad readiness file."""
    from rich.console import Console

    try:
        items = load_readiness(path)
    except ConfigError as exc:
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        print(f"takeover readiness: {len(exc.errors)} problem(s) in {path}", file=sys.stderr)
        return EXIT_BAD_FILE
    report = assess(items, gather_facts(settings, now=time.time() if now is None else now))
    if as_json:
        print(json.dumps(report_json(report), indent=2))
    else:
        # piped output gets full-width lines instead of a table folded to 80 columns
        print_report(report, console=Console(highlight=False, width=None if sys.stdout.isatty() else 160))
    return EXIT_READY if report.ready else EXIT_NOT_READY
