"""Reading certificates: parse PEM/DER input, describe a certificate, and put a chain in order.

Inventory, discovery and the faces all show the same facts about a certificate, so they are
extracted once here into a plain frozen record. Nothing in this module does I/O.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certctl_engine.domain import ExtendedKeyUsage, KeyAlgorithm
from certctl_engine.errors import InvalidInput
from certctl_engine.pki.keys import key_spec_of

__all__ = [
    "CertificateInfo",
    "certificate_to_pem",
    "certificates_to_pem",
    "fingerprint_sha256",
    "inspect_certificate",
    "is_self_signed",
    "load_certificates",
    "order_chain",
]

_EKU_NAMES: dict[x509.ObjectIdentifier, ExtendedKeyUsage] = {
    ExtendedKeyUsageOID.SERVER_AUTH: ExtendedKeyUsage.SERVER_AUTH,
    ExtendedKeyUsageOID.CLIENT_AUTH: ExtendedKeyUsage.CLIENT_AUTH,
    ExtendedKeyUsageOID.CODE_SIGNING: ExtendedKeyUsage.CODE_SIGNING,
    ExtendedKeyUsageOID.EMAIL_PROTECTION: ExtendedKeyUsage.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.TIME_STAMPING: ExtendedKeyUsage.TIME_STAMPING,
    ExtendedKeyUsageOID.OCSP_SIGNING: ExtendedKeyUsage.OCSP_SIGNING,
}

# (attribute of x509.KeyUsage, RFC 5280 name); encipher/decipher-only are only defined with keyAgreement.
_KEY_USAGE_NAMES: tuple[tuple[str, str], ...] = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "contentCommitment"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)

_PEM_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)
_PEM_ANY_RE = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----")

_E = TypeVar("_E", bound=x509.ExtensionType)

# Errors cryptography raises while parsing or walking a malformed certificate; several of them
# are not ValueError subclasses.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@dataclass(frozen=True)
class CertificateInfo:
    """The facts about one certificate that certctl stores, shows and reasons about."""

    serial_hex: str
    fingerprint_sha256: str
    subject_dn: str
    subject_cn: str
    issuer_dn: str
    issuer_cn: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    emails: tuple[str, ...]
    uris: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    key_algorithm: KeyAlgorithm
    key_size: int
    is_ca: bool
    path_length: int | None
    key_usage: tuple[str, ...]
    ekus: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None
    signature_algorithm: str
    self_signed: bool

    @property
    def sans(self) -> tuple[str, ...]:
        """All subject alternative names as strings: DNS, then IPs, e-mails and URIs."""
        return self.dns_names + self.ip_addresses + self.emails + self.uris


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Parse one or more PEM certificates (other PEM blocks are skipped) or a single DER certificate."""
    if _PEM_ANY_RE.search(data):
        blocks = _PEM_CERT_RE.findall(data)
        if not blocks:
            raise InvalidInput("no certificate found in input")
        certs: list[x509.Certificate] = []
        for index, block in enumerate(blocks, start=1):
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except _PARSE_ERRORS as exc:
                raise InvalidInput(f"PEM certificate #{index} cannot be parsed: {exc}") from exc
        return certs
    if not data.strip():
        raise InvalidInput("no certificate found in input")
    try:
        return [x509.load_der_x509_certificate(data)]
    except _PARSE_ERRORS as exc:
        raise InvalidInput(f"input is neither a PEM nor a DER certificate: {exc}") from exc


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the DER encoding, the identity certctl keys versions by."""
    return binascii.hexlify(cert.fingerprint(hashes.SHA256())).decode("ascii")


def certificate_to_pem(cert: x509.Certificate) -> str:
    """PEM text of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificates_to_pem(certs: Sequence[x509.Certificate]) -> str:
    """PEM text of several certificates, concatenated in the given order (a chain file)."""
    return "".join(certificate_to_pem(cert) for cert in certs)


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when issuer equals subject and the certificate's own key verifies its signature."""
    if cert.subject != cert.issuer:
        return False
    return _directly_issued_by(cert, cert)


