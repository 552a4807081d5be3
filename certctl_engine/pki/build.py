"""Making certificates and CSRs: the local CA's root, leaf certificates, and signing requests.

The profile-independent rules every certctl-issued certificate follows live here (SAN
classification, key usage derived from the key and EKUs, CA/leaf basic constraints), so
each issuer connector produces the same shape of certificate. Pure functions, no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from certctl_engine.domain import ExtendedKeyUsage
from certctl_engine.errors import InvalidInput
from certctl_engine.pki.keys import PrivateKey, PublicKey, key_spec_of

__all__ = [
    "LeafSigner",
    "build_csr",
    "build_leaf",
    "build_self_signed_ca",
    "classify_san",
    "is_ip_literal",
    "is_valid_dns_name",
    "load_csr",
    "random_serial",
]

_EKU_OIDS: dict[ExtendedKeyUsage, x509.ObjectIdentifier] = {
    ExtendedKeyUsage.SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
    ExtendedKeyUsage.CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH,
    ExtendedKeyUsage.CODE_SIGNING: ExtendedKeyUsageOID.CODE_SIGNING,
    ExtendedKeyUsage.EMAIL_PROTECTION: ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsage.TIME_STAMPING: ExtendedKeyUsageOID.TIME_STAMPING,
    ExtendedKeyUsage.OCSP_SIGNING: ExtendedKeyUsageOID.OCSP_SIGNING,
}

_SERIAL_BITS = 128
_MAX_DNS_LENGTH = 253
_MAX_LABEL_LENGTH = 63
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_EMAIL_LOCAL_RE = re.compile(r"^[^\s@]+$")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")

# What cryptography raises on malformed CSRs; several are not ValueError subclasses.
_CSR_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


# --------------------------------------------------------------------------- serials and names


def random_serial() -> int:
    """A fresh unpredictable serial: 128 random bits with the top bit cleared, never zero.

    Clearing the top bit keeps the DER INTEGER at 16 bytes without a sign pad, well under
    RFC 5280's 20-octet limit, and unpredictable serials are what CA/B rules require.
    """
    while True:
        serial = secrets.randbits(_SERIAL_BITS) & ((1 << (_SERIAL_BITS - 1)) - 1)
        if serial:
            return serial


def is_valid_dns_name(name: str, *, allow_wildcard: bool = True) -> bool:
    """Whether ``name`` is a lower/upper-case LDH host name, optionally with a leading "*." label."""
    name = name.lower()
    if not name or len(name) > _MAX_DNS_LENGTH:
        return False
    labels = name.split(".")
    if allow_wildcard and labels[0] == "*" and len(labels) > 1:
        labels = labels[1:]
    return all(len(label) <= _MAX_LABEL_LENGTH and _LABEL_RE.match(label) for label in labels)


def classify_san(value: str) -> x509.GeneralName:
    """Turn a SAN as people write it into the right GeneralName, refusing malformed values.

    URIs ("scheme://...") are recognised before e-mail addresses so a URI with user info
    is not mistaken for an address; then "@" means e-mail, an IP literal means IP address,
    and anything else must be a DNS name (lower-cased, "*." wildcard allowed).
    """
    text = value.strip()
    if not text:
        raise InvalidInput("empty subject alternative name", field="sans")
    if "://" in text:
        if not _URI_RE.match(text):
            raise InvalidInput(f"invalid URI SAN '{value}'", field="sans")
        return _general_name(x509.UniformResourceIdentifier, text, value)
    if "@" in text:
        local, _, domain = text.rpartition("@")
        if not _EMAIL_LOCAL_RE.match(local) or not is_valid_dns_name(domain, allow_wildcard=False):
            raise InvalidInput(f"invalid e-mail SAN '{value}'", field="sans")
        return _general_name(x509.RFC822Name, f"{local}@{domain.lower()}", value)
    if _could_be_ip(text):
        try:
            return x509.IPAddress(ipaddress.ip_address(text))
        except ValueError:
            pass
    name = text.lower()
    if not is_valid_dns_name(name):
        hint = "use the punycode (xn--) form" if not name.isascii() else None
        raise InvalidInput(
            f"invalid DNS name '{value}': labels must be 1-63 letters, digits or inner hyphens, "
            f"at most 253 characters, optionally starting with '*.'",
            field="sans",
            hint=hint,
        )
    return x509.DNSName(name)


# --------------------------------------------------------------------------- certificates


def build_self_signed_ca(
    key: PrivateKey,
    common_name: str,
    *,
    not_before: datetime,
    not_after: datetime,
    organization: str | None = None,
    path_length: int | None = None,
    deterministic: bool = False,
) -> x509.Certificate:
    """Make a root CA certificate for certctl's built-in issuer."""
    not_before, not_after = _validity(not_before, not_after)
    if not common_name.strip():
        raise InvalidInput("a CA certificate needs a common name", field="common_name")
    if path_length is not None and path_length < 0:
        raise InvalidInput("path length must not be negative", field="path_length")
    attrs = [_name_attribute(NameOID.COMMON_NAME, common_name, "common_name")]
    if organization:
        attrs.append(_name_attribute(NameOID.ORGANIZATION_NAME, organization, "organization"))
    name = x509.Name(attrs)
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
    )
    return _sign(builder, key, deterministic=deterministic)


