"""The local CA's key material: make a fresh root, or load an existing CA to run as a sub-CA.

certctl's built-in issuer signs with a ``CAMaterial``: the CA certificate, its private key
and the certificates above it. The material is either a root certctl created itself
(``create_root_ca``) or a CA certificate an enterprise PKI issued to certctl, loaded from
PEM files (``load_ca``, "sub-CA mode"). Loading refuses anything that could not sign
certificates clients accept, and says why in terms of the certificate's subject.

Pure functions over ``cryptography``; reading and writing the files is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from certctl_engine.domain import KeyAlgorithm
from certctl_engine.errors import InvalidInput
from certctl_engine.pki.build import build_self_signed_ca
from certctl_engine.pki.inspect import (
    certificate_to_pem,
    certificates_to_pem,
    fingerprint_sha256,
    is_self_signed,
    load_certificates,
    order_chain,
)
from certctl_engine.pki.keys import KeySpec, PrivateKey, generate_private_key, load_private_key_pem, private_key_to_pem

__all__ = [
    "DEFAULT_CA_KEY_SPEC",
    "CAMaterial",
    "check_can_sign",
    "create_root_ca",
    "load_ca",
]

DEFAULT_CA_KEY_SPEC = KeySpec(KeyAlgorithm.ECDSA, 384)
"""ECDSA P-384: a CA key outlives its leaves, so it gets the larger curve."""

DEFAULT_CA_COMMON_NAME = "certctl Local CA"
DEFAULT_CA_VALIDITY_DAYS = 3650
MAX_CA_VALIDITY_DAYS = 36500

# A fresh root is dated a little into the past so that peers whose clocks lag behind do not
# see it as not yet valid.
_CLOCK_SKEW = timedelta(minutes=5)

_E = TypeVar("_E", bound=x509.ExtensionType)

# What cryptography may raise while reading a malformed certificate's key or extensions.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@dataclass(frozen=True)
class CAMaterial:
    """A CA certificate, its private key, and the CA's own issuers above it, nearest first.

    ``chain`` is empty for a self-signed root. For a sub-CA it holds the intermediates and,
    when it was supplied, the root; a chain whose top is not self-signed is allowed (the
    enterprise root is often distributed separately), and then ``root`` is None.
    """

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "chain", tuple(self.chain))
        if not _key_matches(self.key, self.certificate):
            raise InvalidInput(f"the key does not belong to the CA certificate '{self.subject}'", field="key")

    @property
    def is_self_signed(self) -> bool:
        """Whether the CA certificate is a root (it signed itself)."""
        return is_self_signed(self.certificate)

    @property
    def certificate_pem(self) -> str:
        """PEM text of the CA certificate alone."""
        return certificate_to_pem(self.certificate)

    @property
    def chain_pem(self) -> str:
        """PEM of the CA certificate followed by its chain: what issued leaves carry above themselves."""
        return certificates_to_pem((self.certificate, *self.chain))

    @property
    def root(self) -> x509.Certificate | None:
        """The self-signed top of the chain: the CA itself for a root, None when the chain is incomplete."""
        if self.is_self_signed:
            return self.certificate
        if self.chain and is_self_signed(self.chain[-1]):
            return self.chain[-1]
        return None

    @property
    def fingerprint_sha256(self) -> str:
        """Lowercase hex SHA-256 of the CA certificate's DER encoding."""
        return fingerprint_sha256(self.certificate)

    @property
    def subject(self) -> str:
        """The CA certificate's subject as an RFC 4514 string."""
        return self.certificate.subject.rfc4514_string()

    def key_pem(self, passphrase: bytes) -> bytes:
        """The private key as encrypted PKCS#8 PEM; a CA key never leaves certctl in the clear."""
        if not passphrase:
            raise InvalidInput("a passphrase is required to export the CA key", field="passphrase")
        return private_key_to_pem(self.key, passphrase)


def create_root_ca(
    *,
    common_name: str = DEFAULT_CA_COMMON_NAME,
    key_spec: KeySpec = DEFAULT_CA_KEY_SPEC,
    validity_days: int = DEFAULT_CA_VALIDITY_DAYS,
    organization: str | None = None,
    now: datetime | None = None,
) -> CAMaterial:
    """Make a fresh self-signed root CA with a new key.

    The certificate is valid from five minutes before ``now`` (for clock skew) until
    ``validity_days`` after it.
    """
    if isinstance(validity_days, bool) or not isinstance(validity_days, int):
        raise InvalidInput("validity_days must be a whole number of days", field="validity_days")
    if not 1 <= validity_days <= MAX_CA_VALIDITY_DAYS:
        raise InvalidInput(
            f"validity_days must be between 1 and {MAX_CA_VALIDITY_DAYS}, not {validity_days}",
            field="validity_days",
        )
    moment = _utc(now).replace(microsecond=0)
    key = generate_private_key(key_spec)
    cert = build_self_signed_ca(
        key,
        common_name,
        not_before=moment - _CLOCK_SKEW,
        not_after=moment + timedelta(days=validity_days),
        organization=organization,
    )
    return CAMaterial(certificate=cert, key=key, chain=())


