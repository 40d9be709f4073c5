"""A tiny upstream MCP server for the gateway's tests, over stdio: `python tests/mcp_bank.py LOG`
(or streamable HTTP on 127.0.0.1: `python tests/mcp_bank.py LOG PORT`). Each call it runs is
appended to LOG as a JSON line, so a test sees what ran and how often."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

bank = MCPServer("bank", instructions="A bank's orders: look them up, refund them.")
LOG = Path(sys.argv[1])


def ran(tool: str, **args: object) -> None:
    with LOG.open("a") as out:
        out.write(json.dumps({"tool": tool, "args": args}) + "\n")


@bank.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup(order: str) -> str:
    """Look an order up."""
    ran("lookup", order=order)
    return f"{order}: paid 120"


@bank.tool(annotations=ToolAnnotations(destructive_hint=True))
def refund(order: str, amount: int) -> str:
    """Refund an order."""
    ran("refund", order=order, amount=amount)
    return f"refunded {amount} on {order}"


@bank.tool(annotations=ToolAnnotations(destructive_hint=True))
def expiring_refund(order: str, amount: int) -> str:
    """Refund an order, if a human answers within a second."""
    ran("expiring_refund", order=order, amount=amount)
    return f"refunded {amount} on {order}"


@bank.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
def note(order: str, text: str) -> str:
    """Add a note to an order."""
    ran("note", order=order, text=text)
    return f"noted on {order}"


if __name__ == "__main__":
    if len(sys.argv) > 2:
        bank.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        bank.run()
