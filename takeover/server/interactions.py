"""Slack interactivity: the buttons on takeover's messages.

Requests are verified with slack-sdk's `SignatureVerifier` over the raw body (it also refuses
timestamps more than 5 minutes off: replays), acknowledged at once, and applied afterwards,
once: a retried delivery or a double click finds its key already claimed, and decisions are
conditional updates anyway. Each button is the same operation as the API's, audited with the
operator the Slack user maps to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.errors import SlackClientError
from slack_sdk.signature import SignatureVerifier

from takeover import store
from takeover.app import approvals, dispatch, modes, releases, silences
from takeover.app.errors import Refusal
from takeover.config import context
from takeover.config.mode import Mode
from takeover.control import validation
from takeover.control.approval import Status
from takeover.control.principal import Principal, Role
from takeover.control.validation import MAX_REASON
from takeover.notify.failures import DeliveryError
from takeover.server.service import Service
from takeover.store.models import NotifyGroupRow

log = logging.getLogger(__name__)
REJECT_MODAL = "takeover_reject"
SILENCE_SECONDS = 3600.0


@dataclass(frozen=True)
class Interaction:
    """One button press (or the reject modal's submission), as takeover needs it."""

    key: str  # the same for a retried delivery of the same press
    user_id: str
    action_id: str
    value: str
    channel: str = ""
    trigger_id: str = ""
    comment: str = ""


def parse_interaction(payload: Any) -> Interaction | None:
    """The interaction in a Slack payload, or None for kinds takeover does not handle;
    ValueError when the payload is not shaped like Slack's."""
    if not isinstance(payload, dict):
        raise ValueError("the payload is not a JSON object")
    user = str(_obj(payload, "user").get("id", ""))
    actions = payload.get("actions")
    if payload.get("type") == "block_actions" and actions:
        if not isinstance(actions, list) or not isinstance(actions[0], dict):
            raise ValueError("actions is not a list of objects")
        action = actions[0]
        return Interaction(
            key=f"{user}:{action.get('action_ts', '')}:{action.get('action_id', '')}", user_id=user,
            action_id=str(action.get("action_id", "")), value=str(action.get("value", "")),
            channel=str(_obj(payload, "channel").get("id", "")),
            trigger_id=str(payload.get("trigger_id", "")))
    view = _obj(payload, "view")
    if payload.get("type") == "view_submission" and view.get("callback_id") == REJECT_MODAL:
        values = _obj(_obj(view, "state"), "values")
        comment = _obj(_obj(values, "comment"), "comment").get("value") or ""
        meta = json.loads(view.get("private_metadata") or "{}")
        if not isinstance(meta, dict) or not isinstance(comment, str):
            raise ValueError("the reject modal's fields are not what takeover sent")
        return Interaction(key=f"{user}:view:{view.get('id', '')}", user_id=user, action_id="reject_submit",
                           value=str(meta.get("approval", "")), channel=str(meta.get("channel", "")),
                           comment=comment)
    return None


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not a JSON object")
    return value


# what each button's value must be: checked before the press is acknowledged or claimed
VALUE_CHECKS: dict[str, Callable[[str], object]] = {
    "ack": validation.check_id, "silence_1h": validation.check_id,
    "takeover": validation.check_agent_scope, "release": validation.check_agent_scope,
    "approve": validation.check_approval_id, "reject": validation.check_approval_id,
    "reject_submit": validation.check_approval_id,
    **{f"release_{action}": validation.check_agent for action in releases.ACTIONS},
}


def check_interaction(i: Interaction) -> None:
    """ValueError when a press names no button of takeover's or carries a value it cannot use."""
    check = VALUE_CHECKS.get(i.action_id)
    if check is None:
        raise ValueError(f"unknown action {i.action_id[:40]!r}")
    check(i.value)
    if i.action_id == "reject_submit":
        validation.check_text(i.comment)


def reject_modal(approval_id: str, channel: str) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": REJECT_MODAL,
        "private_metadata": json.dumps({"approval": approval_id, "channel": channel}),
        "title": {"type": "plain_text", "text": "Reject the action"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "blocks": [{"type": "input", "block_id": "comment",
                    "label": {"type": "plain_text", "text": "Why? The agent is told."},
                    "element": {"type": "plain_text_input", "action_id": "comment",
                                # one line, like every reason takeover accepts (takeover.control.validation)
                                "multiline": False, "max_length": MAX_REASON}}],
    }


class SlackInteractions:
    def __init__(self, service: Service, *, signing_secret: str) -> None:
        self.service = service
        self.verifier = SignatureVerifier(signing_secret)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> Interaction | None:
        """The interaction in a signed request (None for kinds takeover ignores); a `Refusal`:
        401 when the signature or timestamp is wrong, 400 when the signed payload is unusable."""
        timestamp = headers.get("x-slack-request-timestamp", "")
        if not timestamp.isascii() or not timestamp.isdigit():
            raise Refusal(401, "invalid or stale Slack signature: the timestamp is not a number")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, "the body is not UTF-8") from None
        if not self.verifier.is_valid_request(text, dict(headers)):
            raise Refusal(401, "invalid or stale Slack signature")
        try:
            interaction = parse_interaction(json.loads(parse_qs(text, strict_parsing=True)["payload"][0]))
            if interaction is not None:
                check_interaction(interaction)
        except (KeyError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise Refusal(400, f"not a Slack interaction takeover can apply: {exc}") from None
        return interaction

    def apply(self, interaction: Interaction) -> None:
        """Do what the button says, once, as the operator the Slack user maps to."""
        service = self.service
        name = service.routing.slack_users.get(interaction.user_id)
        if name is None:
            self._tell(interaction, "You are not mapped to a takeover operator, so nothing changed. "
                                    "Ask an admin to add your Slack user id to slack_users in the routing file.")
            return
        who = Principal(name, Role.operator)
        context.request_id.set(f"slack:{interaction.user_id}")
        with service.sessions() as s:
            if not store.claim_interaction(session=s, key=interaction.key, now=service.clock()):
                return  # a retried delivery: already applied
            s.commit()
        try:
            with service.sessions() as s:
                self._do(s, interaction, who)
        except Refusal as exc:
            detail = exc.detail["message"] if isinstance(exc.detail, dict) else exc.detail
            self._tell(interaction, f"Nothing changed: {detail}")
        except (DeliveryError, SlackClientError, OSError) as exc:
            log.warning("slack interaction %s failed: %s", interaction.action_id, exc)

    def _do(self, s: Any, i: Interaction, who: Principal) -> None:
        service = self.service
        if i.action_id == "ack":
            dispatch.acknowledge(service.app, group_id=int(i.value), actor=who.actor)
        elif i.action_id == "silence_1h":
            group = s.get(NotifyGroupRow, int(i.value))
            # the group's own label values (never parsed back from its key's text)
            key = next((k for k in (service.routing.group_key(r.labels, channel=group.channel)
                                    for r in store.list_alerts(session=s)) if str(k) == group.key),
                       None) if group is not None else None
            if key is None:
                raise Refusal(404, "this alert group is over")
            silences.silence(service.app, matchers=key.matchers(), duration=SILENCE_SECONDS,
                             comment=f"silenced for 1h from Slack by {who.name}", actor=who.actor)
        elif i.action_id == "takeover":
            modes.take_over(service.app, agent=i.value, mode=Mode.read_only, actor=who.actor,
                            reason=f"taken over from Slack by {who.name}")
        elif i.action_id == "release":
            modes.release(service.app, agent=i.value, actor=who.actor, reason=f"released from Slack by {who.name}")
        elif i.action_id == "approve":
            approvals.decide(service.app, approval_id=i.value, status=Status.approved, who=who)
        elif i.action_id == "reject":
            approvals.approval_for(s, who, i.value)
            service.notifier.open_modal(trigger_id=i.trigger_id, view=reject_modal(i.value, i.channel))
        elif i.action_id == "reject_submit":
            approvals.decide(service.app, approval_id=i.value, status=Status.rejected, who=who, comment=i.comment)
        elif i.action_id.startswith("release_"):
            releases.act(service.app, actor=who.actor, agent=i.value, action=i.action_id.removeprefix("release_"),
                         reason=f"from Slack by {who.name}")

    def _tell(self, i: Interaction, text: str) -> None:
        if not i.channel:
            log.warning("slack user %s: %s", i.user_id, text)
            return
        try:
            self.service.notifier.ephemeral(channel=i.channel, user=i.user_id, text=text)
        except (DeliveryError, SlackClientError, OSError) as exc:
            log.warning("could not tell slack user %s: %s", i.user_id, exc)
