"""An incident told as its steps (`app.timeline.tell`), as tables: which audit row is which step,
and which Slack message folds under which step — pure, from rows built here."""

from __future__ import annotations

from typing import Any

import pytest

from takeover.app.timeline import Kind, Status, audited, plain, tell
from takeover.store.models import AlertRow, AuditRow, OutboxRow

T = 1_800_000_000.0
LABELS = {"alertname": "RefundsFailing", "agent": "refund-bot", "owner": "team-pay", "severity": "page",
          "takeover": "read_only"}
NAME = 'RefundsFailing{agent="refund-bot"}'
OTHER = 'RefundsFailing{agent="other-bot"}'


def alert(**changes: Any) -> AlertRow:
    fields: dict[str, Any] = {
        "id": 1, "group_key": "console", "rule_key": "r", "fingerprint": "f", "labels": LABELS, "annotations": {},
        "state": "inactive", "value": 42.0, "active_at": T, "fired_at": T, "resolved_at": T + 8,
        "takeover": {"agent": "refund-bot", "before": "normal", "after": "read_only", "ref": "x",
                     "actor": "rule:RefundsFailing"}}
    return AlertRow(**{**fields, **changes})


def audit(at: float, actor: str, action: str, subject: str = "agent:refund-bot", before: Any = None,
          after: Any = None, reason: str = "") -> AuditRow:
    return AuditRow(at=T + at, actor=actor, action=action, subject=subject, before=before, after=after, reason=reason)


def sent(at: float, key: str, text: str, *, note: bool = False, **state: Any) -> OutboxRow:
    payload: dict[str, Any] = {"text": text, **({"thread_of": "group:g:1"} if note else {})}
    return OutboxRow(message_key=key, channel="#pay", payload=payload, created_at=T + at,
                     **({"sent_at": T + at} | state))


@pytest.mark.parametrize(("row", "kind", "title", "who"), [
    (audit(0, "rule:RefundsFailing", "mode.alert", before="normal", after="read_only"),
     Kind.held, "refund-bot held: normal → read_only", "rule:RefundsFailing"),
    (audit(0, "operator:olga", "mode.override", before="normal", after="pause_writes"),
     Kind.held, "refund-bot held: normal → pause_writes", "operator:olga"),
    (audit(0, "operator:olga", "mode.override", before="read_only", after="normal"),
     Kind.released, "refund-bot released: read_only → normal", "operator:olga"),
    (audit(0, "admin:root", "mode.release", before="read_only", after="normal"),
     Kind.released, "refund-bot released: read_only → normal", "admin:root"),
    (audit(0, "system:failsafe", "mode.failsafe", subject="agent:*", before="normal", after="read_only"),
     Kind.held, "all agents held: normal → read_only", "system:failsafe"),
    (audit(0, "operator:olga", "alert.ack", subject="group:g", after={"acked_by": "operator:olga"}),
     Kind.acknowledged, "Acknowledged", "operator:olga"),
    (audit(0, "agent:refund-bot", "approval.request", after={"approval": "a1", "action": "refund", "kind": "write",
                                                             "risk": "high"}),
     Kind.asked, "Approval asked: refund", "agent:refund-bot"),
    (audit(0, "operator:olga", "approval.vote", after={"approval": "a1", "votes": 1, "quorum": 2}),
     Kind.voted, "Approval vote: 1 of 2", "operator:olga"),
    (audit(0, "operator:bob", "approval.approved", after={"approval": "a1", "action": "refund"}),
     Kind.decided, "Approval approved: refund", "operator:bob"),
    (audit(0, "system:expiry", "approval.expired", after={"approval": "a1", "action": "refund"}),
     Kind.decided, "Approval expired: refund", "system:expiry"),
    (audit(0, "agent:refund-bot", "approval.executed", after={"approval": "a1", "action": "refund"}),
     Kind.ran, "Approved refund ran", "agent:refund-bot"),
    (audit(0, "agent:refund-bot", "action.deny", after={"action": "refund"}, reason="read_only"),
     Kind.refused, "Refused: refund", "agent:refund-bot"),
    (audit(0, "operator:olga", "release.start", after={"release": 3, "stable": "v1", "canary": "v2"}),
     Kind.release, "Release started: v1 → v2", "operator:olga"),
    (audit(0, "system:release", "release.rolled_back", after={"release": 3, "weight_bp": 0}),
     Kind.rolled_back, "Release rolled back at 0 %", "system:release"),
    (audit(0, "operator:olga", "release.promoted", after={"release": 3, "weight_bp": 10000}),
     Kind.release, "Release promoted at 100 %", "operator:olga"),
    (audit(0, "system:instances", "agent.confirmed", after={"version": 7, "instances": 3}),
     Kind.other, "refund-bot: all 3 instance(s) hold the new document", "system:instances"),
    (audit(0, "rule:RefundErrors", "alert.shadow_hold", after={"mode": "read_only"}),
     Kind.other, "refund-bot would have been held in read_only (shadow)", "rule:RefundErrors"),
])
def test_each_audit_row_is_a_step_with_who(row: AuditRow, kind: Kind, title: str, who: str) -> None:
    step = audited(row)
    assert step is not None
    assert (step.kind, step.title, step.who) == (kind, title, who)


