"""takeover in LangGraph (`pip install 'takeover[langgraph]'`): a `ToolNode` wrapper and `interrupt()`.

    gate = Gate(client, kinds={"lookup": "read", "refund": ("write", "high")})
    tools = ToolNode([lookup, refund], wrap_tool_call=gate.wrap_tool_call)  # or gate.tool_node([...])
    graph = builder.compile(checkpointer=InMemorySaver())
    result = graph.invoke({"messages": [...]}, config)
    while "__interrupt__" in result:                      # takeover asked a human: a checkpoint
        if decided := gate.decisions(graph, config, wait=300):
            result = graph.invoke(Command(resume=decided), config)

Each tool call is asked of takeover (the model's tool call id is the idempotency key): allowed →
the tool runs; a mode or policy that refuses → a `ToolMessage` with `status="error"` and
takeover's reason, which the model reads; a human must decide → `interrupt({"takeover": {...,
"approval_id"}})`, so the graph stops at its checkpoint (durable with any checkpointer).
`decisions` waits for takeover's decision on each such interrupt and gives the `Command(resume=)`
mapping; when the node runs again the call is asked again: approved → it runs once with the
approver's edited arguments; rejected (the comment), expired, or refused since (a takeover
while paused) → the error ToolMessage with the reason. A resume nobody decided in takeover
pauses again: only takeover's answer lets the call run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from takeover.sdk import Action, AsyncClient, Client, Variant

from .verdict import Allowed, Declared, Pending, Refused, Verdict, aask, ask, declared

try:
    from langchain_core.messages import ToolMessage
    from langchain_core.tools import BaseTool
    from langgraph.prebuilt import ToolNode
    from langgraph.prebuilt.tool_node import ToolCallRequest
    from langgraph.types import Command, interrupt
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError("takeover.integrations.langgraph needs LangGraph: pip install 'takeover[langgraph]'") from exc

__all__ = ["Gate", "KEY_PREFIX", "PAYLOAD"]

KEY_PREFIX = "langgraph:"  # idempotency keys are this and the model's tool call id
PAYLOAD = "takeover"  # the key of takeover's interrupt values: {"takeover": {"approval_id", "action", ...}}
Result = ToolMessage | Command[Any]


class Gate:
    """Governs the tool calls of one agent through a started `Client` (sync graphs) or
    `AsyncClient` (`ainvoke`); `kinds` declares the tools' kind and risk in one place (undeclared:
    low-risk writes). `variant` is sent with every action, for the audit trail."""

    def __init__(self, client: Client | AsyncClient, *, kinds: Declared | None = None,
                 variant: Variant | None = None) -> None:
        self.client, self.kinds, self.variant = client, declared(kinds), variant

    def tool_node(self, tools: Sequence[BaseTool | Callable[..., Any]], **options: Any) -> ToolNode:
        """`ToolNode(tools, **options)` with every call governed."""
        return ToolNode(tools, wrap_tool_call=self.wrap_tool_call, awrap_tool_call=self.awrap_tool_call, **options)

    def action(self, request: ToolCallRequest) -> Action:
        """What takeover is asked: the tool's name, its declared kind and risk, the call's arguments."""
        call = request.tool_call
        kind, risk = self.kinds.get(call["name"], ("write", "low"))
        return Action(name=call["name"], kind=kind, risk=risk, args=dict(call["args"]),
                      idempotency_key=f"{KEY_PREFIX}{call['id']}", variant=self.variant)

    def wrap_tool_call(self, request: ToolCallRequest, execute: Callable[[ToolCallRequest], Result]) -> Result:
        """ToolNode's `wrap_tool_call`: ask takeover, then run, refuse or interrupt."""
        if not isinstance(self.client, Client):
            raise TypeError("a sync graph needs a takeover.sdk.Client; AsyncClient is for ainvoke")
        act = self.action(request)
        verdict = ask(self.client, act)
        while isinstance(verdict, Pending):  # resumed without a decision in takeover: pause again
            interrupt(pause(act, verdict))
            verdict = ask(self.client, act)
        return execute(edited(request, verdict)) if isinstance(verdict, Allowed) else refusal(request, verdict)

    async def awrap_tool_call(self, request: ToolCallRequest,
                              execute: Callable[[ToolCallRequest], Awaitable[Result]]) -> Result:
        """ToolNode's `awrap_tool_call`, for `ainvoke` with an AsyncClient."""
        if not isinstance(self.client, AsyncClient):
            raise TypeError("ainvoke needs a takeover.sdk.AsyncClient; Client is for invoke")
        act = self.action(request)
        verdict = await aask(self.client, act)
        while isinstance(verdict, Pending):
            interrupt(pause(act, verdict))
            verdict = await aask(self.client, act)
        return await execute(edited(request, verdict)) if isinstance(verdict, Allowed) else refusal(request, verdict)

    def decisions(self, graph: Any, config: Any, *, wait: float = 0.0) -> dict[str, Any]:
        """The `Command(resume=...)` mapping for the graph's takeover interrupts a human has
        decided (waiting up to `wait` seconds for each): interrupt id → {"decision": "approved" |
        "rejected", "reason"}. Empty while none is decided (or takeover cannot be reached)."""
        if not isinstance(self.client, Client):
            raise TypeError("decisions needs a takeover.sdk.Client; use adecisions with an AsyncClient")
        decided = {}
        for interrupt_id, act in takeover_interrupts(graph.get_state(config)):
            answer = resume_value(ask(self.client, replace(act, variant=self.variant), wait=wait, execute=False))
            if answer is not None:
                decided[interrupt_id] = answer
        return decided

    async def adecisions(self, graph: Any, config: Any, *, wait: float = 0.0) -> dict[str, Any]:
        """`decisions` for an AsyncClient (and `graph.aget_state`)."""
        if not isinstance(self.client, AsyncClient):
            raise TypeError("adecisions needs a takeover.sdk.AsyncClient")
        decided = {}
        for interrupt_id, act in takeover_interrupts(await graph.aget_state(config)):
            answer = resume_value(await aask(self.client, replace(act, variant=self.variant), wait=wait,
                                             execute=False))
            if answer is not None:
                decided[interrupt_id] = answer
        return decided


