"""An issued certificate on its way into the store, its indexed fields already known."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.domain import KeyAlgorithm
from certctl_engine.pki import KeySpec, inspect_certificate, load_certificates
from certctl_engine.pki.inspect import common_name_of


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What ``CertificateService.store_versions`` writes for one certificate.

    An issuer that has just built the leaf knows its serial, validity and key, so the
    indexed columns are filled from those instead of parsing the PEM it produced.
    """

    certificate_id: str
    serial_hex: str
    fingerprint_sha256: str
    subject_cn: str
    issuer_dn: str
    not_before: datetime
    not_after: datetime
    key_algorithm: KeyAlgorithm | None
    key_size: int | None
    pem_chain: str
    csr_pem: str = ""
    private_key_pem: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_certificate(
        cls,
        certificate_id: str,
        leaf: x509.Certificate,
        chain_pem: str,
        *,
        key_spec: KeySpec,
        csr_pem: str = "",
        private_key_pem: bytes | None = None,
        issuer_dn: str | None = None,
    ) -> NewVersion:
        """A leaf certctl just signed: only its DER is hashed and PEM-encoded, nothing is parsed back.

        ``issuer_dn`` is the signing CA's subject when the caller already has it (every leaf of
        one CA shares it).
        """
        return cls(
            certificate_id=certificate_id,
            serial_hex=format(leaf.serial_number, "x"),
            fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
            subject_cn=common_name_of(leaf.subject),
            issuer_dn=issuer_dn if issuer_dn is not None else leaf.issuer.rfc4514_string(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            key_algorithm=key_spec.algorithm,
            key_size=key_spec.size,
            pem_chain=leaf.public_bytes(Encoding.PEM).decode("ascii") + chain_pem,
            csr_pem=csr_pem,
            private_key_pem=private_key_pem,
        )

    @classmethod
    def from_pem(
        cls, certificate_id: str, pem_chain: str, *, csr_pem: str = "", private_key_pem: bytes | None = None
    ) -> NewVersion:
        """A certificate from elsewhere (an import, a CA's answer): its fields come from inspecting it."""
        certificates = load_certificates(pem_chain.encode())
        info = inspect_certificate(certificates[0])
        return cls(
            certificate_id=certificate_id,
            serial_hex=info.serial_hex,
            fingerprint_sha256=info.fingerprint_sha256,
            subject_cn=info.subject_cn,
            issuer_dn=info.issuer_dn,
            not_before=info.not_before,
            not_after=info.not_after,
            key_algorithm=info.key_algorithm,
            key_size=info.key_size,
            pem_chain=pem_chain.strip() + "\n",
            csr_pem=csr_pem,
            private_key_pem=private_key_pem,
        )
