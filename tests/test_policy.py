"""The approval policy engine, as tables: precedence, globs, argument conditions (missing keys and
wrong types fall to the safer branch), live state, never looser than the mode; the policy file."""

from __future__ import annotations

from typing import Any

import pytest

from takeover.config.mode import Mode
from takeover.config.yamlfile import ConfigError
from takeover.control.policy import Policy, Situation, Truth, judge, parse_condition
from takeover.control.policyfile import parse_policies
from takeover.control.sources import Decision

FILE = """\
policies:
  - name: canary-wires
    action: "wire_*"
    variant: canary
    decision: deny
    reason: no wires from a canary
  - name: big-refunds
    agent: "refund-*"
    action: refund
    when: ["amount > 500"]
    decision: require_approval
    quorum: 2
    approvers: [role:operator, operator:carol]
    owner_may_approve: false
    expires_in: 20m
    escalation: [{after: 5m, target: "#leads"}, {after: 1m, target: U1}]
    grant_max: 1h
  - name: small-refunds
    action: refund
    when: ["amount <= 500", 'currency == "EUR"', "has order.id"]
    decision: allow
  - name: incident
    kind: write
    alert_firing: true
    decision: require_approval
  - name: paused-deletes
    action: "delete_*"
    mode: [normal]
    decision: deny
    reason: deletes are off
"""
POLICIES = parse_policies(FILE, filename="p.yml")


def situation(**overrides: Any) -> Situation:
    base: dict[str, Any] = {"agent": "refund-bot", "action": "refund", "kind": "write", "risk": "low",
                            "args": {"amount": 100, "currency": "EUR", "order": {"id": "A-1"}}, "mode": Mode.normal}
    return Situation(**{**base, **overrides})


@pytest.mark.parametrize(("overrides", "decision", "policy"), [
    ({}, Decision.allow, "small-refunds"),
    ({"args": {"amount": 900}}, Decision.approval_required, "big-refunds"),
    ({"agent": "other-bot", "args": {"amount": 900}}, Decision.allow, None),  # glob: big-refunds is refund-*
    ({"args": {"amount": 100, "currency": "USD", "order": {"id": "A"}}}, Decision.allow, None),
    ({"args": {"currency": "EUR", "order": {"id": "A"}}}, Decision.approval_required, "big-refunds"),  # missing amount
    ({"args": {"amount": "900", "order": {"id": "A"}}}, Decision.approval_required, "big-refunds"),  # a string
    ({"args": {"amount": True, "order": {"id": "A"}}}, Decision.approval_required, "big-refunds"),  # bool: not a number
    ({"args": {"amount": 100, "currency": "EUR"}}, Decision.allow, None),  # no order.id: small-refunds does not allow
    ({"risk": "high", "args": {"amount": 100, "currency": "EUR"}}, Decision.approval_required, None),  # the table
    ({"risk": "high"}, Decision.allow, "small-refunds"),  # a policy decides over the declared risk
    ({"mode": Mode.read_only}, Decision.deny, None),  # never looser than the mode
    ({"mode": Mode.require_approval}, Decision.approval_required, "small-refunds"),
    ({"action": "wire_out", "variant": "canary"}, Decision.deny, "canary-wires"),
    ({"action": "wire_out", "variant": "stable"}, Decision.allow, None),
    ({"action": "lookup", "kind": "write", "alert_firing": True}, Decision.approval_required, "incident"),
    ({"action": "lookup", "kind": "read", "alert_firing": True}, Decision.allow, None),
    ({"action": "delete_user"}, Decision.deny, "paused-deletes"),
    ({"action": "delete_user", "mode": Mode.require_approval}, Decision.approval_required, None),
])
def test_the_first_matching_policy_decides_never_looser_than_the_mode(
        overrides: dict[str, Any], decision: Decision, policy: str | None) -> None:
    verdict = judge(POLICIES, situation(**overrides))
    assert verdict.decision == decision, verdict.trace
    assert (verdict.policy.name if verdict.policy else None) == policy, verdict.trace


def test_a_condition_on_a_missing_or_mistyped_value_says_why_it_took_the_safer_branch() -> None:
    verdict = judge(POLICIES, situation(args={"amount": "lots"}))
    assert verdict.reason == ("policy big-refunds (policy big-refunds, p.yml:7); amount is not a number ('lots'): "
                              "treated as matching (the safer branch)")
    assert "small-refunds (p.yml:18): amount is not a number ('lots'): an allow never rests on an unknown" \
        not in verdict.trace  # big-refunds decided first
    allow_only = tuple(p for p in POLICIES if p.name == "small-refunds")
    verdict = judge(allow_only, situation(args={"currency": "EUR", "order": {"id": "A"}}))
    assert verdict.trace == ("small-refunds (p.yml:18): amount is missing: an allow never rests on an unknown",)
    assert verdict.policy is None and verdict.decision == Decision.allow  # the mode's table: a low-risk write


