"""certctl's MCP server: every certificate operation as a tool for AI assistants.

``build_server(engine, read_only=..., toolsets=...)`` returns an ``MCPServer``;
``certctl mcp`` checks its options with ``check_options`` and runs it with ``serve``
(stdio, or streamable HTTP behind a bearer token).
"""

from certctl_mcp.run import McpOptions, check_options, serve
from certctl_mcp.server import TOOLSETS, UnknownToolset, build_server, parse_toolsets

__all__ = ["TOOLSETS", "McpOptions", "UnknownToolset", "build_server", "check_options", "parse_toolsets", "serve"]
