"""The thin shells that perform the core's flows: `Client` (a thread), `AsyncClient` (asyncio), their `Guard`."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar, cast

import httpx

from .arguments import call_args, with_edits
from .core import ControlState
from .errors import ControlPlaneUnreachable
from .model import Action, Flow, Kind, Outcome, Permit, ReadPolicy, Risk, Status, Variant

T = TypeVar("T")
P = ParamSpec("P")
NOT_RUNNING = "the client is not running: start() it, or use it as a context manager"


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
                 read_policy: ReadPolicy = "allow", wait: float = 25.0, timeout: float = 5.0,
                 instance: str | None = None) -> None:
        self.state = ControlState(base_url, token=token, agent=agent, max_staleness=max_staleness,
                                  read_policy=read_policy, wait=wait, timeout=timeout, instance=instance)

    @property
    def instance(self) -> str:
        """This process's instance id, sent with each poll: the server counts which instances
        hold the current document (`GET /v1/agents/{agent}`: `instances`)."""
        return self.state.instance

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
        """Whether this request goes to the canary, by the document's canary_ratio (0 unless fresh).

        The older ratio-only form; `variant(key)` follows the agent's release."""
        return self.state.canary(request_id)

    def variant(self, key: str) -> Variant:
        """The version of the agent `key` runs (stable or canary, by the release; stable unless
        the document is fresh). Sticky: the same key gets the same variant while the canary widens."""
        return self.state.variant(key)

    def guard(self, *, kind: Kind = "write", risk: Risk = "low", action: str | None = None,
              args: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
              wait_for_resume: float = 0.0, wait_for_approval: float = 0.0, variant: Variant | None = None) -> Guard:
        """Ask the server before the call: run it on allow, else raise (see the module docstring).

        `wait_for_resume`: seconds to wait while writes are paused. `wait_for_approval`: seconds
        to wait for a human's decision when one is needed (0: raise ApprovalRequired at once).
        `variant`: the one `variant(key)` gave, so the server audits which version acted."""
        assert isinstance(self, (Client, AsyncClient))
        return Guard(self, Action(name=action or "", kind=kind, risk=risk, args=args or {},
                                  idempotency_key=idempotency_key, variant=variant),
                     wait_for_resume=wait_for_resume, wait_for_approval=wait_for_approval)


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
