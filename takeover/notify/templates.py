"""Slack messages rendered from Jinja2 templates (`templates/<kind>.json.j2`) to Block Kit; a
template that fails falls back to plain text rather than dropping the notification."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from takeover.rules.gotemplate import format_value

log = logging.getLogger(__name__)
Message = dict[str, Any]  # {"text": str, "blocks": [...]}: chat.postMessage arguments


def humanize_seconds(seconds: float | None) -> str:
    """`3h 5m`, `42s`: how long an alert has fired, for messages."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    parts = [(whole // 86400, "d"), (whole % 86400 // 3600, "h"), (whole % 3600 // 60, "m"), (whole % 60, "s")]
    return " ".join([f"{n}{unit}" for n, unit in parts if n][:2]) or "0s"


def short_value(value: float) -> str:
    """A value a person reads at a glance (4 significant digits); NaN and ±Inf as Prometheus
    prints them."""
    if value != value or value in (float("inf"), float("-inf")):
        return format_value(value)
    return f"{value:.4g}"


def slack_escape(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def template_env(directory: str | Path) -> jinja2.Environment:
    env = SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(directory)),
                               undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["slack"] = slack_escape
    env.filters["value"] = format_value
    env.filters["short_value"] = short_value
    env.filters["duration"] = humanize_seconds
    return env


def render_message(env: jinja2.Environment, kind: str, context: dict[str, Any]) -> Message:
    """Render `<kind>.json.j2` to a message; a failing template falls back to plain text."""
    try:
        message = json.loads(env.get_template(f"{kind}.json.j2").render(**context))
        if not isinstance(message, dict) or not message.get("text"):
            raise ValueError("a message must be a JSON object with a top-level text")
        return message
    except (jinja2.TemplateError, ValueError) as exc:
        log.error("template %s failed (%s); sending plain text instead", kind, exc)
        return {"text": context.get("fallback_text") or f"takeover {kind}: {context}"}


_ALERT = {"name": "AgentErrorRateHigh", "id": 'AgentErrorRateHigh{agent="bot"}', "labels": {"agent": "bot"},
          "annotations": {}, "state": "firing", "value": 0.25, "summary": "bot fails", "severity": "page",
          "runbook_url": "https://runbooks.example.com/x", "first_check": "look", "agent": "bot",
          "takeover": "read_only", "fired_for": 90.0, "resolved_at": None, "held": True,
          "effect": {"agent": "bot", "before": "normal", "after": "read_only", "actor": "rule:A"}}
_GROUP = {"group": {"id": 1, "key": "#c|alertname=A,owner=o", "owner": "o", "channel": "#c", "mention": "",
                    "known_owner": True, "acked_by": None, "escalated": 0},
          "alerts": [_ALERT], "more": 0, "firing": [_ALERT], "first": _ALERT, "now": 0.0, "target": "U1"}
_APPROVAL = {"approval": {"id": "abc", "agent": "bot", "action": "refund", "kind": "write", "risk": "high",
                          "reason": "r", "status": "approved", "requested_at": 0.0, "expires_at": 900.0,
                          "responders": ["role:operator"], "decided_by": "operator:a", "comment": "ok",
                          "args": {"proposed": {"a": 1}, "approved": None, "effective": {"a": 1}},
                          "policy": "p (policies.yml:3)", "quorum": 2, "approvals": [{"by": "operator:a", "at": 0.0}]},
             "owner": "o", "mention": "<!subteam^S1>", "known_owner": True}
SAMPLES: dict[str, dict[str, Any]] = {
    "alert_firing": _GROUP, "alert_resolved": _GROUP, "escalation": _GROUP,
    "approval_requested": _APPROVAL, "approval_decided": _APPROVAL,
    "release": {"release": {"id": 1, "agent": "bot", "state": "rolled_back", "weight": 0.0, "stable": "v1",
                            "canary": "v2", "reason": "r", "to_reconcile": 2},
                "owner": "o", "mention": "<!subteam^S1>", "known_owner": True},
    "mode_changed": {"agent": "bot", "before": "normal", "after": "read_only", "actor": "rule:A", "reason": "r",
                     "owner": "o", "mention": "<!subteam^S1>", "known_owner": True},
}


def check_templates(directory: str | Path) -> list[str]:
    """Render every message kind with a sample: each problem as `file:line: message`."""
    env = template_env(directory)
    problems = []
    for kind, context in SAMPLES.items():
        name = f"{kind}.json.j2"
        path = Path(directory) / name
        try:
            message = json.loads(env.get_template(name).render(**context))
            if not isinstance(message, dict) or not message.get("text"):
                problems.append(f"{path}:1: must render a JSON object with a top-level text")
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: {exc.message}")
        except jinja2.TemplateNotFound:
            problems.append(f"{path}:1: missing (takeover sends {kind} messages)")
        except (jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:
            problems.append(f"{path}:{_template_line(exc, name)}: {type(exc).__name__}: {exc}")
    return problems


def _template_line(exc: BaseException, name: str) -> int:
    """The line of the template where rendering failed (Jinja keeps it in the traceback)."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


