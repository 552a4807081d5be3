"""Inventory figures for dashboards: counts by status, expiry buckets, per-issuer counts.

Each figure is answered from covering indexes (index entries only, no table rows), so the
summary stays fast at 100,000 certificates. "Live" counts are therefore written as "all
rows in range" minus "Revoked/Archived rows in range": ``status NOT IN (...)`` cannot seek
an index and would look up every row in the range, which is what made the summary slow.
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
        in_range = CertificateModel.expires_at < now + timedelta(days=end_days)
        if start_days is not None:
            in_range &= CertificateModel.expires_at >= now + timedelta(days=start_days)
        with self._ctx.store.read():
            # Both counts read index entries only: (expires_at, id) and (status, expires_at, id).
            everything = CertificateModel.select().where(in_range).count()
            not_live = CertificateModel.select().where(in_range & CertificateModel.status.in_(_NOT_LIVE)).count()
        return everything - not_live

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
        """Non-archived certificates per issuer (issuers with none are left out)."""
        with self._ctx.store.read():
            # All rows per issuer come from the issuer index alone; only archived rows are read,
            # found through the status index. (Grouping by status too keeps SQLite from walking
            # the whole issuer index to avoid a sort once ANALYZE statistics exist.)
            counts = {
                issuer: int(count)
                for issuer, count in CertificateModel.select(CertificateModel.issuer, peewee.fn.COUNT(peewee.SQL("*")))
                .group_by(CertificateModel.issuer)
                .tuples()
            }
            for issuer, count in (
                CertificateModel.select(CertificateModel.issuer, peewee.fn.COUNT(peewee.SQL("*")))
                .where(CertificateModel.status == CertificateStatus.ARCHIVED.value)
                .group_by(CertificateModel.status, CertificateModel.issuer)
                .tuples()
            ):
                counts[issuer] -= int(count)
        return {issuer: count for issuer, count in counts.items() if count > 0}

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
