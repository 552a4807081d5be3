"""Local CA issuers: their key material, created on first use or imported as a sub-CA.

The CA key is sealed with the secret box before it is stored. A sub-CA is validated when it
is configured (not a CA, no keyCertSign, expired, wrong passphrase, key that does not match:
all refused then), never at first issuance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certctl_engine.domain import Actor, CAInfo, IssuerType
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.pki import (
    certificate_to_pem,
    inspect_certificate,
    load_certificates,
    load_private_key_pem,
    private_key_to_pem,
)
from certctl_engine.pki.ca import CAMaterial, create_root_ca, load_ca
from certctl_engine.pki.keys import KeySpec
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.issuers import IssuerService
from certctl_engine.store.models import CertificateAuthorityModel, IssuerModel

DEFAULT_CA_NAME = "certctl Local CA"


def read_ca_files(config: dict[str, Any]) -> tuple[bytes, bytes, bytes | None] | None:
    """(certificate PEM, key PEM, passphrase) named by a GenericCA issuer's configuration, if any."""
    cert_path, key_path = config.get("ca_cert_path"), config.get("ca_key_path")
    if not cert_path and not key_path:
        return None
    if not cert_path or not key_path:
        raise InvalidInput("sub-CA mode needs both ca_cert_path and ca_key_path", field="config")
    blobs = []
    for field, path in (("ca_cert_path", cert_path), ("ca_key_path", key_path)):
        try:
            blobs.append(Path(str(path)).expanduser().read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read {field} {path}: {exc.strerror or exc}", field=field) from None
    passphrase = config.get("ca_key_passphrase")
    return blobs[0], blobs[1], passphrase.encode() if passphrase else None


class CAService:
    def __init__(self, ctx: ServiceContext, audit: AuditService, issuers: IssuerService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._issuers = issuers
        self._cache: dict[str, CAMaterial] = {}

    def _local_issuer(self, issuer_id: str) -> IssuerModel:
        row = IssuerModel.get_or_none(IssuerModel.id == issuer_id)
        if row is None:
            raise NotFound("issuer", issuer_id, hint="list issuers to see the ids")
        if row.type != IssuerType.GENERIC_CA.value:
            raise InvalidInput(
                f"issuer '{issuer_id}' is of type {row.type}; only {IssuerType.GENERIC_CA.value} (local CA) "
                "issuers hold CA keys here",
                field="issuer_id",
            )
        return row

    def _to_info(self, row: CertificateAuthorityModel) -> CAInfo:
        cert = load_certificates(row.certificate_pem.encode())[0]
        info = inspect_certificate(cert)
        chain = load_certificates(row.chain_pem.encode()) if row.chain_pem.strip() else []
        return CAInfo(
            issuer_id=row.issuer_id,
            mode=row.mode,
            subject=info.subject_dn,
            fingerprint_sha256=info.fingerprint_sha256,
            not_before=info.not_before,
            not_after=info.not_after,
            key_algorithm=info.key_algorithm,
            key_size=info.key_size,
            chain_length=len(chain),
            crl_number=row.crl_number,
            certificate_pem=row.certificate_pem,
            chain_pem=row.chain_pem,
        )

    def info(self, issuer_id: str) -> CAInfo:
        self._local_issuer(issuer_id)
        row = CertificateAuthorityModel.get_or_none(CertificateAuthorityModel.issuer == issuer_id)
        if row is None:
            raise NotFound(
                "CA for issuer", issuer_id, hint="it is created on first issuance, or now with 'certctl ca init'"
            )
        return self._to_info(row)

    def material(self, issuer_id: str, *, actor: Actor | None = None) -> CAMaterial:
        """The CA's certificate and key; a root (or the configured sub-CA) is set up on first use.

        Kept in memory once loaded, keyed by the stored certificate's fingerprint: a CA is
        never replaced in place, so the check is one small indexed read.
        """
        fingerprint = (
            CertificateAuthorityModel.select(CertificateAuthorityModel.fingerprint_sha256)
            .where(CertificateAuthorityModel.issuer == issuer_id)
            .scalar()
        )
        cached = self._cache.get(issuer_id)
        if cached is not None and fingerprint == cached.fingerprint_sha256:
            return cached
        row = CertificateAuthorityModel.get_or_none(CertificateAuthorityModel.issuer == issuer_id)
        if row is None:
            self.init(issuer_id, actor=actor or Actor.system())
            row = CertificateAuthorityModel.get(CertificateAuthorityModel.issuer == issuer_id)
        key = load_private_key_pem(self._ctx.secrets.decrypt(row.key_encrypted, f"ca:{issuer_id}"))
        cert = load_certificates(row.certificate_pem.encode())[0]
        chain = tuple(load_certificates(row.chain_pem.encode())) if row.chain_pem.strip() else ()
        material = CAMaterial(certificate=cert, key=key, chain=chain)
        self._cache[issuer_id] = material
        return material

    def init(
        self,
        issuer_id: str,
        *,
        actor: Actor,
        cert_pem: bytes | None = None,
        key_pem: bytes | None = None,
        passphrase: bytes | None = None,
        common_name: str | None = None,
        key_spec: KeySpec | None = None,
        validity_days: int = 3650,
    ) -> CAInfo:
        """Create the issuer's root CA, or import a sub-CA (validated now, before anything is stored)."""
        issuer = self._local_issuer(issuer_id)
        config = self._issuers.connector_config(issuer_id)
        if cert_pem is None and key_pem is None:
            files = read_ca_files(config)
            if files is not None:
                cert_pem, key_pem, passphrase = files
        now = self._ctx.now()
        if cert_pem is not None or key_pem is not None:
            if cert_pem is None or key_pem is None:
                raise InvalidInput("a sub-CA needs both its certificate and its key", field="key")
            material = load_ca(cert_pem, key_pem, passphrase, now=now)
            mode = "sub-ca"
        else:
            kwargs: dict[str, Any] = {
                "common_name": common_name or str(config.get("ca_common_name") or DEFAULT_CA_NAME),
                "validity_days": validity_days,
                "now": now,
            }
            if key_spec is not None:
                kwargs["key_spec"] = key_spec
            material = create_root_ca(**kwargs)
            mode = "self-signed"
        sealed = self._ctx.secrets.encrypt(private_key_to_pem(material.key), f"ca:{issuer_id}")
        with self._ctx.store.write():
            if CertificateAuthorityModel.get_or_none(CertificateAuthorityModel.issuer == issuer_id):
                raise Conflict(
                    f"issuer '{issuer_id}' already has a CA; replacing a CA would orphan every certificate it issued"
                )
            CertificateAuthorityModel.create(
                issuer=issuer.id,
                mode=mode,
                certificate_pem=material.certificate_pem,
                chain_pem="".join(certificate_to_pem(c) for c in material.chain),
                key_encrypted=sealed,
                fingerprint_sha256=material.fingerprint_sha256,
                not_after=material.certificate.not_valid_after_utc,
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "ca_created" if mode == "self-signed" else "ca_imported",
                "issuer",
                issuer_id,
                {"mode": mode, "subject": material.subject, "fingerprint_sha256": material.fingerprint_sha256},
            )
        return self.info(issuer_id)

    def next_crl_number(self, issuer_id: str) -> int:
        """Increment and return the issuer's CRL number; call inside the write that uses it."""
        if not self._ctx.store.in_write:
            raise RuntimeError("CRL numbers are taken inside a write transaction")
        row = CertificateAuthorityModel.get(CertificateAuthorityModel.issuer == issuer_id)
        row.crl_number += 1
        row.updated_at = self._ctx.now()
        row.save()
        return int(row.crl_number)
