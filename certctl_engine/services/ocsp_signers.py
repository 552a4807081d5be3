"""Delegated OCSP responder certificates: one per local CA, issued by it, rotated before it expires.

Signing every OCSP response with the CA key would keep that key hot on the network path; a
short-lived responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) signs instead.
It is stored next to the store's other facts, its key sealed with the secret box like
every other key, so every engine on the store answers with the same responder and a restart
does not mint a new one. It is replaced once a third of its life is left, which keeps
it valid well past the ``nextUpdate`` of any response it signed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certctl_engine.domain import Actor
from certctl_engine.pki import (
    DEFAULT_KEY_SPEC,
    build_ocsp_responder_certificate,
    certificate_to_pem,
    fingerprint_sha256,
    generate_private_key,
    load_certificates,
    load_private_key_pem,
    private_key_to_pem,
)
from certctl_engine.pki.ca import CAMaterial
from certctl_engine.pki.keys import PrivateKey
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.store.models import StoreMetaModel

RESPONDER_VALIDITY = timedelta(days=30)
_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ResponderIdentity:
    """The certificate and key that sign one issuer's OCSP responses."""

    issuer_id: str
    certificate: x509.Certificate
    key: PrivateKey
    ca_fingerprint_sha256: str

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def due_for_rotation(self, now: datetime) -> bool:
        """True once a third of the certificate's life is left (or the CA behind it changed)."""
        lifetime = self.certificate.not_valid_after_utc - self.certificate.not_valid_before_utc
        return self.certificate.not_valid_after_utc - now < lifetime / 3


def _meta_key(issuer_id: str) -> str:
    """A fixed-length key: issuer ids may be longer than the meta table's 64-character keys allow."""
    return "ocsp_responder:" + hashlib.sha256(issuer_id.encode()).hexdigest()[:40]


def _seal_context(issuer_id: str) -> str:
    return f"ocsp_responder:{issuer_id}"


class OCSPSignerService:
    """Hands out each local CA's current responder identity, issuing or rotating it when due."""

    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._lock = threading.Lock()

    def current(self, issuer_id: str, material: CAMaterial, *, actor: Actor | None = None) -> ResponderIdentity:
        """The stored responder of ``issuer_id``, replaced first when due or issued by another CA."""
        now = self._ctx.now()
        stored = self._load(issuer_id)
        if self._usable(stored, material, now):
            assert stored is not None
            return stored
        with self._lock:
            stored = self._load(issuer_id)  # another thread may have rotated it meanwhile
            if self._usable(stored, material, now):
                assert stored is not None
                return stored
            return self._issue(issuer_id, material, stored, actor or Actor.system("ocsp-responder"))

    @staticmethod
    def _usable(stored: ResponderIdentity | None, material: CAMaterial, now: datetime) -> bool:
        return (
            stored is not None
            and stored.ca_fingerprint_sha256 == material.fingerprint_sha256
            and not stored.due_for_rotation(now)
        )

    def _load(self, issuer_id: str) -> ResponderIdentity | None:
        row = StoreMetaModel.get_or_none(StoreMetaModel.key == _meta_key(issuer_id))
        if row is None:
            return None
        value = json.loads(row.value)
        if value.get("issuer_id") != issuer_id:
            return None
        key_pem = self._ctx.secrets.decrypt(value["key_sealed"], _seal_context(issuer_id))
        return ResponderIdentity(
            issuer_id=issuer_id,
            certificate=load_certificates(value["certificate_pem"].encode())[0],
            key=load_private_key_pem(key_pem),
            ca_fingerprint_sha256=value["ca_fingerprint_sha256"],
        )

    def _issue(
        self, issuer_id: str, material: CAMaterial, previous: ResponderIdentity | None, actor: Actor
    ) -> ResponderIdentity:
        now = self._ctx.now()
        key = generate_private_key(DEFAULT_KEY_SPEC)
        # Never past the CA's own end: a responder its CA no longer vouches for helps nobody.
        not_after = min(now + RESPONDER_VALIDITY, material.certificate.not_valid_after_utc)
        certificate = build_ocsp_responder_certificate(
            issuer_cert=material.certificate,
            issuer_key=material.key,
            responder_public_key=key.public_key(),
            not_before=max(now - _BACKDATE, material.certificate.not_valid_before_utc),
            not_after=not_after,
        )
        identity = ResponderIdentity(issuer_id, certificate, key, material.fingerprint_sha256)
        value = {
            "issuer_id": issuer_id,
            "certificate_pem": certificate_to_pem(certificate),
            "key_sealed": self._ctx.secrets.encrypt(private_key_to_pem(key), _seal_context(issuer_id)),
            "ca_fingerprint_sha256": material.fingerprint_sha256,
        }
        with self._ctx.store.write():
            StoreMetaModel.insert(key=_meta_key(issuer_id), value=json.dumps(value)).on_conflict(
                conflict_target=[StoreMetaModel.key], update={StoreMetaModel.value: json.dumps(value)}
            ).execute()
            self._audit.record(
                actor,
                "ocsp_responder_rotated" if previous is not None else "ocsp_responder_issued",
                "issuer",
                issuer_id,
                {
                    "serial_number": format(certificate.serial_number, "x"),
                    "fingerprint_sha256": fingerprint_sha256(certificate),
                    "not_after": certificate.not_valid_after_utc.isoformat(),
                    **({"replaced_serial": format(previous.certificate.serial_number, "x")} if previous else {}),
                },
            )
        return identity
