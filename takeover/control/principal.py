"""Who is asking: a principal with a role (agent, viewer < operator < admin, and alertmanager for
an Alertmanager's webhook) and, for agents, the agent names it may act for (a viewer only reads
the console's pages); and the shape of a new bearer token (shown once, stored hashed)."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "tko_"


class Role(str, enum.Enum):
    agent = "agent"  # bound to agent names: poll their control documents, ask for decisions
    viewer = "viewer"  # reads the console's pages; no API route and no console form
    # an Alertmanager's webhook: posts its notifications (POST /v1/alertmanager) and nothing else,
    # so the credential in alertmanager.yml cannot release a hold, answer an approval or read
    alertmanager = "alertmanager"
    operator = "operator"  # alerts, modes, approvals, audit reads
    admin = "admin"  # tokens and configuration; can do what an operator can


OPERATOR_ROLES = frozenset({Role.operator, Role.admin})


def person_of(name: str, person: str | None = None) -> str:
    """The person a token (or a Slack user's operator name) stands for: its own `person`, else
    its name without a role prefix, so `operator:alice`, `admin:alice` and `alice` are one person."""
    if person:
        return person
    role, sep, rest = name.partition(":")
    return rest if sep and rest and role in Role.__members__ else name


@dataclass(frozen=True)
class Principal:
    """Who asks: the token's name and role, an agent token's agents, and the person behind it
    (two tokens of one person are one vote)."""

    name: str
    role: Role
    agents: tuple[str, ...] = ()
    person: str = ""

    def __post_init__(self) -> None:
        if not self.person:
            object.__setattr__(self, "person", person_of(self.name))

    def is_operator(self) -> bool:
        return self.role in OPERATOR_ROLES

    def may_read(self, agent: str) -> bool:
        return agent in self.agents or self.is_operator()  # the agent's own token first: every poll asks

    @property
    def actor(self) -> str:
        return f"{self.role.value}:{self.name}"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
