"""`takeover test rules FILE...`: each file's groups run, and promtool's report and exit status.

Rule files are read as Prometheus reads them: a rule lacking takeover's conventions (label owner,
annotations runbook_url and first_check) is tested all the same, and each missing convention is a
warning line on stderr after the file's report; `strict` makes them fail the file instead."""

from __future__ import annotations

import glob
import sys
from collections.abc import Sequence
from typing import TextIO

from takeover.config.yamlfile import ConfigError
from takeover.rules.format import convention_problems, load_rules
from takeover.tools.ruletest.run import Outcome, run_test_group
from takeover.tools.ruletest.testfile import TestFileError, load_test_file


def run_test_files(files: Sequence[str], *, strict: bool = False, out: TextIO | None = None,
                   err: TextIO | None = None) -> int:
    """`takeover test rules FILE...`: promtool's report and exit status (0 success, 1 otherwise).
    `strict`: a rule lacking takeover's conventions fails its file (else it is a warning)."""
    out, err = out or sys.stdout, err or sys.stderr
    failed = False
    for path in files:
        print("Unit Testing: ", path, file=out)
        outcome = run_test_file(path, err=err, strict=strict)
        if outcome.errors:
            print("  FAILED:", file=err)
            for text in outcome.errors:
                print(text, file=err)
                print(file=out)
        if outcome.unsupported:
            print("  UNSUPPORTED (takeover could not run these; they did not pass):", file=err)
            for text in outcome.unsupported:
                print(text, file=err)
                print(file=out)
        if not outcome.errors and not outcome.unsupported:
            print("  SUCCESS", file=out)
        failed = failed or bool(outcome.errors or outcome.unsupported)
        print(file=out)
        for warning in outcome.warnings:
            print("  WARNING:", warning, file=err)
    return 1 if failed else 0


def run_test_file(path: str, *, err: TextIO, strict: bool = False) -> Outcome:
    """Every test group of one file; a file or rule-file error stops the file (with `strict`, a
    missing convention too); the missing conventions are its warnings otherwise."""
    try:
        test_file = load_test_file(path)
    except TestFileError as exc:
        return Outcome(errors=(str(exc),))
    rule_files = []
    for pattern in test_file.rule_files:
        matched = sorted(glob.glob(pattern))
        if not matched:
            print("  WARNING: no file match pattern", pattern, file=err)
        rule_files.extend(matched)
    try:
        groups = load_rules(rule_files, conventions=strict) if rule_files else []
    except ConfigError as exc:
        return Outcome(errors=tuple(str(e) for e in exc.errors))
    warnings = tuple(str(p) for p in convention_problems(groups))
    order = {name: i for i, name in enumerate(test_file.group_eval_order)}
    groups = sorted(groups, key=lambda g: order.get(g.name, 0))
    errors: list[str] = []
    unsupported: list[str] = []
    for test in test_file.tests:
        try:
            outcome = run_test_group(test, groups=groups, evaluation_interval=test_file.evaluation_interval)
        except (RuntimeError, TimeoutError) as exc:  # promtool or Prometheus itself failed
            outcome = Outcome(errors=(f"    {exc}",))
        errors.extend(outcome.errors)
        unsupported.extend(outcome.unsupported)
    return Outcome(tuple(errors), tuple(unsupported), warnings)
