"""The agent SDK: the sans-I/O core driven by hand, then Client and AsyncClient against a real server."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import takeover.sdk as sdk
from takeover.sdk import (  # the Literal aliases, for typing the cases
    Action,
    ApprovalExpired,
    ApprovalRequired,
    ApprovalTimeout,
    AsyncClient,
    Client,
    ControlPlaneUnreachable,
    ControlState,
    Denied,
    HandedOff,
    Kind,
    ReadOnly,
    Refused,
    Rejected,
    RequestRejected,
    Risk,
    Status,
    TakeoverError,
    WritesPaused,
    backoff,
    call_args,
    refusal,
    route,
)
from takeover.tools.promproc import free_port
from tests.conftest import ROOT, Server, start_server, stop_server

slow = pytest.mark.slow
URL = "http://takeover.test"
ETAG = '"1-aaaaaaaaaaaa"'


# --- the core, pure: an injected clock, hand-made responses ----------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def core(clock: Clock | None = None, **options: Any) -> ControlState:
    return ControlState(URL, token="tko_test", agent="bot", clock=clock or Clock(),
                        **{"max_staleness": 10.0, "wait": 25.0, "timeout": 2.0, **options})


def control(request: httpx.Request, mode: str = "normal", *, version: int = 1, etag: str = ETAG,
            **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"agent": "bot", "mode": mode, "version": version, **extra},
                          headers={"ETag": etag}, request=request)


def answer(request: httpx.Request, decision: str, mode: str, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"decision": decision, "reason": "why", "mode": mode, "version": 3,
                                     "retry_after": None, **extra}, request=request)


def synced(state: ControlState, mode: str = "normal") -> ControlState:
    assert state.record(control(state.poll_request(wait=0), mode))
    return state


@dataclass
class Run:
    steps: list[sdk.Step]
    error: BaseException | None = None
    value: Any = None  # what the flow returned


def run(flow: sdk.Flow[Any], reply: Callable[[httpx.Request], sdk.Outcome]) -> Run:
    """Drive a flow of the core: `reply` answers each request; sleeps pass at once."""
    steps: list[sdk.Step] = []
    try:
        step = next(flow)
        while len(steps) < 20:
            steps.append(step)
            step = flow.send(reply(step) if isinstance(step, httpx.Request) else None)
        raise AssertionError(f"the flow did not end: {steps}")
    except StopIteration as done:
        return Run(steps, value=done.value)
    except TakeoverError as exc:
        return Run(steps, exc)


def test_status_goes_fresh_stale_unreachable_with_the_clock() -> None:
    clock = Clock()
    state = core(clock)
    assert state.status() == Status.unreachable and state.synced is None  # never synced
    with pytest.raises(ControlPlaneUnreachable, match="never synced"):
        state.fresh_document()

    synced(state)
    clock.now += 10.0
    assert state.status() == Status.fresh  # age == max_staleness is still fresh
    assert not state.record(httpx.ConnectError("refused"))
    assert state.status() == Status.fresh  # a failed poll does not spoil a young document
    clock.now += 0.01
    assert state.status() == Status.unreachable  # too old, and the last attempt failed
    assert "ConnectError" in str(pytest.raises(ControlPlaneUnreachable, state.fresh_document).value)

    assert state.record(httpx.Response(304, headers={"ETag": ETAG}, request=state.poll_request(wait=1)))
    assert state.status() == Status.fresh and state.failures == 0  # a 304 for our ETag is a sync
    clock.now += 10.5
    assert state.status() == Status.stale  # too old, but nothing failed since (a poll in flight)

    assert state.record(httpx.Response(304, headers={"ETag": '"2-other"'}, request=state.poll_request(wait=1)))
    assert state.status() == Status.stale  # a 304 for another ETag proves nothing about ours
    assert not state.record(httpx.Response(503, text="down", request=state.poll_request(wait=1)))
    assert state.status() == Status.unreachable and "HTTP 503" in state.last_error
    assert state.record(control(state.poll_request(wait=1), "read_only", version=2, etag='"2-b"'))
    assert state.status() == Status.fresh and state.fresh_document()["mode"] == "read_only"


def test_a_poll_sends_the_token_and_long_polls_only_with_an_etag() -> None:
    state = core()
    first = state.poll_request(wait=25)
    assert first.headers["Authorization"] == "Bearer tko_test" and "If-None-Match" not in first.headers
    assert first.url == f"{URL}/v1/agents/bot/control"  # no etag: answer at once
    synced(state)
    poll = state.poll_request(wait=state.poll_wait)
    assert poll.headers["If-None-Match"] == ETAG and poll.url.params["wait"] == "8.000"
    assert poll.extensions["timeout"]["read"] == 8.0 + 2.0  # the wait, then the timeout
    assert state.poll_request(wait=3, version=7).url.params["version"] == "7"


@pytest.mark.parametrize(("max_staleness", "wait", "timeout", "poll_wait"), [
    (30.0, 25.0, 5.0, 25.0), (30.0, 60.0, 5.0, 25.0), (60.0, 25.0, 5.0, 25.0), (1.0, 25.0, 5.0, 0.5)])
def test_a_long_poll_answers_before_the_document_goes_stale(
        max_staleness: float, wait: float, timeout: float, poll_wait: float) -> None:
    state = ControlState(URL, token="t", agent="bot", max_staleness=max_staleness, wait=wait, timeout=timeout)
    assert state.poll_wait == poll_wait


@pytest.mark.parametrize(("decision", "mode", "raised"), [
    ("allow", "normal", None),
    ("approval_required", "normal", ApprovalRequired),
    ("approval_required", "require_approval", ApprovalRequired),
    ("deny", "pause_writes", WritesPaused),
    ("deny", "read_only", ReadOnly),
    ("deny", "handoff", HandedOff),
    ("deny", "normal", Denied),
    ("something_new", "normal", Denied),  # an answer the SDK does not know never allows
])
def test_each_decision_maps_to_its_exception(decision: str, mode: str, raised: type[Refused] | None) -> None:
    refused = refusal({"decision": decision, "mode": mode, "reason": "why", "version": 4,
                       "retry_after": 30 if mode == "pause_writes" else None}, action="refund")
    assert type(refused) is raised if raised else refused is None
    if refused is not None:
        assert (refused.action, refused.reason, refused.mode, refused.version) == ("refund", "why", mode, 4)
        assert refused.retry_after == (30.0 if mode == "pause_writes" else None)
        assert refused.approval_id is None
    asked = refusal({"decision": "approval_required", "mode": "normal", "reason": "why", "version": 4,
                     "approval": {"id": "ap-1", "status": "pending"}}, action="refund")
    assert isinstance(asked, ApprovalRequired) and asked.approval_id == "ap-1"


def test_every_exception_is_a_takeover_error() -> None:
    assert all(issubclass(kind, Denied) for kind in (WritesPaused, ReadOnly, HandedOff))
    assert all(issubclass(kind, Refused) for kind in (ApprovalRequired, Denied, Rejected, ApprovalExpired))
    assert issubclass(ApprovalTimeout, ApprovalRequired)  # still pending: the same request may yet be approved
    assert not issubclass(ApprovalExpired, ApprovalRequired) and not issubclass(Rejected, Denied)
    assert all(issubclass(kind, TakeoverError) for kind in (ControlPlaneUnreachable, RequestRejected, Refused))


@pytest.mark.parametrize(("kind", "policy", "runs"), [
    ("write", "allow", False), ("write", "deny", False), ("read", "allow", True), ("read", "deny", False)])
def test_a_document_that_is_not_fresh_fails_closed_without_asking(kind: Kind, policy: str, runs: bool) -> None:
    clock = Clock()
    state = synced(core(clock, read_policy=policy))
    clock.now += 11
    result = run(state.authorize(Action("refund", kind=kind)), lambda request: None)
    assert result.steps == []
    assert isinstance(result.error, ControlPlaneUnreachable) is not runs


@pytest.mark.parametrize("failed", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 503])
@pytest.mark.parametrize(("kind", "policy", "runs"), [("write", "allow", False), ("read", "allow", True),
                                                      ("read", "deny", False)])
def test_when_asking_fails_writes_raise_and_reads_follow_the_policy(
        failed: httpx.HTTPError | int, kind: Kind, policy: str, runs: bool) -> None:
    state = synced(core(read_policy=policy))
    result = run(state.authorize(Action("lookup", kind=kind)), lambda request: httpx.Response(
        failed, request=request) if isinstance(failed, int) else failed)
    assert len(result.steps) == 1
    assert isinstance(result.error, ControlPlaneUnreachable) is not runs


def test_the_guard_asks_with_the_action_and_raises_the_answer() -> None:
    state = synced(core())
    allowed = run(state.authorize(Action("refund", risk="high", args={"order": "A1"}, idempotency_key="k1")),
                  lambda request: answer(request, "allow", "normal"))
    (asked,) = allowed.steps
    assert isinstance(asked, httpx.Request) and asked.method == "POST"
    assert asked.url == f"{URL}/v1/agents/bot/actions"
    assert httpx.Response(200, content=asked.read()).json() == {
        "action": "refund", "kind": "write", "risk": "high", "args": {"order": "A1"}, "idempotency_key": "k1"}
    assert allowed.error is None
    handed = run(state.authorize(Action("refund")), lambda request: answer(request, "deny", "handoff"))
    assert isinstance(handed.error, HandedOff)
    bad = run(state.authorize(Action("refund")), lambda request: httpx.Response(
        403, json={"detail": "agent:other may not act for agent 'bot'"}, request=request))
    assert isinstance(bad.error, RequestRejected) and "403" in str(bad.error) and "may not act" in str(bad.error)


def test_paused_writes_wait_for_resume_by_long_polling_then_ask_again() -> None:
    clock = Clock()
    state = synced(core(clock), "pause_writes")
    replies = iter(["paused", "changed", "allow"])

    def reply(request: httpx.Request) -> sdk.Outcome:
        clock.now += 1
        now = next(replies)
        if now == "changed":  # the long-poll waits for a document newer than the answer's version
            assert request.method == "GET" and request.url.params["version"] == "3" and request.url.params["wait"]
            return control(request, "normal", version=4, etag='"4-c"')
        if now == "paused":
            return answer(request, "deny", "pause_writes", retry_after=30)
        return answer(request, "allow", "normal")
    result = run(state.authorize(Action("refund"), wait_for_resume=60), reply)
    assert result.error is None
    assert [s.method for s in result.steps if isinstance(s, httpx.Request)] == ["POST", "GET", "POST"]
    assert state.fresh_document()["mode"] == "normal"

    gave_up = run(state.authorize(Action("refund"), wait_for_resume=0),
                  lambda request: answer(request, "deny", "pause_writes", retry_after=30))
    assert isinstance(gave_up.error, WritesPaused) and gave_up.error.retry_after == 30.0


def test_polls_back_off_with_jitter_after_failures() -> None:
    assert [backoff(n, cap=10, jitter=0.999999) for n in (1, 2, 3, 10, 1000)] == pytest.approx(
        [0.25, 0.5, 1.0, 10.0, 10.0], rel=1e-5)
    assert backoff(1, cap=10, jitter=0.0) == 0.125  # jitter spreads over the upper half
    state = synced(core())
    poll, pause = run(state.sync(wait=8), lambda request: httpx.ConnectError("refused")).steps
    assert isinstance(poll, httpx.Request) and isinstance(pause, float) and 0.125 <= pause <= 0.25


def test_a_server_that_answers_long_polls_at_once_is_not_hammered() -> None:
    state = synced(core())
    steps = run(state.sync(wait=8), lambda request: httpx.Response(304, headers={"ETag": ETAG}, request=request)).steps
    assert steps[1:] == [1.0]  # sleep IDLE before polling again
    plain = synced(core(wait=0.0))  # long-polls turned off: poll every IDLE seconds, not in a busy loop
    assert plain.poll_wait == 0 and run(plain.sync(wait=plain.poll_wait), lambda request: control(request)).steps[1:] == [1.0]
    held = run(state.sync(wait=8), lambda request: control(request, "handoff", version=2, etag='"2-x"')).steps
    assert held[1:] == []  # a change: poll again at once


def test_route_is_deterministic_and_proportional() -> None:
    ids = [f"req-{i}" for i in range(10_000)]
    for ratio in (0.05, 0.3, 0.5, 0.9):
        assert abs(sum(route(i, ratio) for i in ids) / len(ids) - ratio) <= 0.02
    # the bucket is sha256 of the id, so every process and every version agrees: pin a few
    assert [route(i, 0.5) for i in ("req-0", "req-1", "order-42", "user-7")] == [False, False, True, True]
    assert route("req-0", 0.7497) and not route("req-0", 0.7496)
    assert not any(route(i, 0.0) for i in ids[:500]) and all(route(i, 1.0) for i in ids[:500])
    assert all(route(i, 0.5) <= route(i, 0.6) for i in ids[:500])  # raising the ratio only adds requests


def test_the_canary_follows_the_fresh_documents_ratio() -> None:
    clock = Clock()
    state = core(clock)
    ids = [f"req-{i}" for i in range(2_000)]
    assert not any(state.canary(i) for i in ids)  # never synced
    assert state.record(control(state.poll_request(wait=0), canary_ratio=0.25))
    assert [state.canary(i) for i in ids] == [route(i, 0.25) for i in ids]
    clock.now += 11
    assert not any(state.canary(i) for i in ids)  # a stale ratio is not trusted


def test_the_decorator_sends_the_calls_json_arguments_by_name() -> None:
    def refund(order: str, amount: float, *, note: object = None) -> None: ...
    assert call_args(refund, ("A1", 9.5), {"note": object()}) == {"order": "A1", "amount": 9.5}
    assert call_args(refund, (), {"order": "A1", "amount": 1, "note": {"k": [1]}}) == {
        "order": "A1", "amount": 1, "note": {"k": [1]}}


def test_public_surface() -> None:
    assert sorted(sdk.__all__) == [
        "Action", "ApprovalExpired", "ApprovalRequired", "ApprovalTimeout", "AsyncClient", "Client",
        "ControlPlaneUnreachable", "ControlState", "Denied", "Guard", "HandedOff", "Permit", "ReadOnly",
        "Refused", "Rejected", "RequestRejected", "Status", "TakeoverError", "Variant", "WritesPaused", "bucket",
        "route"]
    assert all(name in (sdk.__doc__ or "") for name in sdk.__all__ if isinstance(getattr(sdk, name), type)
               and issubclass(getattr(sdk, name), TakeoverError))  # the docstring draws every exception


def test_the_sdk_needs_only_the_standard_library_and_httpx() -> None:
    trees = [ast.parse(path.read_text()) for path in Path(sdk.__file__).parent.glob("*.py")]  # the package
    modules = {alias.name.split(".")[0] for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for tree in trees for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules - set(sys.stdlib_module_names) == {"httpx"}
    loaded = subprocess.run([sys.executable, "-c", "import sys, takeover.sdk; print(' '.join(sys.modules))"],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert not {"fastapi", "sqlmodel", "pydantic", "takeover.server.api"} & set(loaded)


# --- against a real server ----------------------------------------------------------------------

@dataclass
class Served:
    server: Server
    operator: str
    bot: str

    def set_mode(self, mode: str, agent: str = "bot") -> None:
        response = httpx.put(f"{self.server.url}/v1/agents/{agent}/control", json={"mode": mode, "reason": "test"},
                             headers={"Authorization": f"Bearer {self.operator}"})
        assert response.status_code == 200, response.text

    # short long-polls: `takeover serve` waits for open requests before it stops
    def client(self, **options: Any) -> Client:
        return Client(self.server.url, token=self.bot, agent="bot", **{"wait": 2.0, **options})

    def aclient(self, **options: Any) -> AsyncClient:
        return AsyncClient(self.server.url, token=self.bot, agent="bot", **{"wait": 2.0, **options})


def serve(tmp: Path, **env: str) -> Served:
    """`takeover serve` with no rules, an operator token and a token for agent bot; `env` adds settings."""
    (tmp / "rules.yml").write_text("groups: []\n")
    server = start_server({
        "TAKEOVER_DATABASE_URL": f"sqlite:///{tmp / 'takeover.db'}",
        "TAKEOVER_RULES": str(tmp / "rules.yml"),
        "TAKEOVER_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens; no rule queries it
        **env,
    }, log=tmp / "serve.log")
    return Served(server, server.token("--role", "operator", "--name", "op"),
                  server.token("--role", "agent", "--agent", "bot"))


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def restart(served: Served, tmp: Path) -> Served:
    """A new `takeover serve` on the same port and database (start_server always picks a new port)."""
    log = tmp / "serve-again.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "takeover", "serve"], env={**os.environ, **served.server.env},
                                   stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    server = Server(served.server.url, served.server.env, process, log)
    deadline = time.monotonic() + 30
    while not healthy(server.url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise AssertionError(f"takeover serve did not come back: {log.read_text()}")
        time.sleep(0.1)
    return Served(server, served.operator, served.bot)


def eventually(check: Callable[[], object], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true after {timeout}s"
        time.sleep(0.02)


async def aeventually(check: Callable[[], object], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not true after {timeout}s"
        await asyncio.sleep(0.02)


def mode_is(client: Client | AsyncClient, mode: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return client.mode() == mode
        except ControlPlaneUnreachable:
            return False
    return check


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("sdk"))
    yield served
    stop_server(served.server)


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """A server of the test's own, to stop and start again."""
    served = serve(tmp_path)
    yield served, tmp_path
    if served.server.process.poll() is None:
        stop_server(served.server)


