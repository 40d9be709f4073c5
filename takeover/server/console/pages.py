"""The console's pages, read through `takeover.store`: the overview, an agent, the approvals
queue, the audit trail, and the sign-in form (the one page without a session)."""

from __future__ import annotations

import functools
import secrets
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse

from takeover import store
from takeover.app import approvals, console, notifications
from takeover.app.errors import Refusal
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.instances import confirmation
from takeover.control.silence import Matcher
from takeover.control.validation import MAX_ID
from takeover.server.console.door import (
    SIGN_IN_COOKIE,
    AgentPath,
    ApprovalId,
    IdPath,
    Refused,
    VisitDep,
    safe_next,
    service_of,
    set_cookie,
)
from takeover.server.console.live import Pulse
from takeover.server.console.view import HEADERS, audit_csv, audit_jsonl, render
from takeover.store.models import AlertRow, ApprovalRow

router = APIRouter()
MODES = [m.name for m in Mode]
AUDIT_PAGE = 50
QUEUE = 50  # pending requests a page of the queue shows, oldest first
UNDELIVERED = 200  # undeliverable messages the list shows, newest first
MatchQuery = Annotated[list[str] | None, Query(max_length=20, description='label matchers, e.g. owner="payments"')]


def hold(doc: dict[str, Any]) -> dict[str, Any]:
    """Why an agent is in its mode: its strictest source (the document lists them strictest first)."""
    sources = doc["sources"]
    return {"agent": doc["agent"], "mode": doc["mode"], "source": sources[0] if sources else None,
            "release": doc.get("release")}


def alerts_by_owner(rows: list[AlertRow]) -> dict[str, list[AlertRow]]:
    owners: dict[str, list[AlertRow]] = defaultdict(list)
    for row in rows:
        if row.state == "firing":
            owners[row.labels.get("owner", "(no owner)")].append(row)
    return dict(sorted(owners.items()))


def matchers_of(texts: list[str]) -> list[Matcher]:
    try:
        return console.parse_matchers(texts)
    except Refusal as exc:
        raise Refused(422, f"filter: {exc.detail}") from None


def approval_view(row: ApprovalRow) -> dict[str, Any]:
    public = store.approval_public(row)
    diff = console.args_diff(row.args_proposed, row.args_approved) if row.args_approved else []
    return {**public, "votes": len(row.approvals), "diff": diff}