def pause(act: Action, pending: Pending) -> dict[str, Any]:
    """The interrupt's value: takeover's request, and what is needed to ask about it again."""
    return {PAYLOAD: {"approval_id": pending.approval_id, "action": act.name, "kind": act.kind, "risk": act.risk,
                      "args": dict(act.args), "idempotency_key": act.idempotency_key, "reason": pending.reason}}


def takeover_interrupts(snapshot: Any) -> list[tuple[str, Action]]:
    """The snapshot's pending takeover interrupts: (interrupt id, the action it paused)."""
    found = []
    for pending in getattr(snapshot, "interrupts", ()):
        value = pending.value.get(PAYLOAD) if isinstance(pending.value, dict) else None
        if isinstance(value, dict):
            found.append((str(pending.id), Action(name=value["action"], kind=value["kind"], risk=value["risk"],
                                                  args=value["args"], idempotency_key=value["idempotency_key"])))
    return found


def resume_value(verdict: Verdict) -> dict[str, str] | None:
    """What `Command(resume=)` carries for a decided interrupt (the node asks takeover again anyway)."""
    if isinstance(verdict, Allowed):
        return {"decision": "approved", "reason": verdict.permit.comment or ""}
    if isinstance(verdict, Refused) and not verdict.unheard:
        return {"decision": "rejected", "reason": verdict.reason}
    return None


def edited(request: ToolCallRequest, allowed: Allowed) -> ToolCallRequest:
    """The request with the approver's edits on top of the model's arguments."""
    if not allowed.edits:
        return request
    call = request.tool_call
    return request.override(tool_call={**call, "args": {**call["args"], **allowed.edits}})


def refusal(request: ToolCallRequest, refused: Refused) -> ToolMessage:
    """The tool's answer when takeover refuses: an error ToolMessage carrying the reason."""
    call = request.tool_call
    return ToolMessage(content=refused.reason, name=call["name"], tool_call_id=call["id"] or "", status="error")
