"""The server's answers read as values: the refusal to raise, what a decided approval means, a failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from .errors import DENIALS, ApprovalExpired, ApprovalRequired, Denied, Refused, Rejected
from .model import Outcome, Permit


def refusal(answer: Mapping[str, Any], *, action: str) -> Refused | None:
    """The exception for the server's answer to `action`; None when the decision is allow."""
    if answer.get("decision") == "allow":
        return None
    mode, retry, approval = str(answer.get("mode", "")), answer.get("retry_after"), answer.get("approval")
    kind = ApprovalRequired if answer.get("decision") == "approval_required" else DENIALS.get(mode, Denied)
    return kind(action=action, reason=str(answer.get("reason", "")), mode=mode,
                version=int(answer.get("version") or 0), retry_after=None if retry is None else float(retry),
                approval_id=str(approval["id"]) if isinstance(approval, dict) and approval.get("id") else None)


def settled(approval: Mapping[str, Any], *, asked: ApprovalRequired) -> Permit | Refused | None:
    """What a decided approval request means: a Permit when approved, else the refusal to raise;
    None while it is pending. Cancelled, or a status the SDK does not know, never runs."""
    status, by, comment = approval["status"], approval.get("decided_by"), approval.get("comment")
    if status == "pending":
        return None
    if status == "approved":
        args = approval["args"]
        proposed, effective = dict(args["proposed"]), dict(args["effective"])
        edits = {k: v for k, v in effective.items() if k not in proposed or proposed[k] != v}
        return Permit(args=effective, edits=edits, approval_id=asked.approval_id, decided_by=by, comment=comment)
    if status == "rejected":
        return Rejected(action=asked.action, mode=asked.mode, version=asked.version, approval_id=asked.approval_id,
                        comment=str(comment or ""), decided_by=str(by or ""))
    if status == "expired":
        return ApprovalExpired(action=asked.action, mode=asked.mode, version=asked.version,
                               approval_id=asked.approval_id,
                               reason=f"approval request {asked.approval_id} expired before anyone answered it")
    return Denied(action=asked.action, reason=f"approval request {asked.approval_id} is {status}", mode=asked.mode,
                version=asked.version, approval_id=asked.approval_id)


def failure(outcome: Outcome) -> str:
    """What went wrong, in one line: the server's answer, or the transport error."""
    if not isinstance(outcome, httpx.Response):
        return repr(outcome)
    return f"HTTP {outcome.status_code} from {outcome.request.method} {outcome.request.url.path}: {outcome.text[:300]}"
