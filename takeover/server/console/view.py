"""How the console's pages are drawn: the templates with their filters (times, spans), and the
security headers every page carries."""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, Response

from takeover.store.models import AuditRow

HERE = Path(__file__).parent
# no inline script or style anywhere: htmx's indicator styles are off (meta htmx-config)
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
SHARED = {"undelivered": "_undelivered.html"}  # fragments of every page (base.html), by their id


def when(at: float | None) -> str:
    """A time as UTC, to the second."""
    if at is None:
        return "—"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(at: float) -> str:
    """A time of day as UTC, to the second (the page says the date once)."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%H:%M:%S")


def span(seconds: float | None) -> str:
    """A duration the way a person says it: 45s, 12m, 3h 5m, 2d 4h."""
    if seconds is None:
        return "—"
    s = int(abs(seconds))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m {s % 60}s" if s < 600 else f"{sign}{s // 60}m"
    if s < 86400:
        return f"{sign}{s // 3600}h {s % 3600 // 60}m"
    return f"{sign}{s // 86400}d {s % 86400 // 3600}h"


def matching(filters: list[str]) -> str:
    """The alerts page's query string for these label matchers (a deep link)."""
    return urlencode([("match", m) for m in filters])


def link(value: str | None) -> str | None:
    """An annotation worth a link: http(s) only (never javascript:)."""
    return value if value and value.startswith(("https://", "http://")) else None


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters["when"] = when
    found.env.filters["span"] = span
    found.env.filters["clock"] = clock
    found.env.filters["matching"] = matching
    found.env.filters["link"] = link
    return found


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """A page with the console's security headers; only the fragment htmx asks for (the block
    named by its HX-Target, or a fragment of every page) when the live page refreshes one."""
    view: Jinja2Templates = request.app.state.templates
    part = request.headers.get("hx-target", "") if request.headers.get("hx-request") == "true" else ""
    if part in SHARED and context.get("visit"):  # a fragment every page has (base.html's), drawn alone
        html = view.get_template(SHARED[part]).render({**context, "request": request})
        return HTMLResponse(html, status_code=status, headers=HEADERS)
    template = view.get_template(name)
    if part and part in template.blocks:
        html = "".join(template.blocks[part](template.new_context({**context, "request": request})))
        return HTMLResponse(html, status_code=status, headers=HEADERS)
    return view.TemplateResponse(request, name, context, status_code=status, headers=HEADERS)


AUDIT_COLUMNS = ("id", "at", "time", "actor", "action", "subject", "reason", "before", "after", "request_id",
                 "prev_hash", "hash")


def cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: JSON for structures, a leading ' before a formula."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_record(row: AuditRow) -> dict[str, Any]:
    return {"id": row.id, "at": row.at, "time": when(row.at), "actor": row.actor, "action": row.action,
            "subject": row.subject, "reason": row.reason, "before": row.before, "after": row.after,
            "request_id": row.request_id, "prev_hash": row.prev_hash, "hash": row.hash}


def audit_csv(batches: Iterable[list[AuditRow]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    for rows in batches:
        for row in rows:
            record = audit_record(row)
            writer.writerow([cell(record[c]) if c not in ("id", "at") else record[c] for c in AUDIT_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def audit_jsonl(batches: Iterable[list[AuditRow]]) -> Iterator[str]:
    for rows in batches:
        yield "".join(json.dumps(audit_record(r), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
