"""Inventory figures for dashboards: counts by status, expiry buckets, per-issuer counts.

Each figure is one aggregate query over an index; nothing here reads the inventory row by
row, so the summary stays fast at 100,000 certificates.
"""

from __future__ import annotations

from datetime import timedelta

import peewee

from certctl_engine.domain import CertificateStatus, ExpiryBuckets, InventoryStats
from certctl_engine.services.context import ServiceContext
from certctl_engine.store.models import CertificateModel

# Revoked and archived certificates no longer "expire" in any way that needs action.
_NOT_LIVE = (CertificateStatus.REVOKED.value, CertificateStatus.ARCHIVED.value)


class StatsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def counts_by_status(self) -> dict[str, int]:
        rows = (
            CertificateModel.select(CertificateModel.status, peewee.fn.COUNT(peewee.SQL("*")))
            .group_by(CertificateModel.status)
            .tuples()
        )
        counts = {status.value: 0 for status in CertificateStatus}
        for status, count in rows:
            counts[status] = int(count)
        return counts

    def _count_expiring(self, start_days: int | None, end_days: int) -> int:
        now = self._ctx.now()
        query = CertificateModel.select().where(
            (CertificateModel.expires_at < now + timedelta(days=end_days)) & (CertificateModel.status.not_in(_NOT_LIVE))
        )
        if start_days is not None:
            query = query.where(CertificateModel.expires_at >= now + timedelta(days=start_days))
        return query.count()

    def expiry_buckets(self) -> ExpiryBuckets:
        """Live certificates already expired, and expiring in 0-7, 8-30 and 31-90 days."""
        return ExpiryBuckets(
            expired=self._count_expiring(None, 0),
            days_0_7=self._count_expiring(0, 8),
            days_8_30=self._count_expiring(8, 31),
            days_31_90=self._count_expiring(31, 91),
        )

    def expiring_within(self, days: int) -> int:
        """Live certificates whose expiry falls between now and ``days`` from now."""
        return self._count_expiring(0, days)

    def counts_by_issuer(self) -> dict[str, int]:
        rows = (
            CertificateModel.select(CertificateModel.issuer, peewee.fn.COUNT(peewee.SQL("*")))
            .where(CertificateModel.status != CertificateStatus.ARCHIVED.value)
            .group_by(CertificateModel.issuer)
            .tuples()
        )
        return {issuer: int(count) for issuer, count in rows}

    def summary(self) -> InventoryStats:
        with self._ctx.store.read():
            by_status = self.counts_by_status()
            return InventoryStats(
                total=sum(by_status.values()),
                by_status=by_status,
                expiry=self.expiry_buckets(),
                by_issuer=self.counts_by_issuer(),
                computed_at=self._ctx.now(),
            )