_END_ENTITY = x509.BasicConstraints(ca=False, path_length=None)


class LeafSigner:
    """A CA ready to sign end-entity certificates.

    The key pair is checked and the per-CA parts of every leaf (issuer name, authority key
    identifier, signature hash) are worked out once, so a CA that signs thousands of leaves
    pays for them once rather than per certificate.
    """

    __slots__ = ("_aki", "_cert", "_hash", "_key", "_usages")

    def __init__(self, issuer_cert: x509.Certificate, issuer_key: PrivateKey) -> None:
        if _public_bytes(issuer_key.public_key()) != _public_bytes(issuer_cert.public_key()):
            raise InvalidInput("issuer key does not match the issuer certificate", field="issuer_key")
        self._cert = issuer_cert
        self._key = issuer_key
        self._aki = _authority_key_id(issuer_cert)
        self._hash = _signing_hash(issuer_key)
        # (EKUs as asked, RSA key?) -> the checked EKU list and the two usage extensions.
        self._usages: dict[tuple[object, ...], tuple[list[ExtendedKeyUsage], x509.KeyUsage, x509.ExtendedKeyUsage]] = {}

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def sign(
        self,
        *,
        public_key: PublicKey,
        common_name: str,
        sans: Sequence[str],
        not_before: datetime,
        not_after: datetime,
        ekus: Sequence[ExtendedKeyUsage] = (ExtendedKeyUsage.SERVER_AUTH,),
        serial: int | None = None,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        deterministic: bool = False,
    ) -> x509.Certificate:
        """Issue an end-entity certificate for ``public_key``.

        The CN, when it is a DNS name, is also put into the SANs because clients ignore the CN.
        """
        not_before, not_after = _validity(not_before, not_after)
        key_spec_of(public_key)
        eku_list, usage, eku_ext = self._usage_extensions(ekus, isinstance(public_key, rsa.RSAPublicKey))
        if serial is None:
            serial = random_serial()
        elif not 0 < serial < (1 << 159):
            raise InvalidInput("serial must be positive and fit in 20 octets", field="serial")

        names = _classify_all(sans)
        cn = common_name.strip()
        if cn and not is_ip_literal(cn) and is_valid_dns_name(cn):
            cn_name = x509.DNSName(cn.lower())
            if cn_name not in names:
                names.insert(0, cn_name)
        if not cn and not names:
            raise InvalidInput("a certificate needs a common name or at least one SAN", field="sans")
        emails = [n.value for n in names if isinstance(n, x509.RFC822Name)]
        if emails and ExtendedKeyUsage.EMAIL_PROTECTION not in eku_list:
            raise InvalidInput(
                f"email SAN {', '.join(emails)} requires the emailProtection extended key usage", field="ekus"
            )

        subject = x509.Name([_name_attribute(NameOID.COMMON_NAME, cn, "common_name")] if cn else [])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._cert.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(_END_ENTITY, critical=True)
            .add_extension(usage, critical=True)
            .add_extension(eku_ext, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self._aki, critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not cn)
        if crl_url:
            point = x509.DistributionPoint(
                full_name=[_uri(crl_url, "crl_url")], relative_name=None, reasons=None, crl_issuer=None
            )
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        if ocsp_url:
            access = x509.AccessDescription(AuthorityInformationAccessOID.OCSP, _uri(ocsp_url, "ocsp_url"))
            builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
        if deterministic and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return builder.sign(self._key, self._hash, ecdsa_deterministic=True)
        return builder.sign(self._key, self._hash)

    def _usage_extensions(
        self, ekus: Sequence[ExtendedKeyUsage], rsa_key: bool
    ) -> tuple[list[ExtendedKeyUsage], x509.KeyUsage, x509.ExtendedKeyUsage]:
        """The EKU list (checked) and the keyUsage and extendedKeyUsage extensions, made once per kind of leaf."""
        cache_key = (tuple(ekus), rsa_key)
        cached = self._usages.get(cache_key)
        if cached is not None:
            return cached
        eku_list = _coerce_ekus(ekus)
        tls = ExtendedKeyUsage.SERVER_AUTH in eku_list or ExtendedKeyUsage.CLIENT_AUTH in eku_list
        usage = _key_usage(
            digital_signature=True,
            key_encipherment=rsa_key and tls,
            content_commitment=ExtendedKeyUsage.EMAIL_PROTECTION in eku_list,
        )
        made = (eku_list, usage, x509.ExtendedKeyUsage([_EKU_OIDS[e] for e in eku_list]))
        if len(self._usages) < 64:
            self._usages[cache_key] = made
        return made


