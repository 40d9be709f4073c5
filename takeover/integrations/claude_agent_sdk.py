"""takeover in the Claude Agent SDK (`pip install 'takeover[claude-agent-sdk]'`): `can_use_tool` and a
`PreToolUse` hook built from takeover's decision.

    gate = Gate(client, kinds={"mcp__bank__refund": ("write", "high")}, wait_for_approval=300)
    options = ClaudeAgentOptions(can_use_tool=gate.can_use_tool)
    # or: ClaudeAgentOptions(hooks={"PreToolUse": [HookMatcher(hooks=[gate.pre_tool_use])]})

Each call is asked of takeover (the tool use id is the idempotency key): allowed →
`PermissionResultAllow` (a hook: `permissionDecision: "allow"`); a mode or policy that refuses →
`PermissionResultDeny(message=reason)` (`"deny"` with the reason), which Claude reads. A call a
human must decide waits for takeover's answer, up to `wait_for_approval` seconds — an asyncio
wait, no thread held — approved → allowed with the approver's edited input (`updated_input`,
`updatedInput`), confirmed so it runs once; rejected (the comment) or expired → denied. The SDK
has no durable pause for one tool call: still pending at the end of the wait, the call is denied
with `interrupt=True` (the session stops; the hook denies), naming takeover's request.
Claude Code's read-only tools are declared reads; any other tool is a low-risk write unless `kinds` says.
"""

from __future__ import annotations

from typing import Any

from takeover.sdk import Action, AsyncClient, Variant

from .verdict import Allowed, Declared, Pending, Verdict, aask, declared

try:
    from claude_agent_sdk import (
        HookContext,
        PermissionResultAllow,
        PermissionResultDeny,
        ToolPermissionContext,
    )
    from claude_agent_sdk.types import HookInput, PermissionResult, SyncHookJSONOutput
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("takeover.integrations.claude_agent_sdk needs the Claude Agent SDK: "
                      "pip install 'takeover[claude-agent-sdk]'") from exc

__all__ = ["CLAUDE_CODE_READS", "Gate", "KEY_PREFIX"]

KEY_PREFIX = "claude:"  # idempotency keys are this and the tool use id
CLAUDE_CODE_READS = ("Read", "Glob", "Grep", "LS", "NotebookRead", "WebSearch", "WebFetch", "TodoRead")


class Gate:
    """Governs the tool calls of one agent through a started `AsyncClient`. `kinds` declares tools
    (by the names Claude uses, `mcp__server__tool` for MCP tools) in one place; `variant` is sent
    with every action, for the audit trail."""

    def __init__(self, client: AsyncClient, *, kinds: Declared | None = None, wait_for_approval: float = 0.0,
                 variant: Variant | None = None) -> None:
        self.client, self.variant, self.wait_for_approval = client, variant, wait_for_approval
        self.kinds = {**{name: ("read", "low") for name in CLAUDE_CODE_READS}, **declared(kinds)}

    async def can_use_tool(self, tool_name: str, tool_input: dict[str, Any],
                           context: ToolPermissionContext) -> PermissionResult:
        """`ClaudeAgentOptions(can_use_tool=gate.can_use_tool)`."""
        verdict = await self._ask(tool_name, tool_input, context.tool_use_id)
        if isinstance(verdict, Allowed):
            return PermissionResultAllow(updated_input=dict(verdict.permit.args))
        if isinstance(verdict, Pending):
            return PermissionResultDeny(message=still_pending(verdict), interrupt=True)
        return PermissionResultDeny(message=verdict.reason)

    async def pre_tool_use(self, input_data: HookInput, tool_use_id: str | None,
                           context: HookContext) -> SyncHookJSONOutput:
        """A `PreToolUse` hook: `HookMatcher(hooks=[gate.pre_tool_use])`."""
        if input_data["hook_event_name"] != "PreToolUse":
            return {}
        verdict = await self._ask(input_data["tool_name"], input_data["tool_input"],
                                  tool_use_id or input_data["tool_use_id"])
        if isinstance(verdict, Allowed):
            return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow",
                                           "permissionDecisionReason": "takeover allowed it",
                                           "updatedInput": dict(verdict.permit.args)}}
        reason = still_pending(verdict) if isinstance(verdict, Pending) else verdict.reason
        return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                       "permissionDecisionReason": reason}}

    async def _ask(self, tool: str, tool_input: dict[str, Any], tool_use_id: str | None) -> Verdict:
        kind, risk = self.kinds.get(tool, ("write", "low"))
        act = Action(name=tool, kind=kind, risk=risk, args=dict(tool_input),
                     idempotency_key=None if tool_use_id is None else f"{KEY_PREFIX}{tool_use_id}",
                     variant=self.variant)
        return await aask(self.client, act, wait=self.wait_for_approval)


def still_pending(pending: Pending) -> str:
    return (f"takeover: approval request {pending.approval_id} is still pending ({pending.reason}); "
            f"the call did not run")
