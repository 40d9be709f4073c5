"""takeover in LangGraph: a real `takeover serve`, a scripted graph (a model node that emits tool
calls, no LLM) with a ToolNode governed by the Gate and an in-memory checkpointer, an operator
deciding over the API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

pytest.importorskip("langgraph", reason="LangGraph is not installed: pip install 'takeover[langgraph]'")

from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import tools_condition  # noqa: E402
from langgraph.types import Command  # noqa: E402

from takeover.integrations.langgraph import KEY_PREFIX, PAYLOAD, Gate  # noqa: E402
from tests import integrations  # noqa: E402
from tests.integrations import asked, decide, pending, shown, wait_until_expired  # noqa: E402
from tests.test_sdk import Served  # noqa: E402

slow = pytest.mark.slow
served, normal = integrations.served, integrations.normal  # fixtures: the module's server, its agent in normal
KINDS: dict[str, Any] = {"lookup": "read", "refund": ("write", "high"), "expiring_refund": ("write", "high")}


class Bank:
    """A graph whose model node calls one tool once, then says done; what the tools did."""

    def __init__(self, gate: Gate, name: str, args: dict[str, Any]) -> None:
        self.refunds: list[tuple[str, int]] = []
        self.looked_up: list[str] = []
        self.call_id = f"call_{uuid.uuid4().hex[:12]}"
        self.config: Any = {"configurable": {"thread_id": self.call_id}}

        @tool
        def refund(order: str, amount: int) -> str:
            """Refund an order."""
            self.refunds.append((order, amount))
            return f"refunded {amount} on {order}"

        @tool
        def expiring_refund(order: str, amount: int) -> str:
            """Refund an order, if a human answers within a second."""
            self.refunds.append((order, amount))
            return f"refunded {amount} on {order}"

        @tool
        def lookup(order: str) -> str:
            """Look an order up."""
            self.looked_up.append(order)
            return f"{order}: paid 120"

        def model(state: MessagesState) -> dict[str, Any]:
            if isinstance(state["messages"][-1], ToolMessage):
                return {"messages": [AIMessage(content="done")]}
            return {"messages": [AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": self.call_id}])]}

        builder = StateGraph(MessagesState)
        builder.add_node("model", model)
        builder.add_node("tools", gate.tool_node([refund, expiring_refund, lookup]))
        builder.add_edge(START, "model")
        builder.add_conditional_edges("model", tools_condition)
        builder.add_edge("tools", "model")
        self.graph = builder.compile(checkpointer=InMemorySaver())

    def start(self) -> dict[str, Any]:
        return dict(self.graph.invoke({"messages": [("user", "go")]}, self.config))

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.call_id

    def told(self) -> ToolMessage:
        """The tool's answer the model read."""
        messages = self.graph.get_state(self.config).values["messages"]
        answers = [m for m in messages if isinstance(m, ToolMessage) and m.tool_call_id == self.call_id]
        assert len(answers) == 1, messages
        return answers[0]


@slow
def test_an_allowed_call_runs(normal: Served) -> None:
    with normal.client() as client:
        bank = Bank(Gate(client, kinds=KINDS), "lookup", {"order": "B-1"})
        result = bank.start()
    assert "__interrupt__" not in result and result["messages"][-1].content == "done"
    assert bank.looked_up == ["B-1"] and bank.told().content == "B-1: paid 120"
    assert asked(normal, bank.key) == ["action.allow"]


@slow
def test_read_only_answers_with_an_error_tool_message_carrying_the_reason(normal: Served) -> None:
    normal.set_mode("read_only")
    with normal.client() as client:
        bank = Bank(Gate(client, kinds=KINDS), "refund", {"order": "B-2", "amount": 120})
        result = bank.start()
    answer = bank.told()
    assert "__interrupt__" not in result and bank.refunds == []
    assert answer.status == "error" and "read_only" in str(answer.content) and "refund" in str(answer.content)
    assert asked(normal, bank.key) == ["action.deny"]


