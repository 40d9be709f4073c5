"""API tokens: admins create them (the secret is shown once), list and revoke them."""

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from takeover import store
from takeover.app import tokens as token_ops
from takeover.control.validation import AgentName, Duration, Name, duration
from takeover.server.api.deps import AdminDep, IdPath, ServiceDep, SessionDep, TokensDep


class TokenCreate(BaseModel):
    role: Literal["agent", "viewer", "operator", "admin", "alertmanager"]
    name: Name
    agents: list[AgentName] = Field(default_factory=list, max_length=100,
                                    description="agent tokens: the agents it may act for (never *)")
    expires_in: Duration | None = None
    person: Name | None = Field(None, description="who holds it (default: the name without a role prefix, so "
                                                  "operator:alice and admin:alice are alice): one person, one vote")


class Token(BaseModel):
    id: int
    name: str
    role: str
    agents: list[str]
    person: str = Field(description="who holds it: approvals count one vote per person")
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class NewToken(Token):
    token: str = Field(description="the bearer token: shown once, only its hash is stored")


router = APIRouter()


@router.post("/tokens", status_code=201, response_model=NewToken)
def create_token(body: TokenCreate, who: AdminDep, service: ServiceDep) -> Any:
    """A new token, shown once in this answer; only its hash is stored."""
    return token_ops.create(service.app, actor=who.actor, name=body.name, role=body.role, agents=body.agents,
                            expires_in=duration(body.expires_in) if body.expires_in is not None else None,
                            person=body.person)


@router.get("/tokens", response_model=list[Token])
def list_tokens(who: AdminDep, s: SessionDep) -> Any:
    return [store.token_public(r) for r in store.list_tokens(session=s)]


@router.post("/tokens/{token_id}/revoke", response_model=Token)
def revoke_token(token_id: IdPath, who: AdminDep, service: ServiceDep, tokens: TokensDep) -> Any:
    revoked = token_ops.revoke(service.app, actor=who.actor, token_id=token_id)
    tokens.forget()  # at once here; other replicas on the signal
    return revoked
