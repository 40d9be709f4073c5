"""The control document an agent polls: its mode, version, the sources behind the mode and what
it may do. Pure: built from the agent's row values and the active sources."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from takeover.control.sources import Source, permissions, resolve_mode


def control_document(*, agent: str, version: int, canary_ratio: float | None,
                     sources: Sequence[Source], now: float, release: dict[str, Any] | None = None) -> dict[str, Any]:
    mine = [s for s in sources if s.applies(agent, now)]
    mode = resolve_mode(mine, agent=agent, now=now)
    return {
        "agent": agent,
        "mode": mode.name,
        "version": version,
        "sources": [
            {"id": s.id, "kind": s.kind.value, "mode": s.mode.name, "scope": s.agent,
             "ref": s.ref, "reason": s.reason, "actor": s.actor, "since": s.since,
             "expires_at": s.expires_at}
            for s in sorted(mine, key=lambda s: (-s.mode, s.since))
        ],
        "permissions": permissions(mode),
        "canary_ratio": canary_ratio,
        "release": release,  # id, state, weight_bp, stable and canary versions (see store.release_document)
    }
