"""takeover in the OpenAI Agents SDK (`pip install 'takeover[openai-agents]'`), by the SDK's own idiom.

    gate = Gate(client)                                  # a started takeover.sdk.AsyncClient
    refund = gate.function_tool(kind="write", risk="high")(refund)
    result = await Runner.run(agent, "refund A-1")
    while result.interruptions:                          # takeover asked a human: a durable pause
        state = result.to_state()                        # serialisable (state.to_json())
        await gate.resume(state, wait=300)               # state.approve / state.reject as they decided
        result = await Runner.run(agent, state)

A governed tool's `needs_approval` asks takeover before the call (the call id is the
idempotency key): allowed → no approval; a mode or policy that refuses → its tool input
guardrail answers `reject_content` with takeover's reason, so the model reads why; a human must
decide → `needs_approval` is True and the run stops with a `ToolApprovalItem` in
`result.interruptions` (`await gate.approval_id(item)` names takeover's request). `resume` waits for
takeover's decision on each pending item: approved → `state.approve(item)`; rejected, expired, or
refused since (a takeover while paused) → `state.reject(item, rejection_message=reason)`. When the
approved call runs, the guardrail asks again, confirms the approval (it runs once) and the tool
gets the approver's edited arguments.
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from takeover.sdk import Action, AsyncClient, Variant
from takeover.sdk.model import Kind, Risk

from .verdict import Allowed, Declared, Pending, Refused, Verdict, aask, arguments, declared

try:
    from agents import FunctionTool, RunContextWrapper, ToolGuardrailFunctionOutput, ToolInputGuardrail
    from agents import function_tool as agents_function_tool
    from agents.items import ToolApprovalItem
    from agents.run_state import RunState
    from agents.tool_context import ToolContext
    from agents.tool_guardrails import ToolInputGuardrailData
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("takeover.integrations.openai_agents needs the OpenAI Agents SDK: "
                      "pip install 'takeover[openai-agents]'") from exc

__all__ = ["Gate", "KEY_PREFIX"]

KEY_PREFIX = "openai-agents:"  # idempotency keys are this and the model's call id
REMEMBERED = 1024  # verdicts kept between needs_approval and the call (a run may never make it)


class Gate:
    """Governs function tools of one agent through a started `AsyncClient`.

    `kinds` declares tools in one place (`{"lookup": "read", "refund": ("write", "high")}`); an
    argument of `function_tool`/`govern` wins; undeclared tools are low-risk writes, as the guard's default.
    `variant` is sent with every action, so the audit trail says which version acted."""

    def __init__(self, client: AsyncClient, *, kinds: Declared | None = None,
                 variant: Variant | None = None) -> None:
        self.client, self.variant = client, variant
        self.kinds = declared(kinds)
        self.actions: dict[str, Action] = {}  # tool name -> the action template it is asked as
        self._verdicts: OrderedDict[str, Verdict] = OrderedDict()  # call id -> verdict not yet acted on

    def function_tool(self, *, kind: Kind | None = None, risk: Risk | None = None, action: str | None = None,
                      **options: Any) -> Callable[[Callable[..., Any]], FunctionTool]:
        """`agents.function_tool(**options)`, governed by takeover (see `govern`)."""
        def decorate(fn: Callable[..., Any]) -> FunctionTool:
            return self.govern(agents_function_tool(fn, **options), kind=kind, risk=risk, action=action)
        return decorate

    def govern(self, tool: FunctionTool, *, kind: Kind | None = None, risk: Risk | None = None,
               action: str | None = None) -> FunctionTool:
        """A copy of `tool` that asks takeover before it runs: its `needs_approval`, a tool input
        guardrail in front of the tool's own, and an invoker that applies the approver's edits."""
        if tool.needs_approval is not False:
            raise ValueError(f"tool {tool.name!r} already has needs_approval: takeover decides that")
        declared_kind, declared_risk = self.kinds.get(tool.name, ("write", "low"))
        self.actions[tool.name] = Action(name=action or tool.name, kind=kind or declared_kind,
                                         risk=risk or declared_risk, variant=self.variant)
        governed = copy.copy(tool)
        invoke = tool.on_invoke_tool

        async def needs_approval(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
            verdict = await self._ask(tool.name, params, call_id, execute=True)
            if isinstance(verdict, Pending):
                return True
            self._remember(call_id, verdict)
            return False

        async def guard(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
            call_id = data.context.tool_call_id
            verdict = self._verdicts.pop(call_id, None)
            if verdict is None:  # resumed after a human decided: ask again, and confirm the approval
                verdict = await self._ask(tool.name, arguments(data.context.tool_arguments), call_id, execute=True)
            if isinstance(verdict, Allowed):
                self._remember(call_id, verdict)
                return ToolGuardrailFunctionOutput.allow({"approval_id": verdict.permit.approval_id})
            if isinstance(verdict, Pending):
                return ToolGuardrailFunctionOutput.reject_content(
                    f"takeover: approval request {verdict.approval_id} is still pending", {"approval_id": verdict.approval_id})
            return ToolGuardrailFunctionOutput.reject_content(verdict.reason)

        async def on_invoke_tool(ctx: ToolContext[Any], raw: str) -> Any:
            verdict = self._verdicts.pop(ctx.tool_call_id, None)
            if not isinstance(verdict, Allowed):  # only the guardrail's allow lets it run
                return "takeover: the call was not allowed"
            if verdict.edits:
                raw = json.dumps({**arguments(raw), **verdict.edits})
            return await invoke(ctx, raw)

        governed.needs_approval = needs_approval
        governed.tool_input_guardrails = [ToolInputGuardrail(guardrail_function=guard, name="takeover"),
                                          *(tool.tool_input_guardrails or [])]
        governed.on_invoke_tool = on_invoke_tool
        return governed

    async def resume(self, state: RunState[Any, Any], *, wait: float = 0.0) -> dict[str, str]:
        """Apply takeover's decision to each of the run's pending approvals of governed tools,
        waiting up to `wait` seconds per item for a human: approved → `state.approve(item)`;
        rejected, expired or refused since → `state.reject(item, rejection_message=takeover's
        reason)`; still pending or takeover unreachable → left pending. Returns call id → approved,
        rejected or pending. Then `Runner.run(agent, state)` goes on."""
        outcome: dict[str, str] = {}
        for item in state.get_interruptions():
            if item.tool_name not in self.actions or item.call_id is None:
                continue
            try:
                args = arguments(item.arguments)
            except ValueError as exc:
                state.reject(item, rejection_message=f"takeover: unreadable arguments: {exc}")
                outcome[item.call_id] = "rejected"
                continue
            verdict = await self._ask(item.tool_name, args, item.call_id, wait=wait, execute=False)
            if isinstance(verdict, Allowed):
                state.approve(item)
                outcome[item.call_id] = "approved"
            elif isinstance(verdict, Refused) and not verdict.unheard:
                state.reject(item, rejection_message=verdict.reason)
                outcome[item.call_id] = "rejected"
            else:
                outcome[item.call_id] = "pending"
        return outcome

    async def approval_id(self, item: ToolApprovalItem) -> str | None:
        """Takeover's approval request behind a pending item (None when none is pending)."""
        if item.tool_name not in self.actions or item.call_id is None:
            return None
        verdict = await self._ask(item.tool_name, arguments(item.arguments), item.call_id, execute=False)
        if isinstance(verdict, Pending):
            return verdict.approval_id
        return verdict.permit.approval_id if isinstance(verdict, Allowed) else None

    async def _ask(self, tool: str, args: Mapping[str, Any], call_id: str, *, wait: float = 0.0,
                   execute: bool) -> Verdict:
        template = self.actions[tool]
        act = Action(name=template.name, kind=template.kind, risk=template.risk, args=dict(args),
                     idempotency_key=f"{KEY_PREFIX}{call_id}", variant=template.variant)
        return await aask(self.client, act, wait=wait, execute=execute)

    def _remember(self, call_id: str, verdict: Verdict) -> None:
        self._verdicts[call_id] = verdict
        while len(self._verdicts) > REMEMBERED:
            self._verdicts.popitem(last=False)