def test_a_policy_that_cannot_loosen_the_mode_says_so() -> None:
    verdict = judge(POLICIES, situation(mode=Mode.pause_writes))
    assert verdict.decision == Decision.deny
    assert verdict.reason == ("writes are paused; retry after the pause is released; policy small-refunds "
                              "(p.yml:18) cannot loosen the mode")


@pytest.mark.parametrize(("text", "args", "truth"), [
    ("amount > 500", {"amount": 501}, Truth.yes),
    ("amount >= 500", {"amount": 500.0}, Truth.yes),
    ("amount < 5", {"amount": float("nan")}, Truth.unknown),
    ("amount != 3", {}, Truth.unknown),
    ('to_account !~ "^internal-"', {"to_account": "internal-1"}, Truth.no),
    ('to_account =~ "DE[0-9]+"', {"to_account": "x DE89 y"}, Truth.yes),  # a search
    ('to_account =~ "^internal-"', {"to_account": 7}, Truth.unknown),
    ('currency == "EUR"', {"currency": "EUR"}, Truth.yes),
    ("has order", {"order": None}, Truth.yes),
    ("not has order", {"order": 1}, Truth.no),
    ("customer.tier == 'gold'", {"customer": {"tier": "gold"}}, Truth.yes),
])
def test_conditions(text: str, args: dict[str, Any], truth: Truth) -> None:
    assert parse_condition(text).test(args)[0] == truth


@pytest.mark.parametrize("text", ["amount >", "amount > lots", 'amount > "5"', "amount =~ x", 'a =~ "("', "has"])
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad condition"):
        parse_condition(text)


def test_the_file_reads_approval_settings() -> None:
    big = next(p for p in POLICIES if p.name == "big-refunds")
    assert isinstance(big, Policy) and big.where == "p.yml:7"
    a = big.approval
    assert (a.approvers, a.quorum, a.owner_may_approve, a.expires_in, a.grant_max) == (
        ("role:operator", "operator:carol"), 2, False, 1200.0, 3600.0)
    assert [(e.after, e.target) for e in a.escalation] == [(60.0, "U1"), (300.0, "#leads")]


def test_a_bad_policy_file_names_every_problem_with_its_place() -> None:
    bad = FILE.replace("decision: deny\n    reason: no wires", "decision: maybe\n    reason: no wires").replace(
        '"amount > 500"', '"amount > lots"').replace("quorum: 2", "quorum: 0").replace(
        "alert_firing: true", "alert_firing: sometimes").replace("mode: [normal]", "mode: [calm]") + \
        "  - name: incident\n    decision: allow\n    quorum: 2\n    colour: red\n"
    with pytest.raises(ConfigError) as exc:
        parse_policies(bad, filename="p.yml")
    assert [str(e) for e in exc.value.errors] == [
        "p.yml:5:15: decision must be one of allow, deny, require_approval; got 'maybe'",
        "p.yml:10:12: bad condition 'amount > lots': lots is neither a number nor a quoted string",
        "p.yml:12:13: quorum must be a whole number from 1 to 10; got '0'",
        "p.yml:24:19: alert_firing must be one of true, false; got 'sometimes'",
        "p.yml:28:12: mode must be one of normal, require_approval, pause_writes, read_only, handoff; got 'calm'",
        "p.yml:31:5: policy 'incident' is defined twice",
        "p.yml:33:13: quorum only applies to decision: require_approval",
        "p.yml:34:5: unknown field colour in a policy (allowed: action, agent, alert_firing, approvers, decision, "
        "escalation, expires_in, grant_max, kind, mode, name, owner_may_approve, quorum, reason, risk, shadow, variant, "
            "when)",
    ]


@pytest.mark.parametrize(("text", "problem"), [
    ("policies:\n  - name: [x\n", "p.yml:3:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("policies:\n  - name: a\x16\n", "p.yml:2:12: invalid YAML: character #x0016 is not allowed"),
])
def test_a_policy_file_that_is_not_yaml_is_refused_never_read_as_no_policies(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_policies(text, filename="p.yml")
    assert [str(e) for e in exc.value.errors] == [problem]