@router.get("/login")
def sign_in_page(request: Request, next: Annotated[str, Query(max_length=2000)] = "/ui/") -> Response:
    """The sign-in form; its CSRF token is also a cookie (double submit: there is no session yet)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"visit": None, "csrf": token, "next": safe_next(next), "error": None})
    set_cookie(response, request, SIGN_IN_COOKIE, token, max_age=3600)
    return response


@router.get("/live")
def live(request: Request, visit: VisitDep) -> Response:
    """Server-sent events: `change` with the topics that changed, until the session ends."""
    pulse: Pulse = request.app.state.pulse
    app = service_of(request).app

    async def still_signed_in() -> bool:
        found = await run_in_threadpool(functools.partial(console.signed_in, app, secret=visit.secret, take_notice=False))
        return found is not None

    return StreamingResponse(pulse.stream(until=visit.expires_at, signed_in=still_signed_in),
                             media_type="text/event-stream",
                             headers={**HEADERS, "X-Accel-Buffering": "no"})


@router.get("/")
def overview(request: Request, visit: VisitDep) -> Response:
    """Agents held out of normal (and the holds shadow takeovers would make), firing alerts by owner,
    pending approvals, active releases, and agents that stopped polling (TAKEOVER_SILENT_AFTER): an
    agent that no longer asks is not governed."""
    service = service_of(request)
    now = service.clock()
    with service.sessions() as s:
        agents = store.list_agents(session=s, now=now)
        held = [a["agent"] for a in agents if a["mode"] != "normal"]
        silent = [a for a in agents if a.get("last_seen") is not None
                  and now - a["last_seen"] > service.settings.silent_after]
        docs = store.control_documents(session=s, agents=held, now=now)
        instances = store.agent_instances(session=s, agents=held)
        everyone = [src for src in store.active_sources(session=s, now=now) if src.agent == ALL_AGENTS]
        shadow = store.shadow_holds(session=s, now=now)
        alerts = alerts_by_owner(store.list_alerts(session=s))
        pending = [approval_view(r) for r in store.list_approvals(session=s, status="pending", limit=200)]
        releases = store.active_releases(session=s)
    return render(request, "overview.html", {
        "visit": visit, "now": now, "everyone": everyone, "shadow": shadow,
        "held": [{**hold(docs[a]), "in_effect": confirmation(instances[a], version=docs[a]["version"], now=now,
                                                            silent_after=service.settings.silent_after)}
                 for a in held if a in docs],
        "alerts": alerts, "pending": pending, "releases": releases, "page": "overview",
        "silent": sorted(silent, key=lambda a: a["last_seen"]), "silent_after": service.settings.silent_after})


@router.get("/agents/{agent}")
def agent_page(request: Request, agent: AgentPath, visit: VisitDep) -> Response:
    """One agent: its control document and sources, take over and hand back, its release, its recent record."""
    service = service_of(request)
    now = service.clock()
    with service.sessions() as s:
        doc = store.control_document(session=s, agent=agent, now=now)
        if doc is None:
            raise Refused(404, f"unknown agent {agent!r}: agents are known once they poll, are named by a rule, "
                               "or are created with POST /v1/agents")
        release = store.latest_release(session=s, agent=agent)
        seen = next((a.get("last_seen") for a in store.list_agents(session=s, now=now, names=[agent])), None)
        in_effect = confirmation(store.agent_instances(session=s, agents=[agent])[agent], version=doc["version"],
                                 now=now, silent_after=service.settings.silent_after)
        approvals = [approval_view(r) for r in store.list_approvals(session=s, agent=agent, status="pending")]
        record = store.recent_audit_rows(session=s, agent=agent, limit=15)
    return render(request, "agent.html", {
        "visit": visit, "now": now, "doc": doc, "release": release, "approvals": approvals, "record": record,
        "last_seen": seen, "in_effect": in_effect,
        "modes": MODES, "page": "agents"})


@router.get("/approvals")
def approvals_queue(request: Request, visit: VisitDep,
                    after: Annotated[str | None, Query(pattern=r"^\d+(\.\d+)?:[0-9a-f]{1,64}$",
                                                      description="the page after this request (requested_at:id)")] = None,
                    ) -> Response:
    """Pending requests oldest first (the one waiting longest on top), a page of QUEUE at a
    time, then the latest decisions."""
    service = service_of(request)
    cursor = None
    if after is not None:
        at, _, last = after.partition(":")
        cursor = (float(at), last)
    with service.sessions() as s:
        waiting = store.list_approvals(session=s, status="pending", limit=QUEUE + 1, after=cursor)
        total = store.count_approvals(session=s, status="pending")
        pending = [approval_view(r) for r in waiting[:QUEUE]]
        decided = [approval_view(r) for r in store.recent_decisions(session=s, limit=20)]
    last_shown = waiting[QUEUE - 1] if len(waiting) > QUEUE else None
    return render(request, "approvals.html", {
        "visit": visit, "now": service.clock(), "pending": pending, "decided": decided, "page": "approvals",
        "total": total, "paged": after is not None,
        "next": f"{last_shown.requested_at!r}:{last_shown.id}" if last_shown is not None else None})


@router.get("/alerts")
def alerts_page(request: Request, visit: VisitDep, match: MatchQuery = None) -> Response:
    """Firing and pending alerts by owner and alertname, filtered by label matchers in the URL."""
    service = service_of(request)
    matchers = matchers_of(match or [])
    board = console.alert_board(service.app, matchers=matchers)
    return render(request, "alerts.html", {
        "visit": visit, "now": service.clock(), "board": board, "filters": [str(m) for m in matchers],
        "count": sum(len(lines) for names in board.values() for lines in names.values()), "page": "alerts"})


@router.get("/alerts/{alert_id}/timeline")
def timeline(request: Request, alert_id: IdPath, visit: VisitDep) -> Response:
    """One alert episode as a timeline: evaluations, Slack messages, mode changes, approvals,
    acknowledgement, release."""
    service = service_of(request)
    found = console.incident(service.app, alert_id=alert_id)
    if found is None:
        raise Refused(404, f"no alert {alert_id}: an alert is forgotten some time after it resolves")
    return render(request, "incident.html", {"visit": visit, "now": service.clock(), "incident": found,
                                             "page": "alerts"})


@router.get("/silences")
def silences_page(request: Request, visit: VisitDep,
                  matchers: Annotated[str, Query(max_length=5000)] = "", match: MatchQuery = None) -> Response:
    """Silences in force, and the form for a new one with a preview of what it would mute now
    (`matchers`: one per line, as typed; `match`: from the alerts page's filters)."""
    service = service_of(request)
    typed = matchers or "\n".join(match or [])
    try:
        preview, problem = console.silence_preview(service.app, matchers=console.parse_matchers(typed.splitlines())), None
    except Refusal as exc:
        preview, problem = [], str(exc.detail)
    with service.sessions() as s:
        rows = store.list_silences(session=s, now=service.clock())
    return render(request, "silences.html", {
        "visit": visit, "now": service.clock(), "silences": rows, "typed": typed, "preview": preview,
        "problem": problem, "page": "silences"})


@router.get("/rules")
def rules_page(request: Request, visit: VisitDep) -> Response:
    """Each group and rule: health, last error, last evaluation and its duration, and which
    replica evaluates the group (the same data as GET /v1/rules)."""
    service = service_of(request)
    groups = service.rules_status()
    broken = sum(1 for g in groups for r in g.get("rules", []) if r.get("health") == "err")
    return render(request, "rules.html", {"visit": visit, "now": service.clock(), "groups": groups,
                                          "broken": broken, "page": "rules"})


@router.get("/notifications")
def notifications_page(request: Request, visit: VisitDep) -> Response:
    """Messages Slack refused every way, newest first, each to retry or dismiss."""
    service = service_of(request)
    rows = notifications.undeliverable(service.app, limit=UNDELIVERED + 1)
    return render(request, "notifications.html", {"visit": visit, "now": service.clock(), "rows": rows[:UNDELIVERED],
                                                  "cut": len(rows) > UNDELIVERED, "page": "notifications"})


def audit_query(actor: Annotated[str, Query(max_length=200)] = "", action: Annotated[str, Query(max_length=200)] = "",
                subject: Annotated[str, Query(max_length=300)] = "", since: Annotated[str, Query(max_length=40)] = "",
                until: Annotated[str, Query(max_length=40)] = "") -> console.AuditQuery:
    query = console.AuditQuery(actor.strip(), action.strip(), subject.strip(), since.strip(), until.strip())
    try:
        query.bounds()
    except Refusal as exc:
        raise Refused(exc.status, str(exc.detail)) from None
    return query


AuditQueryDep = Annotated[console.AuditQuery, Depends(audit_query)]


@router.get("/approvals/{approval_id}/editor")
def args_editor(request: Request, approval_id: ApprovalId, visit: VisitDep) -> Response:
    """The approve form's argument editor (the proposed arguments as JSON), loaded when opened."""
    service = service_of(request)
    with service.sessions() as s:
        try:
            row = approvals.approval_for(s, visit.who, approval_id)
        except Refusal as exc:
            raise Refused(exc.status, str(exc.detail)) from None
    return render(request, "_editor.html", {"visit": visit, "a": store.approval_public(row)})


@router.get("/audit")
def audit_page(request: Request, visit: VisitDep, query: AuditQueryDep,
               before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
               verify: Annotated[str | None, Query(pattern="^full$")] = None) -> Response:
    """The trail newest first, filtered (actor, action, subject, time), a page at a time, with
    exports of what matches and whether the hash chain holds (the first broken row): rows
    appended since the last check, or the whole chain with `?verify=full`."""
    service = service_of(request)
    rows, checked, broken = console.audit_page(service.app, query, before_id=before_id, limit=AUDIT_PAGE,
                                               full=verify == "full")
    older = rows[-1].id if len(rows) == AUDIT_PAGE else None
    return render(request, "audit.html", {
        "visit": visit, "now": service.clock(), "rows": rows, "older": older, "before_id": before_id,
        "checked": checked, "broken": broken, "full_at": service.app.audit.full_at, "query": query,
        "params": query.params(), "page": "audit"})


@router.get("/audit/export.{kind}")
def audit_export(request: Request, visit: VisitDep, query: AuditQueryDep,
                 kind: Annotated[str, Path(pattern="^(csv|jsonl)$")]) -> Response:
    """Every row the filters match, oldest first, as CSV or JSON lines (a download)."""
    batches = console.audit_export(service_of(request).app, query)
    lines = audit_csv(batches) if kind == "csv" else audit_jsonl(batches)
    media = "text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson"
    return StreamingResponse(iterate_in_threadpool(lines), media_type=media, headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="takeover-audit.{kind}"'})
