"""Loading, describing and ordering certificates."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certctl_engine.domain import ExtendedKeyUsage, KeyAlgorithm
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    KeySpec,
    PrivateKey,
    build_leaf,
    build_self_signed_ca,
    certificate_to_pem,
    certificates_to_pem,
    fingerprint_sha256,
    generate_private_key,
    inspect_certificate,
    load_certificates,
    order_chain,
    private_key_to_pem,
)

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(hours=1)
END = NOW + timedelta(days=30)


def _ca(name: str = "Test Root", key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    key = key or generate_private_key()
    return build_self_signed_ca(key, name, not_before=START, not_after=END, organization="certctl"), key


def _intermediate(
    root: x509.Certificate, root_key: PrivateKey, name: str = "Test Intermediate"
) -> tuple[x509.Certificate, PrivateKey]:
    """A CA signed by ``root``; certctl has no builder for these, so the test makes one by hand."""
    key = generate_private_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return cert, key


def _leaf(issuer: x509.Certificate, issuer_key: PrivateKey, **kwargs: object) -> x509.Certificate:
    args: dict[str, object] = {
        "common_name": "www.example.com",
        "sans": ["example.com"],
        "not_before": START,
        "not_after": END,
    }
    args.update(kwargs)
    return build_leaf(
        issuer_cert=issuer,
        issuer_key=issuer_key,
        public_key=generate_private_key().public_key(),
        **args,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- load_certificates


def test_load_pem_bundle_skips_key_blocks() -> None:
    root, root_key = _ca()
    leaf = _leaf(root, root_key)
    bundle = (
        certificate_to_pem(leaf).encode()
        + private_key_to_pem(generate_private_key())
        + b"junk between blocks\n"
        + certificate_to_pem(root).encode()
    )
    assert load_certificates(bundle) == [leaf, root]


def test_load_der() -> None:
    root, _ = _ca()
    assert load_certificates(root.public_bytes(serialization.Encoding.DER)) == [root]


def test_pem_round_trip_of_a_chain() -> None:
    root, root_key = _ca()
    leaf = _leaf(root, root_key)
    text = certificates_to_pem([leaf, root])
    assert text.count("-----BEGIN CERTIFICATE-----") == 2
    assert load_certificates(text.encode()) == [leaf, root]


@pytest.mark.parametrize("data", [b"", b"   \n", private_key_to_pem(generate_private_key())])
def test_no_certificate(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^no certificate found in input$"):
        load_certificates(data)


def test_broken_pem_block_names_the_problem() -> None:
    with pytest.raises(InvalidInput, match="PEM certificate #1 cannot be parsed"):
        load_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_garbage_is_neither_pem_nor_der() -> None:
    with pytest.raises(InvalidInput, match="neither a PEM nor a DER certificate"):
        load_certificates(b"hello world")


def test_truncated_der() -> None:
    root, _ = _ca()
    der = root.public_bytes(serialization.Encoding.DER)
    with pytest.raises(InvalidInput):
        load_certificates(der[:-10])


@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_random_bytes_always_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        load_certificates(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1))
def test_random_pem_bodies_always_invalid_input(body: bytes) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(body) + b"-----END CERTIFICATE-----\n"
    with pytest.raises(InvalidInput):
        load_certificates(pem)


@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_der_never_crashes(data: st.DataObject) -> None:
    der = bytearray(_SAMPLE_DER)
    index = data.draw(st.integers(0, len(der) - 1))
    der[index] = data.draw(st.integers(0, 255))
    try:
        certs = load_certificates(bytes(der))
    except InvalidInput:
        return
    # A mutation can still parse (e.g. inside the signature); describing it must not crash either.
    with contextlib.suppress(InvalidInput):
        inspect_certificate(certs[0])


def test_certificate_with_invalid_version_is_invalid_input() -> None:
    der = bytearray(_SAMPLE_DER)
    version_at = bytes(der).index(b"\xa0\x03\x02\x01\x02") + 4  # [0] EXPLICIT version v3 (2)
    der[version_at] = 7
    with pytest.raises(InvalidInput, match="neither a PEM nor a DER certificate"):
        load_certificates(bytes(der))


# --------------------------------------------------------------------------- inspect_certificate


def test_inspect_leaf_fields() -> None:
    root, root_key = _ca()
    leaf = build_leaf(
        issuer_cert=root,
        issuer_key=root_key,
        public_key=generate_private_key(KeySpec(KeyAlgorithm.RSA, 2048)).public_key(),
        common_name="www.example.com",
        sans=["Example.COM", "10.0.0.1", "2001:db8::1", "ops@example.com", "spiffe://example.com/web"],
        not_before=START,
        not_after=END,
        ekus=(ExtendedKeyUsage.SERVER_AUTH, ExtendedKeyUsage.CLIENT_AUTH, ExtendedKeyUsage.EMAIL_PROTECTION),
        serial=0xABCDEF,
    )
    info = inspect_certificate(leaf)
    root_info = inspect_certificate(root)

    assert info.serial_hex == "abcdef"
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert info.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    assert info.fingerprint_sha256 == fingerprint_sha256(leaf)
    assert info.subject_dn == "CN=www.example.com"
    assert info.subject_cn == "www.example.com"
    assert info.issuer_dn == "O=certctl,CN=Test Root"
    assert info.issuer_cn == "Test Root"
    assert info.dns_names == ("www.example.com", "example.com")
    assert info.ip_addresses == ("10.0.0.1", "2001:db8::1")
    assert info.emails == ("ops@example.com",)
    assert info.uris == ("spiffe://example.com/web",)
    assert info.sans == info.dns_names + info.ip_addresses + info.emails + info.uris
    assert info.not_before == START
    assert info.not_after == END
    assert info.not_after.tzinfo is not None
    assert info.key_algorithm is KeyAlgorithm.RSA
    assert info.key_size == 2048
    assert info.is_ca is False
    assert info.path_length is None
    assert info.key_usage == ("digitalSignature", "contentCommitment", "keyEncipherment")
    assert info.ekus == ("serverAuth", "clientAuth", "emailProtection")
    assert info.subject_key_id is not None
    assert info.authority_key_id == root_info.subject_key_id
    assert info.signature_algorithm == "ecdsa-with-SHA256"
    assert info.self_signed is False


def test_inspect_root() -> None:
    root, _ = _ca()
    info = inspect_certificate(root)
    assert info.is_ca is True
    assert info.path_length is None
    assert info.self_signed is True
    assert info.key_usage == ("digitalSignature", "keyCertSign", "cRLSign")
    assert info.ekus == ()
    assert info.sans == ()
    assert info.authority_key_id == info.subject_key_id
    assert info.key_algorithm is KeyAlgorithm.ECDSA
    assert info.key_size == 256


def test_inspect_unknown_eku_is_dotted_and_missing_cn_is_empty() -> None:
    key = generate_private_key(KeySpec(KeyAlgorithm.ED25519, 256))
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "No CN Inc")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), ExtendedKeyUsageOID.OCSP_SIGNING]),
            critical=False,
        )
        .sign(key, None)
    )
    info = inspect_certificate(cert)
    assert info.subject_cn == ""
    assert info.ekus == ("1.3.6.1.4.1.99999.1", "OCSPSigning")
    assert info.subject_key_id is None
    assert info.authority_key_id is None
    assert info.key_usage == ()
    assert info.key_algorithm is KeyAlgorithm.ED25519
    assert info.signature_algorithm == "ed25519"
    assert info.self_signed is True


def test_same_names_but_foreign_signature_is_not_self_signed() -> None:
    root, _ = _ca("Twin")
    impostor_key = generate_private_key()
    impostor = (
        x509.CertificateBuilder()
        .subject_name(root.subject)
        .issuer_name(root.subject)
        .public_key(generate_private_key().public_key())
        .serial_number(2)
        .not_valid_before(START)
        .not_valid_after(END)
        .sign(impostor_key, hashes.SHA256())
    )
    assert inspect_certificate(impostor).self_signed is False


# --------------------------------------------------------------------------- order_chain


def test_order_chain_from_shuffled_pool() -> None:
    root, root_key = _ca()
    inter, inter_key = _intermediate(root, root_key)
    leaf = _leaf(inter, inter_key)
    unrelated, unrelated_key = _ca("Unrelated Root")
    unrelated_leaf = _leaf(unrelated, unrelated_key)
    pool = [root, unrelated, inter, unrelated_leaf, leaf]
    random.Random(7).shuffle(pool)
    assert order_chain(leaf, pool) == [leaf, inter, root]


def test_order_chain_requires_a_valid_signature_not_just_the_name() -> None:
    root, root_key = _ca()
    inter, inter_key = _intermediate(root, root_key)
    leaf = _leaf(inter, inter_key)
    # Same subject as the real intermediate, different key: must not be picked.
    look_alike, _ = _intermediate(root, root_key)
    assert look_alike.subject == inter.subject
    assert order_chain(leaf, [look_alike, root]) == [leaf]
    assert order_chain(leaf, [look_alike, root, inter]) == [leaf, inter, root]


def test_order_chain_without_root_stops_at_last_found() -> None:
    root, root_key = _ca()
    inter, inter_key = _intermediate(root, root_key)
    leaf = _leaf(inter, inter_key)
    assert order_chain(leaf, [inter]) == [leaf, inter]
    assert order_chain(leaf, []) == [leaf]


def test_order_chain_of_a_root_is_the_root() -> None:
    root, _ = _ca()
    assert order_chain(root, [root]) == [root]


def _sample_der() -> bytes:
    root, root_key = _ca("Sample")
    return _leaf(root, root_key, sans=["a.example", "192.0.2.1"]).public_bytes(serialization.Encoding.DER)


_SAMPLE_DER = _sample_der()
