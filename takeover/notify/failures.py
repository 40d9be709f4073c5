"""Why a Slack call failed, decided in one place (as Alertmanager's notifiers answer
`(retry, err)`): whether another attempt can help, and if not, which fallback can.

    DeliveryError            raised by a notifier's post / update / find
      .failure: Failure      kind, Slack's error code, the method, Retry-After, maybe_sent

Kinds: `retry` (HTTP 429, 5xx, Slack's own transient errors, network errors and timeouts) is
tried again after a back-off; the others are never tried again as they are: `message` (the
message itself is refused: too long, invalid blocks) falls back to plain text, `channel` (the
bot cannot post there) to the default channel, `gone` (the message to update is no longer
there) to a new post, `auth` (the token cannot post anywhere) straight to undeliverable.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Kind(Enum):
    retry = "retry"  # another attempt later can succeed
    message = "message"  # this message is refused: a plainer one may pass
    channel = "channel"  # this channel refuses the bot: another channel may take it
    gone = "gone"  # the message to update is not there: post it anew
    auth = "auth"  # the token is refused: nothing will pass until a person fixes it


MESSAGE_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_attachments",
                            "invalid_attachments", "invalid_metadata_format", "invalid_metadata_schema",
                            "metadata_too_large", "metadata_must_be_sent_from_app", "no_text",
                            "invalid_arguments", "invalid_arg_name", "invalid_array_arg", "invalid_json",
                            "json_not_object", "block_mismatch"})
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                            "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
                            "restricted_action_non_threadable_channel", "cannot_reply_to_message",
                            "team_access_not_granted", "ekm_access_denied", "user_not_found"})
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                         "missing_scope", "no_permission", "not_allowed_token_type", "org_login_required",
                         "team_not_found", "two_factor_setup_required", "access_denied"})
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"})
RETRY_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                          "request_timeout", "timeout"})
DEFAULT_RETRY_AFTER = 30.0  # a 429 without a readable Retry-After


@dataclass(frozen=True)
class Failure:
    kind: Kind
    error: str  # Slack's error code, or the exception's name for a network error
    method: str  # the Web API method, e.g. chat.postMessage
    retry_after: float | None = None  # seconds Slack asked to wait (429)
    maybe_sent: bool = False  # no answer came: the call may have reached Slack (in doubt)

    def __str__(self) -> str:
        wait = f", Retry-After {self.retry_after:g}s" if self.retry_after is not None else ""
        return f"{self.method}: {self.error} ({self.kind.value}{wait})"


class DeliveryError(Exception):
    """A Slack call that failed, with its class."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def from_answer(*, method: str, status: int, error: str, headers: dict[str, Any]) -> Failure:
    """The class of an answer that came back (HTTP status, Slack's `error`, headers)."""
    if status == 429 or error == "ratelimited":
        return Failure(Kind.retry, error or "ratelimited", method, retry_after=_retry_after(headers))
    if status >= 500 or error in RETRY_ERRORS:
        return Failure(Kind.retry, error or f"HTTP {status}", method)
    for kind, codes in ((Kind.auth, AUTH_ERRORS), (Kind.channel, CHANNEL_ERRORS), (Kind.gone, GONE_ERRORS)):
        if error in codes:
            return Failure(kind, error, method)
    # MESSAGE_ERRORS, and any other refusal: Alertmanager's rule (a 4xx is unrecoverable) — the
    # same message will be refused again, a plainer one may not
    return Failure(Kind.message, error or f"HTTP {status}", method)


def from_exception(exc: BaseException, *, method: str) -> Failure:
    """The class of a call that raised: slack-sdk's SlackApiError carries the answer; anything
    else (a refused connection, a timeout) is a network error, and the call may have landed."""
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "status_code"):
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        return from_answer(method=method, status=int(response.status_code), error=str(data.get("error") or ""),
                           headers=dict(getattr(response, "headers", None) or {}))
    refused = isinstance(exc, ConnectionRefusedError) or isinstance(getattr(exc, "reason", None),
                                                                     ConnectionRefusedError)
    return Failure(Kind.retry, type(exc).__name__ + (f": {exc}"[:200] if str(exc) else ""), method,
                   maybe_sent=not refused and not isinstance(exc, socket.gaierror))


def _retry_after(headers: dict[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value if not isinstance(value, list) else value[0]))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER
