"""takeover in the OpenAI Agents SDK: a real `takeover serve`, the SDK's Runner driven by its own
scripted `Model` (agents.testing.ScriptedModel: tool calls without a network), an operator
deciding over the API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

pytest.importorskip("agents", reason="the OpenAI Agents SDK is not installed: pip install 'takeover[openai-agents]'")

from agents import Agent, RunConfig, Runner, function_tool  # noqa: E402
from agents.run_state import RunState  # noqa: E402
from agents.testing import ScriptedModel, assistant_message  # noqa: E402
from agents.testing import function_call as model_calls  # noqa: E402

from takeover.integrations.openai_agents import KEY_PREFIX, Gate  # noqa: E402
from takeover.sdk import AsyncClient  # noqa: E402
from tests import integrations  # noqa: E402
from tests.integrations import asked, decide, pending, shown, wait_until_expired  # noqa: E402
from tests.test_sdk import Served  # noqa: E402

slow = pytest.mark.slow
served, normal = integrations.served, integrations.normal  # fixtures: the module's server, its agent in normal
NO_TRACES = RunConfig(tracing_disabled=True)


class Bank:
    """The agent's tools, governed, and what they did."""

    def __init__(self, gate: Gate) -> None:
        self.refunds: list[tuple[str, int]] = []
        self.looked_up: list[str] = []

        @gate.function_tool(kind="write", risk="high")
        async def refund(order: str, amount: int) -> str:
            """Refund an order."""
            self.refunds.append((order, amount))
            return f"refunded {amount} on {order}"

        @gate.function_tool(kind="write", risk="high")
        async def expiring_refund(order: str, amount: int) -> str:
            """Refund an order, if a human answers within a second."""
            self.refunds.append((order, amount))
            return f"refunded {amount} on {order}"

        @gate.function_tool(kind="read")
        def lookup(order: str) -> str:
            """Look an order up."""
            self.looked_up.append(order)
            return f"{order}: paid 120"

        self.tools = [refund, expiring_refund, lookup]


def script(tool: str, args: dict[str, Any]) -> tuple[ScriptedModel, str]:
    """A model that calls `tool` once, then answers; and the call's id (unique per test)."""
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    return ScriptedModel([[model_calls(tool, args, call_id=call_id)], [assistant_message("done")]]), call_id


def told(model: ScriptedModel, call_id: str) -> str:
    """What the model was told the call gave (the tool's output, or the refusal)."""
    last = model.last_call
    assert last is not None
    outputs = [item["output"] for item in last.input
               if isinstance(item, dict) and item.get("type") == "function_call_output" and item["call_id"] == call_id]
    assert len(outputs) == 1, last.input
    return str(outputs[0])


def run(served: Served, scenario: Any) -> Any:
    async def go() -> Any:
        async with served.aclient() as client:
            gate = Gate(client)
            return await scenario(gate, Bank(gate))
    return asyncio.run(go())


@slow
def test_an_allowed_call_runs_without_a_pause(normal: Served) -> None:
    async def scenario(gate: Gate, bank: Bank) -> None:
        model, call_id = script("lookup", {"order": "A-1"})
        result = await Runner.run(Agent(name="bot", model=model, tools=bank.tools), "look A-1 up", run_config=NO_TRACES)
        assert result.interruptions == [] and result.final_output == "done"
        assert bank.looked_up == ["A-1"] and told(model, call_id) == "A-1: paid 120"
        assert asked(normal, KEY_PREFIX + call_id) == ["action.allow"]
    run(normal, scenario)


@slow
def test_read_only_refuses_with_takeovers_reason_and_the_model_reads_it(normal: Served) -> None:
    normal.set_mode("read_only")

    async def scenario(gate: Gate, bank: Bank) -> None:
        model, call_id = script("refund", {"order": "A-2", "amount": 120})
        result = await Runner.run(Agent(name="bot", model=model, tools=bank.tools), "refund A-2", run_config=NO_TRACES)
        assert result.interruptions == [] and bank.refunds == []
        answer = told(model, call_id)
        assert "takeover refused 'refund'" in answer and "read_only" in answer, answer
        assert asked(normal, KEY_PREFIX + call_id) == ["action.deny"]
    run(normal, scenario)


