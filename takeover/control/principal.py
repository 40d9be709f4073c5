"""Who is asking: a principal with a role (agent, viewer < operator < admin) and, for agents, the
agent names it may act for (a viewer only reads the console's pages); and the shape of a new
bearer token (shown once, stored hashed)."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "tko_"


class Role(str, enum.Enum):
    agent = "agent"  # bound to agent names: poll their control documents, ask for decisions
    viewer = "viewer"  # reads the console's pages; no API route and no console form
    operator = "operator"  # alerts, modes, approvals, audit reads
    admin = "admin"  # tokens and configuration; can do what an operator can


OPERATOR_ROLES = frozenset({Role.operator, Role.admin})


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    agents: tuple[str, ...] = ()

    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES

    def may_read(self, agent: str) -> bool:
        return agent in self.agents or self.is_operator()  # the agent's own token first: every poll asks

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
