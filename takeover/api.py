"""The control API (FastAPI): what agents poll and what operators change."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from takeover import store
from takeover.auth import Principal, TokenCache
from takeover.control import Source, SourceKind
from takeover.mode import ALL_AGENTS, Mode
from takeover.rulefile import parse_duration
from takeover.service import Service


class ModeChange(BaseModel):
    mode: Mode = Field(description="normal releases every hold on the agent")
    reason: str = Field(min_length=1, description="why: shown to the agent and in the audit trail")
    expires_in: str | None = Field(None, description="Prometheus duration, e.g. 30m; unset: until released")


def create_app(service: Service) -> FastAPI:
    """The API over one running `Service`."""
    tokens = TokenCache(service.sessions)

    def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        found = tokens.principal(token.strip())
        if found is None:
            raise HTTPException(401, "invalid, expired or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.is_operator():
            raise HTTPException(403, f"{who.actor} is not an operator")
        return who

    def session() -> Any:
        with service.sessions() as s:
            yield s

    PrincipalDep = Annotated[Principal, Depends(principal)]
    OperatorDep = Annotated[Principal, Depends(operator)]
    SessionDep = Annotated[Session, Depends(session)]

    router = APIRouter(prefix="/v1")

    @router.get("/agents/{agent}/control")
    def get_control(agent: str, who: PrincipalDep, request: Request) -> Response:
        """The agent's control document; `If-None-Match` with the current ETag gives 304."""
        if not who.may_read(agent):
            raise HTTPException(403, f"{who.actor} may not read agent {agent!r}")
        entry = service.cache.get(agent)
        if entry is None:
            with service.sessions() as s:
                if who.is_operator() and s.get(store.AgentRow, agent) is None:
                    raise HTTPException(404, f"unknown agent {agent!r}")
                store.ensure_agent(session=s, name=agent, now=service.clock())
                s.commit()
                doc = store.control_document(session=s, agent=agent, now=service.clock())
            assert doc is not None
            entry = service.cache.put(agent, doc)
        etag, body = entry
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    @router.put("/agents/{agent}/control")
    def set_control(agent: str, change: ModeChange, who: OperatorDep, s: SessionDep) -> Any:
        """Take over (set a mode) or hand back (`normal`): replaces every hold on the agent."""
        now = service.clock()
        expires_at = None
        if change.expires_in is not None:
            try:
                expires_at = now + parse_duration(change.expires_in)
            except ValueError as exc:
                raise HTTPException(422, f"expires_in: {exc}") from None
        changed = store.release_sources(session=s, agent=agent, actor=who.actor,
                                        reason=change.reason, now=now)
        if change.mode != Mode.normal:
            changed += store.add_source(session=s, now=now, source=Source(
                agent=agent, mode=change.mode, kind=SourceKind.override, ref=who.actor,
                reason=change.reason, actor=who.actor, since=now, expires_at=expires_at))
        elif agent != ALL_AGENTS:
            store.ensure_agent(session=s, name=agent, now=now)
        s.commit()
        service.cache.invalidate(sorted(set(changed)))
        return JSONResponse(store.control_document(session=s, agent=agent, now=now)
                            if agent != ALL_AGENTS else {"agents": changed})

    @router.get("/agents")
    def list_agents(who: OperatorDep, s: SessionDep) -> Any:
        return store.list_agents(session=s, now=service.clock())

    @router.get("/alerts")
    def list_alerts(who: OperatorDep, s: SessionDep) -> Any:
        return [
            {"labels": a.labels, "annotations": a.annotations, "state": a.state, "value": a.value,
             "active_at": a.active_at, "fired_at": a.fired_at, "resolved_at": a.resolved_at}
            for a in store.list_alerts(session=s)
        ]

    app = FastAPI(title="takeover", summary="Alerting and human takeover for AI agents")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    return app
