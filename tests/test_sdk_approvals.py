"""The SDK waiting for a human's approval: the core driven by hand, then Client and AsyncClient
against a real server with an operator deciding over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import takeover.sdk as sdk
from takeover.sdk import (
    Action,
    ApprovalExpired,
    ApprovalRequired,
    ApprovalTimeout,
    ControlPlaneUnreachable,
    Denied,
    HandedOff,
    Permit,
    Refused,
    Rejected,
    RequestRejected,
    with_edits,
)
from tests.conftest import stop_server
from tests.test_sdk import Clock, Served, answer, control, core, run, serve, synced

slow = pytest.mark.slow
PROPOSED = {"order": "A-1", "amount": 120}


# --- the core, pure ------------------------------------------------------------------------------

def approval(status: str = "pending", *, approved: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An approval request as the server shows it, for PROPOSED."""
    decided = status != "pending"
    return {"id": "ap-1", "agent": "bot", "action": "refund", "status": status, "expires_at": 2e9,
            "decided_by": "operator:op" if decided else None, "comment": None, "idempotency_key": "k-1",
            "args": {"proposed": PROPOSED, "approved": approved,
                     "effective": {**PROPOSED, **(approved or {})} if status == "approved" else None}, **extra}


def needs_approval(request: httpx.Request, request_state: dict[str, Any]) -> httpx.Response:
    return answer(request, "approval_required", "normal", approval=request_state)


def shown(request: httpx.Request, request_state: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=request_state, request=request)


REFUND = Action("refund", risk="high", args=PROPOSED, idempotency_key="k-1")


@pytest.mark.parametrize(("decided", "raised"), [
    (approval("approved", approved={"amount": 50}), None),
    (approval("rejected", comment="not for this customer"), Rejected),
    (approval("expired", decided_by="system:expiry"), ApprovalExpired),
    (approval("cancelled", decided_by="agent:bot"), Denied),
    (approval("something_new"), Denied),  # a status the SDK does not know never runs
    (approval("pending"), ApprovalRequired),  # no wait: raise at once
])
def test_a_request_decided_before_asking_again_is_followed_at_once(
        decided: dict[str, Any], raised: type[Refused] | None) -> None:
    result = run(synced(core()).authorize(REFUND), lambda request: needs_approval(request, decided))
    assert len(result.steps) == 1  # the answer to the action carried the decision: nothing to wait for
    if raised is None:
        assert result.error is None and result.value == Permit(
            args={"order": "A-1", "amount": 50}, edits={"amount": 50}, approval_id="ap-1", decided_by="operator:op")
        return
    assert type(result.error) is raised and isinstance(result.error, Refused) and result.error.approval_id == "ap-1"
    if isinstance(result.error, Rejected):
        assert (result.error.comment, result.error.decided_by) == ("not for this customer", "operator:op")
        assert "not for this customer" in str(result.error)
    if isinstance(result.error, ApprovalExpired):
        assert "expired" in str(result.error) and "reject" not in str(result.error)


