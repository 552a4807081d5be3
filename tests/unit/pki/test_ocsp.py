"""OCSP requests, responses and responder certificates, judged by the openssl binary.

Requests are made by ``openssl ocsp -reqout`` so parsing and issuer matching are checked
against an independent implementation; responses are verified by ``openssl ocsp -respin``.

A note on openssl's behaviour: once ``-cert`` or ``-serial`` is given, openssl builds its own
request and ignores ``-reqin``. So each response is checked twice: with ``-cert ... -no_nonce``
for the status line, and with ``-reqin`` (no ``-cert``) for the nonce check.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    SUPPORTED_KEY_SPECS,
    KeySpec,
    PrivateKey,
    build_leaf,
    build_self_signed_ca,
    certificate_to_pem,
    generate_private_key,
)
from certctl_engine.pki.ocsp import (
    OCSPRequestInfo,
    OCSPStatus,
    build_ocsp_error,
    build_ocsp_responder_certificate,
    build_ocsp_response,
    issuer_matches,
    parse_ocsp_request,
)

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=1)
END = NOW + timedelta(days=365)
THIS_UPDATE = NOW - timedelta(minutes=1)
NEXT_UPDATE = NOW + timedelta(hours=12)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")

SPECS = [s for s in SUPPORTED_KEY_SPECS if str(s) in {"ECDSA P-256", "ECDSA P-384", "RSA 2048", "Ed25519"}]


def _openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


@dataclass
class PKI:
    """A CA with one leaf, written as PEM files into ``dir`` with an openssl-made request for the leaf."""

    dir: Path
    ca: x509.Certificate
    ca_key: PrivateKey
    leaf: x509.Certificate
    request_der: bytes

    @property
    def request(self) -> OCSPRequestInfo:
        return parse_ocsp_request(self.request_der)

    def respond(self, status: OCSPStatus, **kwargs: object) -> bytes:
        args: dict[str, object] = {
            "request": self.request,
            "issuer_cert": self.ca,
            "responder_cert": self.ca,
            "responder_key": self.ca_key,
            "status": status,
            "this_update": THIS_UPDATE,
            "next_update": NEXT_UPDATE,
        }
        args.update(kwargs)
        return build_ocsp_response(**args)  # type: ignore[arg-type]

    def responder(self) -> tuple[x509.Certificate, PrivateKey]:
        key = generate_private_key()
        cert = build_ocsp_responder_certificate(
            issuer_cert=self.ca,
            issuer_key=self.ca_key,
            responder_public_key=key.public_key(),
            not_before=START,
            not_after=NOW + timedelta(days=7),
        )
        return cert, key

    def check_status(self, response: bytes, *target: str) -> str:
        """Verify with openssl against the CA and return what it prints about ``target``."""
        (self.dir / "resp.der").write_bytes(response)
        target = target or ("-cert", "leaf.pem")
        out = _openssl(
            "ocsp",
            "-respin",
            "resp.der",
            "-resp_text",
            "-CAfile",
            "ca.pem",
            "-issuer",
            "ca.pem",
            *target,
            "-no_nonce",
            cwd=self.dir,
        )
        combined = out.stdout + out.stderr
        assert out.returncode == 0, combined
        assert "Response verify OK" in combined
        return out.stdout

    def check_nonce(self, response: bytes, request_file: str = "req.der") -> None:
        """Verify with openssl using the original request, which makes it compare the nonces."""
        (self.dir / "resp.der").write_bytes(response)
        out = _openssl(
            "ocsp",
            "-respin",
            "resp.der",
            "-reqin",
            request_file,
            "-CAfile",
            "ca.pem",
            "-verify_other",
            "ca.pem",
            cwd=self.dir,
        )
        combined = out.stdout + out.stderr
        assert out.returncode == 0, combined
        assert "Response verify OK" in combined
        assert "nonce" not in combined.lower()


def _make_pki(directory: Path, spec: KeySpec | None = None, name: str = "Test Root") -> PKI:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = generate_private_key(spec) if spec else generate_private_key()
    ca = build_self_signed_ca(ca_key, name, not_before=START, not_after=END)
    leaf = build_leaf(
        issuer_cert=ca,
        issuer_key=ca_key,
        public_key=generate_private_key().public_key(),
        common_name="www.example.com",
        sans=["www.example.com"],
        not_before=START,
        not_after=NOW + timedelta(days=90),
    )
    (directory / "ca.pem").write_text(certificate_to_pem(ca))
    (directory / "leaf.pem").write_text(certificate_to_pem(leaf))
    out = _openssl("ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-reqout", "req.der", cwd=directory)
    assert out.returncode == 0, out.stderr
    return PKI(directory, ca, ca_key, leaf, (directory / "req.der").read_bytes())


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return _make_pki(tmp_path)


def _make_request(pki: PKI, *args: str) -> bytes:
    out = _openssl("ocsp", *args, "-reqout", "extra.der", cwd=pki.dir)
    assert out.returncode == 0, out.stderr
    return (pki.dir / "extra.der").read_bytes()


# --------------------------------------------------------------------------- requests


def test_parse_openssl_request(pki: PKI) -> None:
    info = pki.request
    assert info.serial == pki.leaf.serial_number
    assert isinstance(info.hash_algorithm, hashes.SHA1)  # openssl's default CertID hash
    assert len(info.issuer_name_hash) == len(info.issuer_key_hash) == 20
    assert info.nonce is not None
    assert len(info.nonce) == 16
    # openssl -req_text prints the same hashes
    text = _openssl("ocsp", "-reqin", "req.der", "-req_text", "-noverify", cwd=pki.dir).stdout
    assert f"Issuer Name Hash: {info.issuer_name_hash.hex().upper()}" in text
    assert f"Issuer Key Hash: {info.issuer_key_hash.hex().upper()}" in text


def test_parse_request_without_nonce(pki: PKI) -> None:
    info = parse_ocsp_request(_make_request(pki, "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce"))
    assert info.nonce is None
    assert info.serial == pki.leaf.serial_number


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x00", b"\x30\x03\x02\x01\x01"])
def test_parse_refuses_garbage(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^malformed OCSP request: "):
        parse_ocsp_request(data)


def test_parse_refuses_multi_certificate_request(pki: PKI) -> None:
    """cryptography reads only single-certificate requests; others are malformed for certctl."""
    data = _make_request(pki, "-issuer", "ca.pem", "-cert", "leaf.pem", "-cert", "ca.pem")
    with pytest.raises(InvalidInput, match=r"^malformed OCSP request: "):
        parse_ocsp_request(data)


def test_issuer_matches_only_the_real_issuer(pki: PKI, tmp_path: Path) -> None:
    assert issuer_matches(pki.request, pki.ca)
    look_alike = _make_pki(tmp_path / "same-name")  # same subject, different key
    assert look_alike.ca.subject == pki.ca.subject
    assert not issuer_matches(pki.request, look_alike.ca)
    other = _make_pki(tmp_path / "other", name="Other Root")
    assert not issuer_matches(pki.request, other.ca)
    assert not issuer_matches(pki.request, pki.leaf)


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_issuer_matches_openssl_for_every_key_and_hash(tmp_path: Path, spec: KeySpec, digest: str) -> None:
    """The key hash covers only the BIT STRING contents; every key family encodes those differently."""
    pki = _make_pki(tmp_path, spec)
    info = parse_ocsp_request(_make_request(pki, "-issuer", "ca.pem", f"-{digest}", "-cert", "leaf.pem"))
    assert info.hash_algorithm.name == digest
    assert issuer_matches(info, pki.ca)


def test_issuer_matches_an_intermediate_issuer(pki: PKI) -> None:
    """The name hash is over the issuer's subject, which for an intermediate differs from its issuer."""
    int_key = generate_private_key()
    intermediate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Intermediate")]))
        .issuer_name(pki.ca.subject)
        .public_key(int_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(pki.ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    leaf = build_leaf(
        issuer_cert=intermediate,
        issuer_key=int_key,
        public_key=generate_private_key().public_key(),
        common_name="api.example.com",
        sans=[],
        not_before=START,
        not_after=END,
    )
    (pki.dir / "int.pem").write_text(certificate_to_pem(intermediate))
    (pki.dir / "leaf2.pem").write_text(certificate_to_pem(leaf))
    info = parse_ocsp_request(_make_request(pki, "-issuer", "int.pem", "-cert", "leaf2.pem"))
    assert issuer_matches(info, intermediate)
    assert not issuer_matches(info, pki.ca)


def test_sha1_key_hash_is_the_subject_key_identifier(pki: PKI) -> None:
    ski = x509.SubjectKeyIdentifier.from_public_key(pki.ca.public_key())  # type: ignore[arg-type]
    assert pki.request.issuer_key_hash == ski.digest


# --------------------------------------------------------------------------- responses


def test_good_response(pki: PKI) -> None:
    response = pki.respond(OCSPStatus.GOOD)
    assert "leaf.pem: good" in pki.check_status(response)
    pki.check_nonce(response)
    parsed = ocsp.load_der_ocsp_response(response)
    assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert parsed.serial_number == pki.leaf.serial_number
    assert parsed.this_update_utc == THIS_UPDATE
    assert parsed.next_update_utc == NEXT_UPDATE
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == pki.request.nonce
    # Issuer-signed: responder named by key hash, no certificates needed.
    ski = x509.SubjectKeyIdentifier.from_public_key(pki.ca.public_key())  # type: ignore[arg-type]
    assert parsed.responder_key_hash == ski.digest
    assert parsed.responder_name is None
    assert parsed.certificates == []


def test_revoked_response(pki: PKI) -> None:
    revoked_at = NOW - timedelta(hours=3)
    response = pki.respond(OCSPStatus.REVOKED, revoked_at=revoked_at, reason=RevocationReason.KEY_COMPROMISE)
    out = pki.check_status(response)
    assert "leaf.pem: revoked" in out
    assert "Reason: keyCompromise" in out
    pki.check_nonce(response)
    parsed = ocsp.load_der_ocsp_response(response)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert parsed.revocation_time_utc == revoked_at
    assert parsed.revocation_reason is x509.ReasonFlags.key_compromise


@pytest.mark.parametrize("reason", [None, RevocationReason.UNSPECIFIED])
def test_revoked_response_without_reason(pki: PKI, reason: RevocationReason | None) -> None:
    response = pki.respond(OCSPStatus.REVOKED, revoked_at=NOW - timedelta(hours=3), reason=reason)
    out = pki.check_status(response)
    assert "leaf.pem: revoked" in out
    assert "Reason:" not in out
    assert ocsp.load_der_ocsp_response(response).revocation_reason is None


def test_unknown_response(pki: PKI) -> None:
    response = pki.respond(OCSPStatus.UNKNOWN)
    assert "leaf.pem: unknown" in pki.check_status(response)
    pki.check_nonce(response)


def test_unknown_for_a_serial_never_issued(pki: PKI) -> None:
    """The response is built from the request's hashes alone; no certificate is needed."""
    (pki.dir / "never.der").write_bytes(_make_request(pki, "-issuer", "ca.pem", "-serial", "0x1234ABCD"))
    info = parse_ocsp_request((pki.dir / "never.der").read_bytes())
    assert info.serial == 0x1234ABCD
    response = pki.respond(OCSPStatus.UNKNOWN, request=info)
    assert "0x1234ABCD: unknown" in pki.check_status(response, "-serial", "0x1234ABCD")
    pki.check_nonce(response, "never.der")


def test_status_may_be_given_as_string(pki: PKI) -> None:
    response = pki.respond("good")  # type: ignore[arg-type]
    assert "leaf.pem: good" in pki.check_status(response)


def test_no_nonce_in_response_when_request_had_none(pki: PKI) -> None:
    (pki.dir / "plain.der").write_bytes(_make_request(pki, "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce"))
    info = parse_ocsp_request((pki.dir / "plain.der").read_bytes())
    response = pki.respond(OCSPStatus.GOOD, request=info)
    parsed = ocsp.load_der_ocsp_response(response)
    with pytest.raises(x509.ExtensionNotFound):
        parsed.extensions.get_extension_for_class(x509.OCSPNonce)
    assert "leaf.pem: good" in pki.check_status(response)


def test_openssl_notices_a_wrong_nonce(pki: PKI) -> None:
    """Guard for check_nonce itself: openssl does compare nonces when given -reqin."""
    forged = replace(pki.request, nonce=b"\x01" * 16)
    response = pki.respond(OCSPStatus.GOOD, request=forged)
    (pki.dir / "resp.der").write_bytes(response)
    out = _openssl(
        "ocsp",
        "-respin",
        "resp.der",
        "-reqin",
        "req.der",
        "-CAfile",
        "ca.pem",
        "-verify_other",
        "ca.pem",
        cwd=pki.dir,
    )
    assert "Nonce Verify error" in out.stdout + out.stderr


def test_response_echoes_the_request_hash_algorithm(pki: PKI) -> None:
    info = parse_ocsp_request(_make_request(pki, "-issuer", "ca.pem", "-sha256", "-cert", "leaf.pem"))
    parsed = ocsp.load_der_ocsp_response(pki.respond(OCSPStatus.GOOD, request=info))
    assert isinstance(parsed.hash_algorithm, hashes.SHA256)
    assert parsed.issuer_key_hash == info.issuer_key_hash
    assert parsed.issuer_name_hash == info.issuer_name_hash


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_openssl_verifies_responses_of_every_key_family(tmp_path: Path, spec: KeySpec) -> None:
    pki = _make_pki(tmp_path, spec)
    response = pki.respond(OCSPStatus.GOOD)
    assert "leaf.pem: good" in pki.check_status(response)
    pki.check_nonce(response)


# --------------------------------------------------------------------------- delegated responder


def test_responder_certificate_contents(pki: PKI) -> None:
    cert, key = pki.responder()
    ext = cert.extensions
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Root OCSP Responder"
    assert cert.issuer == pki.ca.subject
    cert.verify_directly_issued_by(pki.ca)
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    assert not usage.value.key_encipherment
    assert isinstance(ext.get_extension_for_class(x509.OCSPNoCheck).value, x509.OCSPNoCheck)
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ca_ski = pki.ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert cert.public_key() == key.public_key()

    (pki.dir / "responder.pem").write_text(certificate_to_pem(cert))
    text = _openssl("x509", "-in", "responder.pem", "-noout", "-text", cwd=pki.dir).stdout
    assert "OCSP No Check" in text
    assert "OCSP Signing" in text
    verify = _openssl("verify", "-CAfile", "ca.pem", "-purpose", "ocsphelper", "responder.pem", cwd=pki.dir)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_responder_common_name_stays_within_64_characters(tmp_path: Path) -> None:
    key = generate_private_key()
    ca = build_self_signed_ca(key, "C" * 64, not_before=START, not_after=END)
    cert = build_ocsp_responder_certificate(
        issuer_cert=ca, issuer_key=key, responder_public_key=key.public_key(), not_before=START, not_after=END
    )
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert len(cn) == 64
    assert isinstance(cn, str)
    assert cn.endswith(" OCSP Responder")


def test_responder_certificate_refusals(pki: PKI) -> None:
    with pytest.raises(InvalidInput, match="does not match"):
        build_ocsp_responder_certificate(
            issuer_cert=pki.ca,
            issuer_key=generate_private_key(),
            responder_public_key=generate_private_key().public_key(),
            not_before=START,
            not_after=END,
        )
    with pytest.raises(InvalidInput, match="not_after"):
        build_ocsp_responder_certificate(
            issuer_cert=pki.ca,
            issuer_key=pki.ca_key,
            responder_public_key=generate_private_key().public_key(),
            not_before=END,
            not_after=START,
        )


@pytest.mark.parametrize(
    ("status", "kwargs", "expected"),
    [
        (OCSPStatus.GOOD, {}, "leaf.pem: good"),
        (
            OCSPStatus.REVOKED,
            {"revoked_at": NOW - timedelta(hours=1), "reason": RevocationReason.KEY_COMPROMISE},
            "Reason: keyCompromise",
        ),
        (OCSPStatus.UNKNOWN, {}, "leaf.pem: unknown"),
    ],
)
def test_delegated_responder(pki: PKI, status: OCSPStatus, kwargs: dict[str, object], expected: str) -> None:
    cert, key = pki.responder()
    response = pki.respond(status, responder_cert=cert, responder_key=key, **kwargs)
    assert expected in pki.check_status(response)
    pki.check_nonce(response)
    parsed = ocsp.load_der_ocsp_response(response)
    assert parsed.certificates == [cert]
    ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
    assert parsed.responder_key_hash == ski.digest


def test_openssl_rejects_delegated_responder_of_another_ca(pki: PKI, tmp_path: Path) -> None:
    """Guard for the checks above: openssl refuses a responder certificate from another CA.

    build_ocsp_response refuses to make such a response, so it is made with cryptography directly.
    """
    other = _make_pki(tmp_path / "other", name="Other Root")
    cert, key = other.responder()
    info = pki.request
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=info.issuer_name_hash,
            issuer_key_hash=info.issuer_key_hash,
            serial_number=info.serial,
            algorithm=info.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=THIS_UPDATE,
            next_update=NEXT_UPDATE,
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, cert)
        .certificates([cert])
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (pki.dir / "resp.der").write_bytes(response.public_bytes(serialization.Encoding.DER))
    out = _openssl(
        "ocsp",
        "-respin",
        "resp.der",
        "-CAfile",
        "ca.pem",
        "-issuer",
        "ca.pem",
        "-cert",
        "leaf.pem",
        "-no_nonce",
        cwd=pki.dir,
    )
    assert "Response verify OK" not in out.stdout + out.stderr
    with pytest.raises(InvalidInput, match="issued by the CA"):
        pki.respond(OCSPStatus.GOOD, responder_cert=cert, responder_key=key)


# --------------------------------------------------------------------------- refusals


def test_refuses_revoked_without_time(pki: PKI) -> None:
    with pytest.raises(InvalidInput, match="revocation time"):
        pki.respond(OCSPStatus.REVOKED)


@pytest.mark.parametrize(
    "kwargs", [{"revoked_at": NOW}, {"reason": RevocationReason.SUPERSEDED}], ids=["revoked_at", "reason"]
)
@pytest.mark.parametrize("status", [OCSPStatus.GOOD, OCSPStatus.UNKNOWN])
def test_refuses_revocation_details_for_other_statuses(pki: PKI, status: OCSPStatus, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="only apply to a revoked status"):
        pki.respond(status, **kwargs)


@pytest.mark.parametrize("next_update", [THIS_UPDATE, THIS_UPDATE - timedelta(seconds=1)])
def test_refuses_next_update_not_after_this_update(pki: PKI, next_update: datetime) -> None:
    with pytest.raises(InvalidInput, match="next_update"):
        pki.respond(OCSPStatus.GOOD, next_update=next_update)


def test_refuses_unknown_status(pki: PKI) -> None:
    with pytest.raises(InvalidInput, match="unknown OCSP status"):
        pki.respond("fine")  # type: ignore[arg-type]


def test_refuses_request_for_another_issuer(pki: PKI, tmp_path: Path) -> None:
    other = _make_pki(tmp_path / "other")
    with pytest.raises(InvalidInput, match="another issuer"):
        pki.respond(OCSPStatus.GOOD, request=other.request)


def test_refuses_responder_key_mismatch(pki: PKI) -> None:
    cert, _ = pki.responder()
    with pytest.raises(InvalidInput, match="responder key does not match"):
        pki.respond(OCSPStatus.GOOD, responder_cert=cert, responder_key=generate_private_key())


def test_refuses_responder_not_issued_by_the_ca(pki: PKI, tmp_path: Path) -> None:
    other = _make_pki(tmp_path / "other", name="Other Root")
    cert, key = other.responder()
    with pytest.raises(InvalidInput, match="issued by the CA"):
        pki.respond(OCSPStatus.GOOD, responder_cert=cert, responder_key=key)


def test_refuses_responder_without_ocsp_signing(pki: PKI) -> None:
    key = generate_private_key()
    server = build_leaf(
        issuer_cert=pki.ca,
        issuer_key=pki.ca_key,
        public_key=key.public_key(),
        common_name="ocsp.example.com",
        sans=[],
        not_before=START,
        not_after=END,
    )
    with pytest.raises(InvalidInput, match="OCSPSigning"):
        pki.respond(OCSPStatus.GOOD, responder_cert=server, responder_key=key)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "printed", "expected"),
    [
        ("malformed_request", "malformedrequest (1)", ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
        ("internal_error", "internalerror (2)", ocsp.OCSPResponseStatus.INTERNAL_ERROR),
        ("try_later", "trylater (3)", ocsp.OCSPResponseStatus.TRY_LATER),
        ("unauthorized", "unauthorized (6)", ocsp.OCSPResponseStatus.UNAUTHORIZED),
    ],
)
def test_error_responses(tmp_path: Path, status: str, printed: str, expected: ocsp.OCSPResponseStatus) -> None:
    der = build_ocsp_error(status)
    assert ocsp.load_der_ocsp_response(der).response_status is expected
    (tmp_path / "err.der").write_bytes(der)
    out = _openssl("ocsp", "-respin", "err.der", "-resp_text", cwd=tmp_path)
    assert f"Responder Error: {printed}" in out.stdout + out.stderr


@pytest.mark.parametrize("status", ["successful", "sig_required", "", "UNAUTHORIZED"])
def test_error_refuses_unknown_status(status: str) -> None:
    with pytest.raises(InvalidInput, match="unknown OCSP error status"):
        build_ocsp_error(status)
