"""Building CA, leaf certificates and CSRs, checked by cryptography and by the openssl binary."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certctl_engine.domain import ExtendedKeyUsage, KeyAlgorithm
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    SUPPORTED_KEY_SPECS,
    KeySpec,
    PrivateKey,
    PublicKey,
    build_csr,
    build_leaf,
    build_self_signed_ca,
    certificate_to_pem,
    classify_san,
    generate_private_key,
    inspect_certificate,
    load_csr,
    random_serial,
)

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(hours=1)
END = NOW + timedelta(days=30)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _ca(key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    key = key or generate_private_key()
    return build_self_signed_ca(key, "Test Root", not_before=START, not_after=END), key


def _leaf(
    sans: Sequence[str] = ("example.com",),
    *,
    common_name: str = "www.example.com",
    public_key: PublicKey | None = None,
    ca: tuple[x509.Certificate, PrivateKey] | None = None,
    **kwargs: object,
) -> x509.Certificate:
    issuer, issuer_key = ca or _ca()
    args: dict[str, object] = {"not_before": START, "not_after": END}
    args.update(kwargs)
    return build_leaf(
        issuer_cert=issuer,
        issuer_key=issuer_key,
        public_key=public_key or generate_private_key().public_key(),
        common_name=common_name,
        sans=sans,
        **args,  # type: ignore[arg-type]
    )


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


# --------------------------------------------------------------------------- serials


def test_random_serial_range_and_uniqueness() -> None:
    serials = {random_serial() for _ in range(2000)}
    assert len(serials) == 2000
    assert all(0 < s < 1 << 127 for s in serials)
    # 2000 draws of 127 bits: the top bits get used, so the serial really is ~128 bits wide.
    assert max(s.bit_length() for s in serials) == 127


# --------------------------------------------------------------------------- SAN classification


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM", x509.DNSName("example.com")),
        ("*.example.com", x509.DNSName("*.example.com")),
        ("localhost", x509.DNSName("localhost")),
        ("xn--bcher-kva.example", x509.DNSName("xn--bcher-kva.example")),
        ("192.0.2.7", x509.IPAddress(ipaddress.ip_address("192.0.2.7"))),
        ("2001:db8::1", x509.IPAddress(ipaddress.ip_address("2001:db8::1"))),
        ("ops@example.com", x509.RFC822Name("ops@example.com")),
        ("spiffe://example.org/ns/web", x509.UniformResourceIdentifier("spiffe://example.org/ns/web")),
        ("https://user@example.org/x", x509.UniformResourceIdentifier("https://user@example.org/x")),
    ],
)
def test_classify_san(value: str, expected: x509.GeneralName) -> None:
    assert classify_san(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a..example.com",
        ".example.com",
        "example.com.",
        "has space.example.com",
        "under_score.example.com",
        "-lead.example.com",
        "trail-.example.com",
        "a" * 64 + ".example.com",
        ".".join(["a" * 60] * 5),
        "*",
        "*.*.example.com",
        "www.*.example.com",
        "bücher.example",
        "ex!mple.com",
        "@example.com",
        "ops@",
        "ops@exa mple.com",
        "://nothing",
    ],
)
def test_classify_san_rejects(value: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        classify_san(value)
    if value:
        assert value in str(excinfo.value)


# --------------------------------------------------------------------------- CA


@pytest.mark.parametrize(
    ("spec", "hash_name"),
    [
        (KeySpec(KeyAlgorithm.ECDSA, 256), "sha256"),
        (KeySpec(KeyAlgorithm.ECDSA, 384), "sha384"),
        (KeySpec(KeyAlgorithm.RSA, 2048), "sha256"),
        (KeySpec(KeyAlgorithm.ED25519, 256), None),
    ],
    ids=str,
)
def test_self_signed_ca(spec: KeySpec, hash_name: str | None) -> None:
    key = generate_private_key(spec)
    ca = build_self_signed_ca(key, "Root", not_before=START, not_after=END, organization="Org", path_length=1)
    assert (ca.signature_hash_algorithm.name if ca.signature_hash_algorithm else None) == hash_name
    basic = _ext(ca, x509.BasicConstraints)
    assert basic.critical and basic.value == x509.BasicConstraints(ca=True, path_length=1)
    usage = _ext(ca, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign and usage.value.digital_signature
    assert not usage.value.key_encipherment
    ski = _ext(ca, x509.SubjectKeyIdentifier).value
    assert _ext(ca, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    ca.verify_directly_issued_by(ca)
    assert ca.not_valid_before_utc == START and ca.not_valid_after_utc == END


def test_ca_rejections() -> None:
    key = generate_private_key()
    with pytest.raises(InvalidInput, match="not_after"):
        build_self_signed_ca(key, "Root", not_before=END, not_after=START)
    with pytest.raises(InvalidInput, match="common name"):
        build_self_signed_ca(key, " ", not_before=START, not_after=END)
    with pytest.raises(InvalidInput, match="path length"):
        build_self_signed_ca(key, "Root", not_before=START, not_after=END, path_length=-1)


# --------------------------------------------------------------------------- leaf


@pytest.mark.parametrize("spec", SUPPORTED_KEY_SPECS[:3] + SUPPORTED_KEY_SPECS[-1:], ids=str)
def test_leaf_for_every_key_type_verifies(spec: KeySpec) -> None:
    ca = _ca(generate_private_key(spec))
    leaf = _leaf(ca=ca, public_key=generate_private_key(spec).public_key())
    leaf.verify_directly_issued_by(ca[0])


def test_leaf_extensions() -> None:
    ca = _ca()
    leaf = _leaf(
        ["example.com", "10.1.2.3"],
        ca=ca,
        crl_url="http://ca.example/crl.der",
        ocsp_url="http://ca.example/ocsp",
        serial=42,
    )
    assert leaf.serial_number == 42
    assert leaf.issuer == ca[0].subject
    basic = _ext(leaf, x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = _ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_encipherment  # EC key: no key transport
    assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    san = _ext(leaf, x509.SubjectAlternativeName)
    assert san.critical is False
    assert san.value.get_values_for_type(x509.DNSName) == ["www.example.com", "example.com"]
    aki = _ext(leaf, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(ca[0], x509.SubjectKeyIdentifier).value.digest
    crl = _ext(leaf, x509.CRLDistributionPoints).value
    assert crl[0].full_name == [x509.UniformResourceIdentifier("http://ca.example/crl.der")]
    aia = _ext(leaf, x509.AuthorityInformationAccess).value
    assert aia[0].access_method == AuthorityInformationAccessOID.OCSP
    assert aia[0].access_location == x509.UniformResourceIdentifier("http://ca.example/ocsp")


def test_no_crl_or_ocsp_extensions_unless_asked() -> None:
    leaf = _leaf()
    for kind in (x509.CRLDistributionPoints, x509.AuthorityInformationAccess):
        with pytest.raises(x509.ExtensionNotFound):
            leaf.extensions.get_extension_for_class(kind)


def test_rsa_tls_leaf_gets_key_encipherment() -> None:
    rsa_pub = generate_private_key(KeySpec(KeyAlgorithm.RSA, 2048)).public_key()
    tls = inspect_certificate(_leaf(public_key=rsa_pub, ekus=(ExtendedKeyUsage.CLIENT_AUTH,)))
    assert tls.key_usage == ("digitalSignature", "keyEncipherment")
    signing = inspect_certificate(_leaf(public_key=rsa_pub, ekus=(ExtendedKeyUsage.CODE_SIGNING,)))
    assert signing.key_usage == ("digitalSignature",)


def test_email_leaf_gets_content_commitment() -> None:
    info = inspect_certificate(
        _leaf(["alice@example.com"], common_name="Alice Smith", ekus=(ExtendedKeyUsage.EMAIL_PROTECTION,))
    )
    assert info.key_usage == ("digitalSignature", "contentCommitment")
    assert info.emails == ("alice@example.com",)
    assert info.dns_names == ()  # "Alice Smith" is not a DNS name, so it is not copied into the SANs


def test_cn_not_duplicated_in_sans() -> None:
    info = inspect_certificate(_leaf(["WWW.example.com", "example.com", "example.com"]))
    assert info.dns_names == ("www.example.com", "example.com")


def test_ip_cn_is_not_added_as_dns() -> None:
    info = inspect_certificate(_leaf(["10.0.0.1"], common_name="10.0.0.1"))
    assert info.dns_names == ()
    assert info.ip_addresses == ("10.0.0.1",)


def test_empty_cn_gives_empty_subject_and_critical_san() -> None:
    leaf = _leaf(["svc.internal"], common_name="")
    assert len(leaf.subject) == 0
    assert _ext(leaf, x509.SubjectAlternativeName).critical is True


def test_leaf_rejects_email_san_without_email_protection() -> None:
    with pytest.raises(InvalidInput, match=r"email SAN .* requires the emailProtection extended key usage"):
        _leaf(["ops@example.com"])


@pytest.mark.parametrize("bad", ["bad..example.com", "not valid.example.com", "x" * 64 + ".com"])
def test_leaf_rejects_bad_dns_name(bad: str) -> None:
    with pytest.raises(InvalidInput, match="invalid DNS name") as excinfo:
        _leaf([bad])
    assert bad in str(excinfo.value)


@pytest.mark.parametrize("end", [START, START - timedelta(seconds=1)])
def test_leaf_rejects_inverted_validity(end: datetime) -> None:
    with pytest.raises(InvalidInput, match="must be later than not_before"):
        _leaf(not_before=START, not_after=end)


def test_leaf_rejects_other_mistakes() -> None:
    ca = _ca()
    with pytest.raises(InvalidInput, match="common name or at least one SAN"):
        _leaf([], common_name="", ca=ca)
    with pytest.raises(InvalidInput, match="extended key usage"):
        _leaf(ca=ca, ekus=())
    with pytest.raises(InvalidInput, match="serial"):
        _leaf(ca=ca, serial=0)
    with pytest.raises(InvalidInput, match="issuer key does not match"):
        _leaf(ca=(ca[0], generate_private_key()))
    with pytest.raises(InvalidInput, match="common name"):
        _leaf(common_name="a" * 65, ca=ca)


def test_naive_datetimes_are_utc() -> None:
    naive_start = START.replace(tzinfo=None)
    leaf = _leaf(not_before=naive_start, not_after=naive_start + timedelta(days=1))
    assert leaf.not_valid_before_utc == START


# --------------------------------------------------------------------------- CSR


@pytest.mark.parametrize("spec", [KeySpec(KeyAlgorithm.ECDSA, 384), KeySpec(KeyAlgorithm.ED25519, 256)], ids=str)
def test_csr_round_trip_pem_and_der(spec: KeySpec) -> None:
    key = generate_private_key(spec)
    csr = build_csr(key, "api.example.com", ["api.example.com", "192.0.2.9"])
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        loaded = load_csr(csr.public_bytes(encoding))
        assert loaded == csr
        san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["api.example.com"]
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.9"]
        assert loaded.public_key() == key.public_key()


def test_csr_rejects_bad_san() -> None:
    with pytest.raises(InvalidInput, match="invalid DNS name"):
        build_csr(generate_private_key(), "x", ["bad name"])


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"],
)
def test_load_csr_garbage(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^not a certificate signing request: "):
        load_csr(data)


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_tampered_csr_rejected(kind: str) -> None:
    key: PrivateKey = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ecdsa"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    csr = build_csr(key, "tamper.example.com", [])
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    signature = csr.signature
    start = bytes(der).rindex(signature)
    # Flip a byte in the middle of the signature value (past any DER INTEGER headers for ECDSA).
    der[start + len(signature) // 2] ^= 0x01
    with pytest.raises(InvalidInput, match=r"^CSR signature does not verify$"):
        load_csr(bytes(der))


def test_csr_with_invalid_version_is_invalid_input() -> None:
    der = bytearray(build_csr(generate_private_key(), "v.example.com", []).public_bytes(serialization.Encoding.DER))
    version_at = bytes(der).index(b"\x02\x01\x00") + 2  # first INTEGER of the request info: version 0
    der[version_at] = 9
    with pytest.raises(InvalidInput, match="not a certificate signing request"):
        load_csr(bytes(der))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_csr_never_crashes(data: st.DataObject) -> None:
    der = bytearray(_SAMPLE_CSR_DER)
    index = data.draw(st.integers(0, len(der) - 1))
    der[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(InvalidInput):
        load_csr(bytes(der))


_SAMPLE_CSR_DER = build_csr(generate_private_key(), "m.example.com", ["m.example.com", "192.0.2.1"]).public_bytes(
    serialization.Encoding.DER
)


def test_ed25519_tampered_csr_rejected() -> None:
    csr = build_csr(ed25519.Ed25519PrivateKey.generate(), "ed.example.com", [])
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0xFF  # last byte of the raw 64-byte signature
    with pytest.raises(InvalidInput, match="CSR signature does not verify"):
        load_csr(bytes(der))


def test_csr_signed_with_sha256() -> None:
    csr = build_csr(generate_private_key(), "a.example.com", [])
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)


# --------------------------------------------------------------------------- openssl


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")
@pytest.mark.parametrize("spec", [KeySpec(KeyAlgorithm.ECDSA, 256), KeySpec(KeyAlgorithm.RSA, 2048)], ids=str)
def test_openssl_verifies_leaf(tmp_path: Path, spec: KeySpec) -> None:
    ca = _ca(generate_private_key(spec))
    leaf = _leaf(
        ["example.com", "192.0.2.10", "ops@example.com"],
        ca=ca,
        public_key=generate_private_key(spec).public_key(),
        ekus=(ExtendedKeyUsage.SERVER_AUTH, ExtendedKeyUsage.EMAIL_PROTECTION),
        crl_url="http://ca.example/crl",
        ocsp_url="http://ca.example/ocsp",
    )
    root_pem = tmp_path / "root.pem"
    leaf_pem = tmp_path / "leaf.pem"
    root_pem.write_text(certificate_to_pem(ca[0]))
    leaf_pem.write_text(certificate_to_pem(leaf))

    verify = _openssl("verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", root_pem, leaf_pem)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.strip().endswith(": OK")

    text = _openssl("x509", "-noout", "-text", "-in", leaf_pem)
    assert text.returncode == 0, text.stderr
    assert "DNS:www.example.com, DNS:example.com, IP Address:192.0.2.10, email:ops@example.com" in text.stdout
    assert "TLS Web Server Authentication" in text.stdout
    assert "E-mail Protection" in text.stdout
    assert "CA:FALSE" in text.stdout
    assert "OCSP - URI:http://ca.example/ocsp" in text.stdout


@pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")
def test_openssl_reads_csr(tmp_path: Path) -> None:
    csr_pem = tmp_path / "req.pem"
    csr = build_csr(generate_private_key(), "api.example.com", ["api.example.com"])
    csr_pem.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    out = _openssl("req", "-verify", "-noout", "-text", "-in", csr_pem)
    assert out.returncode == 0, out.stderr
    assert "DNS:api.example.com" in out.stdout
