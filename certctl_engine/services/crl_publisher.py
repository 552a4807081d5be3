"""The CRL each local CA publishes: signed once, then served until a revocation or its refresh time.

``RevocationService.crl`` signs a new CRL with the next CRL number every time it is called;
calling it per download would burn numbers and signatures and hand every relying party a
different file. The publisher keeps the last signed CRL in the store (so every engine on the
store, and a restarted one, serves the same bytes) together with the revocation stamp it was
built from: the issuer's revocation count and newest revocation time. A new CRL is signed
when that stamp changes (a revocation), when the CA changed, or once half of its validity
has passed, so the published copy is never close to its ``nextUpdate``. The scheduler's
``crl_refresh`` loop calls ``refresh_all`` so that last case happens without a download.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime

import peewee
from cryptography import x509

from certctl_engine.domain import Actor, IssuerType
from certctl_engine.errors import NotFound
from certctl_engine.pki import load_crl
from certctl_engine.services.ca import CAService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.revocation import RevocationService
from certctl_engine.store.fields import to_utc
from certctl_engine.store.models import CertificateAuthorityModel, IssuerModel, RevocationModel, StoreMetaModel

PUBLISHER_ACTOR = Actor.system("crl-publisher")


@dataclass(frozen=True, slots=True)
class PublishedCRL:
    """One signed CRL as it is served: DER bytes, its number and window, and an HTTP entity tag."""

    issuer_id: str
    der: bytes
    crl_number: int
    this_update: datetime
    next_update: datetime
    refresh_at: datetime
    stamp: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.der).hexdigest()[:32] + '"'


def _meta_key(issuer_id: str) -> str:
    return "published_crl:" + hashlib.sha256(issuer_id.encode()).hexdigest()[:40]


class CRLPublisher:
    def __init__(self, ctx: ServiceContext, ca: CAService, revocation: RevocationService) -> None:
        self._ctx = ctx
        self._ca = ca
        self._revocation = revocation
        self._memory: dict[str, PublishedCRL] = {}
        self._lock = threading.Lock()

    def current(self, issuer_id: str, *, actor: Actor | None = None) -> PublishedCRL:
        """The CRL to serve for ``issuer_id``, signed anew only when the published one is out of date.

        Raises NotFound for an issuer that is not a local CA with key material: asking for a
        CRL never creates a CA.
        """
        fingerprint = self._ca_fingerprint(issuer_id)
        stamp = self._stamp(issuer_id, fingerprint)
        published = self._memory.get(issuer_id)
        if published is None or not self._fresh(published, stamp):
            with self._lock:
                published = self._load(issuer_id)
                if published is None or not self._fresh(published, stamp):
                    published = self._publish(issuer_id, stamp, actor or PUBLISHER_ACTOR)
                self._memory[issuer_id] = published
        return published

    def refresh_all(self, *, actor: Actor = PUBLISHER_ACTOR) -> dict[str, int]:
        """Bring every local CA's published CRL up to date; returns the CRL number each one serves."""
        issuer_ids = [
            row.issuer_id
            for row in CertificateAuthorityModel.select(CertificateAuthorityModel.issuer)
            .join(IssuerModel)
            .where(IssuerModel.type == IssuerType.GENERIC_CA.value)
        ]
        return {issuer_id: self.current(issuer_id, actor=actor).crl_number for issuer_id in issuer_ids}

    # ------------------------------------------------------------------ helpers
    def _fresh(self, published: PublishedCRL, stamp: str) -> bool:
        return published.stamp == stamp and self._ctx.now() < published.refresh_at

    @staticmethod
    def _ca_fingerprint(issuer_id: str) -> str:
        kind = IssuerModel.select(IssuerModel.type).where(IssuerModel.id == issuer_id).scalar()
        if kind is None:
            raise NotFound("issuer", issuer_id, hint="list issuers to see the ids")
        if kind != IssuerType.GENERIC_CA.value:
            raise NotFound(
                f"CRL of {kind} issuer",
                issuer_id,
                hint=f"only {IssuerType.GENERIC_CA.value} (local CA) issuers publish CRLs here; ask that CA",
            )
        fingerprint = (
            CertificateAuthorityModel.select(CertificateAuthorityModel.fingerprint_sha256)
            .where(CertificateAuthorityModel.issuer == issuer_id)
            .scalar()
        )
        if fingerprint is None:
            raise NotFound(
                "CA for issuer", issuer_id, hint="it is created on first issuance, or with 'certctl ca init'"
            )
        return str(fingerprint)

    @staticmethod
    def _stamp(issuer_id: str, fingerprint: str) -> str:
        count, newest = (
            RevocationModel.select(peewee.fn.COUNT(RevocationModel.id), peewee.fn.MAX(RevocationModel.created_at))
            .where(RevocationModel.issuer == issuer_id)
            .tuples()
            .get()
        )
        return f"{fingerprint}:{count}:{newest}"

    def _load(self, issuer_id: str) -> PublishedCRL | None:
        row = StoreMetaModel.get_or_none(StoreMetaModel.key == _meta_key(issuer_id))
        if row is None:
            return None
        value = json.loads(row.value)
        if value.get("issuer_id") != issuer_id:
            return None
        return _published(issuer_id, base64.b64decode(value["der"]), value["stamp"])

    def _publish(self, issuer_id: str, stamp: str, actor: Actor) -> PublishedCRL:
        der = self._revocation.crl(issuer_id, actor=actor)
        published = _published(issuer_id, der, stamp)
        value = json.dumps({"issuer_id": issuer_id, "der": base64.b64encode(der).decode(), "stamp": stamp})
        with self._ctx.store.write():
            StoreMetaModel.insert(key=_meta_key(issuer_id), value=value).on_conflict(
                conflict_target=[StoreMetaModel.key], update={StoreMetaModel.value: value}
            ).execute()
        return published


def _published(issuer_id: str, der: bytes, stamp: str) -> PublishedCRL:
    crl = load_crl(der)
    this_update = to_utc(crl.last_update_utc)
    next_update = to_utc(crl.next_update_utc) if crl.next_update_utc else this_update
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return PublishedCRL(
        issuer_id=issuer_id,
        der=der,
        crl_number=number,
        this_update=this_update,
        next_update=next_update,
        refresh_at=this_update + (next_update - this_update) / 2,
        stamp=stamp,
    )
