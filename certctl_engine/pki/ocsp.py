"""OCSP: read a client's status request, answer it with a signed response, and make responder certificates.

An OCSP request names a certificate only by hashes of its issuer and its serial, so the
responder does not need the certificate itself; everything here works from those hashes.
The engine decides the status; these pure functions only speak the RFC 6960 wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput
from certctl_engine.pki.build import (
    _authority_key_id,
    _key_usage,
    _public_bytes,
    _signing_hash,
    _utc,
    _validity,
    random_serial,
)
from certctl_engine.pki.crl import _reason_flag
from certctl_engine.pki.keys import PrivateKey, PublicKey, key_spec_of

__all__ = [
    "OCSPRequestInfo",
    "OCSPStatus",
    "build_ocsp_error",
    "build_ocsp_responder_certificate",
    "build_ocsp_response",
    "issuer_matches",
    "parse_ocsp_request",
]

_CERT_STATUS: dict[str, ocsp.OCSPCertStatus] = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}

_ERROR_STATUS: dict[str, ocsp.OCSPResponseStatus] = {
    "malformed_request": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
    "internal_error": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
    "try_later": ocsp.OCSPResponseStatus.TRY_LATER,
    "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
}

_RESPONDER_CN_SUFFIX = " OCSP Responder"
_MAX_CN_LENGTH = 64  # ub-common-name in RFC 5280

# What cryptography raises on malformed requests; several are not ValueError subclasses, and a
# request for more than one certificate raises NotImplementedError.
_PARSE_ERRORS = (ValueError, TypeError, NotImplementedError, UnsupportedAlgorithm, x509.DuplicateExtension)


class OCSPStatus(StrEnum):
    """The certificate status an OCSP response asserts (RFC 6960 CertStatus)."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OCSPRequestInfo:
    """The one certificate a client asks about, identified the way RFC 6960 CertID does it."""

    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    nonce: bytes | None


def parse_ocsp_request(der: bytes) -> OCSPRequestInfo:
    """Read a DER OCSP request.

    cryptography handles only requests for a single certificate, which is what browsers and
    TLS stacks send; a multi-certificate request is reported as malformed, and a responder
    should answer it with ``build_ocsp_error("malformed_request")``.
    """
    try:
        request = ocsp.load_der_ocsp_request(der)
        info = OCSPRequestInfo(
            serial=request.serial_number,
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            hash_algorithm=request.hash_algorithm,
            nonce=_nonce(request.extensions),
        )
    except _PARSE_ERRORS as exc:
        raise InvalidInput(f"malformed OCSP request: {exc}", field="request") from exc
    return info


def issuer_matches(request: OCSPRequestInfo, issuer_cert: x509.Certificate) -> bool:
    """Whether the request asks about a certificate issued by ``issuer_cert``.

    Both hashes must match: the name hash alone would accept a look-alike CA with another key.
    """
    name_hash, key_hash = _issuer_hashes(issuer_cert, request.hash_algorithm)
    return name_hash == request.issuer_name_hash and key_hash == request.issuer_key_hash


def build_ocsp_response(
    *,
    request: OCSPRequestInfo,
    issuer_cert: x509.Certificate,
    responder_cert: x509.Certificate,
    responder_key: PrivateKey,
    status: OCSPStatus,
    this_update: datetime,
    next_update: datetime,
    revoked_at: datetime | None = None,
    reason: RevocationReason | None = None,
) -> bytes:
    """Sign a successful OCSP response (DER) about the certificate the request names.

    The response repeats the request's CertID (so ``unknown`` works for serials certctl never
    issued), names the responder by key hash (the short form every client accepts), echoes the
    nonce when the client sent one, and carries the responder certificate when it is a
    delegated responder, because clients cannot verify the signature without it. A reason of
    ``unspecified`` is left out, as the CA/B Baseline Requirements ask.

    Callers check ``issuer_matches`` first and answer ``unauthorized`` for foreign issuers;
    a request for another issuer is refused here rather than answered with a response every
    client would reject.
    """
    status = _coerce_status(status)
    this_update, next_update = _utc(this_update), _utc(next_update)
    if next_update <= this_update:
        raise InvalidInput(
            f"next_update ({next_update.isoformat()}) must be later than this_update ({this_update.isoformat()})",
            field="next_update",
        )
    if not issuer_matches(request, issuer_cert):
        raise InvalidInput("the OCSP request is about a certificate of another issuer", field="request")
    _check_responder(issuer_cert, responder_cert, responder_key)

    revocation_time: datetime | None = None
    revocation_reason: x509.ReasonFlags | None = None
    if status is OCSPStatus.REVOKED:
        if revoked_at is None:
            raise InvalidInput("a revoked status needs the revocation time", field="revoked_at")
        revocation_time = _utc(revoked_at)
        revocation_reason = _reason_flag(reason) if reason is not None else None
    elif revoked_at is not None or reason is not None:
        raise InvalidInput(f"revocation time and reason only apply to a revoked status, not {status}", field="status")

    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial,
            algorithm=request.hash_algorithm,
            cert_status=_CERT_STATUS[status.value],
            this_update=this_update,
            next_update=next_update,
            revocation_time=revocation_time,
            revocation_reason=revocation_reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
    )
    if responder_cert != issuer_cert:
        builder = builder.certificates([responder_cert])
    if request.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(request.nonce), critical=False)
    response = builder.sign(responder_key, _signing_hash(responder_key))
    return response.public_bytes(serialization.Encoding.DER)


