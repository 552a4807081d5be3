"""ACME Renewal Information (ARI, RFC 9773): asking each ACME CA when it wants its certificates renewed.

A CA that offers ``renewalInfo`` may ask for an early renewal (a mass revocation, a key
compromise on its side), and its signal must reach the renewal check even for a
certificate far from its policy window: so every live certificate of such a CA is asked
about, not only the ones the policy would renew soon. The answer is kept per certificate
for its current version (``RenewalInfoModel``) with the moment chosen in the suggested
window, uniformly at random as RFC 9773 asks so that a fleet does not renew at once, and
the time the CA said to ask again. A CA without ARI, or one that cannot be reached, leaves
the policy window alone in charge.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from certctl_engine.domain import Actor, CertificateStatus, IssuerType
from certctl_engine.errors import CertctlError
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.deployments import split_chain
from certctl_engine.services.issuance import IssuanceService
from certctl_engine.store.models import CertificateModel, IssuerModel, RenewalInfoModel

__all__ = ["RenewalInfoRefresh", "RenewalInfoService"]

log = logging.getLogger("certctl.renewal")

_LIVE = (CertificateStatus.ACTIVE.value, CertificateStatus.EXPIRING.value)
"""Certificates worth asking about: issued and not expired (RFC 9773: never after expiry)."""
_FAILED_RETRY = timedelta(hours=1)
"""How soon to ask again a CA whose renewal information could not be read."""


@dataclass(frozen=True, slots=True)
class RenewalInfoRefresh:
    asked: int
    stored: int
    failed: int


class RenewalInfoService:
    def __init__(
        self,
        ctx: ServiceContext,
        certificates: CertificateService,
        issuance: IssuanceService,
        *,
        pick: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._ctx = ctx
        self._certificates = certificates
        self._issuance = issuance
        self._pick = pick
        self._unreadable: dict[str, datetime] = {}  # certificate id -> when to try again after a failure

    def refresh(self, *, actor: Actor, limit: int = 200) -> RenewalInfoRefresh:
        """Ask the ACME CAs about live certificates with no answer yet for their current version, or whose
        answer the CA said to refresh by now; at most ``limit`` per call (the renewal check calls it)."""
        now = self._ctx.now()
        stale = (
            RenewalInfoModel.certificate.is_null()
            | (RenewalInfoModel.version_id != CertificateModel.current_version_id)
            | (RenewalInfoModel.next_check_at <= now)
        )
        rows = list(
            CertificateModel.select(CertificateModel.id, CertificateModel.issuer, CertificateModel.current_version_id)
            .join(IssuerModel, on=(IssuerModel.id == CertificateModel.issuer))
            .switch(CertificateModel)
            .join(RenewalInfoModel, peewee.JOIN.LEFT_OUTER, on=(RenewalInfoModel.certificate == CertificateModel.id))
            .where(
                (IssuerModel.type == IssuerType.ACME.value)
                & (IssuerModel.enabled == True)  # noqa: E712
                & CertificateModel.current_version_id.is_null(False)
                & CertificateModel.status.in_(_LIVE)
                & stale
            )
            .order_by(CertificateModel.expires_at)
            .limit(limit * 2)
            .tuples()
        )
        rows = [r for r in rows if self._unreadable.get(r[0], now) <= now][:limit]
        connectors: dict[str, object] = {}
        asked = stored = failed = 0
        for cert_id, issuer_id, version_id in rows:
            try:
                if issuer_id not in connectors:
                    connectors[issuer_id] = self._issuance.connector_for(issuer_id, actor=actor)
                connector = connectors[issuer_id]
                ask = getattr(connector, "renewal_window", None)
                if ask is None:
                    continue
                leaf_pem, _ = split_chain(self._certificates.get_version(version_id).pem_chain)
                asked += 1
                window = ask(leaf_pem)
            except CertctlError as exc:
                failed += 1
                self._unreadable[cert_id] = now + _FAILED_RETRY
                log.warning("renewal information for %s could not be read: %s", cert_id, exc.message)
                continue
            if window is None:  # the CA offers no ARI; its connector knows without asking the network
                continue
            span = (window.end - window.start).total_seconds()
            renew_at = window.start + timedelta(seconds=self._pick(0.0, span))
            values = {
                "version_id": version_id,
                "window_start": window.start,
                "window_end": window.end,
                "renew_at": renew_at,
                "next_check_at": now + timedelta(seconds=window.retry_after_seconds),
                "explanation_url": window.explanation_url,
                "checked_at": now,
            }
            with self._ctx.store.write():
                updated = RenewalInfoModel.update(**values).where(RenewalInfoModel.certificate == cert_id).execute()
                if not updated:
                    RenewalInfoModel.create(certificate=cert_id, **values)
            self._unreadable.pop(cert_id, None)
            stored += 1
        return RenewalInfoRefresh(asked, stored, failed)

    def due(self) -> dict[str, datetime]:
        """Live certificates whose CA's chosen renewal moment, for their current version, has come."""
        now = self._ctx.now()
        rows = (
            RenewalInfoModel.select(RenewalInfoModel.certificate, RenewalInfoModel.renew_at)
            .join(CertificateModel, on=(CertificateModel.id == RenewalInfoModel.certificate))
            .where(
                (RenewalInfoModel.renew_at <= now)
                & (RenewalInfoModel.version_id == CertificateModel.current_version_id)
                & CertificateModel.status.in_(_LIVE)
            )
            .tuples()
        )
        return dict(rows)