CASES: list[tuple[str, Kind, Risk]] = [("lookup", "read", "low"), ("note", "write", "low"), ("refund", "write", "high")]
EXPECTED: dict[str, list[type[Refused] | None]] = {  # for each case: None (runs) or what it raises
    "normal": [None, None, ApprovalRequired],
    "require_approval": [None, ApprovalRequired, ApprovalRequired],
    "pause_writes": [None, WritesPaused, WritesPaused],
    "read_only": [None, ReadOnly, ReadOnly],
    "handoff": [HandedOff, HandedOff, HandedOff],
}


@slow
@pytest.mark.parametrize("mode", list(EXPECTED))
def test_the_guard_in_every_mode(served: Served, mode: str) -> None:
    served.set_mode(mode)
    with served.client() as client:
        eventually(mode_is(client, mode))
        for (name, kind, risk), expected in zip(CASES, EXPECTED[mode]):
            ran: list[str] = []

            @client.guard(kind=kind, risk=risk, action=name)
            def tool(order: str) -> str:
                ran.append(order)
                return order

            if expected is None:
                assert tool("A1") == "A1"
                with client.guard(kind=kind, risk=risk, action=name, args={"order": "A2"}):
                    ran.append("A2")
                assert ran == ["A1", "A2"]
                continue
            with pytest.raises(expected) as by_decorator:
                tool("A1")
            with pytest.raises(expected) as by_block:
                with client.guard(kind=kind, risk=risk, action=name, args={"order": "A2"}):
                    ran.append("A2")
            assert ran == []
            for refused in (by_decorator.value, by_block.value):
                assert type(refused) is expected and (refused.action, refused.mode) == (name, mode)
                assert refused.reason and refused.version >= 1
                assert (refused.retry_after or 0) > 0 if expected is WritesPaused else refused.retry_after is None