def build_leaf(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    public_key: PublicKey,
    common_name: str,
    sans: Sequence[str],
    not_before: datetime,
    not_after: datetime,
    ekus: Sequence[ExtendedKeyUsage] = (ExtendedKeyUsage.SERVER_AUTH,),
    serial: int | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    deterministic: bool = False,
) -> x509.Certificate:
    """Issue one end-entity certificate; see ``LeafSigner`` for signing many under one CA."""
    return LeafSigner(issuer_cert, issuer_key).sign(
        public_key=public_key,
        common_name=common_name,
        sans=sans,
        not_before=not_before,
        not_after=not_after,
        ekus=ekus,
        serial=serial,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
        deterministic=deterministic,
    )


def _sign(builder: x509.CertificateBuilder, key: PrivateKey, *, deterministic: bool) -> x509.Certificate:
    """Sign; ``deterministic`` uses RFC 6979 ECDSA so the same inputs give the same certificate."""
    if deterministic and isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, _signing_hash(key), ecdsa_deterministic=True)
    return builder.sign(key, _signing_hash(key))


# --------------------------------------------------------------------------- CSRs


def build_csr(key: PrivateKey, common_name: str, sans: Sequence[str]) -> x509.CertificateSigningRequest:
    """Make a CSR for ``key``, the form external CAs and agents exchange requests in.

    A CN that is a DNS name is also listed among the SANs, as in the certificates certctl
    signs: CAs (ACME ones in particular) match the order's names against the SANs.
    """
    key_spec_of(key)
    names = _classify_all(sans)
    cn = common_name.strip()
    if cn and not is_ip_literal(cn) and is_valid_dns_name(cn):
        cn_name = x509.DNSName(cn.lower())
        if cn_name not in names:
            names.insert(0, cn_name)
    if not cn and not names:
        raise InvalidInput("a CSR needs a common name or at least one SAN", field="sans")
    subject = x509.Name([_name_attribute(NameOID.COMMON_NAME, cn, "common_name")] if cn else [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=not cn)
    return builder.sign(key, _signing_hash(key))


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR and insist its self-signature verifies (proof of key possession).

    Extensions are parsed here too, so a CSR that loads is one issuance can read.
    """
    try:
        csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
        _ = csr.extensions
    except _CSR_PARSE_ERRORS as exc:
        raise InvalidInput(f"not a certificate signing request: {exc}", field="csr") from exc
    try:
        valid = csr.is_signature_valid
    except (*_CSR_PARSE_ERRORS, InvalidSignature) as exc:
        raise InvalidInput(f"CSR signature cannot be checked: {exc}", field="csr") from exc
    if not valid:
        raise InvalidInput("CSR signature does not verify", field="csr")
    return csr


# --------------------------------------------------------------------------- helpers


def _validity(not_before: datetime, not_after: datetime) -> tuple[datetime, datetime]:
    """Normalise to aware UTC (naive means UTC) and refuse empty or inverted windows."""
    start, end = _utc(not_before), _utc(not_after)
    if end <= start:
        raise InvalidInput(
            f"not_after ({end.isoformat()}) must be later than not_before ({start.isoformat()})",
            field="not_after",
        )
    return start, end


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _signing_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    """SHA-256, matched up for larger EC curves; Ed25519 signs without a separate hash."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size > 384:
            return hashes.SHA512()
        if key.curve.key_size > 256:
            return hashes.SHA384()
        return hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    key_spec_of(key)  # raises InvalidInput naming the type
    raise AssertionError("unreachable")


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """Point at the issuer's own SKI when it has one, so path builders match exactly."""
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _coerce_ekus(ekus: Iterable[ExtendedKeyUsage | str]) -> list[ExtendedKeyUsage]:
    """EKUs in the caller's order without duplicates; plain strings are accepted too."""
    result: list[ExtendedKeyUsage] = []
    for eku in ekus:
        try:
            value = ExtendedKeyUsage(eku)
        except ValueError as exc:
            allowed = ", ".join(e.value for e in ExtendedKeyUsage)
            raise InvalidInput(f"unknown extended key usage '{eku}'; known are {allowed}", field="ekus") from exc
        if value not in result:
            result.append(value)
    if not result:
        raise InvalidInput("at least one extended key usage is required", field="ekus")
    return result


def _classify_all(sans: Iterable[str]) -> list[x509.GeneralName]:
    """Classify SANs, dropping duplicates but keeping the caller's order."""
    if isinstance(sans, str):
        raise InvalidInput("sans must be a list of names, not a single string", field="sans")
    names: list[x509.GeneralName] = []
    for value in sans:
        name = classify_san(value)
        if name not in names:
            names.append(name)
    return names


def _general_name(
    kind: type[x509.RFC822Name | x509.UniformResourceIdentifier], text: str, original: str
) -> x509.GeneralName:
    try:
        return kind(text)
    except ValueError as exc:
        raise InvalidInput(f"invalid SAN '{original}': {exc}", field="sans") from exc


def _uri(url: str, field: str) -> x509.UniformResourceIdentifier:
    if not _URI_RE.match(url):
        raise InvalidInput(f"invalid URL '{url}'", field=field)
    try:
        return x509.UniformResourceIdentifier(url)
    except ValueError as exc:
        raise InvalidInput(f"invalid URL '{url}': {exc}", field=field) from exc


def _name_attribute(oid: x509.ObjectIdentifier, value: str, field: str) -> x509.NameAttribute:
    try:
        return x509.NameAttribute(oid, value)
    except ValueError as exc:
        raise InvalidInput(f"invalid {field.replace('_', ' ')} '{value}': {exc}", field=field) from exc


def _could_be_ip(text: str) -> bool:
    """Cheap pre-check: IPv4 literals start with a digit, IPv6 literals contain a colon."""
    return text[:1].isdigit() or ":" in text


def is_ip_literal(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (not a name)."""
    if not _could_be_ip(text):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _public_bytes(key: CertificatePublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo DER, for comparing keys of any type."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
