"""``certctl mcp``: check the options, open nothing before they are right, then serve.

Options are checked before the store is opened, so a wrong ``--toolsets`` or a missing
token fails at once with one line (exit 2 through the CLI) and no side effects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certctl_engine.errors import InvalidInput
from certctl_mcp.server import UnknownToolset, build_server, parse_toolsets

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

__all__ = ["McpOptions", "check_options", "serve"]


@dataclass(frozen=True)
class McpOptions:
    read_only: bool
    toolsets: tuple[str, ...]
    http_host: str | None = None
    http_port: int | None = None
    token: str | None = None


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidInput(f"--http wants HOST:PORT (e.g. 127.0.0.1:8765), got '{value}'", field="http")
    return host, int(port_text)


def check_options(
    *,
    read_only: bool,
    toolsets: str | None,
    http: str | None,
    token_env: str | None,
    environ: dict[str, str] | None = None,
) -> McpOptions:
    """Validated options; ``InvalidInput`` (a one-line message) for anything wrong."""
    env = os.environ if environ is None else environ
    try:
        chosen = parse_toolsets(toolsets)
    except UnknownToolset as exc:
        raise InvalidInput(str(exc), field="toolsets") from None
    if http is None:
        if token_env:
            raise InvalidInput("--token-env only applies with --http", field="token_env")
        return McpOptions(read_only=read_only, toolsets=chosen)
    host, port = _host_port(http)
    if not token_env:
        raise InvalidInput("--http needs --token-env VAR: the HTTP server is refused without a bearer token")
    token = env.get(token_env, "")
    if len(token) < 16:
        raise InvalidInput(
            f"environment variable {token_env} must hold the bearer token (16 or more characters); "
            "it is empty, unset or too short",
            field="token_env",
        )
    return McpOptions(read_only=read_only, toolsets=chosen, http_host=host, http_port=port, token=token)


def serve(engine: Engine, options: McpOptions) -> None:
    """Run the server on stdio (default) or streamable HTTP until the client or a signal ends it."""
    server = build_server(engine, read_only=options.read_only, toolsets=options.toolsets)
    if options.http_host is not None and options.http_port is not None and options.token:
        from certctl_mcp.http import serve_http

        serve_http(server, options.http_host, options.http_port, options.token)
        return
    import anyio

    anyio.run(server.run_stdio_async)