def test_waiting_long_polls_the_request_until_a_human_decides() -> None:
    clock = Clock()
    state = synced(core(clock, max_staleness=100.0))  # the follow loop keeps it fresh meanwhile
    replies = iter([approval(), approval(), approval("approved", approved={"amount": 50})])

    def reply(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return needs_approval(request, next(replies))
        assert request.url == "http://takeover.test/v1/approvals/ap-1?wait=30.000"  # one poll is at most 30 s
        assert request.headers["Authorization"] == "Bearer tko_test"
        assert request.extensions["timeout"]["read"] == 30.0 + 2.0  # the wait, then the timeout
        clock.now += 20  # the server held it
        return shown(request, next(replies))
    result = run(state.authorize(REFUND, wait_for_approval=600), reply)
    assert [(s.method, s.url.path) for s in result.steps if isinstance(s, httpx.Request)] == [
        ("POST", "/v1/agents/bot/actions"), ("GET", "/v1/approvals/ap-1"), ("GET", "/v1/approvals/ap-1")]
    assert result.error is None and result.value.args == {"order": "A-1", "amount": 50}


def test_still_pending_at_the_timeout_raises_without_cancelling() -> None:
    clock = Clock()
    state = synced(core(clock, max_staleness=100.0))

    def reply(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return needs_approval(request, approval())
        clock.now += float(request.url.params["wait"])  # held to the end of the wait
        return shown(request, approval())
    result = run(state.authorize(REFUND, wait_for_approval=45), reply)
    assert [(s.method, s.url.params.get("wait")) for s in result.steps if isinstance(s, httpx.Request)] == [
        ("POST", None), ("GET", "30.000"), ("GET", "15.000")]  # and no POST .../cancel
    assert type(result.error) is ApprovalTimeout and result.error.approval_id == "ap-1"
    assert "still pending after 45s" in str(result.error) and "idempotency_key 'k-1'" in str(result.error)
    keyless = run(state.authorize(Action("refund", risk="high", args=PROPOSED), wait_for_approval=1), reply)
    assert isinstance(keyless.error, ApprovalTimeout) and "opens a new request" in str(keyless.error)


def test_a_server_that_answers_the_long_poll_at_once_is_not_hammered() -> None:
    state = synced(core())
    flow = state.authorize(REFUND, wait_for_approval=60)
    asked = next(flow)
    assert isinstance(asked, httpx.Request)
    poll = flow.send(needs_approval(asked, approval()))
    assert isinstance(poll, httpx.Request)
    assert flow.send(shown(poll, approval())) == 1.0  # sleep IDLE before polling again


@pytest.mark.parametrize(("failed", "raised"), [
    (httpx.ConnectError("refused"), ControlPlaneUnreachable), (httpx.ReadError("reset"), ControlPlaneUnreachable),
    (503, ControlPlaneUnreachable), (404, RequestRejected)])
def test_a_write_fails_closed_when_the_wait_cannot_be_heard(failed: httpx.HTTPError | int,
                                                             raised: type[Exception]) -> None:
    def reply(request: httpx.Request) -> sdk.Outcome:
        if request.method == "POST":
            return needs_approval(request, approval())
        return httpx.Response(failed, request=request) if isinstance(failed, int) else failed
    result = run(synced(core()).authorize(REFUND, wait_for_approval=60), reply)
    assert type(result.error) is raised
    assert "waiting for approval request ap-1" in str(result.error) or raised is RequestRejected


@pytest.mark.parametrize(("meanwhile", "raised"), [("handoff", HandedOff), ("stale", ControlPlaneUnreachable)])
def test_a_takeover_while_waiting_wins_over_the_approval(meanwhile: str, raised: type[Exception]) -> None:
    clock = Clock()
    state = synced(core(clock))

    def reply(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return needs_approval(request, approval())
        if meanwhile == "stale":
            clock.now += 11  # past max_staleness, and the follow loop heard nothing
        else:  # the follow loop received the operator's takeover
            assert state.record(control(request, "handoff", version=2, etag='"2-h"',
                                        permissions={"write_high": "deny", "read_low": "deny"}))
        return shown(request, approval("approved"))
    result = run(state.authorize(REFUND, wait_for_approval=60), reply)
    assert type(result.error) is raised


def test_reading_an_approval_without_executing_it_leaves_it_to_the_run() -> None:
    """execute=False (a framework's resume step): the approval is read, not confirmed; the tool's
    own call confirms it later."""
    bound = approval("approved", approved={"amount": 50}, args_digest="d1")
    read = run(synced(core()).authorize(REFUND, execute=False), lambda request: needs_approval(request, bound))
    assert read.value.args == {"order": "A-1", "amount": 50} and len(read.steps) == 1
    confirmed = run(synced(core()).authorize(REFUND), lambda request: (
        needs_approval(request, bound) if request.url.path.endswith("/actions") else shown(request, bound)))
    assert [s.url.path for s in confirmed.steps if isinstance(s, httpx.Request)] == [
        "/v1/agents/bot/actions", "/v1/approvals/ap-1/execute"]


def test_an_idempotency_key_reused_for_other_arguments_is_refused() -> None:
    result = run(synced(core()).authorize(Action("refund", risk="high", args={"order": "A-1", "amount": 9000},
                                                 idempotency_key="k-1"), wait_for_approval=60),
                 lambda request: needs_approval(request, approval("approved")))
    assert isinstance(result.error, RequestRejected) and "idempotency_key 'k-1'" in str(result.error)
    assert len(result.steps) == 1  # the approval for 120 does not run a refund of 9000


def test_the_approvers_edits_replace_the_calls_arguments_by_name() -> None:
    def refund(order: str, amount: int, *, note: str = "", **extra: Any) -> None: ...
    assert with_edits(refund, {"amount": 50}, ("A-1", 120), {}) == (("A-1", 50), {})
    assert with_edits(refund, {"amount": 50}, ("A-1",), {"amount": 120}) == (("A-1", 50), {})
    assert with_edits(refund, {"note": "ok", "channel": "web"}, ("A-1", 1), {"channel": "app"}) == (
        ("A-1", 1), {"note": "ok", "channel": "web"})
    assert with_edits(refund, {}, ("A-1", (1, 2)), {}) == (("A-1", (1, 2)), {})  # no edits: the call as made



# --- against a real server: an operator decides over HTTP ----------------------------------------

def operator_decides(served: Served, verb: str, *, order: str, body: dict[str, Any],
                     timeout: float = 15.0) -> dict[str, Any]:
    """Poll the pending requests until bot's refund of `order` appears, then approve or reject it."""
    headers = {"Authorization": f"Bearer {served.operator}"}
    deadline = time.monotonic() + timeout
    while True:
        pending = httpx.get(f"{served.server.url}/v1/approvals", params={"status": "pending", "agent": "bot"},
                            headers=headers)
        assert pending.status_code == 200, pending.text
        found = [a for a in pending.json() if a["action"] == "refund" and a["args"]["proposed"].get("order") == order]
        if found:
            break
        assert time.monotonic() < deadline, f"no pending request for {order} after {timeout}s"
        time.sleep(0.05)
    decided = httpx.post(f"{served.server.url}/v1/approvals/{found[0]['id']}/{verb}", json=body, headers=headers)
    assert decided.status_code == 200, decided.text
    return dict(decided.json())


def shown_to_operator(served: Served, approval_id: str | None) -> dict[str, Any]:
    response = httpx.get(f"{served.server.url}/v1/approvals/{approval_id}",
                         headers={"Authorization": f"Bearer {served.operator}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("sdk-approvals"))
    served.set_mode("normal")  # a high-risk write needs a human's approval
    yield served
    stop_server(served.server)


@pytest.fixture
def own(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """A server of the test's own, with the settings of `@pytest.mark.parametrize("own", [env], indirect=True)`."""
    served = serve(tmp_path, **getattr(request, "param", {}))
    yield served
    if served.server.process.poll() is None:
        stop_server(served.server)


@slow
def test_a_human_approves_with_edits_and_the_tool_runs_with_them(served: Served) -> None:
    ran: list[tuple[str, int]] = []
    with served.client() as client, ThreadPoolExecutor(1) as pool:
        @client.guard(kind="write", risk="high", action="refund", wait_for_approval=20)
        def refund(order: str, amount: int) -> str:
            ran.append((order, amount))
            return f"refunded {amount}"

        decision = pool.submit(operator_decides, served, "approve", order="A-1", body={"args": {"amount": 50}})
        assert refund("A-1", amount=120) == "refunded 50"
        decided = decision.result(timeout=20)
        assert ran == [("A-1", 50)]
        assert decided["args"] == {"proposed": {"order": "A-1", "amount": 120}, "approved": {"amount": 50},
                                   "effective": {"order": "A-1", "amount": 50}}

        decision = pool.submit(operator_decides, served, "approve", order="A-2", body={"args": {"amount": 5}})
        with client.guard(kind="write", risk="high", action="refund", args={"order": "A-2", "amount": 80},
                          wait_for_approval=20) as permit:
            ran.append((permit.args["order"], permit.args["amount"]))
        assert ran[-1] == ("A-2", 5) and permit.edits == {"amount": 5}
        assert (permit.approval_id, permit.decided_by) == (decision.result(timeout=20)["id"], "operator:op")


@slow
def test_a_human_rejects_and_the_tool_does_not_run(served: Served) -> None:
    ran: list[int] = []
    with served.client() as client, ThreadPoolExecutor(1) as pool:
        @client.guard(kind="write", risk="high", action="refund", wait_for_approval=20)
        def refund(order: str, amount: int) -> None:
            ran.append(amount)

        decision = pool.submit(operator_decides, served, "reject", order="B-1",
                               body={"comment": "not for this customer"})
        with pytest.raises(Rejected) as rejected:
            refund("B-1", amount=120)
        decided = decision.result(timeout=20)
    assert ran == []
    assert rejected.value.comment == "not for this customer" and rejected.value.decided_by == "operator:op"
    assert rejected.value.approval_id == decided["id"] and rejected.value.action == "refund"


@slow
@pytest.mark.parametrize("own", [{"TAKEOVER_APPROVAL_EXPIRY": "1"}], indirect=True)
def test_a_request_nobody_answers_expires(own: Served) -> None:
    ran: list[str] = []
    with own.client() as client:
        started = time.monotonic()
        with pytest.raises(ApprovalExpired) as expired:
            with client.guard(kind="write", risk="high", action="refund", args={"order": "C-1", "amount": 120},
                              wait_for_approval=20):
                ran.append("C-1")
        assert 0.9 <= time.monotonic() - started < 10  # at the request's expiry, not at wait_for_approval
    assert ran == [] and not isinstance(expired.value, Rejected)
    assert "expired" in str(expired.value) and "reject" not in str(expired.value)
    assert shown_to_operator(own, expired.value.approval_id)["decided_by"] == "system:expiry"


@slow
def test_a_timeout_leaves_the_request_open_for_the_same_idempotency_key(served: Served) -> None:
    ran: list[dict[str, Any]] = []
    with served.client() as client:
        def ask(wait: float = 0.5) -> Any:
            return client.guard(kind="write", risk="high", action="refund", args={"order": "D-1", "amount": 120},
                                idempotency_key="order-D-1", wait_for_approval=wait)
        started = time.monotonic()
        with pytest.raises(ApprovalTimeout) as first:
            with ask():
                ran.append({})
        assert 0.5 <= time.monotonic() - started < 5
        assert "order-D-1" in str(first.value)
        assert shown_to_operator(served, first.value.approval_id)["status"] == "pending"  # not cancelled

        with pytest.raises(ApprovalTimeout) as again:
            with ask():
                ran.append({})
        assert again.value.approval_id == first.value.approval_id and ran == []

        approved = httpx.post(f"{served.server.url}/v1/approvals/{first.value.approval_id}/approve",
                              json={"args": {"amount": 60}}, headers={"Authorization": f"Bearer {served.operator}"})
        assert approved.status_code == 200, approved.text
        with ask(wait=0) as permit:  # the decision made meanwhile is picked up at once
            ran.append(dict(permit.args))
    assert ran == [{"order": "D-1", "amount": 60}]


@slow
def test_a_write_fails_closed_when_the_server_dies_while_waiting(own: Served) -> None:
    own.set_mode("normal")
    with own.client() as client, ThreadPoolExecutor(1) as pool:
        def kill_once_pending() -> None:
            headers = {"Authorization": f"Bearer {own.operator}"}
            deadline = time.monotonic() + 15
            while not httpx.get(f"{own.server.url}/v1/approvals", params={"status": "pending"}, headers=headers).json():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.3)  # the answer to the action has arrived: the guard is long-polling the request
            own.server.process.kill()

        killed = pool.submit(kill_once_pending)
        with pytest.raises(ControlPlaneUnreachable, match="waiting for approval"):
            with client.guard(kind="write", risk="high", action="refund", args={"order": "F-1"}, wait_for_approval=20):
                pytest.fail("ran without a human's approval")
        killed.result(timeout=20)
        own.server.process.wait()


@slow
def test_the_async_client_waits_for_an_approval_with_edits(served: Served) -> None:
    ran: list[tuple[str, int]] = []

    async def scenario() -> None:
        async with served.aclient() as client:
            @client.guard(kind="write", risk="high", action="refund", wait_for_approval=20)
            async def refund(order: str, amount: int) -> int:
                ran.append((order, amount))
                return amount

            decision = asyncio.create_task(asyncio.to_thread(
                operator_decides, served, "approve", order="E-1", body={"args": {"amount": 50}}))
            assert await refund("E-1", amount=120) == 50
            await decision

            decision = asyncio.create_task(asyncio.to_thread(
                operator_decides, served, "approve", order="E-2", body={"args": {"amount": 7}}))
            async with client.guard(kind="write", risk="high", action="refund", args={"order": "E-2", "amount": 80},
                                    wait_for_approval=20) as permit:
                ran.append((permit.args["order"], permit.args["amount"]))
            await decision

    asyncio.run(scenario())
    assert ran == [("E-1", 50), ("E-2", 7)]
