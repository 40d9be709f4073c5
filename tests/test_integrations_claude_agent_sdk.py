"""takeover in the Claude Agent SDK: `can_use_tool` and the `PreToolUse` hook called with the SDK's
own types, as its query loop calls them (a session needs the Claude Code CLI), against a real
`takeover serve` with an operator deciding over the API."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytest.importorskip("claude_agent_sdk", reason="the Claude Agent SDK is not installed (its wheel bundles the "
                    "Claude Code CLI, ~390 MB, so the test extra leaves it out): pip install 'takeover[claude-agent-sdk]'")

from claude_agent_sdk import (  # noqa: E402
    ClaudeAgentOptions,
    HookMatcher,
    PermissionResultAllow,
    PermissionResultDeny,
    ToolPermissionContext,
)
from claude_agent_sdk.types import PreToolUseHookInput  # noqa: E402

from takeover.integrations.claude_agent_sdk import KEY_PREFIX, Gate  # noqa: E402
from takeover.sdk import AsyncClient  # noqa: E402
from tests import integrations  # noqa: E402
from tests.integrations import asked, decide, pending, shown  # noqa: E402
from tests.test_sdk import Served  # noqa: E402

slow = pytest.mark.slow
served, normal = integrations.served, integrations.normal  # fixtures: the module's server, its agent in normal
REFUND = "mcp__bank__refund"
KINDS: dict[str, Any] = {REFUND: ("write", "high"), "expiring_refund": ("write", "high")}


def context() -> ToolPermissionContext:
    """What the SDK's query loop builds for a can_use_tool request (a fresh tool use id)."""
    return ToolPermissionContext(signal=None, suggestions=[], tool_use_id=f"toolu_{uuid.uuid4().hex[:16]}")


def hook_input(tool: str, tool_input: dict[str, Any]) -> PreToolUseHookInput:
    return PreToolUseHookInput(session_id="s-1", transcript_path="/tmp/t.jsonl", cwd="/tmp",
                               hook_event_name="PreToolUse", tool_name=tool, tool_input=tool_input,
                               tool_use_id=f"toolu_{uuid.uuid4().hex[:16]}")


def governed(served: Served, scenario: Any, **options: Any) -> Any:
    async def go() -> Any:
        async with served.aclient() as client:
            return await scenario(Gate(client, kinds=KINDS, **options))
    return asyncio.run(go())


def test_the_gate_fits_the_sdks_options() -> None:
    gate = Gate(AsyncClient("http://takeover.invalid", token="unused", agent="bot"))
    options = ClaudeAgentOptions(can_use_tool=gate.can_use_tool,
                                 hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[gate.pre_tool_use])]})
    assert options.can_use_tool == gate.can_use_tool
    assert gate.kinds["Read"] == ("read", "low") and gate.kinds.get("Bash") is None


@slow
def test_allowed_reads_and_refused_writes_with_the_reason(normal: Served) -> None:
    normal.set_mode("read_only")

    async def scenario(gate: Gate) -> None:
        ctx = context()
        read = await gate.can_use_tool("Read", {"file_path": "/etc/hosts"}, ctx)
        assert read == PermissionResultAllow(updated_input={"file_path": "/etc/hosts"})
        assert asked(normal, KEY_PREFIX + str(ctx.tool_use_id)) == ["action.allow"]

        refused = await gate.can_use_tool("Bash", {"command": "rm -rf /tmp/x"}, context())
        assert isinstance(refused, PermissionResultDeny) and not refused.interrupt
        assert "read_only" in refused.message and "'Bash'" in refused.message

        hooked = await gate.pre_tool_use(hook_input("Bash", {"command": "ls"}), None, {"signal": None})
        output = hooked["hookSpecificOutput"]
        assert output["permissionDecision"] == "deny" and "read_only" in output["permissionDecisionReason"]
    governed(normal, scenario)


@slow
def test_a_human_approves_with_edits_while_the_callback_waits(normal: Served) -> None:
    async def scenario(gate: Gate) -> None:
        ctx = context()
        key = KEY_PREFIX + str(ctx.tool_use_id)
        with ThreadPoolExecutor(1) as pool:
            deciding = pool.submit(lambda: decide(normal, pending(normal, key)["id"], "approve", args={"amount": 50}))
            allowed = await gate.can_use_tool(REFUND, {"order": "C-1", "amount": 120}, ctx)
            request = deciding.result(timeout=20)
        assert allowed == PermissionResultAllow(updated_input={"order": "C-1", "amount": 50})
        assert shown(normal, request["id"])["executed_at"] is not None  # it runs once

        hook = hook_input(REFUND, {"order": "C-2", "amount": 80})
        with ThreadPoolExecutor(1) as pool:
            deciding = pool.submit(lambda: decide(normal, pending(normal, KEY_PREFIX + hook["tool_use_id"])["id"],
                                                  "approve", args={"amount": 8}))
            hooked = await gate.pre_tool_use(hook, hook["tool_use_id"], {"signal": None})
            deciding.result(timeout=20)
        assert hooked["hookSpecificOutput"]["permissionDecision"] == "allow"
        assert hooked["hookSpecificOutput"]["updatedInput"] == {"order": "C-2", "amount": 8}
    governed(normal, scenario, wait_for_approval=20)


@slow
def test_rejected_expired_and_still_pending_are_denied(normal: Served) -> None:
    async def scenario(gate: Gate) -> None:
        ctx = context()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: decide(normal, pending(normal, KEY_PREFIX + str(ctx.tool_use_id))["id"], "reject",
                                       comment="not for this customer"))
            rejected = await gate.can_use_tool(REFUND, {"order": "C-3", "amount": 900}, ctx)
        assert isinstance(rejected, PermissionResultDeny) and "not for this customer" in rejected.message

        expired = await gate.can_use_tool("expiring_refund", {"order": "C-4", "amount": 1}, context())
        assert isinstance(expired, PermissionResultDeny) and "expired" in expired.message
        assert "rejected by" not in expired.message
    governed(normal, scenario, wait_for_approval=20)

    async def impatient(gate: Gate) -> None:
        ctx = context()
        waiting = await gate.can_use_tool(REFUND, {"order": "C-5", "amount": 120}, ctx)
        request = pending(normal, KEY_PREFIX + str(ctx.tool_use_id))
        assert isinstance(waiting, PermissionResultDeny) and waiting.interrupt  # the session stops here
        assert request["id"] in waiting.message and "still pending" in waiting.message
        assert asked(normal, KEY_PREFIX + str(ctx.tool_use_id)) == ["action.approval_required"]
    governed(normal, impatient, wait_for_approval=0.3)


@slow
def test_a_takeover_while_waiting_denies_the_approved_call(normal: Served) -> None:
    async def scenario(gate: Gate) -> None:
        ctx = context()

        def approve_then_take_over() -> None:
            request = pending(normal, KEY_PREFIX + str(ctx.tool_use_id))
            normal.set_mode("handoff")
            decide(normal, request["id"], "approve")
        with ThreadPoolExecutor(1) as pool:
            done = pool.submit(approve_then_take_over)
            refused = await gate.can_use_tool(REFUND, {"order": "C-6", "amount": 120}, ctx)
            done.result(timeout=20)
        assert isinstance(refused, PermissionResultDeny) and "handoff" in refused.message
    governed(normal, scenario, wait_for_approval=20)
