"""The console's forms: sign in and out, take over and hand back, release actions, approve and
reject, retry or dismiss a message Slack refused. Each calls the same `takeover.app` operation as the API, as the signed-in person, then
sends the browser back to the page with a notice of what happened (or why it was refused)."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from takeover.app import approvals, console, dispatch, modes, notifications, releases, silences, tokens
from takeover.app.errors import Refusal
from takeover.config.mode import Mode
from takeover.control.approval import Status
from takeover.control.validation import MAX_ID, check_text, duration
from takeover.server.console.door import (
    COOKIE,
    SIGN_IN_COOKIE,
    ActorDep,
    AgentPath,
    ApprovalId,
    FormDep,
    IdPath,
    Refused,
    Visit,
    VisitDep,
    clear_cookie,
    safe_next,
    service_of,
    set_cookie,
)
from takeover.server.console.view import render
from takeover.server.throttle import Throttle

router = APIRouter()
ReleaseAction = Annotated[str, Path(pattern="^(pause|resume|promote|abort)$")]
NotificationAction = Annotated[str, Path(pattern="^(retry|dismiss)$")]


def back(request: Request, who: Visit, to: str, done: Callable[[], str]) -> Response:
    """Run the operation, leave its outcome as the session's notice, and go back to `to` (303)."""
    service = service_of(request)
    try:
        text, error = done(), False
    except Refusal as exc:
        detail: Any = exc.detail
        text, error = (detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)), True
    except ValueError as exc:
        text, error = str(exc), True
    console.leave_notice(service.app, secret=who.secret, text=text, error=error)
    return RedirectResponse(to, status_code=303)


def text(fields: dict[str, str], name: str, *, required: bool = True, max_length: int = 1000) -> str:
    value = fields.get(name, "").strip()
    try:
        return check_text(value, max_length=max_length, blank_ok=not required)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


@router.post("/login")
async def sign_in(request: Request, fields: FormDep) -> Response:
    """Open a session with an operator's, admin's or viewer's token (never an agent's)."""
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(fields.get("csrf", ""), expected):
        raise Refused(403, "the sign-in form's CSRF token is missing or wrong: reload the sign-in page")
    service = service_of(request)
    target = safe_next(fields.get("next"))
    throttle: Throttle = request.app.state.throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait is not None:
        page = render(request, "login.html", {"visit": None, "csrf": expected, "next": target,
                                              "error": f"too many failed sign-ins from {address}: try again in "
                                                       f"{wait}s"}, status=429)
        page.headers["Retry-After"] = str(wait)
        return page
    try:
        secret, _ = await run_in_threadpool(console.sign_in, service.app, token=fields.get("token", "").strip())
    except Refusal as exc:
        started = throttle.failed(address, hashlib.sha256(fields.get("token", "").encode()).hexdigest()) \
            if exc.status == 401 else None
        await run_in_threadpool(functools.partial(tokens.refused_sign_in, service.app, address=address,
                                                  why=str(exc.detail), wait=started))
        return render(request, "login.html", {"visit": None, "csrf": expected, "next": target,
                                              "error": str(exc.detail)}, status=exc.status)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, COOKIE, secret, max_age=int(console.SESSION_SECONDS))
    clear_cookie(response, request, SIGN_IN_COOKIE)
    return response


@router.post("/logout")
def sign_out(request: Request, visit: VisitDep, fields: FormDep) -> Response:
    """End the session (a viewer may too: the CSRF token is all it takes)."""
    if not hmac.compare_digest(fields.get("csrf", ""), visit.csrf):
        raise Refused(403, "the form's CSRF token is missing or wrong: reload the page and try again")
    console.sign_out(service_of(request).app, secret=visit.secret, who=visit.who)
    response = RedirectResponse("/ui/login", status_code=303)
    clear_cookie(response, request, COOKIE)
    return response


@router.post("/agents/{agent}/take-over")
def take_over(request: Request, agent: AgentPath, who: ActorDep, fields: FormDep) -> Response:
    """Set the agent's mode (replacing every hold on it), as the API's PUT …/control."""
    service = service_of(request)

    def done() -> str:
        name = fields.get("mode", "")
        if name not in Mode.__members__:
            raise ValueError(f"mode: one of {', '.join(Mode.__members__)}")
        reason = text(fields, "reason")
        ttl = fields.get("expires_in", "").strip()
        expires_at = service.clock() + duration(ttl) if ttl else None
        modes.take_over(service.app, agent=agent, mode=Mode[name], reason=reason, actor=who.who.actor,
                        expires_at=expires_at)
        if name == "normal":
            return f"{agent} is handed back (normal)"
        return f"{agent} is now held in {name}" + (f" for {ttl}" if ttl else "")

    return back(request, who, f"/ui/agents/{agent}", done)


@router.post("/agents/{agent}/release")
def hand_back(request: Request, agent: AgentPath, who: ActorDep, fields: FormDep) -> Response:
    """Release one source (`source_id`) or every source held on the agent."""
    service = service_of(request)

    def done() -> str:
        reason = text(fields, "reason")
        raw = fields.get("source_id", "").strip()
        source = int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None
        if raw and source is None:
            raise ValueError("source_id: a source's id from the agent's control document")
        modes.release(service.app, agent=agent, reason=reason, actor=who.who.actor, source_id=source)
        return f"released source {source} of {agent}" if source else f"released every hold on {agent}"

    return back(request, who, f"/ui/agents/{agent}", done)


