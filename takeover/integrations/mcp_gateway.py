"""An MCP gateway (`pip install 'takeover[mcp]'`): an MCP server that governs any agent's tools
with no code, in front of one upstream MCP server.

    takeover gateway --agent refund-bot --url http://takeover:8080 -- python bank_server.py

The gateway starts the upstream (a subprocess over stdio, or `--upstream-url` for streamable
HTTP), lists its tools as its own and serves MCP on stdio to the client. Before each
`tools/call` it asks takeover (`verdict.aask`, the guard's flow; a fresh idempotency key per
call): allowed → the call is forwarded upstream with the arguments takeover allowed (the
approver's edits on top) and the upstream's result returned as is; refused (a mode, a policy,
takeover unreachable) → a `CallToolResult` with `isError: true` and takeover's reason, which the
model reads; a human must decide → the call waits for the decision (progress notifications
every `progress_every` seconds keep it alive, naming the approval request), up to
`wait_for_approval` seconds, and runs once if approved; a client's `notifications/cancelled`, or
the end of the wait, refuses it and withdraws the request (cancelled in takeover). The upstream's progress is relayed while it runs.

MCP tool annotations are the upstream server's hints, not takeover's word: untrusted (the
default), every tool is a write — a `destructiveHint` only raises its risk; trusted
(`trust_hints=True`), `readOnlyHint` makes a read and `destructiveHint: false` a low-risk write.
`kinds` (`{"lookup": "read", "refund": ("write", "high")}`) overrides both, per tool.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from takeover.sdk import Action, AsyncClient, Variant
from takeover.sdk.model import Kind, Risk

from .verdict import Allowed, Declared, Pending, Verdict, aask, awithdraw, declared

try:
    import anyio
    import mcp_types as types
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("takeover.integrations.mcp_gateway needs the MCP SDK: pip install 'takeover[mcp]'") from exc

__all__ = ["KEY_PREFIX", "Gateway", "declared_tools", "hinted", "run", "serve"]

KEY_PREFIX = "mcp:"  # idempotency keys are this and a fresh id per call
PROGRESS_EVERY = 5.0  # seconds between progress notifications while a human decides
WAIT_FOR_APPROVAL = 300.0  # seconds a call waits for a human before it is refused


def hinted(annotations: types.ToolAnnotations | None, *, trusted: bool) -> tuple[Kind, Risk]:
    """A tool's kind and risk by its MCP annotations. Untrusted hints can only make a call
    stricter: a write, high-risk if it says it is destructive. Trusted: `readOnlyHint` is a
    read; otherwise a write, high-risk unless `destructiveHint` is false (MCP's default is true)."""
    read_only = annotations is not None and annotations.read_only_hint is True
    destructive = None if annotations is None else annotations.destructive_hint
    if not trusted:
        return "write", "high" if destructive is True else "low"
    if read_only:
        return "read", "low"
    return "write", "low" if destructive is False else "high"


def refusal(text: str) -> types.CallToolResult:
    """A tool result the model reads: the call did not run, and why."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


class Gateway:
    """The MCP server's handlers: the upstream's tools, each call decided by takeover through a
    started `AsyncClient`. `kinds` declares tools in one place and wins over the annotations
    (see `hinted`); `variant` is sent with every action, for the audit trail."""

    def __init__(self, client: AsyncClient, upstream: ClientSession, *, kinds: Declared | None = None,
                 trust_hints: bool = False, wait_for_approval: float = WAIT_FOR_APPROVAL,
                 progress_every: float = PROGRESS_EVERY, variant: Variant | None = None) -> None:
        self.client, self.upstream, self.variant = client, upstream, variant
        self.kinds, self.trust_hints = declared(kinds), trust_hints
        self.wait_for_approval, self.progress_every = wait_for_approval, progress_every
        self.tools: dict[str, types.Tool] = {}  # the upstream's last listing, by name

    def server(self, name: str = "takeover-gateway", *, instructions: str | None = None) -> Server[Any]:
        return Server(name, instructions=instructions, on_list_tools=self.list_tools, on_call_tool=self.call_tool)

    def kind_of(self, tool: str) -> tuple[Kind, Risk]:
        """What takeover is told the tool is: the declared kind, else the annotations' (see `hinted`)."""
        if tool in self.kinds:
            return self.kinds[tool]
        listed = self.tools.get(tool)
        return hinted(None if listed is None else listed.annotations, trusted=self.trust_hints)

    async def list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        """The upstream's tools, every page, as the gateway's own."""
        tools: list[types.Tool] = []
        cursor: str | None = None
        while True:
            page = await self.upstream.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            tools.extend(page.tools)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        self.tools = {tool.name: tool for tool in tools}
        return types.ListToolsResult(tools=tools)

    async def call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                        ) -> types.CallToolResult:
        """Ask takeover, then forward the call upstream or refuse it with takeover's reason."""
        if not self.tools:
            await self.list_tools(ctx, None)
        kind, risk = self.kind_of(params.name)
        act = Action(name=params.name, kind=kind, risk=risk, args=dict(params.arguments or {}),
                     idempotency_key=f"{KEY_PREFIX}{uuid.uuid4().hex}", variant=self.variant)
        verdict = await aask(self.client, act)
        if isinstance(verdict, Pending):
            verdict = await self._decided(ctx, act, verdict)
        if isinstance(verdict, Pending):
            return refusal(f"takeover: nobody decided approval request {verdict.approval_id} within "
                           f"{self.wait_for_approval:g}s, so it was withdrawn; the call did not run")
        if not isinstance(verdict, Allowed):
            return refusal(verdict.reason)

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        return await self.upstream.call_tool(params.name, dict(verdict.permit.args), progress_callback=relay)

    async def _decided(self, ctx: ServerRequestContext[Any], act: Action, pending: Pending) -> Verdict:
        """Wait for the human's decision, telling the client every `progress_every` seconds. When
        the client cancels the call, or the wait runs out, the request is withdrawn in takeover:
        no human is left deciding a call nobody will run."""
        started = time.monotonic()
        try:
            async with anyio.create_task_group() as waiting:
                async def tell() -> None:
                    while True:
                        await ctx.session.report_progress(
                            time.monotonic() - started, self.wait_for_approval,
                            f"takeover: approval request {pending.approval_id} waits for a human ({pending.reason})")
                        await anyio.sleep(self.progress_every)

                waiting.start_soon(tell)
                verdict = await aask(self.client, act, wait=self.wait_for_approval)
                waiting.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._withdraw(pending.approval_id)
            raise
        if isinstance(verdict, Pending):
            await self._withdraw(verdict.approval_id)
        return verdict

    async def _withdraw(self, approval_id: str) -> None:
        with anyio.move_on_after(self.client.state.timeout):
            await awithdraw(self.client, approval_id)