@slow
def test_the_long_poll_sees_an_operators_change_at_once(served: Served) -> None:
    served.set_mode("normal")
    with served.client(max_staleness=30.0, wait=25.0) as client:
        before = client.document
        assert client.status == "fresh" and before is not None and client.mode() == "normal"
        assert client.canary("req-1") is False  # no canary_ratio: nothing goes to the canary
        served.set_mode("handoff")
        changed = time.monotonic()
        eventually(mode_is(client, "handoff"), timeout=3.0)  # far sooner than the 25 s poll would end
        assert time.monotonic() - changed < 3.0
        assert client.document is not None and client.document["version"] > before["version"]
        assert [s["reason"] for s in client.document["sources"]] == ["test"]
    served.set_mode("normal")  # answers the closed client's last long-poll, so the server can stop at once


@slow
def test_paused_writes_can_wait_for_the_resume(served: Served) -> None:
    served.set_mode("pause_writes")
    with served.client() as client:
        eventually(mode_is(client, "pause_writes"))
        started = time.monotonic()
        with pytest.raises(WritesPaused):
            with client.guard(kind="write", action="refund", wait_for_resume=0.5):
                pass
        assert 0.5 <= time.monotonic() - started < 5

        resume = threading.Timer(0.5, served.set_mode, args=["normal"])  # an operator resumes a bit later
        started = time.monotonic()
        resume.start()
        try:
            with client.guard(kind="write", action="refund", wait_for_resume=20):
                waited = time.monotonic() - started
        finally:
            resume.join()
        assert 0.4 <= waited < 5


