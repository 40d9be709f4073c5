"""What takeover answered about one tool call, as a value an adapter maps onto its framework's idiom.

`ask` / `aask` run the SDK core's `authorize` flow once (the control document, then `POST
/v1/agents/{agent}/actions`, and, when a human already decided, the approval) and return:

    Allowed(permit)             run it, with `permit.args` (the approver's edits on top)
    Refused(reason, error)      the framework's refusal; `reason` is what the model reads
    Pending(approval_id, ...)   a human must decide: the framework's pause, carrying the id

`withdraw` / `awithdraw` cancel a request that nothing waits for any more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from takeover.sdk import (
    Action,
    ApprovalRequired,
    AsyncClient,
    Client,
    ControlPlaneUnreachable,
    Permit,
    TakeoverError,
)
from takeover.sdk import Refused as RefusedError
from takeover.sdk.model import Kind, Risk

Declared = Mapping[str, Kind | tuple[Kind, Risk]]  # tool name -> "read" | "write" | (kind, risk)


@dataclass(frozen=True)
class Allowed:
    permit: Permit

    @property
    def edits(self) -> Mapping[str, Any]:
        """The arguments a human changed when approving (empty when nobody had to)."""
        return self.permit.edits


@dataclass(frozen=True)
class Refused:
    reason: str  # what the model is told, in takeover's words
    error: TakeoverError  # the SDK's exception: ReadOnly, Rejected, ApprovalExpired, ControlPlaneUnreachable...

    @property
    def unheard(self) -> bool:
        """Takeover could not be asked: no decision was made (fail closed, but a resume may retry)."""
        return isinstance(self.error, ControlPlaneUnreachable)


@dataclass(frozen=True)
class Pending:
    approval_id: str
    reason: str
    error: ApprovalRequired


Verdict = Allowed | Refused | Pending


def verdict_of(error: TakeoverError) -> Refused | Pending:
    """The verdict an exception of the SDK's guard stands for."""
    if isinstance(error, ApprovalRequired) and error.approval_id is not None:
        return Pending(error.approval_id, error.reason or str(error), error)
    if isinstance(error, RefusedError):
        return Refused(f"takeover refused {error.action!r}: {error.reason} (mode {error.mode})", error)
    return Refused(f"takeover refused the call: {error}", error)


def ask(client: Client, act: Action, *, wait: float = 0.0, execute: bool = True) -> Verdict:
    """Ask once (waiting up to `wait` seconds for a human already asked); never raises a refusal."""
    try:
        return Allowed(client.run(client.state.authorize(act, wait_for_approval=wait, execute=execute)))
    except TakeoverError as error:
        return verdict_of(error)


async def aask(client: AsyncClient, act: Action, *, wait: float = 0.0, execute: bool = True) -> Verdict:
    """`ask` for an AsyncClient."""
    try:
        return Allowed(await client.run(client.state.authorize(act, wait_for_approval=wait, execute=execute)))
    except TakeoverError as error:
        return verdict_of(error)


def withdraw(client: Client, approval_id: str) -> bool:
    """Cancel a pending approval request nothing waits for any more (best effort: False when a
    human decided first or takeover could not be asked)."""
    try:
        return client.run(client.state.withdraw(approval_id))
    except TakeoverError:
        return False


async def awithdraw(client: AsyncClient, approval_id: str) -> bool:
    """`withdraw` for an AsyncClient."""
    try:
        return await client.run(client.state.withdraw(approval_id))
    except TakeoverError:
        return False


def arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A tool call's arguments as the JSON object takeover is asked about ({} when there are none)."""
    if raw is None or raw == "":
        return {}
    value = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if not isinstance(value, dict):
        raise ValueError(f"a tool call's arguments are a JSON object, not {type(value).__name__}")
    return value


def declared(kinds: Declared | None) -> dict[str, tuple[Kind, Risk]]:
    """Tools' kinds declared in one place, each as (kind, risk); a bare kind is low-risk."""
    out: dict[str, tuple[Kind, Risk]] = {}
    for name, kind in (kinds or {}).items():
        out[name] = (kind, "low") if isinstance(kind, str) else kind
    return out
