"""Streamable HTTP transport behind a bearer token.

The SDK's streamable HTTP app is wrapped in a small ASGI layer that refuses every HTTP
request without ``Authorization: Bearer <token>`` (401, ``WWW-Authenticate: Bearer``)
before it reaches the MCP session manager. The token is compared in constant time and
never logged. Lifespan events pass through so the session manager starts and stops.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from mcp.server.mcpserver import MCPServer

__all__ = ["BearerAuth", "http_app", "serve_http"]

MCP_PATH = "/mcp"

Scope = dict[str, Any]


class BearerAuth:
    """ASGI middleware: HTTP requests need the bearer token; anything else passes."""

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("the bearer token must not be empty")
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await self._refuse(send)
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                return hmac.compare_digest(value, self._expected)
        return False

    @staticmethod
    async def _refuse(send: Any) -> None:
        body = json.dumps(
            {"error": "unauthorized", "error_description": "send the server's token as 'Authorization: Bearer <token>'"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="certctl"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def http_app(server: MCPServer, token: str, *, host: str = "127.0.0.1") -> BearerAuth:
    """The server's streamable HTTP app (at /mcp) behind the bearer token."""
    return BearerAuth(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), token)


def serve_http(server: MCPServer, host: str, port: int, token: str) -> None:
    """Serve until interrupted (uvicorn)."""
    import uvicorn

    uvicorn.run(http_app(server, token, host=host), host=host, port=port, log_level="warning")
