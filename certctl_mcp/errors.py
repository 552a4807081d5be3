"""Engine errors as ``isError`` tool results: what went wrong and what to call next.

The engine's messages are written for people; its hints sometimes name CLI commands, so
for an assistant each kind gets a hint in terms of this server's tools. Nothing here ever
includes a traceback, a private key or a secret: only the engine's message, which never
carries them.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError

from certctl_engine.errors import (
    CertctlError,
    Conflict,
    IntegrityError,
    InvalidInput,
    IssuerError,
    NotFound,
    PolicyViolation,
    StoreError,
    Unauthorized,
)

__all__ = ["ServerRefusal", "hint_for", "tool_error"]

# The list tool that shows the ids of each resource the engine can report as missing.
_LIST_TOOL = {
    "certificate": "list_certificates",
    "certificate version": "list_certificate_versions",
    "issuer": "list_issuers",
    "CA for issuer": "list_issuers",
    "owner": "list_owners",
    "team": "list_teams",
    "profile": "list_profiles",
    "renewal policy": "list_renewal_policies",
    "audit event": "list_audit_events",
    "notification": "list_notifications",
    "policy rule": "list_policy_rules",
    "discovered certificate": "list_discoveries",
    "network scan target": "list_scan_targets",
}


class ServerRefusal(CertctlError):
    """Something this server refuses on its own account (e.g. read-only mode)."""

    kind = "refused"


def hint_for(exc: CertctlError) -> str:
    """An actionable next step for an assistant, in terms of this server's tools."""
    if isinstance(exc, NotFound):
        tool = _LIST_TOOL.get(exc.resource)
        if exc.resource == "certificate":
            return f"call list_certificates with query='{exc.identifier[:40]}' to find the id"
        if tool:
            return f"call {tool} to see the valid ids"
        return exc.hint or "check the id"
    if isinstance(exc, PolicyViolation) and exc.field == "policy_rule":
        return (
            "a policy rule forbids this (the message names it); change the certificate, or an operator changes the rule"
        )
    if isinstance(exc, PolicyViolation):
        return "the certificate's profile forbids this; call get_profile to see its rules, or choose another profile"
    if isinstance(exc, InvalidInput):
        field = f" '{exc.field}'" if exc.field else ""
        return f"correct the argument{field} and call the tool again"
    if isinstance(exc, Conflict):
        return "the object's current state does not allow this; get it again (e.g. get_certificate) and adapt"
    if isinstance(exc, IssuerError):
        return "the issuer refused or is not usable; call get_issuer to check its type and whether it is enabled"
    if isinstance(exc, IntegrityError):
        return "stored data failed an integrity check; tell an operator (verify_audit_chain shows where)"
    if isinstance(exc, StoreError):
        return "the store is unavailable; call health and tell an operator"
    if isinstance(exc, Unauthorized):
        return "this caller may not do that"
    if isinstance(exc, ServerRefusal):
        return exc.hint or "this server refuses the request as configured"
    return "see the message"


def tool_error(exc: CertctlError) -> ToolError:
    """The ``ToolError`` an engine error becomes: kind, message and a hint on one line."""
    return ToolError(f"{exc.kind}: {exc.message}. Hint: {hint_for(exc)}")
