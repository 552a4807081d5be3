"""Named leases in the store: one holder at a time, handed over when the holder stops renewing.

The scheduler holds the ``scheduler`` lease, so one store never runs its loops twice, be it
a dashboard and a headless engine on one SQLite file or several engines on one PostgreSQL.
The store's write lock makes take-over atomic on both back ends.
"""

from __future__ import annotations

from datetime import timedelta

from certctl_engine.services.context import ServiceContext
from certctl_engine.store.models import LeaseModel


class LeaseService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def acquire(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the lease; False while another holder's lease is still valid."""
        now = self._ctx.now()
        with self._ctx.store.write():
            row = LeaseModel.get_or_none(LeaseModel.name == name)
            if row is None:
                LeaseModel.create(name=name, holder=holder, acquired_at=now, expires_at=now + ttl)
                return True
            if row.holder != holder and row.expires_at > now:
                return False
            if row.holder != holder:
                row.acquired_at = now
            row.holder = holder
            row.expires_at = now + ttl
            row.save()
            return True

    def release(self, name: str, holder: str) -> None:
        with self._ctx.store.write():
            LeaseModel.delete().where((LeaseModel.name == name) & (LeaseModel.holder == holder)).execute()

    def holder(self, name: str) -> str | None:
        row = LeaseModel.get_or_none(LeaseModel.name == name)
        if row is None or row.expires_at <= self._ctx.now():
            return None
        return str(row.holder)
