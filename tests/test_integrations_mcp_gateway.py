"""The MCP gateway: `takeover gateway` as a subprocess in front of a real upstream MCP server
(tests/mcp_bank.py over stdio), a real MCP client session over stdio to the gateway, a real
`takeover serve`, and an operator deciding over the API."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is not installed: pip install 'takeover[mcp]'")

import mcp_types as types  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from takeover.integrations.mcp_gateway import KEY_PREFIX, declared_tools, hinted  # noqa: E402
from takeover.tools.promproc import free_port  # noqa: E402
from tests import integrations  # noqa: E402
from tests.integrations import asked, audit, decide, shown  # noqa: E402
from tests.test_sdk import Served, eventually  # noqa: E402

slow = pytest.mark.slow
served, normal = integrations.served, integrations.normal  # fixtures: the module's server, its agent in normal
ROOT = Path(__file__).resolve().parent.parent
BANK = Path(__file__).with_name("mcp_bank.py")


class Bank:
    """The upstream's log: each call it ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ran(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]


@asynccontextmanager
async def gateway(served: Served, bank: Bank, *options: str) -> AsyncIterator[ClientSession]:
    """A client session to `takeover gateway --agent bot ... -- python tests/mcp_bank.py LOG`, as an
    MCP client (Claude Desktop, an IDE) launches a server; the token in an environment variable.
    With `--upstream-url` among the options, no upstream command."""
    upstream = [] if "--upstream-url" in options else ["--", sys.executable, str(BANK), str(bank.path)]
    command = [sys.executable, "-m", "takeover", "mcp-gateway", "--agent", "bot", "--url", served.server.url,
               "--token-env", "BANK_BOT_TOKEN", *options, *upstream]
    parameters = StdioServerParameters(command=command[0], args=command[1:], cwd=ROOT,
                                       env={"BANK_BOT_TOKEN": served.bot, "PYTHONPATH": str(ROOT)})
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def through(served: Served, bank: Bank, scenario: Callable[[ClientSession], Awaitable[Any]], *options: str) -> Any:
    async def go() -> Any:
        async with gateway(served, bank, *options) as session:
            return await scenario(session)
    return asyncio.run(go())


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


class Waiting:
    """A call that waits for a human, and the progress notifications it gets meanwhile."""

    def __init__(self, session: ClientSession, tool: str, args: dict[str, Any]) -> None:
        self.messages: list[str] = []
        self.told = asyncio.Event()

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            self.messages.append(message or "")
            self.told.set()

        self.call = asyncio.create_task(session.call_tool(tool, args, progress_callback=progress))

    async def approval_id(self) -> str:
        """The approval request the first progress notification names."""
        await asyncio.wait_for(self.told.wait(), timeout=15)
        found = re.search(r"approval request (\S+)", self.messages[0])
        assert found, self.messages
        return found.group(1)


def test_untrusted_hints_only_make_a_call_stricter_and_declarations_win() -> None:
    read_only = types.ToolAnnotations(read_only_hint=True)
    destructive = types.ToolAnnotations(destructive_hint=True)
    additive = types.ToolAnnotations(read_only_hint=False, destructive_hint=False)
    assert [hinted(a, trusted=False) for a in (None, read_only, destructive, additive)] == [
        ("write", "low"), ("write", "low"), ("write", "high"), ("write", "low")]
    assert [hinted(a, trusted=True) for a in (None, read_only, destructive, additive)] == [
        ("write", "high"), ("read", "low"), ("write", "high"), ("write", "low")]
    assert declared_tools(["lookup=read", "refund=write:high"]) == {"lookup": ("read", "low"),
                                                                    "refund": ("write", "high")}
    with pytest.raises(ValueError, match="NAME=read"):
        declared_tools(["refund=delete"])


