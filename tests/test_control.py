"""Mode resolution and the decision table: pure."""

from __future__ import annotations

import pytest

from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.sources import (
    Decision,
    Source,
    SourceKind,
    decide,
    permissions,
    resolve_mode,
)

T0 = 1_700_000_000.0


def src(mode: Mode, agent: str = "a1", expires_at: float | None = None) -> Source:
    return Source(agent=agent, mode=mode, kind=SourceKind.override, ref="r", reason="why",
                  actor="operator:alice", since=T0, expires_at=expires_at)


def test_no_sources_is_normal() -> None:
    assert resolve_mode([], agent="a1", now=T0) == Mode.normal


def test_strictest_source_wins_and_global_sources_combine_with_the_agents_own() -> None:
    sources = [src(Mode.require_approval), src(Mode.read_only, agent=ALL_AGENTS), src(Mode.handoff, agent="a2")]
    assert resolve_mode(sources, agent="a1", now=T0) == Mode.read_only
    assert resolve_mode(sources, agent="a2", now=T0) == Mode.handoff
    assert resolve_mode(sources, agent="a3", now=T0) == Mode.read_only


def test_an_expired_source_no_longer_applies() -> None:
    sources = [src(Mode.pause_writes, expires_at=T0 + 60)]
    assert resolve_mode(sources, agent="a1", now=T0 + 59) == Mode.pause_writes
    assert resolve_mode(sources, agent="a1", now=T0 + 60) == Mode.normal


@pytest.mark.parametrize(("mode", "kind", "risk", "decision"), [
    (Mode.normal, "read", "low", Decision.allow),
    (Mode.normal, "write", "low", Decision.allow),
    (Mode.normal, "write", "high", Decision.approval_required),
    (Mode.require_approval, "read", "high", Decision.allow),
    (Mode.require_approval, "write", "low", Decision.approval_required),
    (Mode.pause_writes, "read", "low", Decision.allow),
    (Mode.pause_writes, "write", "low", Decision.deny),
    (Mode.read_only, "write", "high", Decision.deny),
    (Mode.read_only, "read", "low", Decision.allow),
    (Mode.handoff, "read", "low", Decision.deny),
])
def test_decision_table(mode: Mode, kind: str, risk: str, decision: Decision) -> None:
    assert decide(mode, kind=kind, risk=risk)[0] == decision


def test_permissions_summarise_the_row() -> None:
    assert permissions(Mode.read_only) == {"read_low": "allow", "read_high": "allow",
                                           "write_low": "deny", "write_high": "deny"}
