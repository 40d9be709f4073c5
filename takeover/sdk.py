"""The agent SDK: follow the agent's control document and guard its tools.

`ControlState` is the sans-I/O core: the cached document and all the logic. Its flows are
generators that yield a step (an `httpx.Request` to send, or seconds to sleep) and receive the
outcome; `Client` (a daemon thread) and `AsyncClient` (an asyncio task) only perform the steps.

It fails closed: a write never runs on a stale all-clear. The exceptions:

    TakeoverError
     ├── ControlPlaneUnreachable   no fresh control document, or the server did not answer
     ├── RequestRejected           the server refused the request itself (401, 403, other 4xx)
     └── Refused                   the server said not now (.action .reason .mode .version .approval_id)
          ├── ApprovalRequired     decision approval_required: a human must approve it
          │    └── ApprovalTimeout still pending when wait_for_approval ran out; the request stays open
          ├── Rejected             a human rejected the request (.comment .decided_by)
          ├── ApprovalExpired      nobody answered the request before it expired
          └── Denied               decision deny (or an approval request cancelled), for a reason not below
               ├── WritesPaused    mode pause_writes: writes may resume (.retry_after)
               ├── ReadOnly        mode read_only
               └── HandedOff       mode handoff: stop and hand the conversation to a human

Approvals. A guard whose action needs a human's approval raises ApprovalRequired at once,
unless given `wait_for_approval=seconds`: then it long-polls the approval request until it is
decided. Approved: the call runs with the effective arguments (the proposed ones with the
approver's edits on top) — a decorated function gets the edited values in place of the call's
arguments of those names; `with client.guard(...) as permit:` gets them as `permit.args`.
Rejected raises Rejected, expired raises ApprovalExpired. Still pending at the timeout raises
ApprovalTimeout and leaves the request open, so that asking again with the same
`idempotency_key` picks up the same request and any decision made meanwhile (without a key,
every call opens a new request). A key names one action and its one request: once approved,
asking again with the key runs at once; once rejected or expired, it raises that again (a new
request needs a new key); reusing the key for other arguments raises RequestRejected.
If the server stops answering while the guard waits, it raises ControlPlaneUnreachable; and an
approval that arrives after the agent's mode changed to deny the action (by the cached control
document, which must be fresh) does not run.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import inspect
import json
import random
import threading
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any, Literal, ParamSpec, TypeVar, cast
from urllib.parse import quote

import httpx

__all__ = [
    "Action", "ApprovalExpired", "ApprovalRequired", "ApprovalTimeout", "AsyncClient", "Client",
    "ControlPlaneUnreachable", "ControlState", "Denied", "Guard", "HandedOff", "Permit", "ReadOnly",
    "Refused", "Rejected", "RequestRejected", "Status", "TakeoverError", "WritesPaused", "route",
]

T = TypeVar("T")
P = ParamSpec("P")
Kind = Literal["read", "write"]
Risk = Literal["low", "high"]
ReadPolicy = Literal["allow", "deny"]
Step = httpx.Request | float  # send this request, or sleep this many seconds
Outcome = httpx.Response | httpx.HTTPError | None  # what sending gave; None after a sleep
Flow = Generator[Step, Outcome, T]

BACKOFF_BASE, BACKOFF_CAP = 0.25, 10.0  # seconds
IDLE = 1.0  # seconds between polls when a server answers long-polls at once
APPROVAL_POLL = 30.0  # seconds one long-poll of an approval request may block (the server caps it at 60)
NOT_RUNNING = "the client is not running: start() it, or use it as a context manager"


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


class Status(enum.StrEnum):
    """How far the cached control document can be trusted; only `fresh` lets a write be asked."""

    fresh = "fresh"  # a 200 or 304 arrived within max_staleness
    stale = "stale"  # older than max_staleness, and no attempt since has failed (one is in flight)
    unreachable = "unreachable"  # never synced, or older than max_staleness and the last attempt failed


@dataclass(frozen=True)
class Action:
    """What the agent asks to do: the body of `POST /v1/agents/{agent}/actions`."""

    name: str
    kind: Kind = "write"
    risk: Risk = "low"
    args: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Permit:
    """What a guard lets run; `with client.guard(...) as permit:` gives it.

    `args` are the arguments to run with: the effective ones when a human approved (the proposed
    arguments with the approver's edits on top), else the action's own."""

    args: Mapping[str, Any]
    edits: Mapping[str, Any] = field(default_factory=dict)  # the arguments the approver changed
    approval_id: str | None = None
    decided_by: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Synced:
    document: dict[str, Any]
    etag: str
    at: float  # clock() when the last 200 or 304 for this document arrived


def route(request_id: str, ratio: float) -> bool:
    """Canary bucketing: sha256 of the id as a number in [0, 1), below `ratio`; deterministic."""
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big") / 2**64 < ratio


def backoff(failures: int, *, cap: float, jitter: float) -> float:
    """Seconds to sleep after `failures` failed attempts in a row: doubling up to `cap`, scaled
    into its upper half by `jitter` in [0, 1) so clients that failed together spread out."""
    return min(cap, BACKOFF_BASE * 2.0 ** min(max(failures - 1, 0), 30)) * (0.5 + jitter / 2)


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


def call_args(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by parameter name, leaving out those JSON cannot carry."""
    try:
        named = inspect.signature(fn).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        named = kwargs

    def fits(value: Any) -> bool:
        try:
            return bool(json.dumps(value))
        except (TypeError, ValueError):
            return False
    return {name: value for name, value in named.items() if fits(value)}


def with_edits(fn: Callable[..., Any], edits: Mapping[str, Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The call's arguments with the approver's edits in place of the ones they name (by
    parameter name, positional or not); edits that name no parameter go in as keywords."""
    if not edits:
        return args, kwargs
    try:
        parameters = inspect.signature(fn).parameters
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return args, {**kwargs, **edits}
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    extra = {}
    for name, value in edits.items():
        if name in parameters and parameters[name].kind not in variadic:
            bound.arguments[name] = value
        else:
            extra[name] = value
    return bound.args, {**bound.kwargs, **extra}


class ControlState:
    """The sans-I/O core: the cached control document, its freshness, and what to send next.

    With `age` = now - when the last 200 or 304 arrived (a 304 counts only for the cached ETag):
      fresh: age <= max_staleness, even if an attempt has failed since;
      stale: age > max_staleness and no attempt since the last sync has failed (one is in
             flight, or nothing is polling);
      unreachable: never synced, or age > max_staleness and the latest attempt failed.
    """

    def __init__(self, base_url: str, *, token: str, agent: str, max_staleness: float = 30.0,
                 read_policy: ReadPolicy = "allow", wait: float = 25.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if read_policy not in ("allow", "deny") or max_staleness <= 0 or timeout <= 0 or wait < 0:
            raise ValueError("read_policy is allow|deny; max_staleness, timeout > 0; wait >= 0")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/v1/agents/{quote(agent, safe='')}"
        self.agent, self.max_staleness, self.read_policy = agent, max_staleness, read_policy
        self.timeout, self.clock = timeout, clock
        # a long-poll's answer must come before the document goes stale: leave it `timeout`, or half
        self.poll_wait = min(wait, max(max_staleness / 2, max_staleness - timeout))
        self.headers = {"Authorization": f"Bearer {token}"}
        self.synced: Synced | None = None
        self.failures = 0  # attempts failed in a row since the last sync
        self.last_error = ""

    def status(self) -> Status:
        """fresh, stale or unreachable: see the class docstring."""
        synced = self.synced
        if synced is not None and self.clock() - synced.at <= self.max_staleness:
            return Status.fresh
        return Status.unreachable if synced is None or self.failures else Status.stale

    def fresh_document(self) -> dict[str, Any]:
        """The cached document; raises ControlPlaneUnreachable unless it is fresh."""
        synced = self.synced
        if synced is None or self.status() != Status.fresh:
            age = "never synced" if synced is None else f"{self.clock() - synced.at:.1f}s old"
            raise ControlPlaneUnreachable(f"the control document of {self.agent!r} is {age} (max_staleness "
                                          f"{self.max_staleness}s); last error: {self.last_error or 'none'}")
        return synced.document

    def canary(self, request_id: str) -> bool:
        """`route` by the fresh document's canary_ratio; no canary when absent or not fresh."""
        with suppress(ControlPlaneUnreachable):
            return route(request_id, float(self.fresh_document().get("canary_ratio") or 0.0))
        return False

    def poll_request(self, *, wait: float, version: int | None = None) -> httpx.Request:
        """GET the document; with `wait`, long-poll until it differs from the cached one (and `version`)."""
        headers, params = dict(self.headers), {}
        if self.synced is not None:
            headers["If-None-Match"] = self.synced.etag
        if wait > 0 and (self.synced is not None or version is not None):
            params["wait"] = f"{wait:.3f}"
        if version is not None:
            params["version"] = str(version)
        timeout = httpx.Timeout(self.timeout, read=wait + self.timeout)
        return httpx.Request("GET", f"{self.url}/control", headers=headers, params=params,
                             extensions={"timeout": timeout.as_dict()})

    def record(self, outcome: Outcome) -> bool:
        """Take in a poll's outcome; whether the server answered it (200 or 304)."""
        if isinstance(outcome, httpx.Response) and outcome.status_code in (200, 304):
            etag, synced = outcome.headers.get("ETag", ""), self.synced
            if outcome.status_code == 304 and synced is not None and etag == synced.etag:
                self.synced = replace(synced, at=self.clock())
            elif outcome.status_code == 200:
                try:
                    self.synced = Synced(document=dict(outcome.json()), etag=etag, at=self.clock())
                except (ValueError, TypeError) as exc:
                    outcome = httpx.DecodingError(f"unreadable control document: {exc}")
            if isinstance(outcome, httpx.Response):
                self.failures = 0
                return True
        self.failures += 1
        self.last_error = failure(outcome)
        return False

    def sync(self, *, wait: float, version: int | None = None) -> Flow[bool]:
        """One poll; then sleep the backoff after a failure, or IDLE after a plain poll or a
        long-poll that came back unchanged at once (the server did not hold it)."""
        sent = self.clock()
        outcome = yield self.poll_request(wait=wait, version=version)
        if not self.record(outcome):
            yield backoff(self.failures, cap=min(BACKOFF_CAP, self.max_staleness), jitter=random.random())
            return False
        early = isinstance(outcome, httpx.Response) and outcome.status_code == 304 and self.clock() - sent < wait / 2
        if early or not wait:
            yield min(IDLE, self.max_staleness / 4)
        return True

    def first_sync(self) -> Flow[None]:
        """The sync at start; raises RequestRejected on a 4xx (a bad token will not fix itself)."""
        outcome = yield self.poll_request(wait=0)
        if not self.record(outcome) and isinstance(outcome, httpx.Response) and outcome.status_code < 500:
            raise RequestRejected(self.last_error)

    def follow(self) -> Flow[None]:
        """The background loop: long-poll for ever, backing off after failures."""
        while True:
            yield from self.sync(wait=self.poll_wait)

    def authorize(self, act: Action, *, wait_for_resume: float = 0.0,
                  wait_for_approval: float = 0.0) -> Flow[Permit]:
        """Return what may run now; otherwise raise why not.

        When the document is not fresh, or the server does not answer (transport error, 5xx),
        writes raise ControlPlaneUnreachable and reads follow read_policy. While writes are
        paused and `wait_for_resume` seconds last, long-poll for a change and ask again. When a
        human must approve, wait up to `wait_for_approval` seconds for the decision."""
        deadline = self.clock() + wait_for_resume
        while True:
            try:
                self.fresh_document()
            except ControlPlaneUnreachable as exc:
                return self.fail_closed(act, exc)
            outcome = yield httpx.Request(
                "POST", f"{self.url}/actions", headers=self.headers, json={
                    "action": act.name, "kind": act.kind, "risk": act.risk, "args": dict(act.args),
                    "idempotency_key": act.idempotency_key},
                extensions={"timeout": httpx.Timeout(self.timeout).as_dict()})
            if not isinstance(outcome, httpx.Response) or outcome.status_code >= 500:
                return self.fail_closed(act, f"asking failed: {failure(outcome)}")
            if outcome.status_code != 200:
                raise RequestRejected(failure(outcome))
            try:
                answer = outcome.json()
                refused, left = refusal(answer, action=act.name), deadline - self.clock()
            except (ValueError, AttributeError) as exc:
                return self.fail_closed(act, f"unreadable answer: {exc!r}")
            if refused is None:
                return Permit(args=act.args)
            if isinstance(refused, ApprovalRequired) and refused.approval_id is not None:
                return (yield from self.await_approval(act, answer["approval"], refused, wait=wait_for_approval))
            if not isinstance(refused, WritesPaused) or left <= 0:
                raise refused
            yield from self.sync(wait=min(self.poll_wait, left), version=refused.version)

    def fail_closed(self, act: Action, why: object) -> Permit:
        if act.kind != "read" or self.read_policy != "allow":
            raise ControlPlaneUnreachable(f"{act.kind} {act.name!r} refused: {why}")
        return Permit(args=act.args)

    def approval_request(self, approval_id: str, *, wait: float) -> httpx.Request:
        """GET the approval request; with `wait`, long-poll while it is pending."""
        url = f"{self.base_url}/v1/approvals/{quote(approval_id, safe='')}"
        timeout = httpx.Timeout(self.timeout, read=wait + self.timeout)
        return httpx.Request("GET", url, headers=self.headers, params={"wait": f"{wait:.3f}"},
                             extensions={"timeout": timeout.as_dict()})

    def await_approval(self, act: Action, approval: Mapping[str, Any], asked: ApprovalRequired, *,
                       wait: float) -> Flow[Permit]:
        """Long-poll the approval request `act` got, for up to `wait` seconds, until it is decided:
        a Permit when approved, else raise (see the module docstring). Any failure to hear the
        decision raises ControlPlaneUnreachable, even for a read: only a human's yes runs it."""
        deadline, waited = self.clock() + wait, False
        unheard = f"{act.kind} {act.name!r} refused: waiting for approval request {asked.approval_id} failed"
        try:
            proposed = approval["args"]["proposed"]
        except (LookupError, TypeError) as exc:
            raise ControlPlaneUnreachable(f"{unheard}: unreadable request {exc!r}") from None
        if approval.get("action") != act.name or proposed != json.loads(json.dumps(dict(act.args))):
            raise RequestRejected(f"idempotency_key {act.idempotency_key!r} already names approval request "
                                  f"{asked.approval_id} for {approval.get('action')} {proposed}; use a new key "
                                  f"for a different action")
        while True:
            try:
                decided = settled(approval, asked=asked)
            except (LookupError, TypeError, AttributeError, ValueError) as exc:
                raise ControlPlaneUnreachable(f"{unheard}: unreadable request {exc!r}") from None
            if isinstance(decided, Refused):
                raise decided
            if decided is not None:
                if waited:
                    self.still_permitted(act, asked)
                return decided
            left = deadline - self.clock()
            if left <= 0 and wait > 0:
                key = (f"ask again with idempotency_key {act.idempotency_key!r} to pick it up" if act.idempotency_key
                       else "without an idempotency_key, asking again opens a new request")
                raise ApprovalTimeout(action=act.name, mode=asked.mode, version=asked.version,
                                      approval_id=asked.approval_id, reason=f"approval request "
                                      f"{asked.approval_id} is still pending after {wait:g}s; {key}")
            if left <= 0:
                raise asked
            sent, poll = self.clock(), min(left, APPROVAL_POLL)
            outcome = yield self.approval_request(str(asked.approval_id), wait=poll)
            waited = True
            if not isinstance(outcome, httpx.Response) or outcome.status_code >= 500:
                raise ControlPlaneUnreachable(f"{unheard}: {failure(outcome)}")
            if outcome.status_code != 200:
                raise RequestRejected(failure(outcome))
            try:
                approval = dict(outcome.json())
            except (ValueError, TypeError) as exc:
                raise ControlPlaneUnreachable(f"{unheard}: unreadable answer {exc!r}") from None
            if approval.get("status") == "pending" and self.clock() - sent < poll / 2:
                yield min(IDLE, max(deadline - self.clock(), 0.0))  # the server did not hold the long-poll

    def still_permitted(self, act: Action, asked: ApprovalRequired) -> None:
        """Raise unless the fresh document still lets `act` run: a takeover made while a human
        was approving wins over the approval."""
        document = self.fresh_document()
        if document.get("permissions", {}).get(f"{act.kind}_{act.risk}") == "deny":
            mode = str(document.get("mode", ""))
            raise DENIALS.get(mode, Denied)(
                action=act.name, reason=f"approved, but the mode changed to {mode} while waiting", mode=mode,
                version=int(document.get("version") or 0), approval_id=asked.approval_id)


class Guard:
    """`@client.guard(...)` on a function, or `with client.guard(..., action=...) as permit:`;
    with an AsyncClient, on an `async def`, or `async with`. The block gets a `Permit`."""

    def __init__(self, client: Client | AsyncClient, template: Action, *, wait_for_resume: float,
                 wait_for_approval: float = 0.0) -> None:
        self._client, self._template, self._wait = client, template, wait_for_resume
        self._wait_for_approval = wait_for_approval

    def _flow(self, act: Action, *, is_async: bool) -> Flow[Permit]:
        if is_async != isinstance(self._client, AsyncClient):
            raise TypeError("guard: `async def` and `async with` with an AsyncClient, else a Client")
        if not self._client.running:
            raise ControlPlaneUnreachable(NOT_RUNNING)
        if not act.name:
            raise ValueError("as a context manager, guard(...) needs action='<name>'")
        return self._client.state.authorize(act, wait_for_resume=self._wait,
                                            wait_for_approval=self._wait_for_approval)

    def __enter__(self) -> Permit:
        return cast(Client, self._client).run(self._flow(self._template, is_async=False))

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def __aenter__(self) -> Permit:
        return await cast(AsyncClient, self._client).run(self._flow(self._template, is_async=True))

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        def act(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Action:
            # named after the function and carrying the call's arguments, unless given
            return replace(self._template, name=self._template.name or fn.__name__,
                           args=self._template.args or call_args(fn, args, kwargs))

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
            permit = cast(Client, self._client).run(self._flow(act(args, kwargs), is_async=False))
            edited, named = with_edits(fn, permit.edits, args, kwargs)
            return cast(Callable[..., T], fn)(*edited, **named)

        @functools.wraps(fn)
        async def aguarded(*args: P.args, **kwargs: P.kwargs) -> Any:
            permit = await cast(AsyncClient, self._client).run(self._flow(act(args, kwargs), is_async=True))
            edited, named = with_edits(fn, permit.edits, args, kwargs)
            return await cast(Callable[..., Any], fn)(*edited, **named)
        return cast(Callable[P, T], aguarded) if inspect.iscoroutinefunction(fn) else guarded


class _Facade:
    """What both clients share: the core, what they read from it, and the guard."""

    running = False  # between start() and close()

    def __init__(self, base_url: str, *, token: str, agent: str, max_staleness: float = 30.0,
                 read_policy: ReadPolicy = "allow", wait: float = 25.0, timeout: float = 5.0) -> None:
        self.state = ControlState(base_url, token=token, agent=agent, max_staleness=max_staleness,
                                  read_policy=read_policy, wait=wait, timeout=timeout)

    @property
    def status(self) -> Status:
        """fresh, stale or unreachable (see ControlState)."""
        return self.state.status()

    @property
    def document(self) -> dict[str, Any] | None:
        """The last control document received, however old (check `status`)."""
        return None if self.state.synced is None else self.state.synced.document

    def mode(self) -> str:
        """The agent's mode; raises ControlPlaneUnreachable unless the document is fresh."""
        return str(self.state.fresh_document()["mode"])

    def canary(self, request_id: str) -> bool:
        """Whether this request goes to the canary, by the document's canary_ratio (0 unless fresh)."""
        return self.state.canary(request_id)

    def guard(self, *, kind: Kind = "write", risk: Risk = "low", action: str | None = None,
              args: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
              wait_for_resume: float = 0.0, wait_for_approval: float = 0.0) -> Guard:
        """Ask the server before the call: run it on allow, else raise (see the module docstring).

        `wait_for_resume`: seconds to wait while writes are paused. `wait_for_approval`: seconds
        to wait for a human's decision when one is needed (0: raise ApprovalRequired at once)."""
        assert isinstance(self, (Client, AsyncClient))
        return Guard(self, Action(name=action or "", kind=kind, risk=risk, args=args or {},
                                  idempotency_key=idempotency_key), wait_for_resume=wait_for_resume,
                     wait_for_approval=wait_for_approval)


class Client(_Facade):
    """The SDK for threaded code; a daemon thread keeps the control document fresh.

    `Client(base_url, token=, agent=, max_staleness=30.0, read_policy="allow", wait=25.0,
    timeout=5.0)`. `start()` syncs once (raising RequestRejected on a bad token) and starts the
    long-poll; `close()` stops it (a long-poll in flight ends by itself within `wait`). Guards
    raise ControlPlaneUnreachable before start() and after close()."""

    def start(self) -> Client:
        if self.running:
            return self
        self._http, self._stop = httpx.Client(), threading.Event()
        try:
            self.run(self.state.first_sync())
        except BaseException:
            self._http.close()
            raise
        threading.Thread(target=self._follow, name=f"takeover-{self.state.agent}", daemon=True).start()
        self.running = True
        return self

    def close(self) -> None:
        if self.running:
            self.running = False
            self._stop.set()
            self._http.close()

    def __enter__(self) -> Client:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, flow: Flow[T], http: httpx.Client | None = None) -> T:
        """Perform a flow of the core: send its requests, sleep its sleeps (until close())."""
        outcome: Outcome = None
        try:
            while not self._stop.is_set():
                step = flow.send(outcome)
                if isinstance(step, httpx.Request):
                    try:
                        outcome = (http or self._http).send(step)
                    except httpx.HTTPError as exc:
                        outcome = exc
                else:
                    self._stop.wait(step)
                    outcome = None
        except StopIteration as done:
            result: T = done.value
            return result
        raise ControlPlaneUnreachable(NOT_RUNNING)

    def _follow(self) -> None:
        with httpx.Client() as http, suppress(ControlPlaneUnreachable):
            self.run(self.state.follow(), http)


class AsyncClient(_Facade):
    """The SDK for asyncio; an asyncio task keeps the control document fresh (see Client)."""

    async def start(self) -> AsyncClient:
        if self.running:
            return self
        self._http = httpx.AsyncClient()
        try:
            await self.run(self.state.first_sync())
        except BaseException:
            await self._http.aclose()
            raise
        self._task = asyncio.create_task(self.run(self.state.follow()), name=f"takeover-{self.state.agent}")
        self.running = True
        return self

    async def close(self) -> None:
        if self.running:
            self.running = False
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def run(self, flow: Flow[T]) -> T:
        """Perform a flow of the core: send its requests, sleep its sleeps."""
        outcome: Outcome = None
        try:
            while True:
                step = flow.send(outcome)
                if isinstance(step, httpx.Request):
                    try:
                        outcome = await self._http.send(step)
                    except httpx.HTTPError as exc:
                        outcome = exc
                else:
                    await asyncio.sleep(step)
                    outcome = None
        except StopIteration as done:
            result: T = done.value
            return result
