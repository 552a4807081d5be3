"""Every tool, listed and called: once with valid input, once with invalid input (in-process client)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from acme_server import free_port
from conftest import CLIENT
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mcp import Client

from certctl_engine.domain import CertificateSortField, CertificateStatus, RevocationReason, SortOrder
from certctl_engine.engine import Engine
from certctl_mcp import TOOLSETS, UnknownToolset, build_server

pytestmark = pytest.mark.anyio

EXPECTED_TOOLS = {
    # certificates
    "list_certificates",
    "get_certificate",
    "create_certificate",
    "update_certificate",
    "archive_certificate",
    "list_certificate_versions",
    "issue_certificate",
    "renew_certificate",
    "revoke_certificate",
    "export_certificate",
    "import_certificate",
    # pki
    "get_crl",
    "check_ocsp",
    # config
    *(
        f"{verb}_{noun}"
        for verb in ("get", "create", "update", "delete")
        for noun in ("issuer", "profile", "owner", "team", "renewal_policy")
    ),
    *(f"list_{noun}" for noun in ("issuers", "profiles", "owners", "teams", "renewal_policies")),
    # audit
    "list_audit_events",
    "get_audit_event",
    "verify_audit_chain",
    # stats
    "dashboard_summary",
    "certificates_by_status",
    "expiration_timeline",
    "health",
    "test_issuer",
    # alerts
    "list_notifications",
    "mark_notification_read",
    "list_policy_rules",
    "get_policy_rule",
    "create_policy_rule",
    "update_policy_rule",
    "list_policy_violations",
    "list_discoveries",
    "claim_discovery",
    "dismiss_discovery",
    "list_scan_targets",
    "create_scan_target",
    "scan_network",
    # jobs and agents
    "list_jobs",
    "get_job",
    "approve_job",
    "reject_job",
    "cancel_job",
    "retry_job",
    "trigger_deployment",
    "list_agents",
    "get_agent",
    # deployment targets (config)
    "list_targets",
    "get_target",
    "create_target",
    "update_target",
    "delete_target",
    "test_target",
    # agent groups (config)
    "list_agent_groups",
    "get_agent_group",
    "list_agent_group_members",
    "create_agent_group",
    "update_agent_group",
    "set_agent_group_membership",
    "delete_agent_group",
}

OPEN_WORLD = {"scan_network", "test_issuer", "test_target"}  # reach other hosts

MUTATING = {
    "test_issuer",
    "create_agent_group",
    "update_agent_group",
    "set_agent_group_membership",
    "delete_agent_group",
    "approve_job",
    "reject_job",
    "cancel_job",
    "retry_job",
    "trigger_deployment",
    "create_target",
    "update_target",
    "delete_target",
    "mark_notification_read",
    "create_policy_rule",
    "update_policy_rule",
    "claim_discovery",
    "dismiss_discovery",
    "create_scan_target",
    "scan_network",
    "create_certificate",
    "update_certificate",
    "archive_certificate",
    "issue_certificate",
    "renew_certificate",
    "revoke_certificate",
    "import_certificate",
    "get_crl",
    *(
        f"{verb}_{noun}"
        for verb in ("create", "update", "delete")
        for noun in ("issuer", "profile", "owner", "team", "renewal_policy")
    ),
}
DESTRUCTIVE = {"revoke_certificate", "archive_certificate"} | {
    f"delete_{noun}" for noun in ("issuer", "profile", "owner", "team", "renewal_policy", "target", "agent_group")
}


def _enum_of(schema: dict[str, Any], prop: dict[str, Any]) -> list[str]:
    """The enum values a property allows, following $ref, arrays and nullable anyOf."""
    if "$ref" in prop:
        return _enum_of(schema, schema["$defs"][prop["$ref"].split("/")[-1]])
    if "enum" in prop:
        return list(prop["enum"])
    if prop.get("type") == "array":
        return _enum_of(schema, prop["items"])
    for option in prop.get("anyOf", []):
        values = _enum_of(schema, option)
        if values:
            return values
    return []


async def test_list_tools_shows_every_tool_fully_described(server) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=CLIENT) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == EXPECTED_TOOLS
    for name, tool in tools.items():
        assert tool.description and len(tool.description) > 40, name
        assert tool.input_schema["type"] == "object", name
        for param, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{param} has no description"
        assert tool.output_schema and tool.output_schema.get("type") == "object", name
        a = tool.annotations
        assert a is not None, name
        assert None not in (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint), name
        assert a.open_world_hint is (name in OPEN_WORLD), name
        assert a.read_only_hint is (name not in MUTATING), name
        assert a.destructive_hint is (name in DESTRUCTIVE), name
        if name in DESTRUCTIVE:
            assert "confirm" in tool.input_schema["properties"], name
    lc = tools["list_certificates"].input_schema
    assert _enum_of(lc, lc["properties"]["status"]) == [s.value for s in CertificateStatus]
    assert _enum_of(lc, lc["properties"]["sort"]) == [s.value for s in CertificateSortField]
    assert _enum_of(lc, lc["properties"]["order"]) == [s.value for s in SortOrder]
    assert lc["properties"]["limit"]["maximum"] == 100 and lc["properties"]["limit"]["minimum"] == 1
    rv = tools["revoke_certificate"].input_schema
    assert _enum_of(rv, rv["properties"]["reason"]) == [r.value for r in RevocationReason]
    tl = tools["expiration_timeline"].input_schema["properties"]["days"]
    assert (tl["minimum"], tl["maximum"]) == (1, 365)


async def test_read_only_server_has_no_mutating_tool(demo_engine: Engine) -> None:
    server = build_server(demo_engine, read_only=True)
    async with Client(server, client_info=CLIENT) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert set(tools) == EXPECTED_TOOLS - MUTATING
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    assert "certctl://issuers/{issuer_id}/crl" not in templates  # each read would sign a new CRL
    async with Client(server, client_info=CLIENT) as client:
        refused = await client.call_tool(
            "export_certificate",
            {"certificate_id": "mc-api-prod", "include_private_key": True, "passphrase": "long enough secret"},
        )
        plain = await client.call_tool("export_certificate", {"certificate_id": "mc-api-prod"})
    assert refused.is_error and "--read-only" in refused.content[0].text  # type: ignore[union-attr]
    assert not plain.is_error


async def test_toolsets_limit_the_tools(demo_engine: Engine) -> None:
    server = build_server(demo_engine, toolsets="audit,stats")
    async with Client(server, client_info=CLIENT) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {
        "list_audit_events",
        "get_audit_event",
        "verify_audit_chain",
        "dashboard_summary",
        "certificates_by_status",
        "expiration_timeline",
        "health",
    }


def test_unknown_toolset_fails_at_build(demo_engine: Engine) -> None:
    with pytest.raises(UnknownToolset, match=r"unknown toolset 'certs'; choose from certificates, pki"):
        build_server(demo_engine, toolsets="certs,audit")
    assert TOOLSETS == ("certificates", "pki", "config", "audit", "stats", "alerts", "jobs")


class Session:
    """Calls tools and remembers which were called with valid and with invalid input."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.valid: set[str] = set()
        self.invalid: set[str] = set()

    async def ok(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.client.call_tool(name, args or {})
        text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
        assert not result.is_error, f"{name}({args}) failed: {text}"
        assert isinstance(result.structured_content, dict), name
        self.valid.add(name)
        return result.structured_content

    async def bad(self, name: str, args: dict[str, Any], *needles: str) -> str:
        result = await self.client.call_tool(name, args)
        assert result.is_error, f"{name}({args}) should have failed"
        text = result.content[0].text  # type: ignore[union-attr]
        assert "Traceback" not in text and 'File "' not in text, text
        assert "PRIVATE KEY" not in text, text
        for needle in needles:
            assert needle in text, f"{name}: {needle!r} not in {text!r}"
        self.invalid.add(name)
        return text


async def test_every_tool_valid_and_invalid(server, demo_engine: Engine, demo_home: Path) -> None:  # type: ignore[no-untyped-def]
    async with Client(server, client_info=CLIENT) as client:
        s = Session(client)

        # -- stats and health
        health = await s.ok("health")
        assert health["ok"] and health["store"].startswith("sqlite:")
        await s.bad("health", {"verbose": True}, "unknown argument(s) 'verbose'")
        dash = await s.ok("dashboard_summary")
        assert dash["inventory"]["total"] == 32
        await s.bad("dashboard_summary", {"days": 3}, "unknown argument(s) 'days'")
        by_status = await s.ok("certificates_by_status")
        assert by_status["total"] == 32 and by_status["counts"]["Active"] >= 1
        await s.bad("certificates_by_status", {"status": "Active"}, "unknown argument(s) 'status'")
        timeline = await s.ok("expiration_timeline", {"days": 30})
        assert timeline["days"] == 30 and timeline["total"] >= 1
        await s.bad("expiration_timeline", {"days": 366}, "days", "less than or equal to 365")

        # -- config: teams, owners, profiles, renewal policies, issuers
        page = await s.ok("list_teams", {"limit": 2})
        assert len(page["items"]) == 2 and page["next_cursor"]
        page2 = await s.ok("list_teams", {"limit": 2, "cursor": page["next_cursor"]})
        assert {t["id"] for t in page2["items"]}.isdisjoint({t["id"] for t in page["items"]})
        await s.bad("list_teams", {"cursor": "garbage"}, "invalid cursor")
        await s.ok("get_team", {"team_id": "t-security"})
        await s.bad("get_team", {"team_id": "t-nope"}, "no team 't-nope'", "list_teams")
        team = await s.ok("create_team", {"name": "SRE", "description": "on call"})
        await s.bad("create_team", {"name": "SRE"}, "conflict", "already exists")
        await s.ok("update_team", {"team_id": team["id"], "description": "pager"})
        await s.bad("update_team", {"team_id": "t-nope", "name": "x"}, "no team")

        await s.ok("list_owners", {"team_id": "t-platform"})
        await s.bad("list_owners", {"limit": 0}, "limit")
        await s.ok("get_owner", {"owner_id": "o-alice"})
        await s.bad("get_owner", {"owner_id": "o-nope"}, "no owner 'o-nope'", "list_owners")
        owner = await s.ok("create_owner", {"name": "Frank", "email": "frank@example.com", "team_id": team["id"]})
        await s.bad("create_owner", {"name": "Gina", "email": "not-an-email"}, "is not an email address")
        await s.ok("update_owner", {"owner_id": owner["id"], "email": "f@example.com"})
        await s.bad("update_owner", {"owner_id": owner["id"], "team_id": "t-nope"}, "no team 't-nope'")

        await s.ok("list_profiles")
        await s.bad("list_profiles", {"limit": 101}, "limit")
        await s.ok("get_profile", {"profile_id": "prof-standard-tls"})
        await s.bad("get_profile", {"profile_id": "prof-nope"}, "no profile", "list_profiles")
        profile = await s.ok(
            "create_profile",
            {
                "name": "MCP web",
                "allowed_key_algorithms": [{"algorithm": "ECDSA", "min_size": 256}],
                "max_ttl_seconds": 30 * 86400,
                "allowed_ekus": ["serverAuth"],
            },
        )
        await s.bad(
            "create_profile",
            {"name": "weak", "allowed_key_algorithms": [{"algorithm": "RSA", "min_size": 1024}]},
            "RSA minimum size must be at least 2048",
        )
        await s.ok("update_profile", {"profile_id": profile["id"], "description": "for MCP tests"})
        await s.bad("update_profile", {"profile_id": profile["id"], "allowed_ekus": ["OCSPSigning"]}, "allowed_ekus")

        await s.ok("list_renewal_policies")
        await s.bad("list_renewal_policies", {"cursor": 5}, "cursor")
        await s.ok("get_renewal_policy", {"renewal_policy_id": "rp-standard"})
        await s.bad(
            "get_renewal_policy", {"renewal_policy_id": "rp-nope"}, "no renewal policy", "list_renewal_policies"
        )
        policy = await s.ok("create_renewal_policy", {"name": "Fast", "renewal_window_days": 10})
        await s.bad("create_renewal_policy", {"name": "Slow", "renewal_window_days": 0}, "renewal_window_days")
        await s.ok("update_renewal_policy", {"renewal_policy_id": policy["id"], "max_retries": 5})
        await s.bad(
            "update_renewal_policy", {"renewal_policy_id": policy["id"], "alert_thresholds_days": [400]}, "at most 365"
        )

        issuers = await s.ok("list_issuers")
        assert any(i["id"] == "iss-local" for i in issuers["items"])
        await s.bad("list_issuers", {"limit": "many"}, "limit")
        await s.ok("get_issuer", {"issuer_id": "iss-local"})
        await s.bad("get_issuer", {"issuer_id": "iss-nope"}, "no issuer 'iss-nope'", "list_issuers")
        issuer = await s.ok("create_issuer", {"name": "MCP CA", "type": "GenericCA", "config": {"validity_days": 30}})
        await s.bad("create_issuer", {"name": "Bad CA", "type": "NoSuchType"}, "type")
        await s.ok("update_issuer", {"issuer_id": issuer["id"], "enabled": True})
        await s.bad("update_issuer", {"issuer_id": issuer["id"], "config": {"validity_days": 0}}, "validity_days")

        # -- certificates: create, issue, renew, export, versions, update
        listing = await s.ok("list_certificates", {"status": ["Active"], "limit": 5, "sort": "expires_at"})
        assert listing["items"] and all(c["status"] == "Active" for c in listing["items"])
        assert listing["next_cursor"]
        more = await s.ok(
            "list_certificates",
            {"status": ["Active"], "limit": 5, "sort": "expires_at", "cursor": listing["next_cursor"]},
        )
        assert {c["id"] for c in more["items"]}.isdisjoint({c["id"] for c in listing["items"]})
        await s.bad("list_certificates", {"status": ["Sleeping"]}, "status")
        await s.bad(
            "list_certificates", {"expiring_days": 30}, "unknown argument(s) 'expiring_days'", "expiring_within_days"
        )
        found = await s.ok("get_certificate", {"certificate_id": "mc-api-prod"})
        assert found["certificate"]["common_name"] == "api.example.com" and found["current_version"]
        await s.bad("get_certificate", {"certificate_id": "api-typo"}, "no certificate 'api-typo'", "query='api-typo'")

        cert = await s.ok(
            "create_certificate",
            {
                "common_name": "mcp.example.com",
                "sans": ["mcp.example.com", "www.mcp.example.com"],
                "issuer_id": issuer["id"],
                "owner_id": owner["id"],
                "profile_id": profile["id"],
                "renewal_policy_id": policy["id"],
                "environment": "prod",
                "tags": {"via": "mcp"},
            },
        )
        assert cert["status"] == "Pending" and cert["team_id"] == team["id"]
        await s.bad("create_certificate", {"common_name": "x.example.com", "issuer_id": "iss-nope"}, "no issuer")
        updated = await s.ok("update_certificate", {"certificate_id": cert["id"], "environment": "staging"})
        assert updated["environment"] == "staging"
        await s.bad("update_certificate", {"certificate_id": cert["id"]}, "nothing to update")

        issued = await s.ok("issue_certificate", {"certificate_id": cert["name"], "key_type": "ecdsa-p256"})
        assert issued["certificate"]["status"] == "Active" and issued["version"]["has_private_key"]
        await s.bad("issue_certificate", {"certificate_id": cert["id"]}, "conflict", "already issued")
        renewed = await s.ok("renew_certificate", {"certificate_id": cert["id"], "ttl_seconds": 7 * 86400})
        assert renewed["version"]["serial_number"] != issued["version"]["serial_number"]
        await s.bad("renew_certificate", {"certificate_id": cert["id"], "key_type": "dsa1024"}, "key_type")
        versions = await s.ok("list_certificate_versions", {"certificate_id": cert["id"]})
        assert [v["id"] for v in versions["items"]] == [renewed["version"]["id"], issued["version"]["id"]]
        await s.bad("list_certificate_versions", {"certificate_id": "cert-nope"}, "no certificate")

        exported = await s.ok(
            "export_certificate",
            {"certificate_id": cert["id"], "include_private_key": True, "passphrase": "correct horse battery"},
        )
        assert exported["full_chain_pem"].count("BEGIN CERTIFICATE") == 2
        assert "BEGIN ENCRYPTED PRIVATE KEY" in exported["encrypted_private_key_pem"]
        serialization.load_pem_private_key(exported["encrypted_private_key_pem"].encode(), b"correct horse battery")
        plain = await s.ok("export_certificate", {"certificate_id": cert["id"]})
        assert plain["encrypted_private_key_pem"] is None
        await s.bad(
            "export_certificate", {"certificate_id": cert["id"], "include_private_key": True}, "needs a passphrase"
        )

        # -- import: the exported leaf as a new managed certificate is refused (already managed) ...
        await s.bad(
            "import_certificate", {"pem": exported["full_chain_pem"], "issuer_id": issuer["id"]}, "already managed"
        )
        # ... a foreign one is imported
        foreign = _self_signed_pem("imported.example.com")
        imported = await s.ok("import_certificate", {"pem": foreign, "issuer_id": "iss-local", "name": "imported"})
        assert imported["imported"][0]["certificate"]["name"] == "imported"

        # -- revoke, CRL, OCSP
        dry = await s.ok("revoke_certificate", {"certificate_id": cert["id"], "reason": "keyCompromise"})
        assert dry["outcome"] == "dry_run"
        revoked = await s.ok(
            "revoke_certificate", {"certificate_id": cert["id"], "reason": "keyCompromise", "confirm": True}
        )
        assert revoked["outcome"] == "done" and revoked["certificate"]["status"] == "Revoked"
        await s.bad("revoke_certificate", {"certificate_id": cert["id"], "confirm": True}, "already revoked")
        await s.bad("revoke_certificate", {"certificate_id": cert["id"], "reason": "because"}, "reason")

        crl = await s.ok("get_crl", {"issuer_id": issuer["id"]})
        parsed = x509.load_der_x509_crl(base64.b64decode(crl["der_base64"]))
        serial = int(renewed["version"]["serial_number"], 16)
        assert parsed.get_revoked_certificate_by_serial_number(serial) is not None
        assert crl["entry_count"] == 1 and "BEGIN X509 CRL" in crl["pem"]
        await s.bad("get_crl", {"issuer_id": "iss-acme-le"}, "GenericCA")
        ocsp = await s.ok("check_ocsp", {"issuer_id": issuer["id"], "serial": renewed["version"]["serial_number"]})
        assert ocsp["status"] == "revoked" and ocsp["reason"] == "keyCompromise"
        await s.bad("check_ocsp", {"issuer_id": issuer["id"], "serial": "xyz"}, "not a hexadecimal serial")

        # -- archive
        archived = await s.ok("archive_certificate", {"certificate_id": cert["id"], "confirm": True})
        assert archived["certificate"]["status"] == "Archived"
        await s.bad("archive_certificate", {"certificate_id": cert["id"], "confirm": True}, "already archived")

        # -- deletes: refused while in use, dry run, then done
        await s.bad("delete_issuer", {"issuer_id": issuer["id"], "confirm": True}, "still issues 1 certificate")
        spare_issuer = await s.ok("create_issuer", {"name": "Spare CA", "type": "GenericCA"})
        dry_issuer = await s.ok("delete_issuer", {"issuer_id": spare_issuer["id"]})
        assert dry_issuer["outcome"] == "dry_run" and "no certificate uses it" in dry_issuer["message"]
        assert (await s.ok("delete_issuer", {"issuer_id": spare_issuer["id"], "confirm": True}))["outcome"] == "done"
        await s.bad("delete_profile", {"profile_id": "prof-nope", "confirm": True}, "no profile")
        assert (await s.ok("delete_profile", {"profile_id": profile["id"], "confirm": True}))["outcome"] == "done"
        await s.bad("delete_renewal_policy", {"renewal_policy_id": policy["id"], "confirm": True}, "is used by 1")
        spare_policy = await s.ok("create_renewal_policy", {"name": "Spare"})
        await s.ok("delete_renewal_policy", {"renewal_policy_id": spare_policy["id"], "confirm": True})
        await s.bad("delete_owner", {"owner_id": owner["id"], "confirm": True}, "still owns 1 certificate")
        spare_owner = await s.ok("create_owner", {"name": "Spare"})
        await s.ok("delete_owner", {"owner_id": spare_owner["id"], "confirm": True})
        await s.bad("delete_team", {"team_id": team["id"], "confirm": True}, "still has 1 certificate")
        spare_team = await s.ok("create_team", {"name": "Spare team"})
        await s.ok("delete_team", {"team_id": spare_team["id"], "confirm": True})

        # -- audit
        events = await s.ok("list_audit_events", {"resource_id": cert["id"], "limit": 50})
        actions = [e["action"] for e in events["items"]]
        assert {"certificate_created", "certificate_issued", "certificate_renewed", "certificate_revoked"} <= set(
            actions
        )
        assert all(e["actor"] == "mcp:pytest-client" for e in events["items"])
        await s.bad("list_audit_events", {"since": "yesterday"}, "since")
        event = await s.ok("get_audit_event", {"event_id": events["items"][0]["id"]})
        assert event["resource_id"] == cert["id"]
        await s.bad("get_audit_event", {"event_id": "audit-nope"}, "no audit event", "list_audit_events")
        chain = await s.ok("verify_audit_chain")
        assert chain["ok"] and chain["events_checked"] > 100
        await s.bad("verify_audit_chain", {"deep": True}, "unknown argument(s) 'deep'")

        # -- testing an issuer's connection
        local = await s.ok("test_issuer", {"issuer_id": "iss-local"})
        assert local["ok"] and "can sign until" in local["message"]
        placeholder = await s.ok("test_issuer", {"issuer_id": "iss-acme-le"})
        assert not placeholder["ok"] and "placeholder" in placeholder["message"]
        await s.bad("test_issuer", {"issuer_id": "iss-nope"}, "no issuer 'iss-nope'", "list_issuers")

        # -- alerts: notifications, policies, discovery
        notes = await s.ok("list_notifications", {"limit": 3})
        assert notes["items"] and notes["next_cursor"]
        await s.bad("list_notifications", {"status": "bogus"}, "status")
        read = await s.ok("mark_notification_read", {"notification_id": notes["items"][0]["id"]})
        assert read["status"] == "read"
        await s.bad(
            "mark_notification_read", {"notification_id": "notif-nope"}, "no notification", "list_notifications"
        )
        rules = await s.ok("list_policy_rules")
        assert {"pr-require-owner", "pr-allowed-issuers"} <= {r["id"] for r in rules["items"]}
        await s.bad("list_policy_rules", {"verbose": True}, "unknown argument(s) 'verbose'")
        owner_rule = await s.ok("get_policy_rule", {"rule_id": "pr-require-owner"})
        assert owner_rule["type"] == "RequiredMetadata"
        await s.bad("get_policy_rule", {"rule_id": "rule-nope"}, "no policy rule")
        made = await s.ok(
            "create_policy_rule",
            {"name": "Prod only", "type": "AllowedEnvironments", "config": {"environments": ["prod"]}},
        )
        assert made["severity"] == "Warning"
        await s.bad("create_policy_rule", {"name": "x", "type": "AllowedIssuers", "config": {}}, "issuers")
        assert (await s.ok("update_policy_rule", {"rule_id": made["id"], "enabled": False}))["enabled"] is False
        await s.bad("update_policy_rule", {"rule_id": "rule-nope", "enabled": False}, "no policy rule")
        violations = await s.ok("list_policy_violations", {"include_resolved": True})
        assert violations["items"]
        await s.bad("list_policy_violations", {"rule_id": "rule-nope"}, "no policy rule")
        unmanaged = (await s.ok("list_discoveries", {"status": "Unmanaged"}))["items"]
        assert len(unmanaged) >= 2
        await s.bad("list_discoveries", {"status": "Lost"}, "status")
        claimed = await s.ok("claim_discovery", {"discovery_id": unmanaged[0]["id"], "issuer_id": "iss-local"})
        assert claimed["status"] == "Managed" and claimed["managed_certificate_id"]
        await s.bad("claim_discovery", {"discovery_id": unmanaged[1]["id"]}, "issuer_id")
        assert (await s.ok("dismiss_discovery", {"discovery_id": unmanaged[1]["id"]}))["status"] == "Dismissed"
        await s.bad("dismiss_discovery", {"discovery_id": "dcert-nope"}, "no discovered certificate")
        target = await s.ok(
            "create_scan_target",
            {"name": "loopback", "cidrs": ["127.0.0.1/32"], "ports": [free_port()], "allow_reserved": True},
        )
        await s.bad("create_scan_target", {"name": "metadata", "cidrs": ["169.254.169.254/32"]}, "link-local")
        assert target["id"] in [t["id"] for t in (await s.ok("list_scan_targets"))["items"]]
        await s.bad("list_scan_targets", {"all": True}, "unknown argument(s) 'all'")
        scanned = await s.ok("scan_network", {"target_id": target["id"]})
        assert scanned["certificates_found"] == 0 and "no TLS listener answered" in scanned["errors"][0]
        await s.bad("scan_network", {"target_id": "nscan-nope"}, "no network scan target")

        # -- jobs, agents and deployment targets
        waiting = await s.ok("list_jobs", {"status": "AwaitingApproval"})
        assert {"job-approval-01", "job-approval-02"} <= {j["id"] for j in waiting["items"]}
        assert all(j["status"] == "AwaitingApproval" for j in waiting["items"])
        await s.bad("list_jobs", {"status": "Sleeping"}, "status")
        failed = await s.ok("get_job", {"job_id": "job-vpn-renewal"})
        assert failed["status"] == "Failed" and failed["last_error"] and failed["attempts"] == 3
        await s.bad("get_job", {"job_id": "job-nope"}, "no job 'job-nope'")
        approved = await s.ok("approve_job", {"job_id": "job-approval-01"})
        assert approved["status"] == "Pending" and approved["details"]["approved_by"] == "mcp:pytest-client"
        assert demo_engine.jobs.get("job-approval-01").status.value == "Pending"
        await s.bad("approve_job", {"job_id": "job-approval-01"}, "is Pending, not AwaitingApproval")
        rejected = await s.ok("reject_job", {"job_id": "job-approval-02", "reason": "change freeze"})
        assert rejected["status"] == "Cancelled" and rejected["last_error"] == "rejected: change freeze"
        await s.bad("reject_job", {"job_id": "job-approval-02"}, "not AwaitingApproval")
        retried = await s.ok("retry_job", {"job_id": "job-vpn-renewal"})
        assert retried["status"] == "Pending" and retried["max_attempts"] == 4
        await s.bad("retry_job", {"job_id": "job-new-issuance"}, "only failed jobs can be retried")
        cancelled = await s.ok("cancel_job", {"job_id": "job-new-issuance"})
        assert cancelled["status"] == "Cancelled"
        await s.bad("cancel_job", {"job_id": "job-new-issuance"}, "only waiting or running jobs")
        agents = await s.ok("list_agents", {"limit": 2})
        assert len(agents["items"]) == 2 and agents["next_cursor"]
        await s.bad("list_agents", {"limit": 0}, "limit")
        agent = await s.ok("get_agent", {"agent_id": agents["items"][0]["id"]})
        assert agent["status"] in ("Online", "Offline", "Degraded")
        await s.bad("get_agent", {"agent_id": "agent-nope"}, "no agent 'agent-nope'")
        targets = await s.ok("list_targets", {"limit": 100})
        assert {"tgt-nginx-prod", "tgt-f5-prod"} <= {t["id"] for t in targets["items"]}
        await s.bad("list_targets", {"cursor": "garbage"}, "invalid cursor")
        assert (await s.ok("get_target", {"target_id": "tgt-nginx-prod"}))["type"] == "NGINX"
        await s.bad("get_target", {"target_id": "tgt-nope"}, "no target 'tgt-nope'")
        files = await s.ok(
            "create_target",
            {
                "name": "mcp files",
                "type": "Files",
                "config": {"directory": str(demo_home / "deploy"), "cert_file": "c.pem"},
            },
        )
        await s.bad("create_target", {"name": "gopher", "type": "Gopher"}, "type")
        check = await s.ok("test_target", {"target_id": files["id"]})
        assert check["ok"] and check["message"] == "configuration valid"
        broken = await s.ok(
            "update_target",
            {"target_id": files["id"], "config": {"directory": str(demo_home / "deploy"), "cert_file": "../out.pem"}},
        )
        assert broken["config"]["cert_file"] == "../out.pem"
        check = await s.ok("test_target", {"target_id": files["id"]})
        assert not check["ok"] and check["message"].startswith("configuration:") and "cert_file" in check["message"]
        await s.bad("test_target", {"target_id": "tgt-nope"}, "no target 'tgt-nope'")
        await s.bad("update_target", {"target_id": files["id"]}, "nothing to update")
        dry = await s.ok("delete_target", {"target_id": "tgt-f5-prod"})
        assert dry["outcome"] == "dry_run" and "mc-api-prod" in dry["message"]
        assert demo_engine.targets.get("tgt-f5-prod").name
        await s.bad("delete_target", {"target_id": "tgt-nope", "confirm": True}, "no target 'tgt-nope'")
        gone = await s.ok("delete_target", {"target_id": files["id"], "confirm": True})
        assert gone["outcome"] == "done" and files["id"] not in {t.id for t in demo_engine.targets.list()}
        queued = await s.ok("trigger_deployment", {"certificate_id": "mc-data-prod"})
        assert [(j["type"], j["target_id"], j["status"]) for j in queued["items"]] == [
            ("Deployment", "tgt-nginx-data", "Pending")
        ]
        await s.bad("trigger_deployment", {"certificate_id": "mc-data-prod"}, "is already queued")

        groups = await s.ok("list_agent_groups")
        assert {"ag-linux-prod", "ag-manual"} <= {g["id"] for g in groups["items"]}
        await s.bad("list_agent_groups", {"limit": 500}, "limit")
        assert (await s.ok("get_agent_group", {"group_id": "ag-linux-prod"}))["match_os"] == "linux"
        await s.bad("get_agent_group", {"group_id": "ag-nope"}, "no agent group 'ag-nope'")
        linux = await s.ok("list_agent_group_members", {"group_id": "ag-linux-prod"})
        linux_agents = {a.id for a in demo_engine.agents.list() if a.os.lower() == "linux"}
        assert {m["agent"]["id"] for m in linux["items"]} == linux_agents and linux_agents
        assert {m["reason"] for m in linux["items"]} == {"criteria"}
        await s.bad("list_agent_group_members", {"group_id": "ag-nope"}, "no agent group")
        arm = await s.ok("create_agent_group", {"name": "ARM", "match_architecture": "arm64"})
        await s.bad("create_agent_group", {"name": "Bad net", "match_ip_cidr": "10.0.0.0/40"}, "not an IP network")
        assert (await s.ok("update_agent_group", {"group_id": arm["id"], "match_version": "2.*"}))["match_version"]
        await s.bad("update_agent_group", {"group_id": arm["id"]}, "nothing to update")
        some_agent = agents["items"][0]["id"]
        included = await s.ok(
            "set_agent_group_membership", {"group_id": arm["id"], "agent_id": some_agent, "membership": "include"}
        )
        assert [(m["agent"]["id"], m["reason"]) for m in included["items"]] == [(some_agent, "include")]
        await s.bad(
            "set_agent_group_membership",
            {"group_id": arm["id"], "agent_id": some_agent, "membership": "maybe"},
            "membership",
        )
        dry_group = await s.ok("delete_agent_group", {"group_id": arm["id"]})
        assert dry_group["outcome"] == "dry_run" and "1 member(s)" in dry_group["message"]
        assert (await s.ok("delete_agent_group", {"group_id": arm["id"], "confirm": True}))["outcome"] == "done"
        await s.bad("delete_agent_group", {"group_id": arm["id"], "confirm": True}, "no agent group")

    assert s.valid == EXPECTED_TOOLS, EXPECTED_TOOLS - s.valid
    assert s.invalid == EXPECTED_TOOLS, EXPECTED_TOOLS - s.invalid


def _self_signed_pem(cn: str) -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