def build_ocsp_error(status: str) -> bytes:
    """An unsigned OCSP error response (DER): malformed_request, internal_error, try_later or unauthorized."""
    try:
        response_status = _ERROR_STATUS[status]
    except KeyError as exc:
        allowed = ", ".join(_ERROR_STATUS)
        raise InvalidInput(f"unknown OCSP error status '{status}'; known are {allowed}", field="status") from exc
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(response_status)
    return response.public_bytes(serialization.Encoding.DER)


def build_ocsp_responder_certificate(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    responder_public_key: PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """Issue a delegated OCSP responder certificate, so the CA key need not sign every response.

    It carries id-kp-OCSPSigning (clients accept delegated responses only with it) and the
    id-pkix-ocsp-nocheck extension, which tells clients not to check the responder's own
    revocation status and so avoids an endless loop; keep its lifetime short for that reason.
    """
    not_before, not_after = _validity(not_before, not_after)
    key_spec_of(responder_public_key)
    if _public_bytes(issuer_key.public_key()) != _public_bytes(issuer_cert.public_key()):
        raise InvalidInput("issuer key does not match the issuer certificate", field="issuer_key")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _responder_common_name(issuer_cert))])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(responder_public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(responder_public_key), critical=False)
        .add_extension(_authority_key_id(issuer_cert), critical=False)
    )
    return builder.sign(issuer_key, _signing_hash(issuer_key))


# --------------------------------------------------------------------------- helpers


def _nonce(extensions: x509.Extensions) -> bytes | None:
    try:
        return extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _issuer_hashes(issuer_cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """RFC 6960 issuerNameHash and issuerKeyHash of ``issuer_cert`` under ``algorithm``.

    The key hash covers only the contents of the subjectPublicKey BIT STRING, not the whole
    SubjectPublicKeyInfo. cryptography's request builder computes exactly that from its
    ``issuer`` argument, so it is asked for it rather than re-parsing the DER here; the
    certificate slot is filled with the issuer too, and only the key hash is taken from it.
    """
    digest = hashes.Hash(algorithm)
    digest.update(issuer_cert.subject.public_bytes())
    name_hash = digest.finalize()
    probe = ocsp.OCSPRequestBuilder().add_certificate(issuer_cert, issuer_cert, algorithm).build()
    return name_hash, probe.issuer_key_hash


def _check_responder(
    issuer_cert: x509.Certificate, responder_cert: x509.Certificate, responder_key: PrivateKey
) -> None:
    """Refuse a responder whose responses clients would reject anyway (RFC 6960 §4.2.2.2)."""
    if _public_bytes(responder_key.public_key()) != _public_bytes(responder_cert.public_key()):
        raise InvalidInput("responder key does not match the responder certificate", field="responder_key")
    if responder_cert == issuer_cert:
        return
    try:
        responder_cert.verify_directly_issued_by(issuer_cert)
    except (InvalidSignature, *_PARSE_ERRORS) as exc:
        raise InvalidInput(
            "a delegated OCSP responder certificate must be issued by the CA it answers for", field="responder_cert"
        ) from exc
    try:
        ekus = responder_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        ekus = None
    if ekus is None or ExtendedKeyUsageOID.OCSP_SIGNING not in ekus:
        raise InvalidInput(
            "a delegated OCSP responder certificate needs the OCSPSigning extended key usage",
            field="responder_cert",
            hint="make one with build_ocsp_responder_certificate",
        )


def _coerce_status(status: OCSPStatus | str) -> OCSPStatus:
    try:
        return OCSPStatus(status)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in OCSPStatus)
        raise InvalidInput(f"unknown OCSP status '{status}'; known are {allowed}", field="status") from exc


def _responder_common_name(issuer_cert: x509.Certificate) -> str:
    """The issuer's CN followed by " OCSP Responder", the issuer part shortened to stay within 64 characters."""
    attrs = issuer_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    issuer_cn = value if isinstance(value, str) else value.decode("utf-8", "replace")
    issuer_cn = issuer_cn[: _MAX_CN_LENGTH - len(_RESPONDER_CN_SUFFIX)].rstrip()
    return f"{issuer_cn}{_RESPONDER_CN_SUFFIX}".strip()
