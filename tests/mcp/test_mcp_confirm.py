"""Destructive tools: a dry run without confirm, the real thing with it, and elicitation when offered."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import CLIENT
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult

from certctl_engine.domain import CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import NotFound

pytestmark = pytest.mark.anyio

CERT = "mc-api-prod"  # an Active, issued demo certificate


def _revocations(engine: Engine, cert_id: str) -> list[str]:
    page = engine.audit.list(resource_id=cert_id, action="certificate_revoked")
    return [e.id for e in page.items]


async def test_revoke_without_confirm_is_a_dry_run_and_changes_nothing(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    before = demo_engine.certificates.get(CERT)
    async with Client(server, client_info=CLIENT) as client:
        result = await client.call_tool("revoke_certificate", {"certificate_id": CERT, "reason": "keyCompromise"})
    assert not result.is_error
    dry = result.structured_content
    assert dry is not None
    assert dry["outcome"] == "dry_run"
    assert "nothing changed" in dry["message"] and "confirm=true" in dry["message"]
    assert {c["field"]: c["after"] for c in dry["changes"]} == {
        "status": "Revoked",
        "revocation_reason": "keyCompromise",
        "revoked_at": "now",
    }
    after = demo_engine.certificates.get(CERT)
    assert after == before
    assert after.status is CertificateStatus.ACTIVE
    assert _revocations(demo_engine, CERT) == []
    serial = demo_engine.revocation.serial_of(CERT)
    assert demo_engine.revocation.check("iss-local", serial).status == "good"


async def test_revoke_with_confirm_revokes(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=CLIENT) as client:
        result = await client.call_tool(
            "revoke_certificate", {"certificate_id": CERT, "reason": "keyCompromise", "confirm": True}
        )
    assert not result.is_error and result.structured_content
    assert result.structured_content["outcome"] == "done"
    cert = demo_engine.certificates.get(CERT)
    assert cert.status is CertificateStatus.REVOKED and cert.revocation_reason == "keyCompromise"
    event = demo_engine.audit.get(_revocations(demo_engine, CERT)[0])
    assert event.actor == "mcp:pytest-client"
    serial = demo_engine.revocation.serial_of(CERT)
    assert demo_engine.revocation.check("iss-local", serial).status == "revoked"


async def test_archive_and_delete_dry_runs_change_nothing(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=CLIENT) as client:
        archive = await client.call_tool("archive_certificate", {"certificate_id": "mc-data-prod"})
        delete = await client.call_tool("delete_team", {"team_id": "t-data"})
    assert archive.structured_content and archive.structured_content["outcome"] == "dry_run"
    assert demo_engine.certificates.get("mc-data-prod").status is CertificateStatus.ACTIVE
    assert delete.structured_content and delete.structured_content["outcome"] == "dry_run"
    assert "would FAIL" in delete.structured_content["message"]
    assert demo_engine.ownership.get_team("t-data").name == "Data Engineering"


def _elicitor(answer: str, asked: list[str]) -> Any:
    async def callback(_ctx: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        if answer == "accept":
            return ElicitResult(action="accept", content={"confirm": True})
        if answer == "refuse":
            return ElicitResult(action="accept", content={"confirm": False})
        return ElicitResult(action=answer)  # type: ignore[arg-type]

    return callback


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026 input-required rounds, and the classic request
async def test_elicitation_confirms_naming_the_object(server, demo_engine: Engine, mode: str) -> None:  # type: ignore[no-untyped-def]
    asked: list[str] = []
    async with Client(server, client_info=CLIENT, mode=mode, elicitation_callback=_elicitor("accept", asked)) as c:
        result = await c.call_tool("revoke_certificate", {"certificate_id": CERT, "reason": "superseded"})
    assert asked and "mc-api-prod" in asked[0] and "api.example.com" in asked[0] and "superseded" in asked[0]
    assert result.structured_content and result.structured_content["outcome"] == "done"
    assert demo_engine.certificates.get(CERT).status is CertificateStatus.REVOKED
    calls = demo_engine.audit.list(action="mcp_tool_call", resource_id="revoke_certificate").items
    assert len(calls) == 1 and calls[0].details["outcome"] == "done"  # the waiting round is not recorded


@pytest.mark.parametrize("answer", ["decline", "cancel", "refuse"])
async def test_elicitation_refused_changes_nothing(server, demo_engine: Engine, answer: str) -> None:  # type: ignore[no-untyped-def]
    asked: list[str] = []
    async with Client(server, client_info=CLIENT, elicitation_callback=_elicitor(answer, asked)) as client:
        # confirm=true from the model does not override the person's answer
        result = await client.call_tool("delete_profile", {"profile_id": "prof-short-lived", "confirm": True})
    assert asked and "Short-lived workload" in asked[0]
    assert result.structured_content and result.structured_content["outcome"] == "cancelled"
    assert demo_engine.profiles.get("prof-short-lived").name == "Short-lived workload"


async def test_elicitation_for_a_missing_object_asks_nothing(server) -> None:  # type: ignore[no-untyped-def]
    asked: list[str] = []
    async with Client(server, client_info=CLIENT, elicitation_callback=_elicitor("accept", asked)) as client:
        result = await client.call_tool("delete_owner", {"owner_id": "o-nobody"})
    assert asked == []
    assert result.is_error and "no owner 'o-nobody'" in result.content[0].text  # type: ignore[union-attr]


async def test_elicited_delete_deletes(server, demo_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    asked: list[str] = []
    async with Client(server, client_info=CLIENT, elicitation_callback=_elicitor("accept", asked)) as client:
        result = await client.call_tool("delete_profile", {"profile_id": "prof-short-lived"})
    assert result.structured_content and result.structured_content["outcome"] == "done"
    with pytest.raises(NotFound):
        demo_engine.profiles.get("prof-short-lived")
