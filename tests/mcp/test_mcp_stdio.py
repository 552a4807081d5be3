"""`certctl --db X mcp` as a subprocess, driven over stdio by the SDK's client: list -> issue -> revoke."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import CLIENT
from mcp import Client, StdioServerParameters

from certctl_engine.domain import CertificateStatus
from certctl_engine.engine import Engine

pytestmark = pytest.mark.anyio


def certctl_command(*args: str) -> tuple[str, list[str]]:
    """The installed console script next to this Python, else the module."""
    script = Path(sys.executable).with_name("certctl")
    if script.exists():
        return str(script), list(args)
    return sys.executable, ["-m", "certctl_engine.cli", *args]


async def test_stdio_list_issue_revoke(demo_home: Path) -> None:
    db = demo_home / "certctl.db"
    command, args = certctl_command("--db", str(db), "mcp")
    params = StdioServerParameters(
        command=command, args=args, env={**os.environ, "CERTCTL_HOME": str(demo_home)}, cwd=str(demo_home)
    )
    async with Client(params, client_info=CLIENT) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"list_certificates", "create_certificate", "issue_certificate", "revoke_certificate"} <= names
        listed = await client.call_tool("list_certificates", {"query": "api", "limit": 5})
        assert not listed.is_error and listed.structured_content
        assert any(c["id"] == "mc-api-prod" for c in listed.structured_content["items"])

        created = await client.call_tool(
            "create_certificate", {"common_name": "stdio.example.com", "issuer_id": "iss-local"}
        )
        assert not created.is_error and created.structured_content
        cert_id = created.structured_content["id"]
        issued = await client.call_tool("issue_certificate", {"certificate_id": cert_id})
        assert not issued.is_error and issued.structured_content
        serial = issued.structured_content["version"]["serial_number"]

        dry = await client.call_tool("revoke_certificate", {"certificate_id": cert_id, "reason": "keyCompromise"})
        assert dry.structured_content and dry.structured_content["outcome"] == "dry_run"
        revoked = await client.call_tool(
            "revoke_certificate", {"certificate_id": cert_id, "reason": "keyCompromise", "confirm": True}
        )
        assert not revoked.is_error and revoked.structured_content
        assert revoked.structured_content["certificate"]["status"] == "Revoked"
        ocsp = await client.call_tool("check_ocsp", {"issuer_id": "iss-local", "serial": serial})
        assert ocsp.structured_content and ocsp.structured_content["status"] == "revoked"

    engine = Engine.open(str(db), env={"CERTCTL_HOME": str(demo_home)})
    try:
        assert engine.certificates.get(cert_id).status is CertificateStatus.REVOKED
        actors = {e.actor for e in engine.audit.list(resource_id=cert_id).items}
        assert actors == {"mcp:pytest-client"}
    finally:
        engine.close()
