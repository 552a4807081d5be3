"""Toolset ``stats``: dashboard figures, counts by status, the expiry timeline; and ``health``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from certctl_mcp.models import DashboardOut, DayCountOut, ExpirationTimeline, HealthOut, StatusCounts
from certctl_mcp.toolkit import READ, ToolKit

__all__ = ["register", "register_health"]


def register(kit: ToolKit) -> None:
    engine = kit.engine

    @kit.tool(READ)
    async def dashboard_summary() -> DashboardOut:
        """The dashboard's figures in one consistent read: counts by status and issuer, expiry buckets,
        agents, jobs (pending, awaiting approval, failed/completed in 30 days), open policy violations.

        Use it first for "how are my certificates doing?". Expiry buckets count live
        certificates (not revoked or archived): expired, 0-7, 8-30 and 31-90 days.
        """
        return DashboardOut.model_validate(await kit.run(engine.stats.dashboard))

    @kit.tool(READ)
    async def certificates_by_status() -> StatusCounts:
        """How many certificates are in each status (all statuses listed, zeros included)."""
        counts = await kit.run(engine.stats.counts_by_status)
        return StatusCounts(counts=counts, total=sum(counts.values()))

    @kit.tool(READ)
    async def expiration_timeline(
        days: Annotated[int, Field(ge=1, le=365, description="How many days ahead to look, 1-365.")] = 90,
    ) -> ExpirationTimeline:
        """Live certificates expiring on each of the next `days` days (UTC days; days with none left out).

        Use it to plan renewals ("what expires in the next two weeks, per day?"); then
        list_certificates with expiring_within_days gives the certificates themselves.
        """
        points = await kit.run(engine.stats.expiration_timeline, days)
        return ExpirationTimeline(
            days=days, points=[DayCountOut.model_validate(p) for p in points], total=sum(p.count for p in points)
        )


def register_health(kit: ToolKit) -> None:
    engine = kit.engine

    @kit.tool(READ)
    async def health() -> HealthOut:
        """Whether the server and its store work: store location, schema version, newest audit sequence,
        read-only mode and the toolsets served. Cheap; call it when another tool reports a store error."""

        def check() -> HealthOut:
            report = engine.upgrade_report
            return HealthOut(
                ok=True,
                store=engine.location.describe(),
                schema_version=report.to_version if report else None,
                audit_sequence=engine.audit.latest_sequence(),
                read_only=kit.read_only,
                toolsets=list(kit.toolsets),
                server_time=engine.now(),
            )

        return await kit.run(check)
