"""The control API (FastAPI): what agents poll and ask, and what operators change.

Agents poll constantly, so `GET /v1/agents/{agent}/control` has a lean ASGI path in front of
FastAPI (`ControlFastPath`): with a known token and a cached document it answers 200/304 and
long-polls without routing, dependencies, thread pool or database. Anything else (a first
poll, an unknown token, a bad parameter) falls through to the FastAPI route, which answers the
same way through the same `answer_control`.
"""


import asyncio
import gc
import math
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from sqlmodel import Session

from takeover import store
from takeover.app import agents, approvals, dispatch, modes, silences
from takeover.app import tokens as token_ops
from takeover.app.errors import Refusal
from takeover.app.tokens import TOKENS_SIGNAL
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.approval import Status
from takeover.control.principal import Principal, Role
from takeover.control.validation import (
    AGENT_RULE,
    APPROVAL_ID_PATTERN,
    MAX_ID,
    AgentName,
    AgentScope,
    Name,
    duration,
    seconds_or_duration,
)
from takeover.server.api_models import (
    ERRORS,
    ActionAnswer,
    ActionRequest,
    AgentCreate,
    AgentSummary,
    Alert,
    AlertGroup,
    Approval,
    ApprovalCreate,
    ApprovalDecision,
    AuditPage,
    ControlDocument,
    GlobalSources,
    ModeChange,
    NewToken,
    Release,
    Reloaded,
    RuleGroups,
    Silence,
    SilenceCreate,
    Token,
    TokenCreate,
)
from takeover.server.auth import BAD_TOKEN, MISSING_TOKEN, TokenCache, bearer_token
from takeover.server.edge import Edge
from takeover.server.hub import MAX_WAIT, ControlHub, Stale
from takeover.server.interactions import SlackInteractions
from takeover.server.metrics import Metrics
from takeover.server.service import Service

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
PAUSE_RETRY_AFTER = 30.0


def parse_wait(text: str | None) -> float | None:
    """`?wait=` as a Prometheus duration (`30s`) or plain seconds; ValueError when malformed."""
    return None if text is None or text == "" else seconds_or_duration(text)


async def answer_control(hub: ControlHub, entry: Any, *, agent: str, if_none_match: str | None,
                         wait: float | None, version: int | None) -> tuple[int, str, bytes]:
    """(status, etag, body) for a control poll: 200 with the document, or 304 when unchanged."""
    if wait and (if_none_match is not None or version is not None):
        changed = await hub.wait_for_change(agent, etag=if_none_match, version=version, timeout=wait)
        if changed is None:
            return 304, entry.etag, b""
        entry = changed
    if if_none_match == entry.etag:
        return 304, entry.etag, b""
    return 200, entry.etag, entry.body