def load_ca(
    cert_pem: bytes,
    key_pem: bytes,
    passphrase: bytes | None = None,
    *,
    now: datetime | None = None,
) -> CAMaterial:
    """Load an existing CA (sub-CA mode) from its certificate file and key file.

    ``cert_pem`` holds the CA certificate and, optionally, its chain (intermediates, root)
    in any order; the CA certificate is the one whose public key matches the key. The key
    may be PKCS#1 RSA, SEC1 EC or PKCS#8 PEM, encrypted or not. The CA must be a CA
    (basicConstraints CA:TRUE), may sign certificates (keyCertSign, when keyUsage is
    present) and must be valid at ``now``; otherwise InvalidInput names the certificate
    and the problem.
    """
    moment = _utc(now)
    certs = _unique(load_certificates(cert_pem))
    key = load_private_key_pem(key_pem, passphrase)
    candidates = [cert for cert in certs if _key_matches(key, cert)]
    if not candidates:
        raise InvalidInput(
            "the key does not belong to any certificate in the file",
            field="key",
            hint=f"the file holds {_describe(certs)}",
        )
    # The same key may appear in several certificates (a renewed CA certificate next to the
    # old one); take the first one that can sign, else report the first one's problem.
    problems: list[InvalidInput] = []
    for cert in candidates:
        try:
            _check_ca_certificate(cert, moment)
        except InvalidInput as exc:
            problems.append(exc)
            continue
        others = [other for other in certs if other is not cert]
        chain = tuple(order_chain(cert, others)[1:])
        return CAMaterial(certificate=cert, key=key, chain=chain)
    raise problems[0]


def check_can_sign(material: CAMaterial, *, now: datetime) -> None:
    """Refuse (InvalidInput) when the CA certificate is expired or not yet valid at ``now``."""
    _check_validity(material.certificate, _utc(now))


# --------------------------------------------------------------------------- helpers


def _check_ca_certificate(cert: x509.Certificate, now: datetime) -> None:
    subject = _subject(cert)
    try:
        exts = cert.extensions
        basic = _ext(exts, x509.BasicConstraints)
        usage = _ext(exts, x509.KeyUsage)
    except _PARSE_ERRORS as exc:
        raise InvalidInput(f"certificate '{subject}' has malformed extensions: {exc}") from exc
    if basic is None:
        raise InvalidInput(
            f"certificate '{subject}' is not a CA: it has no basicConstraints extension",
            hint="use a certificate issued with basicConstraints CA:TRUE",
        )
    if not basic.ca:
        raise InvalidInput(
            f"certificate '{subject}' is not a CA: basicConstraints says CA:FALSE",
            hint="use a certificate issued with basicConstraints CA:TRUE",
        )
    if usage is not None and not usage.key_cert_sign:
        raise InvalidInput(
            f"CA certificate '{subject}' may not sign certificates: its keyUsage lacks keyCertSign",
            hint="use a CA certificate whose keyUsage includes keyCertSign",
        )
    _check_validity(cert, now)


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    subject = _subject(cert)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now > end:
        raise InvalidInput(
            f"CA certificate '{subject}' expired on {end.isoformat()}",
            hint="renew the CA certificate or load a current one",
        )
    if now < start:
        raise InvalidInput(
            f"CA certificate '{subject}' is not yet valid: its validity starts {start.isoformat()}",
            hint="check the system clock or wait until the certificate becomes valid",
        )


def _key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    try:
        cert_key = cert.public_key()
    except _PARSE_ERRORS:
        return False
    return _spki(key.public_key()) == _spki(cert_key)


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER, for comparing keys of any type."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _unique(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    """Drop repeated certificates, keeping the first occurrence."""
    seen: set[str] = set()
    result: list[x509.Certificate] = []
    for cert in certs:
        fingerprint = fingerprint_sha256(cert)
        if fingerprint not in seen:
            seen.add(fingerprint)
            result.append(cert)
    return result


def _describe(certs: list[x509.Certificate]) -> str:
    names = ", ".join(f"'{_subject(cert)}'" for cert in certs)
    return f"{len(certs)} certificate{'s' if len(certs) != 1 else ''}: {names}"


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or "(empty subject)"
    except _PARSE_ERRORS:
        return "(unreadable subject)"


def _ext(exts: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return exts.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _utc(moment: datetime | None) -> datetime:
    """Aware UTC; None means now and a naive value is taken as UTC."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
