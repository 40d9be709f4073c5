"""The exceptions the SDK raises (the tree is drawn in the package docstring)."""

from __future__ import annotations


class TakeoverError(Exception):
    """Base of every error the SDK raises."""


class ControlPlaneUnreachable(TakeoverError):
    """Fail closed: the control document is not fresh, or the server could not be asked."""


class RequestRejected(TakeoverError):
    """The server refused the request: a bad token, another agent's token, bad input."""


class Refused(TakeoverError):
    """The server answered that the action may not run now."""

    def __init__(self, *, action: str, reason: str, mode: str, version: int,
                 retry_after: float | None = None, approval_id: str | None = None) -> None:
        super().__init__(f"{action}: {reason} (mode {mode})")
        self.action, self.reason, self.mode, self.version = action, reason, mode, version
        self.retry_after = retry_after  # the server's hint in seconds, for WritesPaused
        self.approval_id = approval_id  # the approval request the answer is about, if any


class ApprovalRequired(Refused):
    """A human must approve the action first; `approval_id` names the pending request."""


class ApprovalTimeout(ApprovalRequired):
    """Still pending when `wait_for_approval` ran out. The request is not cancelled: ask again
    with the same idempotency_key to pick it up (and a decision made meanwhile)."""


class Rejected(Refused):
    """A human rejected the request: `comment` says why, `decided_by` who."""

    def __init__(self, *, action: str, mode: str, version: int, approval_id: str | None,
                 comment: str, decided_by: str) -> None:
        super().__init__(action=action, reason=f"rejected by {decided_by or 'a human'}: {comment}", mode=mode,
                         version=version, approval_id=approval_id)
        self.comment, self.decided_by = comment, decided_by


class ApprovalExpired(Refused):
    """Nobody answered the request before it expired, so it will not run (no human declined it)."""


class Denied(Refused):
    """The action is denied."""


class WritesPaused(Denied):
    """Writes are paused and may resume; `retry_after` is the server's hint."""


class ReadOnly(Denied):
    """The agent is read-only."""


class HandedOff(Denied):
    """The agent is handed off to a human and must stop acting."""


DENIALS: dict[str, type[Denied]] = {"pause_writes": WritesPaused, "read_only": ReadOnly, "handoff": HandedOff}