@asynccontextmanager
async def upstream_session(command: Sequence[str] = (), *, url: str | None = None,
                           env: Mapping[str, str] | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session to the upstream: `command` started over stdio, or `url`
    (streamable HTTP)."""
    async with AsyncExitStack() as stack:
        if url is not None:
            read, write = await stack.enter_async_context(streamable_http_client(url))
        else:
            if not command:
                raise ValueError("the upstream MCP server: a command to start, or a URL")
            parameters = StdioServerParameters(command=command[0], args=list(command[1:]), env=dict(env or {}))
            read, write = await stack.enter_async_context(stdio_client(parameters, errlog=sys.stderr))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        yield session


async def serve(client: AsyncClient, command: Sequence[str] = (), *, url: str | None = None,
                kinds: Declared | None = None, trust_hints: bool = False,
                wait_for_approval: float = WAIT_FOR_APPROVAL, progress_every: float = PROGRESS_EVERY,
                variant: Variant | None = None, env: Mapping[str, str] | None = None) -> None:
    """Start the client and the upstream, and serve MCP on stdio until the client goes away."""
    async with client, upstream_session(command, url=url, env=env) as upstream:
        gateway = Gateway(client, upstream, kinds=kinds, trust_hints=trust_hints,
                          wait_for_approval=wait_for_approval, progress_every=progress_every, variant=variant)
        server = gateway.server(instructions=upstream.instructions)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def declared_tools(specs: Sequence[str]) -> dict[str, tuple[Kind, Risk]]:
    """`NAME=read`, `NAME=write:high`, ... (the command line's `--tool`) as `kinds`."""
    kinds: dict[str, tuple[Kind, Risk]] = {}
    for spec in specs:
        name, _, kind_risk = spec.partition("=")
        kind, _, risk = kind_risk.partition(":")
        if not name or kind not in ("read", "write") or risk not in ("", "low", "high"):
            raise ValueError(f"--tool {spec!r}: NAME=read|write[:low|high]")
        kinds[name] = ("read" if kind == "read" else "write", "high" if risk == "high" else "low")
    return kinds


def run(*, url: str, token: str, agent: str, command: Sequence[str] = (), upstream_url: str | None = None,
        kinds: Declared | None = None, trust_hints: bool = False, wait_for_approval: float = WAIT_FOR_APPROVAL,
        env: Mapping[str, str] | None = None) -> None:
    """`takeover gateway`: serve until the client closes stdin."""
    client = AsyncClient(url, token=token, agent=agent)
    asyncio.run(serve(client, command, url=upstream_url, kinds=kinds, trust_hints=trust_hints,
                      wait_for_approval=wait_for_approval, env=env))
