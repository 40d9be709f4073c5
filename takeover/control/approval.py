"""Approval requests: states, who may answer, edited arguments. Pure: no I/O, no clock."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from takeover.control import validation


class Status(str, enum.Enum):
    pending = "pending"  # waiting for a human
    approved = "approved"  # run it, with the effective arguments
    rejected = "rejected"  # a human said no, with a comment
    expired = "expired"  # nobody answered in time: no
    cancelled = "cancelled"  # the agent withdrew it


DECIDED = {Status.approved, Status.rejected, Status.expired, Status.cancelled}


def may_respond(responders: Sequence[str], *, role: str, name: str) -> bool:
    """`role:operator` admits every operator (and admin); `operator:alice` admits one person."""
    roles = {role, "operator"} if role == "admin" else {role}
    return any(r in {f"role:{x}" for x in roles} or r == f"operator:{name}" for r in responders)


def check_args(args: Any, *, proposed: Mapping[str, Any] | None = None) -> str | None:
    """Why `args` are not acceptable (None when they are): `validation.check_args`, and when
    they edit `proposed`, only the proposed keys — a human edits values, not what the tool is."""
    try:
        validation.check_args(args)
    except ValueError as exc:
        return str(exc)
    if proposed is not None and not set(args) <= set(proposed):
        extra = ", ".join(sorted(set(args) - set(proposed)))
        return f"edited args may only change the proposed arguments; not proposed: {extra}"
    return None


def effective_args(proposed: Mapping[str, Any], approved: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the tool runs with: the proposed arguments with the approver's edits on top."""
    return {**proposed, **(approved or {})}