@slow
def test_an_approval_interrupts_at_the_checkpoint_and_the_edited_arguments_run_once(normal: Served) -> None:
    with normal.client() as client:
        gate = Gate(client, kinds=KINDS)
        bank = Bank(gate, "refund", {"order": "B-3", "amount": 120})
        result = bank.start()
        [paused] = result["__interrupt__"]
        request = pending(normal, bank.key)
        assert paused.value[PAYLOAD]["approval_id"] == request["id"] and bank.refunds == []
        assert gate.decisions(bank.graph, bank.config) == {}  # nobody decided yet

        # resumed by hand without a decision in takeover: it pauses again, the tool does not run
        result = bank.graph.invoke(Command(resume={paused.id: {"decision": "approved"}}), bank.config)
        assert "__interrupt__" in result and bank.refunds == []

        decide(normal, request["id"], "approve", args={"amount": 50})
        decided = gate.decisions(bank.graph, bank.config, wait=5)
        assert [value["decision"] for value in decided.values()] == ["approved"]
        result = bank.graph.invoke(Command(resume=decided), bank.config)
    assert "__interrupt__" not in result and result["messages"][-1].content == "done"
    assert bank.refunds == [("B-3", 50)] and bank.told().content == "refunded 50 on B-3"
    assert shown(normal, request["id"])["executed_at"] is not None
    assert set(asked(normal, bank.key)) == {"action.approval_required"}


@slow
def test_a_rejection_and_an_expiry_are_the_tools_error_answer(normal: Served) -> None:
    with normal.client() as client:
        gate = Gate(client, kinds=KINDS)
        rejected = Bank(gate, "refund", {"order": "B-4", "amount": 900})
        rejected.start()
        decide(normal, pending(normal, rejected.key)["id"], "reject", comment="not for this customer")
        rejected.graph.invoke(Command(resume=gate.decisions(rejected.graph, rejected.config, wait=5)), rejected.config)

        expired = Bank(gate, "expiring_refund", {"order": "B-5", "amount": 120})
        expired.start()
        wait_until_expired(normal, pending(normal, expired.key)["id"])
        expired.graph.invoke(Command(resume=gate.decisions(expired.graph, expired.config)), expired.config)
    assert rejected.refunds == [] and expired.refunds == []
    assert rejected.told().status == "error" and "not for this customer" in str(rejected.told().content)
    assert expired.told().status == "error" and "expired" in str(expired.told().content)
    assert "rejected by" not in str(expired.told().content)


@slow
def test_a_takeover_while_paused_refuses_on_resume_even_after_an_approval(normal: Served) -> None:
    with normal.client() as client:
        gate = Gate(client, kinds=KINDS)
        bank = Bank(gate, "refund", {"order": "B-6", "amount": 120})
        bank.start()
        request = pending(normal, bank.key)
        decide(normal, request["id"], "approve")
        decided = gate.decisions(bank.graph, bank.config, wait=5)
        normal.set_mode("handoff")
        bank.graph.invoke(Command(resume=decided), bank.config)
    assert bank.refunds == [] and bank.told().status == "error" and "handoff" in str(bank.told().content)
    assert shown(normal, request["id"])["executed_at"] is None


@slow
def test_an_async_graph_with_the_async_client(normal: Served) -> None:
    async def scenario() -> tuple[Bank, Any]:
        async with normal.aclient() as client:
            gate = Gate(client, kinds=KINDS)
            bank = Bank(gate, "refund", {"order": "B-7", "amount": 120})
            result = await bank.graph.ainvoke({"messages": [("user", "go")]}, bank.config)
            assert "__interrupt__" in result
            decide(normal, pending(normal, bank.key)["id"], "approve", args={"amount": 70})
            decided = await gate.adecisions(bank.graph, bank.config, wait=5)
            return bank, await bank.graph.ainvoke(Command(resume=decided), bank.config)
    bank, result = asyncio.run(scenario())
    assert result["messages"][-1].content == "done" and bank.refunds == [("B-7", 70)]
