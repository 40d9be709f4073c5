"""Slack messages rendered from Jinja2 templates (`templates/<kind>.json.j2`) to Block Kit; a
template that fails falls back to plain text rather than dropping the notification."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from takeover.notify.fit import cut, problems
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


_UNESCAPED_AMP = re.compile(r"&(?!amp;|lt;|gt;)")
# the context values a template may write as markup: the routing file's mention, the console's address
TRUSTED = frozenset({"mention", "console_url"})
# what stays as it is in a URL; everything else (space, <, >, |, quotes, non-ASCII) is percent-encoded
_URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~"


def slack_escape(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters. Idempotent
    (an `&amp;`, `&lt;` or `&gt;` already there is kept), so text escaped when it entered the
    context can pass through the `slack` filter again: the result never holds `<` or `>`."""
    return _UNESCAPED_AMP.sub("&amp;", str(text)).replace("<", "&lt;").replace(">", "&gt;")


def slack_unescape(text: object) -> str:
    """The text as a person reads it (for a URL's query, which is percent-encoded after)."""
    return str(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape_context(value: Any, key: str = "") -> Any:
    """Every string from outside (agents, rule labels and annotations, release descriptors)
    escaped for mrkdwn before a template sees it, so markup reaches Slack only where a template
    writes it; `TRUSTED` values (the routing file's mention, the console's address) are kept."""
    if key in TRUSTED:
        return value
    if isinstance(value, str):
        return slack_escape(value)
    if isinstance(value, dict):
        return {k: escape_context(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_context(v, key) for v in value]
    return value


def safe_url(value: object) -> str:
    """A URL a template may link to or put on a button: http(s) with a host, every character
    that could end a Slack link or start markup percent-encoded; "" for anything else."""
    text = slack_unescape(value).strip()
    parts = urlsplit(text) if text.isprintable() else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc or len(text) > 2_000:
        return ""
    return quote(text, safe=_URL_SAFE)


def arguments(args: Any, *, limit: int = 2_500, digest: str | None = None, before: Any = None) -> str:
    """An action's arguments for a message: their JSON in a code block when it is short; when
    it is long, a digest, its size and its keys (with `before`, the keys whose values differ
    from it) — the full value is in the console and the API."""
    if args is None:
        return "none"
    text = json.dumps(args, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= limit:
        return "```" + slack_escape(text) + "```"
    digest = digest or hashlib.sha256(text.encode()).hexdigest()
    keys = list(args) if isinstance(args, dict) else []
    if isinstance(before, dict) and isinstance(args, dict):
        keys = [k for k in args if before.get(k) != args[k]] + [k for k in before if k not in args]
        what = "keys that changed"
    else:
        what = "keys"
    shown = ", ".join(f"`{slack_escape(k)[:60]}`" for k in keys[:20]) or "none"
    if len(keys) > 20:
        shown += f" and {len(keys) - 20} more"
    return (f"{len(text):,} characters of JSON, SHA-256 `{digest[:16]}…`; {what}: {shown}. "
            "The full arguments are in the console and the API.")


def cut_filter(text: object, limit: int) -> str:
    """`{{ x | cut(1000) }}`: at most `limit` characters, saying how many were left out."""
    return cut(str(text), limit)


def template_env(directory: str | Path) -> jinja2.Environment:
    env = SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(directory)),
                               undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["slack"] = slack_escape
    env.filters["unslack"] = slack_unescape
    env.filters["safe_url"] = safe_url
    env.filters["arguments"] = arguments
    env.filters["cut"] = cut_filter
    env.filters["value"] = format_value
    env.filters["short_value"] = short_value
    env.filters["duration"] = humanize_seconds
    return env


def render_message(env: jinja2.Environment, kind: str, context: dict[str, Any]) -> Message:
    """Render `<kind>.json.j2` to a message; a failing template falls back to plain text.
    Every string of the context is escaped for mrkdwn first (`escape_context`)."""
    context = escape_context(context)
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


# the longest value each position can hold (the API's bounds; rule files and labels have none,
# so they get sizes real rule files reach); every other string gets `_LONG`
_LONGEST = {"agent": 200, "action": 200, "reason": 1_000, "comment": 1_000, "decided_by": 200, "stable": 200,
            "canary": 200, "owner": 200, "summary": 10_000, "first_check": 10_000, "policy": 500,
            "actor": 300, "acked_by": 300, "id": 64, "key": 1_000, "name": 1_000}
_LONG = 1_000
_WORDS = frozenset({"state", "status", "kind", "risk", "before", "after", "severity", "takeover", "type"})


def oversized(value: Any, key: str = "") -> Any:
    """A sample with every string from outside at the longest it can be, markup included."""
    if key in TRUSTED or key in _WORDS:
        return value
    if key == "runbook_url":
        return "https://runbooks.example.com/" + "r" * 10_000
    if key in ("proposed", "approved", "effective") and isinstance(value, dict):
        return {f"key{i}": "<!channel> " + "v" * 600 for i in range(100)}  # about 60 KB of arguments
    if isinstance(value, str):
        return ("<!channel> " + "x" * _LONGEST.get(key, _LONG))[:max(len(value), _LONGEST.get(key, _LONG))]
    if isinstance(value, dict):
        return {k: oversized(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [oversized(v, key) for v in value] * (10 if key in ("alerts", "firing", "responders") else 1)
    return value


def check_templates(directory: str | Path, *, limits: bool = True) -> list[str]:
    """Render every message kind with a sample, and again with every value from outside at its
    longest: each problem (a broken template, one that can exceed Block Kit's limits) as
    `file:line: message`. `limits=False` skips the second render (delivery cuts what is too
    long anyway; `takeover check` says which template would need it)."""
    env = template_env(directory)
    problems_found = []
    for kind, context in SAMPLES.items():
        name = f"{kind}.json.j2"
        path = Path(directory) / name
        try:
            message = json.loads(env.get_template(name).render(**escape_context(context)))
            if not isinstance(message, dict) or not message.get("text"):
                problems_found.append(f"{path}:1: must render a JSON object with a top-level text")
                continue
            if not limits:
                continue
            big = json.loads(env.get_template(name).render(**escape_context(oversized(context))))
            too_long = problems(big)
            if too_long:
                problems_found.append(f"{path}:1: with the longest values it can be sent, the message breaks "
                                      f"Block Kit's limits (cut the value with | cut(N)): {'; '.join(too_long[:3])}")
        except jinja2.TemplateSyntaxError as exc:
            problems_found.append(f"{path}:{exc.lineno}: {exc.message}")
        except jinja2.TemplateNotFound:
            problems_found.append(f"{path}:1: missing (takeover sends {kind} messages)")
        except (jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:
            problems_found.append(f"{path}:{_template_line(exc, name)}: {type(exc).__name__}: {exc}")
    return problems_found


def _template_line(exc: BaseException, name: str) -> int:
    """The line of the template where rendering failed (Jinja keeps it in the traceback)."""
    line = 1
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