@slow
def test_an_approval_pauses_the_run_durably_and_the_edited_arguments_run_once(normal: Served) -> None:
    async def scenario(gate: Gate, bank: Bank) -> None:
        model, call_id = script("refund", {"order": "A-3", "amount": 120})
        agent = Agent(name="bot", model=model, tools=bank.tools)
        result = await Runner.run(agent, "refund A-3", run_config=NO_TRACES)
        assert [item.call_id for item in result.interruptions] == [call_id] and bank.refunds == []
        request = pending(normal, KEY_PREFIX + call_id)
        assert await gate.approval_id(result.interruptions[0]) == request["id"]
        assert request["args"]["proposed"] == {"order": "A-3", "amount": 120}

        # the pause is the SDK's own: the state goes to JSON and comes back, as a run waiting hours would
        saved = result.to_state().to_json()
        assert await gate.resume(await RunState.from_json(agent, saved)) == {call_id: "pending"}
        decide(normal, request["id"], "approve", args={"amount": 50})
        state = await RunState.from_json(agent, saved)
        assert await gate.resume(state, wait=5) == {call_id: "approved"}
        result = await Runner.run(agent, state, run_config=NO_TRACES)
        assert result.final_output == "done" and result.interruptions == []
        assert bank.refunds == [("A-3", 50)] and told(model, call_id) == "refunded 50 on A-3"
        keyed = asked(normal, KEY_PREFIX + call_id)
        assert keyed[0] == "action.approval_required" and "action.allow" not in keyed
        assert shown(normal, request["id"])["executed_at"] is not None  # confirmed once, when it ran
    run(normal, scenario)


@slow
def test_a_rejection_is_the_tools_answer_with_the_humans_comment(normal: Served) -> None:
    async def scenario(gate: Gate, bank: Bank) -> None:
        model, call_id = script("refund", {"order": "A-4", "amount": 900})
        agent = Agent(name="bot", model=model, tools=bank.tools)
        result = await Runner.run(agent, "refund A-4", run_config=NO_TRACES)
        decide(normal, pending(normal, KEY_PREFIX + call_id)["id"], "reject", comment="not for this customer")
        state = result.to_state()
        assert await gate.resume(state, wait=5) == {call_id: "rejected"}
        result = await Runner.run(agent, state, run_config=NO_TRACES)
        assert bank.refunds == [] and "not for this customer" in told(model, call_id)
    run(normal, scenario)


@slow
def test_an_expired_request_is_a_rejection_that_says_it_expired(normal: Served) -> None:
    async def scenario(gate: Gate, bank: Bank) -> None:
        model, call_id = script("expiring_refund", {"order": "A-5", "amount": 120})
        agent = Agent(name="bot", model=model, tools=bank.tools)
        result = await Runner.run(agent, "refund A-5", run_config=NO_TRACES)
        wait_until_expired(normal, pending(normal, KEY_PREFIX + call_id)["id"])
        state = result.to_state()
        assert await gate.resume(state) == {call_id: "rejected"}
        await Runner.run(agent, state, run_config=NO_TRACES)
        answer = told(model, call_id)
        assert bank.refunds == [] and "expired" in answer and "rejected by" not in answer
    run(normal, scenario)


@slow
def test_a_takeover_while_paused_refuses_on_resume_even_after_an_approval(normal: Served) -> None:
    async def scenario(gate: Gate, bank: Bank) -> None:
        for order in ("A-6", "A-7"):
            model, call_id = script("refund", {"order": order, "amount": 120})
            agent = Agent(name="bot", model=model, tools=bank.tools)
            result = await Runner.run(agent, f"refund {order}", run_config=NO_TRACES)
            request = pending(normal, KEY_PREFIX + call_id)
            state = result.to_state()
            if order == "A-6":  # taken over before anyone answered: resume rejects
                normal.set_mode("handoff")
                assert await gate.resume(state, wait=1) == {call_id: "rejected"}
            else:  # approved, resumed, then taken over before the run goes on: the guardrail refuses
                decide(normal, request["id"], "approve")
                assert await gate.resume(state, wait=1) == {call_id: "approved"}
                normal.set_mode("read_only")
            await Runner.run(agent, state, run_config=NO_TRACES)
            assert "takeover refused 'refund'" in told(model, call_id)
            normal.set_mode("normal")
        assert bank.refunds == []
    run(normal, scenario)


def unstarted() -> AsyncClient:
    return AsyncClient("http://takeover.invalid", token="unused", agent="bot")  # no request before start()


def test_a_tool_that_already_decides_its_approval_is_refused() -> None:
    @function_tool(needs_approval=True)
    def wire(amount: int) -> str:
        """Wire money."""
        return "sent"

    with pytest.raises(ValueError, match="already has needs_approval"):
        Gate(unstarted()).govern(wire)


def test_kinds_are_declared_in_one_place_or_per_tool() -> None:
    gate = Gate(unstarted(), kinds={"lookup": "read", "refund": ("write", "high"), "wire": "read"})
    for name in ("lookup", "refund", "other"):
        gate.govern(function_tool(lambda order: order, name_override=name))
    gate.govern(function_tool(lambda order: order, name_override="wire"), kind="write", risk="high")
    assert {n: (a.kind, a.risk) for n, a in gate.actions.items()} == {
        "lookup": ("read", "low"), "refund": ("write", "high"), "other": ("write", "low"), "wire": ("write", "high")}