@pytest.mark.parametrize("action", ["action.approval_required", "agent.create", "console.sign_in"])
def test_what_another_step_tells_or_no_incident_needs_is_left_out(action: str) -> None:
    assert audited(audit(0, "agent:refund-bot", action)) is None


def test_an_incident_is_told_in_order_with_its_slack_messages_folded_under_the_step_that_caused_them() -> None:
    trail = [
        audit(0, "rule:RefundsFailing", "mode.alert", before="normal", after="read_only", reason="refunds fail"),
        audit(0, "rule:RefundsFailing", "action.approval_required"),
        audit(4, "operator:olga", "alert.ack", subject="group:g"),
        audit(5, "agent:refund-bot", "approval.request", after={"approval": "a1", "action": "refund"}),
        audit(6, "operator:olga", "approval.approved", after={"approval": "a1", "action": "refund"}),
        audit(7, "admin:root", "mode.release", before="read_only", after="normal", reason="provider is back"),
    ]
    outbox = [
        sent(0, "group:g:1", "[FIRING] other-bot refunds fail (owner team-pay)"),
        sent(0, "mode:refund-bot:1", "[MODE] refund-bot: normal → read_only"),
        sent(0, "group:g:1:note:a", "🛑 `other-bot`: normal → read_only by rule:RefundsFailing", note=True),
        sent(0, "group:g:1:note:b", "🛑 `refund-bot`: normal → read_only by rule:RefundsFailing", note=True),
        sent(4, "group:g:1", "[FIRING] other-bot refunds fail (owner team-pay)"),
        sent(4, "group:g:1:note:c", "👀 Acknowledged by operator:olga", note=True),
        sent(5, "approval:a1", "[APPROVAL] refund-bot wants to run refund"),
        sent(6, "approval:a1", "[approved] refund-bot: refund", sent_at=None, last_error="ratelimited"),
        sent(6, "approval:a10", "another approval: its key only starts alike"),
        sent(7, "mode:refund-bot:2", "[MODE] refund-bot: read_only → normal", fallback="plain: invalid_blocks"),
        sent(7, "group:g:1:note:d", f"🔓 `refund-bot` released: the hold by {NAME} is over\n"
                                    f"🔥 firing: {OTHER}", note=True),
        sent(8, "group:g:1:note:e", f"✅ resolved: {NAME}", note=True, sent_at=None, undeliverable_at=T + 9,
             last_error="channel_not_found"),
        sent(8, "group:g:1", "[RESOLVED] refund-bot refunds fail"),
    ]
    told = [(s.kind, s.who, [(d.how, d.text, d.status) for d in s.deliveries])
            for s in tell(alert(), trail=trail, sent=outbox)]
    delivered, alert_message = Status.delivered, "the alert message of RefundsFailing"
    assert told == [
        (Kind.fired, "rule:RefundsFailing", [("posted to", f"{alert_message} (FIRING)", delivered)]),
        (Kind.held, "rule:RefundsFailing", [
            ("posted to", "[MODE] refund-bot: normal → read_only", delivered),
            ("thread note in", "refund-bot: normal → read_only by rule:RefundsFailing", delivered)]),
        (Kind.acknowledged, "operator:olga", [
            ("updated in", f"{alert_message} (FIRING)", delivered),
            ("thread note in", "Acknowledged by operator:olga", delivered)]),
        (Kind.asked, "agent:refund-bot", [("posted to", "[APPROVAL] refund-bot wants to run refund", delivered)]),
        (Kind.decided, "operator:olga", [("updated in", "[approved] refund-bot: refund", Status.retrying)]),
        (Kind.released, "admin:root", [
            ("posted to", "[MODE] refund-bot: read_only → normal", Status.fallback),
            ("thread note in", f"refund-bot released: the hold by {NAME} is over", delivered)]),
        (Kind.resolved, "rule:RefundsFailing", [
            ("thread note in", f"resolved: {NAME}", Status.undeliverable),
            ("updated in", f"{alert_message} (RESOLVED)", delivered)]),
    ]