def inspect_certificate(cert: x509.Certificate) -> CertificateInfo:
    """Extract the facts of ``cert``; a certificate with malformed extensions raises InvalidInput."""
    try:
        return _inspect(cert)
    except _PARSE_ERRORS as exc:
        raise InvalidInput(f"certificate cannot be inspected: {exc}") from exc


def order_chain(leaf: x509.Certificate, others: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Return ``leaf`` followed by its issuers taken from ``others``, nearest first.

    An issuer must match by name and verify the signature, so look-alike names are not
    trusted. The walk stops at a self-signed certificate or when no issuer is found;
    certificates that are not on the path are dropped.
    """
    chain = [leaf]
    seen = {fingerprint_sha256(leaf)}
    current = leaf
    while not is_self_signed(current):
        issuer = next(
            (
                cand
                for cand in others
                if fingerprint_sha256(cand) not in seen
                and cand.subject == current.issuer
                and _directly_issued_by(current, cand)
            ),
            None,
        )
        if issuer is None:
            break
        chain.append(issuer)
        seen.add(fingerprint_sha256(issuer))
        current = issuer
    return chain


# --------------------------------------------------------------------------- helpers


def _directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, *_PARSE_ERRORS):
        return False
    return True


def _inspect(cert: x509.Certificate) -> CertificateInfo:
    spec = key_spec_of(cert.public_key())
    exts = cert.extensions

    san = _ext(exts, x509.SubjectAlternativeName)
    basic = _ext(exts, x509.BasicConstraints)
    ski = _ext(exts, x509.SubjectKeyIdentifier)
    aki = _ext(exts, x509.AuthorityKeyIdentifier)
    eku = _ext(exts, x509.ExtendedKeyUsage)

    return CertificateInfo(
        serial_hex=format(cert.serial_number, "x"),
        fingerprint_sha256=fingerprint_sha256(cert),
        subject_dn=cert.subject.rfc4514_string(),
        subject_cn=common_name_of(cert.subject),
        issuer_dn=cert.issuer.rfc4514_string(),
        issuer_cn=common_name_of(cert.issuer),
        dns_names=tuple(san.get_values_for_type(x509.DNSName)) if san else (),
        ip_addresses=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)) if san else (),
        emails=tuple(san.get_values_for_type(x509.RFC822Name)) if san else (),
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)) if san else (),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_algorithm=spec.algorithm,
        key_size=spec.size,
        is_ca=bool(basic and basic.ca),
        path_length=basic.path_length if basic else None,
        key_usage=_key_usage_names(_ext(exts, x509.KeyUsage)),
        ekus=tuple(_EKU_NAMES[oid].value if oid in _EKU_NAMES else oid.dotted_string for oid in eku) if eku else (),
        subject_key_id=ski.digest.hex() if ski else None,
        authority_key_id=aki.key_identifier.hex() if aki and aki.key_identifier is not None else None,
        signature_algorithm=_signature_algorithm_name(cert),
        self_signed=is_self_signed(cert),
    )


def _ext(exts: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return exts.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def common_name_of(name: x509.Name) -> str:
    """The first CN of a name, or an empty string."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return ""
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _key_usage_names(usage: x509.KeyUsage | None) -> tuple[str, ...]:
    if usage is None:
        return ()
    names = [name for attr, name in _KEY_USAGE_NAMES if getattr(usage, attr)]
    if usage.key_agreement:
        if usage.encipher_only:
            names.append("encipherOnly")
        if usage.decipher_only:
            names.append("decipherOnly")
    return tuple(names)


def _signature_algorithm_name(cert: x509.Certificate) -> str:
    """Conventional OID name (e.g. "ecdsa-with-SHA256"), or the dotted OID when cryptography has none."""
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", "")
    return name if name and name != "Unknown OID" else oid.dotted_string
