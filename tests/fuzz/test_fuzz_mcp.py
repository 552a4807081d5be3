"""MCP tool arguments from anywhere: every call gets a result; a refusal is isError with a message.

Random JSON, keyed by each tool's own parameter names (and some unknown ones), goes through
the SDK's in-process client to a handful of tools. Every call returns a result; an error
result says what is wrong in words, and no result ever carries a Python traceback or a
private key.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import Implementation

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_mcp import build_server

FUZZER = Actor("fuzzer")
CLIENT = Implementation(name="fuzz-client", version="1.0")
TOOLS = (
    "create_certificate",
    "get_certificate",
    "list_certificates",
    "import_certificate",
    "revoke_certificate",
    "check_ocsp",
    "create_scan_target",
    "create_target",
    "list_audit_events",
    "create_issuer",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
    | st.sampled_from(["web-prod", "iss-local", "-----BEGIN CERTIFICATE-----", "127.0.0.1/8", "keyCompromise"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

PLAUSIBLE = st.sampled_from(
    ["web-prod", "iss-local", "web.example.com", "GenericCA", "Files", "keyCompromise", "10.0.0.0/30", True, 10, [443]]
)
"""Values that fit some parameter, so that calls also get past the schema to the engine."""


@pytest.fixture(scope="module")
def mcp_server(fuzz_engine: Engine) -> MCPServer:
    """A server over the module's engine with one issued certificate, so look-ups and revocations find one."""
    cert = fuzz_engine.certificates.create(
        name="web-prod", common_name="web.example.com", issuer_id="iss-local", actor=FUZZER, id="web-prod"
    )
    fuzz_engine.issuance.issue(cert.id, actor=FUZZER)
    server = build_server(fuzz_engine)

    async def read_parameters() -> None:
        async with Client(server, client_info=CLIENT) as client:
            for tool in (await client.list_tools()).tools:
                PARAMETERS[tool.name] = sorted((tool.input_schema or {}).get("properties", {}))

    anyio.run(read_parameters)
    assert set(TOOLS) <= set(PARAMETERS)
    return server


PARAMETERS: dict[str, list[str]] = {}
"""Each tool's parameter names, read from its input schema once the server is up."""


async def _call(server: MCPServer, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async with Client(server, client_info=CLIENT) as client:
        result = await client.call_tool(name, arguments)
    texts = [getattr(part, "text", "") for part in result.content or []]
    payload = "\n".join(texts) + json.dumps(result.structured_content or {}, default=str)
    return bool(result.is_error), payload


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(TOOLS))
    known = PARAMETERS.get(name) or ["certificate_id", "name", "confirm"]
    keys = draw(st.lists(st.sampled_from(known), max_size=len(known), unique=True))
    if draw(st.integers(0, 4)) == 0:  # now and then a parameter the tool does not have
        keys.append(draw(st.text(max_size=10)))
    return name, {key: draw(st.one_of(PLAUSIBLE, json_values)) for key in keys}


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(call=calls())
@example(call=("get_certificate", {"certificate_id": "\ud800"}))
@example(call=("create_certificate", {"name": "a", "common_name": "a.example.com", "tags": {"k": "\x00"}}))
@example(call=("revoke_certificate", {"certificate_id": "web-prod", "reason": "nope", "confirm": True}))
@example(call=("import_certificate", {"pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}))
def test_every_tool_call_gets_a_result_and_never_a_traceback_or_a_key(
    mcp_server: MCPServer, call: tuple[str, dict[str, Any]]
) -> None:
    name, arguments = call
    is_error, payload = anyio.run(_call, mcp_server, name, arguments)
    event(f"{name}: {'isError' if is_error else 'result'}")
    assert "Traceback (most recent call last)" not in payload
    assert "PRIVATE KEY-----" not in payload
    if is_error:
        assert payload.strip(), f"{name}({arguments!r}) failed without a message"


def test_a_well_formed_call_gets_past_the_schema_to_the_engine(mcp_server: MCPServer) -> None:
    """The harness itself works: a valid call returns the certificate, an invalid one an error that says why."""
    is_error, payload = anyio.run(_call, mcp_server, "get_certificate", {"certificate_id": "web-prod"})
    assert not is_error and "web.example.com" in payload
    is_error, payload = anyio.run(_call, mcp_server, "get_certificate", {"certificate_id": "no-such-cert"})
    assert is_error and "no-such-cert" in payload
