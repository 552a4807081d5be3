"""`certctl mcp --http` on loopback: refused without the bearer token (401), works with it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from conftest import CLIENT
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_mcp_stdio import certctl_command

TOKEN = "test-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(demo_home: Path) -> Iterator[str]:
    port = _free_port()
    command, args = certctl_command(
        "--db", str(demo_home / "certctl.db"), "mcp", "--http", f"127.0.0.1:{port}", "--token-env", "CERTCTL_MCP_TOKEN"
    )
    env = {**os.environ, "CERTCTL_HOME": str(demo_home), "CERTCTL_MCP_TOKEN": TOKEN}
    proc = subprocess.Popen([command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"certctl mcp --http exited with {proc.returncode}: {err.decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("certctl mcp --http did not start listening within 20 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_without_or_with_a_wrong_token_401(http_server: str) -> None:
    for headers in (HEADERS, {**HEADERS, "Authorization": "Bearer wrong-token"}, {**HEADERS, "Authorization": TOKEN}):
        response = httpx.post(http_server, json=INIT, headers=headers, timeout=10)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in response.text
    assert httpx.get(http_server, timeout=10).status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_with_the_token_it_works(http_server: str) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http,
        Client(streamable_http_client(http_server, http_client=http), client_info=CLIENT) as client,
    ):
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "list_certificates" in tools
        result = await client.call_tool("dashboard_summary", {})
        assert not result.is_error and result.structured_content
        assert result.structured_content["inventory"]["total"] == 32