@router.post("/agents/{agent}/releases/current/{action}")
def release_action(request: Request, agent: AgentPath, action: ReleaseAction, who: ActorDep,
                   fields: FormDep) -> Response:
    """Pause, resume, promote or abort (roll back) the agent's active release."""
    service = service_of(request)

    def done() -> str:
        result = releases.act(service.app, actor=who.who.actor, agent=agent, action=action,
                              reason=text(fields, "reason"))
        return f"release of {agent}: {action} → {result.get('state', 'done')}"

    return back(request, who, f"/ui/agents/{agent}", done)


@router.post("/approvals/{approval_id}/diff")
def args_preview(request: Request, approval_id: ApprovalId, who: ActorDep, fields: FormDep) -> Response:
    """The diff of the arguments being edited in the approve form (htmx swaps it in as one types)."""
    try:
        diff, problem = console.preview_args(service_of(request).app, who.who, approval_id=approval_id,
                                             text=fields.get("args", "{}"))
    except Refusal as exc:
        raise Refused(exc.status, str(exc.detail)) from None
    return render(request, "_diff.html", {"diff": diff, "problem": problem, "editing": True})


@router.post("/approvals/{approval_id}/{verdict}")
def decide(request: Request, approval_id: ApprovalId,
           verdict: Annotated[str, Path(pattern="^(approve|reject)$")], who: ActorDep, fields: FormDep) -> Response:
    """Approve (a vote, with a quorum; with edited arguments when the form's differ from the
    proposal) or reject with a comment; a decision made elsewhere meanwhile is shown with who
    made it, never overwritten."""
    service = service_of(request)

    def done() -> str:
        comment = text(fields, "comment", required=verdict == "reject") or None
        status = Status.approved if verdict == "approve" else Status.rejected
        edits = (console.edited_args(service.app, who.who, approval_id=approval_id, text=fields["args"])
                 if verdict == "approve" and "args" in fields else None)
        result = approvals.decide(service.app, approval_id=approval_id, status=status, who=who.who,
                                  comment=comment, args=edits)
        edited = f" with {', '.join(sorted(edits))} edited" if edits else ""
        if result["status"] == "pending":  # a vote toward a quorum
            return f"your approval{edited} counts: {len(result['approvals'])} of {result['quorum']}"
        return f"{result['action']} for {result['agent']}: {result['status']}{edited}"

    return back(request, who, safe_next(fields.get("back")) if fields.get("back") else "/ui/approvals", done)


@router.post("/alerts/groups/{group_id}/ack")
def acknowledge(request: Request, group_id: IdPath, who: ActorDep, fields: FormDep) -> Response:
    """Acknowledge a Slack message's group of alerts (stops its escalation), as the API's …/ack."""
    service = service_of(request)

    def done() -> str:
        group = dispatch.acknowledge(service.app, group_id=group_id, actor=who.who.actor)
        if group is None:
            raise Refusal(404, f"no alert group {group_id}: its episode is over")
        if group.acked_by != who.who.actor:
            raise Refusal(409, f"already acknowledged by {group.acked_by}")
        return f"acknowledged {group.key}: its escalation stops"

    return back(request, who, safe_next(fields.get("back")) if fields.get("back") else "/ui/alerts", done)


@router.post("/silences")
def silence(request: Request, who: ActorDep, fields: FormDep) -> Response:
    """Create a silence (matchers one per line), as the API's POST /v1/silences."""
    service = service_of(request)

    def done() -> str:
        lines = [line.strip() for line in fields.get("matchers", "").splitlines() if line.strip()]
        matchers = console.parse_matchers(lines)
        made = silences.silence(service.app, matchers=lines, duration=duration(fields.get("duration", "").strip()),
                                comment=text(fields, "comment"), actor=who.who.actor,
                                suppress_takeover=fields.get("suppress_takeover") == "on")
        muted = len(console.silence_preview(service.app, matchers=matchers))
        return f"silence {made['id']} created for {fields.get('duration', '').strip()}: it mutes {muted} alert(s) now"

    return back(request, who, "/ui/silences", done)


@router.post("/silences/{silence_id}/expire")
def expire_silence(request: Request, silence_id: IdPath, who: ActorDep, fields: FormDep) -> Response:
    """End a silence now, as the API's …/expire."""
    service = service_of(request)

    def done() -> str:
        silences.expire(service.app, silence_id=silence_id, actor=who.who.actor)
        return f"silence {silence_id} expired"

    return back(request, who, "/ui/silences", done)


@router.post("/notifications/{notification_id}/{action}")
def undelivered(request: Request, notification_id: IdPath, action: NotificationAction, who: ActorDep,
                fields: FormDep) -> Response:
    """Retry a message Slack refused (from the start) or dismiss it, as the API's …/retry and …/dismiss."""
    service = service_of(request)

    def done() -> str:
        if action == "retry":
            shown = notifications.retry(service.app, notification_id=notification_id, actor=who.who.actor)
            return f"message {notification_id} is queued again for {shown['channel']}"
        notifications.dismiss(service.app, notification_id=notification_id, actor=who.who.actor)
        return f"message {notification_id} dismissed"

    return back(request, who, "/ui/notifications", done)