class ControlFastPath:
    """ASGI middleware answering hot control polls before FastAPI sees them."""

    PREFIX, SUFFIX = "/v1/agents/", "/control"

    def __init__(self, app: ASGIApp, *, hub: ControlHub, tokens: TokenCache, metrics: Metrics) -> None:
        self.app, self.hub, self.tokens, self.metrics = app, hub, tokens, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not (
                path.startswith(self.PREFIX) and path.endswith(self.SUFFIX)):
            return await self.app(scope, receive, send)
        agent = path[len(self.PREFIX):-len(self.SUFFIX)]
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        who = self.tokens.cached(token.strip()) if scheme.lower() == "bearer" else None
        entry = self.hub.cached(agent)
        try:
            query = parse_qs(scope["query_string"].decode("latin-1"))
            wait = parse_wait(query.get("wait", [None])[0])
            version = int(query["version"][0]) if "version" in query else None
        except ValueError:
            wait = version = entry = None  # let FastAPI explain the bad parameter
        if "/" in agent or who is None or entry is None or not who.may_read(agent):
            return await self.app(scope, receive, send)
        self.metrics.control_polls += 1
        inm = headers.get(b"if-none-match")
        try:
            status, etag, body = await answer_control(
                self.hub, entry, agent=agent, if_none_match=inm.decode("latin-1") if inm else None,
                wait=wait, version=version)
        except Stale:
            return await self.app(scope, receive, send)  # FastAPI answers the 503
        out_headers = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
        if status == 200:
            out_headers += [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": body})


def create_app(service: Service) -> FastAPI:
    """The API over one running `Service`."""
    tokens = TokenCache(service.sessions)
    hub = service.hub
    hub.on_signal(TOKENS_SIGNAL, tokens.forget)
    app_ = service.app
    bearer = HTTPBearer(auto_error=False, description="a takeover token (`takeover token create`)")

    def principal(request: Request, _: Annotated[Any, Security(bearer)]) -> Principal:
        token = bearer_token(request.headers.get("authorization"))
        found = tokens.principal(token) if token else None
        if found is None:
            raise HTTPException(401, BAD_TOKEN if token else MISSING_TOKEN, headers={"WWW-Authenticate": "Bearer"})
        return found

    async def check_token(authorization: str | None) -> str | None:
        """The edge's check, before the body is read: why the token is refused, or None."""
        token = bearer_token(authorization)
        if token is None:
            return MISSING_TOKEN
        found = tokens.cached(token) or await run_in_threadpool(tokens.principal, token)
        return None if found else BAD_TOKEN

    def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.is_operator():
            raise HTTPException(403, f"{who.actor} is not an operator")
        return who

    def session() -> Any:
        with service.sessions() as s:
            yield s

    def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role != Role.admin:
            raise HTTPException(403, f"{who.actor} is not an admin")
        return who

    PrincipalDep = Annotated[Principal, Depends(principal)]
    OperatorDep = Annotated[Principal, Depends(operator)]
    AdminDep = Annotated[Principal, Depends(admin)]
    SessionDep = Annotated[Session, Depends(session)]
    AgentPath = Annotated[AgentName, Path(description=AGENT_RULE)]
    ScopePath = Annotated[AgentScope, Path(description=f"{AGENT_RULE}; * for every agent")]
    IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
    ApprovalId = Annotated[str, Path(pattern=APPROVAL_ID_PATTERN, max_length=64)]
    Seconds = Annotated[float | None, Query(allow_inf_nan=False, ge=0, le=1e12)]

    def may_act_for(who: Principal, agent: str) -> None:
        """Agent routes are for agent tokens bound to the agent: operators set modes and answer
        approvals, they do not ask on an agent's behalf (README: Control modes and the API)."""
        if who.role != Role.agent:
            raise HTTPException(403, f"{who.actor} is not an agent: only agent tokens ask for decisions and approvals")
        if not who.may_read(agent):
            raise HTTPException(403, f"{who.actor} may not act for agent {agent!r}")

    def expiry(expires_in: str | None, now: float) -> float | None:
        return None if expires_in is None else now + duration(expires_in)

    def doc_or_404(s: Session, agent: str) -> Any:
        if agent == ALL_AGENTS:  # the global sources, not every agent's document (fan-out)
            return {"scope": ALL_AGENTS, "sources": [
                {"id": src.id, "kind": src.kind.value, "mode": src.mode.name, "reason": src.reason,
                 "actor": src.actor, "since": src.since, "expires_at": src.expires_at}
                for src in store.active_sources(session=s, now=service.clock()) if src.agent == ALL_AGENTS]}
        doc = store.control_document(session=s, agent=agent, now=service.clock())
        if doc is None:
            raise HTTPException(404, f"unknown agent {agent!r}: agents are known once they poll, "
                                     "are named by a rule, or are created with POST /v1/agents")
        return doc

    def load_entry(who: Principal, agent: str) -> Any:
        """Cold path of a poll: an agent's first poll makes it known; operators get 404 instead."""
        entry = hub.entry(agent)
        if entry is None and not who.is_operator() and agent != ALL_AGENTS:
            agents.known(app_, agent)
            entry = hub.entry(agent)
        return entry

    router = APIRouter(prefix="/v1", responses=ERRORS)
    Document = ControlDocument | GlobalSources

    @router.get("/agents/{agent}/control", response_model=ControlDocument,
                responses={304: {"description": "unchanged since If-None-Match or version"}})
    async def get_control(
        agent: ScopePath, who: PrincipalDep, request: Request,
        wait: Annotated[str | None, Query(description="long-poll up to this long (e.g. 30s, max 60s) "
                                                                     "with If-None-Match or version")] = None,
        version: Annotated[int | None, Query(description="return once the version differs")] = None,
    ) -> Response:
        """The agent's control document; `If-None-Match` with the current ETag gives 304."""
        if not who.may_read(agent):
            raise HTTPException(403, f"{who.actor} may not read agent {agent!r}")
        try:
            seconds = parse_wait(wait)
        except ValueError as exc:
            raise HTTPException(422, f"wait: {exc}; use a duration like 30s") from None
        entry = await run_in_threadpool(load_entry, who, agent)
        if entry is None:
            raise HTTPException(404, f"unknown agent {agent!r}")
        status, etag, body = await answer_control(
            hub, entry, agent=agent, if_none_match=request.headers.get("if-none-match"),
            wait=seconds, version=version)
        return Response(body or None, status_code=status, media_type="application/json" if body else None,
                        headers={"ETag": etag, "Cache-Control": "no-cache"})

    @router.put("/agents/{agent}/control", response_model=Document)
    def set_control(agent: ScopePath, change: ModeChange, who: OperatorDep, s: SessionDep) -> Any:
        """Take over (set a mode) or hand back (`normal`): replaces every hold on the agent."""
        modes.take_over(app_, agent=agent, mode=Mode[change.mode], reason=change.reason,
                        actor=who.actor, expires_at=expiry(change.expires_in, service.clock()))
        return doc_or_404(s, agent)

    @router.post("/agents/{agent}/sources", status_code=201, response_model=Document)
    def add_override(agent: ScopePath, change: ModeChange, who: OperatorDep, s: SessionDep) -> Any:
        """Add a human override beside the existing sources (the strictest wins)."""
        modes.add_override(app_, agent=agent, mode=Mode[change.mode], reason=change.reason,
                           actor=who.actor, expires_at=expiry(change.expires_in, service.clock()))
        return doc_or_404(s, agent)

    @router.post("/agents/{agent}/sources/{source_id}/release", response_model=Document)
    def release_one(agent: ScopePath, source_id: IdPath, body: Release, who: OperatorDep, s: SessionDep) -> Any:
        """Release one source (alert, override or fail-safe) by its id in the control document."""
        modes.release(app_, agent=agent, source_id=source_id, reason=body.reason, actor=who.actor)
        return doc_or_404(s, agent)

    @router.post("/agents/{agent}/release", response_model=Document)
    def release_all(agent: ScopePath, body: Release, who: OperatorDep, s: SessionDep) -> Any:
        """Hand control back: release every source held on the agent (`*`: the global ones)."""
        modes.release(app_, agent=agent, reason=body.reason, actor=who.actor)
        return doc_or_404(s, agent)

    @router.post("/agents/{agent}/actions", response_model=ActionAnswer)
    def ask(agent: AgentPath, request: ActionRequest, who: PrincipalDep) -> Any:
        """May the agent do this now? allow, deny or approval_required; every answer is audited.
        Agent tokens only."""
        may_act_for(who, agent)
        return agents.ask(app_, who, agent=agent, action=request.action, kind=request.kind, risk=request.risk,
                          args=request.args, idempotency_key=request.idempotency_key)

    @router.post("/approvals", status_code=201, response_model=Approval)
    def create_approval(body: ApprovalCreate, who: PrincipalDep) -> Any:
        """Ask a human to approve an action (idempotent per agent and idempotency_key). Agent tokens only."""
        may_act_for(who, body.agent)
        return approvals.request(app_, who, agent=body.agent, action=body.action, kind=body.kind, risk=body.risk,
                                 args=body.args, reason=body.reason, idempotency_key=body.idempotency_key,
                                 expires_in=duration(body.expires_in) if body.expires_in is not None else None,
                                 responders=body.responders)

    @router.get("/approvals/{approval_id}", response_model=Approval)
    async def get_approval(
        approval_id: ApprovalId, who: PrincipalDep,
        wait: Annotated[str | None, Query(description="long-poll while pending, e.g. 30s (max 60s)")] = None,
    ) -> Any:
        """The request and its decision; with `wait`, returns once it is decided or at the deadline."""
        try:
            seconds = parse_wait(wait) or 0.0
        except ValueError as exc:
            raise HTTPException(422, f"wait: {exc}; use a duration like 30s") from None

        def load() -> Any:
            with service.sessions() as s:
                return store.approval_public(approvals.approval_for(s, who, approval_id))

        deadline = asyncio.get_running_loop().time() + min(seconds, MAX_WAIT)
        while True:
            approval = await run_in_threadpool(load)
            left = deadline - asyncio.get_running_loop().time()
            if approval["status"] != "pending" or left <= 0:
                return approval
            if left > approval["expires_at"] - service.clock():  # wake to report the expiry
                left = max(approval["expires_at"] - service.clock(), 0.0) + 0.05
            await hub.wait_signal(f"approval:{approval_id}", left)
            if approval["expires_at"] <= service.clock():
                await run_in_threadpool(approvals.expire, app_)

    @router.get("/approvals", response_model=list[Approval], responses={200: {"headers": {"Link": {
        "description": 'the next page: <…?after=ID&limit=N>; rel="next"', "schema": {"type": "string"}}}}})
    def list_approvals(who: OperatorDep, s: SessionDep, response: Response,
                       status: Annotated[Status | None, Query(description="pending, approved, ...")] = None,
                       agent: Annotated[AgentName | None, Query()] = None,
                       after: Annotated[str | None, Query(pattern=APPROVAL_ID_PATTERN, max_length=64,
                                                          description="page after this approval id")] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
        """Approval requests, oldest first; the `Link` header names the next page."""
        cursor = None
        if after is not None:
            last = store.get_approval(session=s, approval_id=after)
            if last is None:
                raise HTTPException(422, f"after: no approval {after!r} to page after")
            cursor = (last.requested_at, last.id)
        rows = store.list_approvals(session=s, status=status.value if status else None, agent=agent,
                                    limit=limit, after=cursor)
        if len(rows) == limit:
            query = urlencode({k: v for k, v in {"status": status.value if status else None, "agent": agent,
                                                 "after": rows[-1].id, "limit": limit}.items() if v is not None})
            response.headers["Link"] = f'</v1/approvals?{query}>; rel="next"'
        return [store.approval_public(r) for r in rows]

    @router.post("/approvals/{approval_id}/approve", response_model=Approval)
    def approve(approval_id: ApprovalId, who: OperatorDep, body: ApprovalDecision | None = None) -> Any:
        """Approve, optionally with edited args (kept apart from the proposed ones)."""
        body = body or ApprovalDecision()
        return approvals.decide(app_, approval_id=approval_id, status=Status.approved, who=who,
                                comment=body.comment, args=body.args)

    @router.post("/approvals/{approval_id}/reject", response_model=Approval)
    def reject(approval_id: ApprovalId, body: ApprovalDecision, who: OperatorDep) -> Any:
        """Reject, with a comment the agent receives."""
        return approvals.decide(app_, approval_id=approval_id, status=Status.rejected, who=who,
                                comment=body.comment, args=body.args)

    @router.post("/approvals/{approval_id}/cancel", response_model=Approval)
    def cancel(approval_id: ApprovalId, who: PrincipalDep) -> Any:
        """The agent withdraws its request."""
        return approvals.decide(app_, approval_id=approval_id, status=Status.cancelled, who=who)

    @router.get("/audit", response_model=AuditPage)
    def audit(who: OperatorDep, s: SessionDep,
              agent: Annotated[AgentScope | None, Query()] = None,
              actor: Annotated[Name | None, Query()] = None,
              action: Annotated[Name | None, Query(description="prefix, e.g. approval or mode.override")] = None,
              since: Seconds = None, until: Seconds = None,
              after_id: Annotated[int, Query(ge=0, le=MAX_ID, description="page after this row id")] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
        """A page of the audit trail, oldest first; pass the last id as after_id for the next."""
        rows = store.audit_rows(session=s, agent=agent, actor=actor, action=action, since=since,
                                until=until, after_id=after_id, limit=limit)
        return {"rows": [r.model_dump() for r in rows],
                "next_after_id": rows[-1].id if len(rows) == limit else None}

    @router.post("/tokens", status_code=201, response_model=NewToken)
    def create_token(body: TokenCreate, who: AdminDep) -> Any:
        """A new token, shown once in this answer; only its hash is stored."""
        return token_ops.create(app_, who, name=body.name, role=body.role, agents=body.agents,
                                expires_in=duration(body.expires_in) if body.expires_in is not None else None)

    @router.get("/tokens", response_model=list[Token])
    def list_tokens(who: AdminDep, s: SessionDep) -> Any:
        return [store.token_public(r) for r in store.list_tokens(session=s)]

    @router.post("/tokens/{token_id}/revoke", response_model=Token)
    def revoke_token(token_id: IdPath, who: AdminDep) -> Any:
        revoked = token_ops.revoke(app_, who, token_id=token_id)
        tokens.forget()  # at once here; other replicas on the signal
        return revoked

    @router.get("/agents", response_model=list[AgentSummary])
    def list_agents(who: OperatorDep, s: SessionDep) -> Any:
        return store.list_agents(session=s, now=service.clock())

    @router.post("/agents", status_code=201, response_model=ControlDocument)
    def create_agent(body: AgentCreate, who: OperatorDep, s: SessionDep) -> Any:
        """Make an agent known before it polls (and set its canary ratio)."""
        agents.create(app_, who, name=body.name, canary_ratio=body.canary_ratio)
        return doc_or_404(s, body.name)

    @router.get("/rules", response_model=RuleGroups)
    def rules(who: OperatorDep) -> Any:
        """Rule groups with each rule's health, last error and last evaluation."""
        return {"groups": service.rules_status()}

    @router.post("/rules/reload", response_model=Reloaded)
    def reload_rules(who: OperatorDep) -> Any:
        """Reload the rule files; a file that fails the check is refused and nothing changes."""
        errors = service.reload(actor=who.actor)
        if errors:
            raise HTTPException(422, {"message": "rule files refused; the running rules stay",
                                      "errors": [str(e) for e in errors]})
        return {"groups": len(service.groups), "rules": sum(len(g.rules) for g in service.groups)}

    @router.post("/silences", status_code=201, response_model=Silence)
    def create_silence(body: SilenceCreate, who: OperatorDep) -> Any:
        """Mute notifications of matching alerts (their takeover too only with suppress_takeover)."""
        return silences.silence(app_, matchers=body.matchers, duration=duration(body.duration),
                                comment=body.comment, actor=who.actor, suppress_takeover=body.suppress_takeover)

    @router.get("/silences", response_model=list[Silence])
    def list_silences(who: OperatorDep, s: SessionDep, expired: bool = False) -> Any:
        return [r.model_dump() for r in store.list_silences(session=s, now=service.clock(), include_expired=expired)]

    @router.post("/silences/{silence_id}/expire", response_model=Silence)
    def expire_silence(silence_id: IdPath, who: OperatorDep) -> Any:
        return silences.expire(app_, silence_id=silence_id, actor=who.actor)

    @router.get("/alert-groups", response_model=list[AlertGroup])
    def alert_groups(who: OperatorDep, s: SessionDep) -> Any:
        """The groups of alerts with a Slack message, and who acknowledged them."""
        return [g.model_dump() for g in store.notify_groups(session=s).values()]

    @router.post("/alert-groups/{group_id}/ack", response_model=AlertGroup)
    def ack_group(group_id: IdPath, who: OperatorDep) -> Any:
        """Acknowledge: stops escalation and shows who is on it."""
        group = dispatch.acknowledge(app_, group_id=group_id, actor=who.actor)
        if group is None:
            raise HTTPException(404, f"no alert group {group_id}")
        return group.model_dump()

    @router.get("/alerts", response_model=list[Alert])
    def list_alerts(who: OperatorDep, s: SessionDep) -> Any:
        return [
            {"labels": a.labels, "annotations": a.annotations, "state": a.state,
             "value": a.value if math.isfinite(a.value) else None,
             "active_at": a.active_at, "fired_at": a.fired_at, "resolved_at": a.resolved_at}
            for a in store.list_alerts(session=s)
        ]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        hub.bind(asyncio.get_running_loop())
        # the startup heap is long-lived: keep it out of full collections (measured: they
        # took ~100 ms each, freed nothing, and made the poll's p99)
        gc.freeze()
        yield

    docs = service.settings.api_docs  # off by default: FastAPI's pages load their scripts from a CDN
    app = FastAPI(title="takeover", summary="Alerting and human takeover for AI agents",
                  lifespan=lifespan, docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None)

    @app.exception_handler(Stale)
    async def stale(request: Request, exc: Stale) -> Response:
        return JSONResponse({"detail": f"{exc}; ask another replica"}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """422 with where and why, never the input (it may be huge, NaN or not valid Unicode)."""
        return JSONResponse({"detail": [
            {"loc": [safe_text(p) if isinstance(p, str) else p for p in e.get("loc", ())],
             "msg": safe_text(str(e.get("msg", ""))), "type": str(e.get("type", ""))}
            for e in exc.errors()]}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    secret = service.settings.slack_signing_secret
    slack = SlackInteractions(service, signing_secret=secret.get_secret_value()) if secret else None

    @app.post("/slack/interactions", include_in_schema=False)
    async def slack_interactions(request: Request, background: BackgroundTasks) -> Response:
        """Slack's button callbacks: verified, acknowledged at once, applied after."""
        if slack is None:
            raise HTTPException(403, "Slack interactivity is off: set TAKEOVER_SLACK_SIGNING_SECRET")
        interaction = slack.verify(await request.body(), request.headers)
        if interaction is not None:
            background.add_task(slack.apply, interaction)
        return Response(status_code=200)

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        """Ready to serve: the database answers, rules are loaded, Prometheus answers."""
        checks = service.readiness()
        ready = all(ok for ok, _ in checks.values())
        return JSONResponse({"ready": ready, "checks": {k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()}},
                            status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics of takeover itself."""
        return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    app.add_middleware(Edge, check_token=check_token, max_body_bytes=service.settings.max_body_bytes)
    app.state.tokens = tokens
    return app


def safe_text(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters and made encodable (a lone surrogate becomes `\\ud800`)."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def asgi_app(service: Service) -> ASGIApp:
    """What uvicorn serves: the control poll's fast path outside FastAPI's whole middleware
    stack (measured: it halves the CPU of a 304), FastAPI for everything else."""
    app = create_app(service)
    return ControlFastPath(app, hub=service.hub, tokens=app.state.tokens, metrics=service.metrics)
