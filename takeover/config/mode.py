"""Control modes: what an agent may do, from least to most strict."""

from __future__ import annotations

import enum
from typing import Literal

ALL_AGENTS = "*"


class Mode(enum.IntEnum):
    """The int order is the strictness order: an agent's mode is the max of its sources."""

    normal = 0
    require_approval = 1  # writes and high-risk actions wait for a human
    pause_writes = 2  # writes are refused now and may resume later
    read_only = 3  # writes are refused
    handoff = 4  # the agent stops acting and hands the conversation to a human


TAKEOVER_MODES = ("require_approval", "pause_writes", "read_only", "handoff")
ROLLBACK = "rollback"  # a rule's `takeover: rollback` rolls back its agent's release instead of holding a mode
SHADOW = "shadow:"  # a rule's `takeover: shadow:<mode>` records the hold it would make and holds nothing
ModeName = Literal["normal", "require_approval", "pause_writes", "read_only", "handoff"]


def shadow_mode(value: str | None) -> Mode | None:
    """The mode a `shadow:<mode>` takeover label would hold; None for any other value."""
    if value is None or not value.startswith(SHADOW):
        return None
    name = value.removeprefix(SHADOW)
    return Mode[name] if name in TAKEOVER_MODES else None
