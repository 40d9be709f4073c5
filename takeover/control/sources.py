"""Mode resolution and the action decision table: pure functions, no I/O, no clock."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from takeover.config.mode import ALL_AGENTS, Mode


class SourceKind(str, enum.Enum):
    alert = "alert"  # a firing rule with a `takeover` label
    override = "override"  # a human set the mode
    failsafe = "failsafe"  # the metrics source has been unreachable too long
    grant = "grant"  # an approver allowed one action (ref) for a while: mode normal, it holds nothing


@dataclass(frozen=True)
class Source:
    """One reason an agent (or every agent, `agent="*"`) is held in a mode."""

    agent: str
    mode: Mode
    kind: SourceKind
    ref: str  # the alert's identity, or the override's actor
    reason: str
    actor: str
    since: float
    expires_at: float | None = None
    id: int = 0
    covers: Mapping[str, Any] | None = None  # a grant's scope: its policy and argument bounds (control.grants)

    def applies(self, agent: str, now: float) -> bool:
        return self.agent in (agent, ALL_AGENTS) and (self.expires_at is None or now < self.expires_at)


def resolve_mode(sources: Iterable[Source], *, agent: str, now: float) -> Mode:
    """The effective mode: the strictest active source for this agent or for all agents."""
    return max((s.mode for s in sources if s.applies(agent, now)), default=Mode.normal)


class Decision(str, enum.Enum):
    allow = "allow"
    deny = "deny"
    approval_required = "approval_required"


def decide(mode: Mode, *, kind: str, risk: str) -> tuple[Decision, str]:
    """What an action of `kind` (read|write) and `risk` (low|high) may do in `mode`."""
    if mode == Mode.handoff:
        return Decision.deny, "the agent is handed off to a human"
    if kind == "read":
        return Decision.allow, "reads are allowed"
    if mode == Mode.read_only:
        return Decision.deny, "the agent is read-only"
    if mode == Mode.pause_writes:
        return Decision.deny, "writes are paused; retry after the pause is released"
    if mode == Mode.require_approval or risk == "high":
        return Decision.approval_required, f"a {risk}-risk write needs a human's approval in mode {mode.name}"
    return Decision.allow, "low-risk writes are allowed"


def permissions(mode: Mode) -> dict[str, str]:
    """The decision table row for `mode`, for the control document."""
    return {
        f"{kind}_{risk}": decide(mode, kind=kind, risk=risk)[0].value
        for kind in ("read", "write")
        for risk in ("low", "high")
    }


@dataclass(frozen=True)
class ModeChange:
    """What a change of sources did: the scope's mode before and after, and whose documents
    changed (every agent for `*`). A store function returns it; the caller queues the message."""

    scope: str
    before: Mode
    after: Mode
    actor: str
    reason: str
    agents: tuple[str, ...]

    @property
    def mode_changed(self) -> bool:
        return self.before != self.after
