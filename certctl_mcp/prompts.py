"""Prompts: human-driven flows an assistant walks through with the tools."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

__all__ = ["register"]


def register(server: MCPServer) -> None:
    @server.prompt(title="Triage expiring certificates")
    def triage_expiring(
        days: Annotated[str, Field(description="Look this many days ahead (1-365).")] = "30",
    ) -> str:
        """Find what expires soon, group it by owner and urgency, and propose renewals."""
        return (
            f"Triage the certificates that expire within the next {days} days.\n\n"
            "1. Call dashboard_summary for the overall picture (expired, 0-7, 8-30, 31-90 days).\n"
            f"2. Call list_certificates with expiring_within_days={days}, sort=expires_at, order=asc; "
            "follow next_cursor until it is null. Also list status=Expired.\n"
            "3. For each certificate note its owner (get_owner), team, environment and days left; "
            "flag prod certificates with under 7 days as urgent.\n"
            "4. Present a table: certificate, CN, environment, owner, expires (UTC), days left, urgency.\n"
            "5. Propose renew_certificate for the urgent ones and ask me before renewing anything. "
            "Do not revoke or archive anything in this flow."
        )

    @server.prompt(title="Incident: key compromise")
    def incident_key_compromise(
        certificate: Annotated[str, Field(description="The compromised certificate's id, name, CN or SAN.")],
    ) -> str:
        """Respond to a compromised private key: identify, revoke, replace, verify and record."""
        return (
            f"A private key is compromised: '{certificate}'. Walk me through the incident response.\n\n"
            f"1. Identify it: get_certificate('{certificate}'), or list_certificates with query='{certificate}' "
            "if that fails. Show id, CN, SANs, issuer, owner, status and the current serial; confirm with me "
            "that it is the right one.\n"
            "2. Find siblings sharing the name: list_certificates with the CN as query.\n"
            "3. Revoke with reason keyCompromise: revoke_certificate (confirm when asked; without elicitation "
            "show me the dry run first, then call again with confirm=true only after I agree).\n"
            "4. Replace it: create_certificate with the same CN, SANs, owner and issuer under a new name, "
            "then issue_certificate (a new key).\n"
            "5. Verify: check_ocsp with the issuer and the old serial must say revoked; get_crl must list it.\n"
            "6. Record: list_audit_events with resource_id of the old certificate and summarise the timeline, "
            "and remind me to deploy the new certificate where the old one was used."
        )
