"""Getting certificates out (PEM, PKCS#12) and bringing existing ones in.

Exports of private keys are deliberate: the caller asks for the key and, unless they say
otherwise in so many words, gets it encrypted under their passphrase. Imports are one
transaction per input: a bundle either becomes managed certificates with their first
version, or nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from certctl_engine.domain import Actor, Certificate, CertificateStatus
from certctl_engine.errors import Conflict, InvalidInput
from certctl_engine.pki import (
    certificates_to_pem,
    inspect_certificate,
    load_certificates,
    load_private_key_pem,
    order_chain,
    private_key_to_pem,
)
from certctl_engine.pki.export import PemBundle, export_pem, export_pkcs12
from certctl_engine.pki.keys import PrivateKey
from certctl_engine.services.audit import AuditService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.store.models import CertificateModel, CertificateVersionModel

EXPIRING_DAYS = 30


@dataclass(frozen=True, slots=True)
class ImportedItem:
    certificate: Certificate
    had_private_key: bool


def _public_der(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class ExchangeService:
    def __init__(self, ctx: ServiceContext, audit: AuditService, certificates: CertificateService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._certificates = certificates

    # ------------------------------------------------------------------ export
    def _material(
        self, certificate_id: str, include_key: bool
    ) -> tuple[x509.Certificate, list[x509.Certificate], PrivateKey | None]:
        version = self._certificates.current_version(certificate_id)
        if version is None:
            raise Conflict(f"certificate '{certificate_id}' has not been issued yet; there is nothing to export")
        certs = load_certificates(version.pem_chain.encode())
        key = None
        if include_key:
            key_pem = self._certificates.private_key_pem(version.id)
            if key_pem is None:
                raise Conflict(
                    f"certctl holds no private key for '{certificate_id}': it was issued from a CSR or imported "
                    "without its key, so the key lives only where it was made"
                )
            key = load_private_key_pem(key_pem)
        return certs[0], certs[1:], key

    def export_pem(
        self,
        certificate_id: str,
        *,
        actor: Actor,
        include_key: bool = False,
        passphrase: bytes | None = None,
        unencrypted_key: bool = False,
    ) -> PemBundle:
        """Certificate, chain and full chain; the key only when asked, encrypted unless told otherwise."""
        if include_key and not passphrase and not unencrypted_key:
            raise InvalidInput(
                "exporting a private key needs a passphrase to encrypt it (or an explicit request for a plain key)",
                field="passphrase",
            )
        leaf, chain, key = self._material(certificate_id, include_key)
        bundle = export_pem(leaf, chain, key, passphrase if include_key else None)
        self._record(actor, "export_pem", certificate_id, include_key, bool(passphrase))
        return bundle

    def export_pkcs12(
        self, certificate_id: str, passphrase: bytes, *, actor: Actor, include_key: bool = False
    ) -> bytes:
        leaf, chain, key = self._material(certificate_id, include_key)
        cert = self._certificates.get(certificate_id)
        blob = export_pkcs12(name=cert.name, leaf=leaf, chain=chain, key=key, passphrase=passphrase)
        self._record(actor, "export_pkcs12", certificate_id, include_key, True)
        return blob

    def _record(self, actor: Actor, action: str, certificate_id: str, with_key: bool, encrypted: bool) -> None:
        with self._ctx.store.write():
            self._audit.record(
                actor,
                action,
                "certificate",
                certificate_id,
                {"has_private_key": with_key, "key_encrypted": with_key and encrypted},
            )

    # ------------------------------------------------------------------ import
    def import_pem(
        self,
        data: bytes,
        *,
        actor: Actor,
        issuer_id: str,
        key_pem: bytes | None = None,
        key_passphrase: bytes | None = None,
        name: str | None = None,
        owner_id: str | None = None,
        team_id: str | None = None,
        certificate_profile_id: str | None = None,
        renewal_policy_id: str | None = None,
        environment: str = "",
        source: str = "input",
    ) -> list[ImportedItem]:
        """Every end-entity certificate in ``data`` becomes a managed certificate, its history starting here.

        CA certificates in the input become the chain of the leaves they issued. A key (in
        ``data`` itself or in ``key_pem``) is kept, sealed, with the leaf it belongs to.
        """
        certs = load_certificates(data)
        leaves = [c for c in certs if not inspect_certificate(c).is_ca]
        if not leaves:
            raise InvalidInput(f"{source} holds only CA certificates; nothing to manage", field="data")
        if name and len(leaves) > 1:
            raise InvalidInput(f"{source} holds {len(leaves)} certificates; a name can only be given to one")
        keys = self._keys(data, key_pem, key_passphrase, source)
        matched: dict[int, PrivateKey] = {}
        for key in keys:
            spki = _public_der(key.public_key())
            index = next((i for i, leaf in enumerate(leaves) if _public_der(leaf.public_key()) == spki), None)
            if index is None:
                raise InvalidInput(f"the private key given with {source} belongs to none of its certificates")
            matched[index] = key
        now = self._ctx.now()
        items: list[ImportedItem] = []
        with self._ctx.store.write():
            for index, leaf in enumerate(leaves):
                info = inspect_certificate(leaf)
                existing = CertificateVersionModel.get_or_none(
                    CertificateVersionModel.fingerprint_sha256 == info.fingerprint_sha256
                )
                if existing is not None:
                    raise Conflict(
                        f"the certificate for '{info.subject_cn or info.sans[0]}' in {source} is already managed "
                        f"as '{existing.certificate_id}'"
                    )
                chain = order_chain(leaf, [c for c in certs if c is not leaf])
                label = name or info.subject_cn or (info.sans[0] if info.sans else info.serial_hex)
                cert = self._certificates.create(
                    name=self._free_name(label),
                    common_name=info.subject_cn or label,
                    sans=info.sans,
                    issuer_id=issuer_id,
                    owner_id=owner_id,
                    team_id=team_id,
                    certificate_profile_id=certificate_profile_id,
                    renewal_policy_id=renewal_policy_id,
                    environment=environment,
                    tags={"source": "import"},
                    actor=actor,
                    queue_issuance=False,
                )
                if info.not_after <= now:
                    status = CertificateStatus.EXPIRED
                elif (info.not_after - now).days < EXPIRING_DAYS:
                    status = CertificateStatus.EXPIRING
                else:
                    status = CertificateStatus.ACTIVE
                key = matched.get(index)
                self._certificates.add_version(
                    cert.id,
                    certificates_to_pem(chain),
                    actor=actor,
                    private_key_pem=private_key_to_pem(key) if key is not None else None,
                    action="certificate_imported",
                    status=status,
                )
                items.append(ImportedItem(self._certificates.get(cert.id), key is not None))
        return items

    @staticmethod
    def _keys(data: bytes, key_pem: bytes | None, passphrase: bytes | None, source: str) -> list[PrivateKey]:
        blobs: list[bytes] = []
        if b"PRIVATE KEY-----" in data:
            blobs.append(data)
        if key_pem:
            blobs.append(key_pem)
        keys: list[PrivateKey] = []
        for blob in blobs:
            try:
                keys.append(load_private_key_pem(blob, passphrase))
            except InvalidInput as exc:
                raise InvalidInput(f"{source}: {exc.message}", field="key") from None
        return keys

    @staticmethod
    def _free_name(label: str) -> str:
        base = label[:240]
        candidate = base
        counter = 2
        while CertificateModel.get_or_none(CertificateModel.name == candidate) is not None:
            candidate = f"{base}-{counter}"
            counter += 1
        return candidate