@slow
def test_a_bad_token_or_another_agents_token_is_rejected_at_start(served: Served) -> None:
    with pytest.raises(RequestRejected, match="401"):
        Client(served.server.url, token="tko_nonsense", agent="bot").start()
    with pytest.raises(RequestRejected, match="403"):
        Client(served.server.url, token=served.bot, agent="someone-else").start()
    with pytest.raises(ControlPlaneUnreachable, match="not running"):
        with served.client().guard(kind="read", action="lookup"):
            pass


@slow
def test_the_client_fails_closed_when_the_server_dies_and_recovers_when_it_returns(
        outage: tuple[Served, Path]) -> None:
    served, tmp = outage
    served.set_mode("require_approval")
    allow, deny, patient = (served.client(max_staleness=1.0, read_policy="allow"),
                            served.client(max_staleness=1.0, read_policy="deny"),
                            served.client(max_staleness=60.0, read_policy="allow"))
    with allow, deny, patient:
        for client in (allow, deny, patient):
            assert client.mode() == "require_approval"
        stop_server(served.server)

        # the document is still young, but asking fails: writes raise, reads follow the policy
        assert patient.status == "fresh"
        with pytest.raises(ControlPlaneUnreachable, match="asking failed"):
            with patient.guard(kind="write", action="refund"):
                pass
        with patient.guard(kind="read", action="lookup"):
            pass

        eventually(lambda: allow.status == deny.status == "unreachable", timeout=5.0)
        for client in (allow, deny):
            with pytest.raises(ControlPlaneUnreachable):
                client.mode()
            assert client.canary("req-1") is False
            with pytest.raises(ControlPlaneUnreachable, match="refund"):
                with client.guard(kind="write", risk="low", action="refund"):
                    pass
        read: list[str] = []

        @allow.guard(kind="read")
        def lookup() -> None:
            read.append("ran")
        lookup()
        assert read == ["ran"]
        with pytest.raises(ControlPlaneUnreachable):
            with deny.guard(kind="read", action="lookup"):
                pass

        again = restart(served, tmp)
        try:
            eventually(lambda: allow.status == deny.status == "fresh", timeout=15.0)
            assert allow.mode() == "require_approval"  # the same database: the takeover held
            again.set_mode("normal")
            eventually(mode_is(allow, "normal"))
            with allow.guard(kind="write", action="refund"):
                pass
        finally:
            stop_server(again.server)