@slow
def test_the_upstreams_tools_are_listed_and_an_allowed_read_runs(normal: Served, tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.jsonl")
    allowed_before = len(audit(normal, action="action.allow"))

    async def scenario(session: ClientSession) -> None:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(listed) == {"lookup", "refund", "expiring_refund", "note"}
        assert listed["lookup"].annotations and listed["lookup"].annotations.read_only_hint is True
        assert "order" in listed["refund"].input_schema["properties"]
        result = await session.call_tool("lookup", {"order": "A-1"})
        assert not result.is_error and text(result) == "A-1: paid 120"
    through(normal, bank, scenario, "--tool", "lookup=read")

    assert bank.ran() == [{"tool": "lookup", "args": {"order": "A-1"}}]
    allowed = audit(normal, action="action.allow")[allowed_before:]
    assert [(row["after"]["action"], row["after"]["kind"]) for row in allowed] == [("lookup", "read")]
    assert allowed[0]["after"]["idempotency_key"].startswith(KEY_PREFIX)


@slow
def test_in_read_only_a_write_is_refused_with_the_reason_and_never_reaches_the_upstream(
        normal: Served, tmp_path: Path) -> None:
    normal.set_mode("read_only")
    bank = Bank(tmp_path / "bank.jsonl")

    async def scenario(session: ClientSession) -> None:
        refused = await session.call_tool("note", {"order": "A-1", "text": "called"})
        assert refused.is_error and "read_only" in text(refused) and "'note'" in text(refused)
        # its readOnlyHint is the upstream's word, not takeover's: untrusted, lookup is a write too
        untrusted = await session.call_tool("lookup", {"order": "A-1"})
        assert untrusted.is_error and "read_only" in text(untrusted)
    through(normal, bank, scenario)
    assert bank.ran() == []

    async def trusting(session: ClientSession) -> None:
        assert not (await session.call_tool("lookup", {"order": "A-2"})).is_error
        assert (await session.call_tool("note", {"order": "A-2", "text": "called"})).is_error
    through(normal, bank, trusting, "--trust-hints")
    assert bank.ran() == [{"tool": "lookup", "args": {"order": "A-2"}}]


@slow
def test_a_write_waits_for_a_human_with_progress_and_runs_once_with_the_approved_arguments(
        normal: Served, tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.jsonl")

    async def scenario(session: ClientSession) -> tuple[types.CallToolResult, str]:
        waiting = Waiting(session, "refund", {"order": "B-1", "amount": 120})
        approval_id = await waiting.approval_id()
        assert not waiting.call.done() and bank.ran() == []
        await asyncio.to_thread(decide, normal, approval_id, "approve", args={"amount": 50})
        return await asyncio.wait_for(waiting.call, timeout=15), approval_id
    result, approval_id = through(normal, bank, scenario)

    assert not result.is_error and text(result) == "refunded 50 on B-1"
    assert bank.ran() == [{"tool": "refund", "args": {"order": "B-1", "amount": 50}}]
    request = shown(normal, approval_id)
    assert request["action"] == "refund" and request["risk"] == "high"  # destructiveHint raises the risk
    assert request["executed_at"] is not None  # confirmed once: it ran once
    key = request["idempotency_key"]
    assert key.startswith(KEY_PREFIX)
    assert asked(normal, key) == ["action.approval_required", "action.approval_required"]  # asked, then waited


@slow
def test_a_rejection_reaches_the_client_with_the_comment_and_expiry_says_it_expired(
        normal: Served, tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.jsonl")

    async def scenario(session: ClientSession) -> None:
        waiting = Waiting(session, "refund", {"order": "B-2", "amount": 900})
        await asyncio.to_thread(decide, normal, await waiting.approval_id(), "reject",
                                comment="not for this customer")
        rejected = await asyncio.wait_for(waiting.call, timeout=15)
        assert rejected.is_error and "not for this customer" in text(rejected)

        expired = await session.call_tool("expiring_refund", {"order": "B-3", "amount": 1})
        assert expired.is_error and "expired" in text(expired) and "rejected by" not in text(expired)
    through(normal, bank, scenario)
    assert bank.ran() == []


@slow
def test_a_cancelled_or_timed_out_wait_runs_nothing_withdraws_the_request_and_the_gateway_serves_on(
        normal: Served, tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.jsonl")

    async def scenario(session: ClientSession) -> list[str]:
        waiting = Waiting(session, "refund", {"order": "B-4", "amount": 10})
        cancelled = await waiting.approval_id()
        waiting.call.cancel()  # the client sends notifications/cancelled
        with pytest.raises(asyncio.CancelledError):
            await waiting.call

        timed_out = await session.call_tool("refund", {"order": "B-5", "amount": 20})
        assert timed_out.is_error and "nobody decided" in text(timed_out) and "withdrawn" in text(timed_out)
        assert not (await session.call_tool("note", {"order": "B-6", "text": "still here"})).is_error
        found = re.search(r"approval request (\S+)", text(timed_out))
        assert found
        return [cancelled, found.group(1)]
    withdrawn = through(normal, bank, scenario, "--wait-for-approval", "1")

    eventually(lambda: [shown(normal, approval_id)["status"] for approval_id in withdrawn] == ["cancelled"] * 2)
    assert bank.ran() == [{"tool": "note", "args": {"order": "B-6", "text": "still here"}}]


@slow
def test_a_streamable_http_upstream_is_governed_the_same_way(normal: Served, tmp_path: Path) -> None:
    normal.set_mode("read_only")
    bank, port = Bank(tmp_path / "bank.jsonl"), free_port()
    with open(tmp_path / "upstream.log", "w") as log:
        upstream = subprocess.Popen([sys.executable, str(BANK), str(bank.path), str(port)], stdout=log,
                                    stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        eventually(lambda: listening(port), timeout=15)

        async def scenario(session: ClientSession) -> None:
            assert not (await session.call_tool("lookup", {"order": "H-1"})).is_error
            refused = await session.call_tool("refund", {"order": "H-1", "amount": 5})
            assert refused.is_error and "read_only" in text(refused)
        through(normal, bank, scenario, "--tool", "lookup=read", "--upstream-url", f"http://127.0.0.1:{port}/mcp")
    finally:
        upstream.terminate()
        upstream.wait(timeout=15)
    assert bank.ran() == [{"tool": "lookup", "args": {"order": "H-1"}}]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@slow
def test_the_gateway_needs_a_token_takeover_accepts_and_an_upstream(served: Served) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TAKEOVER_TOKEN", None)
    command = [sys.executable, "-m", "takeover", "mcp-gateway", "--agent", "bot", "--url", served.server.url]
    no_token = subprocess.run([*command, "--", "true"], env=env, capture_output=True, text=True, timeout=30)
    assert no_token.returncode == 1 and "$TAKEOVER_TOKEN" in no_token.stderr
    no_upstream = subprocess.run(command, env={**env, "TAKEOVER_TOKEN": "t"}, capture_output=True, text=True,
                                 timeout=30)
    assert no_upstream.returncode == 1 and "upstream" in no_upstream.stderr
    bad_token = subprocess.run([*command, "--", sys.executable, str(BANK), os.devnull],
                               env={**env, "TAKEOVER_TOKEN": "tko_not-a-token"}, capture_output=True, text=True,
                               timeout=30)
    assert bad_token.returncode == 1 and "takeover refused the gateway for agent 'bot'" in bad_token.stderr
