"""A minimal upstream MCP server over stdio for bench/mcp_gateway.py: one read tool."""

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

upstream = MCPServer("orders")


@upstream.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup(order: str) -> str:
    """Look an order up."""
    return f"{order}: paid 120"


if __name__ == "__main__":
    upstream.run()
