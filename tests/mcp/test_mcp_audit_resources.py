"""Every tool call is audited as mcp:<client>, without secrets; resources and prompts work."""

from __future__ import annotations

import json

import pytest
from conftest import CLIENT
from mcp import Client
from mcp_types import Implementation

from certctl_engine.engine import Engine

pytestmark = pytest.mark.anyio


def _tool_calls(engine: Engine, tool: str) -> list[dict[str, object]]:
    events = engine.audit.list(action="mcp_tool_call", resource_id=tool, limit=100).items
    return [{"actor": e.actor, "type": e.resource_type, **e.details} for e in events]


async def test_every_call_is_audited_with_the_client_name(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=Implementation(name="claude desktop", version="1")) as client:
        await client.call_tool("list_certificates", {"query": "api", "limit": 3})
        await client.call_tool("get_certificate", {"certificate_id": "nope"})
        await client.call_tool("list_certificates", {"limit": 1000})  # rejected by the input schema
        await client.call_tool("list_certificates", {"expiring_days": 30})  # unknown argument
        await client.call_tool("create_team", {"name": "Audited"})
    listed = _tool_calls(demo_engine, "list_certificates")
    assert [c["outcome"] for c in listed] == ["error", "error", "ok"]  # newest first
    assert all(c["actor"] == "mcp:claude desktop" and c["type"] == "mcp" for c in listed)
    assert listed[-1]["arguments"] == {"query": "api", "limit": 3}
    assert _tool_calls(demo_engine, "get_certificate")[0]["outcome"] == "error"
    # a mutation: the engine's own event carries the same actor
    created = demo_engine.audit.list(action="create_team", limit=1).items[0]
    assert created.actor == "mcp:claude desktop"
    assert _tool_calls(demo_engine, "create_team")[0]["outcome"] == "ok"
    assert demo_engine.audit.verify().ok


async def test_secrets_never_reach_the_audit_trail(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    secret = "do-not-log-this-passphrase"
    async with Client(server, client_info=CLIENT) as client:
        result = await client.call_tool(
            "export_certificate",
            {"certificate_id": "mc-api-prod", "include_private_key": True, "passphrase": secret},
        )
        await client.call_tool("create_issuer", {"name": "Vaulty", "type": "VaultPKI", "config": {"token": secret}})
    assert not result.is_error
    dump = json.dumps([e.details for e in demo_engine.audit.list(limit=100).items])
    assert secret not in dump
    export_call = _tool_calls(demo_engine, "export_certificate")[0]
    assert export_call["arguments"]["passphrase"] == "***"  # type: ignore[index]


async def test_resources(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=CLIENT) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        static = {str(r.uri) for r in (await client.list_resources()).resources}
        assert templates == {
            "certctl://certificates/{certificate_id}",
            "certctl://certificates/{certificate_id}/pem",
            "certctl://certificates/{certificate_id}/chain",
            "certctl://issuers/{issuer_id}/crl",
        }
        assert static == {"certctl://dashboard"}
        cert = json.loads((await client.read_resource("certctl://certificates/mc-api-prod")).contents[0].text)  # type: ignore[union-attr]
        assert cert["certificate"]["common_name"] == "api.example.com"
        assert "pem_chain" not in cert["current_version"]
        pem = (await client.read_resource("certctl://certificates/mc-api-prod/pem")).contents[0].text  # type: ignore[union-attr]
        chain = (await client.read_resource("certctl://certificates/mc-api-prod/chain")).contents[0].text  # type: ignore[union-attr]
        assert pem.count("BEGIN CERTIFICATE") == chain.count("BEGIN CERTIFICATE") + 1
        assert "PRIVATE KEY" not in pem
        crl = (await client.read_resource("certctl://issuers/iss-local/crl")).contents[0].text  # type: ignore[union-attr]
        assert crl.startswith("-----BEGIN X509 CRL-----")
        dashboard = json.loads((await client.read_resource("certctl://dashboard")).contents[0].text)  # type: ignore[union-attr]
        assert dashboard["inventory"]["total"] == 32
        with pytest.raises(Exception, match="no certificate 'nope'"):
            await client.read_resource("certctl://certificates/nope")
    reads = demo_engine.audit.list(action="mcp_resource_read", limit=20).items
    assert len(reads) == 6 and all(r.actor == "mcp:pytest-client" for r in reads)


async def test_prompts(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=CLIENT) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"triage_expiring", "incident_key_compromise"}
        assert all(p.description for p in prompts.values())
        triage = await client.get_prompt("triage_expiring", {"days": "14"})
        text = triage.messages[0].content.text  # type: ignore[union-attr]
        assert "expiring_within_days=14" in text
        incident = await client.get_prompt("incident_key_compromise", {"certificate": "vpn.example.com"})
        text = incident.messages[0].content.text  # type: ignore[union-attr]
        assert "keyCompromise" in text and "vpn.example.com" in text and "revoke_certificate" in text
