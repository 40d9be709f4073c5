"""Grants and the one order of decision: a table of the pure core, and a property test — no
sequence of grants, sources and approvals, made through the real operations on SQLite and
PostgreSQL, makes `judge_action` looser than the policy file and the mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from takeover import store
from takeover.app import agents, approvals, modes
from takeover.app.decisions import judge_now
from takeover.app.errors import Refusal
from takeover.config.mode import Mode
from takeover.control.approval import Status
from takeover.control.grants import Grant, covers, grant_for, judge_action
from takeover.control.policy import STRICTNESS, Situation, judge
from takeover.control.policyfile import parse_policies
from takeover.control.principal import Principal, Role
from takeover.control.sources import Decision
from takeover.notify.slack import ConsoleNotifier
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
POLICIES = parse_policies("""\
policies:
  - name: huge-refunds
    action: refund
    when: ["amount > 100000"]
    decision: deny
  - name: refunds
    action: refund
    when: ["amount > 100"]
    decision: require_approval
    grant_max: 1h
  - name: small-wires
    action: wire
    when: ["amount < 10"]
    decision: allow
  - name: wires
    action: wire
    decision: require_approval
    grant_max: 1h
""", filename="policies.yml")
REFUNDS = POLICIES[1]


def situation(action: str = "refund", mode: Mode = Mode.normal, **args: Any) -> Situation:
    return Situation(agent="pay-bot", action=action, kind="write", risk="low", args=args, mode=mode)


@pytest.mark.parametrize(("args", "mode", "decision", "why"), [
    ({"amount": 600}, Mode.normal, Decision.allow, "granted"),
    ({"amount": 0}, Mode.normal, Decision.approval_required, ""),  # refunds does not ask: the mode table decides
    ({"amount": 601}, Mode.normal, Decision.approval_required, "amount = 601 is beyond the approved 600"),
    ({"amount": 5_000_000}, Mode.normal, Decision.deny, ""),  # the deny policy first
    ({"amount": 500, "fee": 1}, Mode.normal, Decision.approval_required, "fee was not in the approved"),
    ({"amount": 500}, Mode.require_approval, Decision.approval_required, ""),  # the mode's floor holds
    ({"amount": 500}, Mode.pause_writes, Decision.deny, ""),
])
def test_a_grant_allows_only_what_its_policy_asks_within_the_approved_numbers(
        args: dict[str, Any], mode: Mode, decision: Decision, why: str) -> None:
    grant = grant_for(policy="refunds", approval="a1", args={"amount": 600, "order": "A-1"}, reason="granted")
    verdict = judge_action(POLICIES, situation(mode=mode, **args), [grant])
    if args == {"amount": 0}:
        assert verdict.decision == Decision.allow  # below every policy: the mode table allows a low-risk write
        return
    assert verdict.decision == decision and why in verdict.reason


def test_a_grant_is_bound_to_its_own_policy_and_to_the_side_of_zero_it_was_given_on() -> None:
    wires = Grant(policy="wires", bounds=(("amount", 1e9),))
    assert covers(wires, policy=REFUNDS, args={"amount": 1})[0] is False
    negative = grant_for(policy="refunds", approval="a", args={"amount": -50})
    assert covers(negative, policy=REFUNDS, args={"amount": -20})[0] is True
    assert covers(negative, policy=REFUNDS, args={"amount": 20})[0] is False
    assert covers(negative, policy=REFUNDS, args={"amount": -51})[0] is False


@dataclass
class Model:
    """What the test expects, kept apart from the service: the grants given since the last takeover."""

    grants: list[tuple[str, float, float]] = field(default_factory=list)  # (action, amount bound, until)


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[tuple[Service, list[float]]]:
    now = [2_000_000_000.0]
    settings_ = Settings(database_url=database_url, templates=str(ROOT / "templates"))
    svc = Service(settings_, groups=[], notifier=ConsoleNotifier(), query=static_query({}), clock=lambda: now[0],
                  policies=POLICIES)
    yield svc, now
    svc.stop()


Step = tuple[str, Any]
STEPS = st.one_of(
    st.tuples(st.just("approve"), st.tuples(st.sampled_from(["refund", "wire"]), st.sampled_from([-150, 5, 50, 150, 600, 5_000, 250_000]),
                                            st.booleans())),
    st.tuples(st.just("override"), st.sampled_from([Mode.require_approval, Mode.pause_writes, Mode.read_only,
                                                    Mode.handoff])),
    st.tuples(st.just("take_over"), st.sampled_from(list(Mode))),
    st.tuples(st.just("release"), st.booleans()),
    st.tuples(st.just("later"), st.integers(1, 4000)),
)
PROBES = [("refund", a) for a in (-300, 0, 50, 150, 600, 5_000, 99_999, 100_001, 5_000_000)] + \
         [("wire", a) for a in (-5, 5, 50, 10_000)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEPS, min_size=1, max_size=8))
@example(steps=[("approve", ("refund", 600, True)), ("override", Mode.pause_writes), ("release", False)])
@example(steps=[("approve", ("wire", 600, True)), ("override", Mode.read_only), ("later", 901)])
def test_no_sequence_of_grants_sources_and_approvals_loosens_the_policies_and_the_mode(
        service: tuple[Service, list[float]], steps: list[Step]) -> None:
    svc, now = service
    app, agent = svc.app, f"bot-{uuid.uuid4().hex[:8]}"
    bot, op = Principal(agent, Role.agent, (agent,)), Principal("alice", Role.operator)
    model = Model()
    for step, value in steps:
        if step == "approve":
            action, amount, grant = value
            asked = agents.ask(app, bot, agent=agent, action=action, kind="write", risk="low",
                               args={"amount": amount}, idempotency_key=None)
            if asked["approval"] is not None:
                try:
                    approvals.decide(app, approval_id=asked["approval"]["id"], status=Status.approved, who=op,
                                     grant_for=600.0 if grant else None)
                    if grant:
                        model.grants.append((action, amount, now[0] + 600.0))
                except Refusal as exc:
                    assert grant and exc.status in (409, 422)  # none while held, nor from a policy without grant_max
        elif step == "override":
            modes.add_override(app, agent=agent, mode=value, reason="hold", actor=op.actor, expires_at=now[0] + 900)
            model.grants.clear()
        elif step == "take_over":
            modes.take_over(app, agent=agent, mode=value, reason="take", actor=op.actor)
            if value != Mode.normal:
                model.grants.clear()
        elif step == "release" and value:
            modes.release(app, agent=agent, reason="done", actor=op.actor)
            model.grants.clear()  # releasing every source releases the grants too
        elif step == "release":  # the newest hold only, as `POST …/sources/{id}/release`
            with svc.sessions() as s:
                held = [src.id for src in store.active_sources(session=s, now=now[0])
                        if src.agent == agent and src.kind.value == "override"]
            if held:
                modes.release(app, agent=agent, reason="done", actor=op.actor, source_id=max(held))
        else:
            now[0] += value
        with svc.sessions() as s:
            mode = store.effective_mode(session=s, agent=agent, now=now[0])
            for action, amount in PROBES:
                got = judge_now(app, s, agent=agent, action=action, kind="write", risk="low",
                                args={"amount": amount}, now=now[0])
                file = judge(POLICIES, situation(action, mode, amount=amount))
                assert got.mode == mode
                if STRICTNESS[got.decision] >= STRICTNESS[file.decision]:
                    continue
                # looser than the file and the mode: only a grant, on what its own policy asks, within bounds
                assert (got.decision, file.decision, mode) == (Decision.allow, Decision.approval_required, Mode.normal)
                assert file.policy is not None and file.policy.name in ("refunds", "wires"), (action, amount)
                assert any(a == action and (0 <= amount <= bound or bound <= amount <= 0) and now[0] < until
                           for a, bound, until in model.grants), (action, amount, model.grants, steps)