@slow
def test_the_async_client_guards_follows_and_waits_for_resume(served: Served) -> None:
    served.set_mode("normal")

    async def operator_later(mode: str) -> None:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(served.set_mode, mode)

    async def scenario() -> None:
        async with served.aclient() as client:
            assert client.status == "fresh" and client.mode() == "normal"
            notes: list[str] = []

            @client.guard(kind="write", risk="low")
            async def note(order: str) -> str:
                notes.append(order)
                return order

            assert await note("A1") == "A1" and notes == ["A1"]
            await asyncio.to_thread(served.set_mode, "read_only")
            await aeventually(mode_is(client, "read_only"), timeout=3.0)
            with pytest.raises(ReadOnly) as refused:
                await note("A2")
            assert refused.value.action == "note" and notes == ["A1"]  # named after the function
            async with client.guard(kind="read", action="lookup"):
                pass
            with pytest.raises(ReadOnly):
                async with client.guard(kind="write", risk="high", action="refund"):
                    pass
            with pytest.raises(TypeError):
                with client.guard(kind="read", action="lookup"):
                    pass

            await asyncio.to_thread(served.set_mode, "pause_writes")
            await aeventually(mode_is(client, "pause_writes"))
            resume = asyncio.create_task(operator_later("normal"))
            started = time.monotonic()
            async with client.guard(kind="write", action="refund", wait_for_resume=20):
                assert 0.4 <= time.monotonic() - started < 5
            await resume

    asyncio.run(scenario())


@slow
def test_the_async_client_fails_closed_and_recovers(outage: tuple[Served, Path]) -> None:
    served, tmp = outage

    async def scenario() -> None:
        async with served.aclient(max_staleness=1.0, read_policy="deny") as client:
            assert client.mode() == "normal"
            await asyncio.to_thread(stop_server, served.server)
            await aeventually(lambda: client.status == "unreachable", timeout=5.0)
            for kind in ("read", "write"):
                with pytest.raises(ControlPlaneUnreachable):
                    async with client.guard(kind=kind, action="refund"):
                        pass
            again = await asyncio.to_thread(restart, served, tmp)
            try:
                await aeventually(lambda: client.status == "fresh", timeout=15.0)
                async with client.guard(kind="write", action="refund"):
                    pass
            finally:
                await asyncio.to_thread(stop_server, again.server)

    asyncio.run(scenario())
