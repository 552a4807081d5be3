"""Status changes that time alone causes."""

from __future__ import annotations

from certctl_engine.domain import Actor, CertificateStatus
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.profiles import short_lived_profile
from certctl_engine.store.models import CertificateModel, ProfileModel

_LIVE = (CertificateStatus.ACTIVE.value, CertificateStatus.EXPIRING.value)


class LifecycleService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit

    def expire_short_lived(self, *, actor: Actor | None = None) -> list[str]:
        """Mark short-lived certificates whose ``not_after`` has passed as Expired (their expiry is
        their revocation: they never go on a CRL). Returns the ids changed."""
        actor = actor or Actor.system("short-lived-expiry")
        now = self._ctx.now()
        with self._ctx.store.write():
            rows = list(
                CertificateModel.select(CertificateModel.id, CertificateModel.expires_at)
                .join(ProfileModel, on=(ProfileModel.id == CertificateModel.certificate_profile))
                .where(
                    CertificateModel.status.in_(_LIVE) & (CertificateModel.expires_at <= now) & short_lived_profile()
                )
            )
            for row in rows:
                CertificateModel.update(status=CertificateStatus.EXPIRED.value, updated_at=now).where(
                    CertificateModel.id == row.id
                ).execute()
                self._audit.record(
                    actor,
                    "short_lived_cert_expired",
                    "certificate",
                    row.id,
                    {"expired_at": row.expires_at.isoformat()},
                )
        return [row.id for row in rows]
