"""`takeover policy test FILE...`: table cases for approval policies, like promtool's rule tests.

    policy_files: [policies.yml]          # relative to this file
    cases:
      - name: a big refund needs two people
        agent: refund-bot
        action: refund
        kind: write                       # default write
        risk: low                         # default low
        args: {amount: 900}
        mode: normal                      # default normal
        variant: canary                   # default none
        alert_firing: false               # default false
        expect: require_approval          # allow | deny | require_approval
        policy: big-refunds               # optional: the deciding policy ("" for none: the mode's table)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

import yaml

from takeover.config.mode import Mode
from takeover.config.yamlfile import ConfigError
from takeover.control.policy import Policy, Situation, judge
from takeover.control.policyfile import load_policies

EXPECT = {"allow": "allow", "deny": "deny", "require_approval": "approval_required"}
CASE_FIELDS = {"name", "agent", "action", "kind", "risk", "args", "mode", "variant", "alert_firing", "expect",
               "policy"}


def run_policy_tests(files: list[str], *, out: TextIO | None = None) -> int:
    """Each file's cases; 0 when every case passes, 1 otherwise."""
    out = out or sys.stdout
    failed = False
    for path in files:
        print(f"Policy Testing: {path}", file=out)
        problems = _run_file(Path(path))
        for problem in problems:
            print(f"  {problem}", file=out)
        print("  FAILED" if problems else "  SUCCESS", file=out)
        failed = failed or bool(problems)
    return 1 if failed else 0


def _run_file(path: Path) -> list[str]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [f"cannot read {path}: {exc}"]
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        return [f"{path}: expected policy_files: [...] and cases: [...]"]
    policies: list[Policy] = []
    for name in doc.get("policy_files") or []:
        try:
            policies.extend(load_policies(path.parent / str(name)))
        except ConfigError as exc:
            return [str(e) for e in exc.errors]
    return [p for i, case in enumerate(doc["cases"]) for p in _run_case(i, case, policies)]


def _run_case(index: int, case: Any, policies: list[Policy]) -> list[str]:
    name = case.get("name", f"case {index + 1}") if isinstance(case, dict) else f"case {index + 1}"
    if not isinstance(case, dict) or set(case) - CASE_FIELDS or case.get("expect") not in EXPECT:
        extra = sorted(set(case) - CASE_FIELDS) if isinstance(case, dict) else []
        return [f"{name}: a case needs agent, action and expect (allow, deny or require_approval)"
                + (f"; unknown fields: {', '.join(extra)}" if extra else "")]
    try:
        situation = Situation(agent=str(case.get("agent", "agent")), action=str(case.get("action", "action")),
                              kind=str(case.get("kind", "write")), risk=str(case.get("risk", "low")),
                              args=case.get("args") or {}, mode=Mode[str(case.get("mode", "normal"))],
                              variant=case.get("variant"), alert_firing=bool(case.get("alert_firing", False)))
    except KeyError as exc:
        return [f"{name}: unknown mode {exc}"]
    verdict = judge(policies, situation)
    got_policy = verdict.policy.name if verdict.policy else ""
    wrong = verdict.decision.value != EXPECT[case["expect"]] or (
        "policy" in case and str(case["policy"] or "") != got_policy)
    if not wrong:
        return []
    trace = "".join(f"\n      {line}" for line in verdict.trace)
    want = f"{case['expect']}" + (f" by policy {case['policy'] or '(none)'}" if "policy" in case else "")
    got = {v: k for k, v in EXPECT.items()}[verdict.decision.value] + f" by policy {got_policy or '(none)'}"
    return [f"{name}:\n    exp: {want}\n    got: {got}: {verdict.reason}\n    trace:{trace or ' (no policies)'}"]