@pytest.mark.parametrize(("changes", "kinds"), [
    ({}, [Kind.fired, Kind.resolved]),
    ({"fired_at": T + 30, "resolved_at": None, "state": "firing"}, [Kind.pending, Kind.fired]),
    ({"fired_at": None, "resolved_at": None, "state": "pending"}, [Kind.pending]),
    ({"group_key": "alertmanager", "fired_at": None, "resolved_at": None, "state": "firing"}, [Kind.fired]),
])
def test_the_alerts_own_record_gives_pending_fired_and_resolved(changes: dict[str, Any], kinds: list[Kind]) -> None:
    assert [s.kind for s in tell(alert(**changes), trail=[], sent=[])] == kinds


@pytest.mark.parametrize(("text", "shown"), [
    ("🔥 firing: a", "firing: a"),
    ("👀 Acknowledged by operator:olga", "Acknowledged by operator:olga"),
    ("⚠️ careful", "careful"),
    ("`refund-bot` &lt;b&gt; &amp; co", "refund-bot <b> & co"),
    ("one\n\ntwo", "one · two"),
])
def test_a_message_shows_without_emoji_or_slack_escapes(text: str, shown: str) -> None:
    assert plain(text) == shown


def test_an_approval_request_says_its_risk_and_arguments_and_links_to_its_card() -> None:
    step = audited(audit(0, "agent:refund-bot", "approval.request", reason="customer asked twice", after={
        "approval": "a1", "action": "refund", "kind": "write", "risk": "high", "args": {"order": "R-7", "amount": 120}}))
    assert step is not None
    assert (step.detail, step.link) == ('high-risk write; order="R-7", amount=120; customer asked twice',
                                        "/ui/approvals#approval-a1")


@pytest.mark.parametrize(("state", "status", "problem"), [
    ({}, Status.delivered, ""),
    ({"fallback": "plain: invalid_blocks"}, Status.fallback, "plain (Slack refused it as it was: invalid_blocks)"),
    ({"sent_at": None}, Status.queued, ""),
    ({"sent_at": None, "last_error": "ratelimited"}, Status.retrying, "ratelimited"),
    ({"sent_at": None, "undeliverable_at": T, "last_error": "invalid_auth"}, Status.undeliverable, "invalid_auth"),
    ({"sent_at": None, "undeliverable_at": T, "last_error": "invalid_auth", "dismissed_at": T,
      "dismissed_by": "operator:olga"}, Status.dismissed, "invalid_auth; dismissed by operator:olga"),
])
def test_a_delivery_says_plainly_whether_it_reached_slack(state: dict[str, Any], status: Status, problem: str) -> None:
    [step] = tell(alert(resolved_at=None), trail=[], sent=[sent(0, "group:g:1", "[FIRING] x", **state)])
    assert [(d.status, d.problem) for d in step.deliveries] == [(status, problem)]
