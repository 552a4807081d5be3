"""Toolset ``audit``: the hash-chained audit trail, read and verified."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field

from certctl_mcp.models import AuditEventOut, AuditPage, AuditVerificationOut
from certctl_mcp.toolkit import READ, ToolKit

__all__ = ["register"]


def register(kit: ToolKit) -> None:
    engine = kit.engine

    @kit.tool(READ)
    async def list_audit_events(
        resource_type: Annotated[
            str | None,
            Field(
                max_length=255,
                description="Only events about this kind of object, e.g. certificate, issuer, team, mcp.",
            ),
        ] = None,
        resource_id: Annotated[
            str | None, Field(max_length=255, description="Only events about this object id (e.g. a certificate id).")
        ] = None,
        actor: Annotated[
            str | None,
            Field(
                max_length=255,
                description="Only events by this actor, exactly (e.g. 'mcp:claude-desktop', 'cli:alice').",
            ),
        ] = None,
        action: Annotated[
            str | None,
            Field(
                max_length=255,
                description="Only this action, e.g. certificate_revoked, certificate_issued, mcp_tool_call.",
            ),
        ] = None,
        since: Annotated[datetime | None, Field(description="Only events at or after this ISO 8601 time.")] = None,
        until: Annotated[datetime | None, Field(description="Only events at or before this ISO 8601 time.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Rows per page, 1-100.")] = 25,
        cursor: Annotated[
            str | None, Field(max_length=500, description="The next_cursor of the previous page.")
        ] = None,
    ) -> AuditPage:
        """List audit events, newest first, filtered; one page at a time.

        Use it to answer "who revoked this?" or "what changed today?". Every change and
        every MCP tool call is recorded (actor mcp:<client> for this server). Times are
        UTC; a time without a zone is read as UTC. Pass next_cursor back as cursor.
        """
        page = await kit.run(
            engine.audit.list,
            resource_type=resource_type,
            resource_id=resource_id,
            actor=actor,
            action=action,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
            cursor=cursor,
        )
        return AuditPage(items=[AuditEventOut.model_validate(e) for e in page.items], next_cursor=page.next_cursor)

    @kit.tool(READ)
    async def get_audit_event(
        event_id: Annotated[str, Field(min_length=1, max_length=64, description="The event id (audit-...).")],
    ) -> AuditEventOut:
        """Get one audit event with its details and its place in the hash chain."""
        return AuditEventOut.model_validate(await kit.run(engine.audit.get, event_id))

    @kit.tool(READ)
    async def verify_audit_chain() -> AuditVerificationOut:
        """Check the whole audit hash chain; names the first event that was altered or deleted.

        Reads every event (seconds on a very large trail). ok=false means the trail was
        tampered with or damaged from first_broken_sequence on.
        """
        return AuditVerificationOut.model_validate(await kit.run(engine.audit.verify))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
