"""Building the MCP server: which toolsets, read-only or not, the audit middleware."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer

from certctl_mcp import (
    prompts,
    resources,
    tools_alerts,
    tools_audit,
    tools_certificates,
    tools_config,
    tools_jobs,
    tools_pki,
    tools_stats,
)
from certctl_mcp.audit import AuditMiddleware
from certctl_mcp.strict import StrictArguments
from certctl_mcp.toolkit import ToolKit

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

__all__ = ["TOOLSETS", "UnknownToolset", "build_server", "parse_toolsets"]

TOOLSETS: tuple[str, ...] = ("certificates", "pki", "config", "audit", "stats", "alerts", "jobs")
"""Groups of tools that --toolsets can pick; ``health`` is always served."""

SERVER_NAME = "certctl"
SERVER_VERSION = "0.1.0"

INSTRUCTIONS = """\
certctl manages X.509 certificates: an inventory (list_certificates, get_certificate), issuance and
renewal through local CAs (create_certificate then issue_certificate; renew_certificate), revocation
(revoke_certificate, get_crl, check_ocsp), configuration (issuers, profiles, owners, teams, renewal
policies, deployment targets), jobs (list_jobs; approve_job for what waits in AwaitingApproval;
trigger_deployment), agents, alerts and policies, and a hash-chained audit trail. Start with
dashboard_summary or list_certificates. Certificate tools accept an id or the exact name. Lists are
paged: follow next_cursor. Destructive tools (revoke, archive, delete) confirm with the person, or
return a dry run unless confirm=true. All times are UTC. Every call is audited as mcp:<client name>."""


class UnknownToolset(ValueError):
    """--toolsets named something that does not exist."""


def parse_toolsets(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The toolsets named (comma-separated text or a list), checked; None or empty means all."""
    if value is None:
        return TOOLSETS
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    if not names:
        return TOOLSETS
    unknown = [n for n in names if n not in TOOLSETS]
    if unknown:
        raise UnknownToolset(
            f"unknown toolset{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}; "
            f"choose from {', '.join(TOOLSETS)}"
        )
    return tuple(dict.fromkeys(names))


def build_server(engine: Engine, *, read_only: bool = False, toolsets: str | Iterable[str] | None = None) -> MCPServer:
    """An MCP server over ``engine``: the chosen toolsets (all by default), without mutating tools
    when ``read_only``, with resources, prompts and an audit event for every tool call."""
    chosen = parse_toolsets(toolsets)
    server = MCPServer(
        SERVER_NAME,
        title="certctl",
        description="Certificate lifecycle management: inventory, issuance, revocation, audit.",
        instructions=INSTRUCTIONS,
        version=SERVER_VERSION,
        log_level="WARNING",
    )
    # Outermost first: the audit sees every call, including those refused for unknown arguments.
    server.middleware.extend([AuditMiddleware(engine), StrictArguments(server)])
    kit = ToolKit(server=server, engine=engine, read_only=read_only, toolsets=chosen)
    modules = {
        "certificates": tools_certificates,
        "pki": tools_pki,
        "config": tools_config,
        "audit": tools_audit,
        "stats": tools_stats,
        "alerts": tools_alerts,
        "jobs": tools_jobs,
    }
    for name in chosen:
        modules[name].register(kit)
    tools_stats.register_health(kit)
    resources.register(kit, certificates="certificates" in chosen, pki="pki" in chosen, stats="stats" in chosen)
    prompts.register(server)
    server.certctl_toolkit = kit  # type: ignore[attr-defined]  # for tests and the benchmark
    return server
