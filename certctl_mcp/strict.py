"""Unknown tool arguments are an error, not silently dropped.

The SDK ignores arguments a tool does not declare, so a misspelt filter
(``expiring_days=30``) would quietly list everything. This middleware answers such a call
with an ``isError`` result naming the unknown arguments and the ones the tool takes.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent

__all__ = ["StrictArguments"]


class StrictArguments:
    """Server middleware refusing ``tools/call`` arguments that are not in the tool's input schema."""

    def __init__(self, server: MCPServer) -> None:
        self._server = server
        self._known: dict[str, frozenset[str]] | None = None

    async def _parameters(self) -> dict[str, frozenset[str]]:
        if self._known is None:
            self._known = {
                tool.name: frozenset((tool.input_schema or {}).get("properties", {}))
                for tool in await self._server.list_tools()
            }
        return self._known

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.params:
            name = ctx.params.get("name")
            arguments = ctx.params.get("arguments") or {}
            known = (await self._parameters()).get(str(name))
            if known is not None and isinstance(arguments, dict):
                unknown = sorted(set(arguments) - known)
                if unknown:
                    takes = ", ".join(sorted(known)) or "no arguments"
                    text = (
                        f"Error executing tool {name}: invalid_input: unknown argument(s) "
                        f"{', '.join(repr(u) for u in unknown)}. Hint: {name} takes {takes}"
                    )
                    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return await call_next(ctx)
