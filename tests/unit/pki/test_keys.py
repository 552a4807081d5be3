"""Key specs, key generation and PEM round trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from certctl_engine.domain import KeyAlgorithm
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    DEFAULT_KEY_SPEC,
    SUPPORTED_KEY_SPECS,
    KeySpec,
    generate_private_key,
    key_spec_of,
    load_private_key_pem,
    private_key_to_pem,
)


@pytest.mark.parametrize("spec", SUPPORTED_KEY_SPECS, ids=str)
def test_generate_every_spec_and_read_it_back(spec: KeySpec) -> None:
    key = generate_private_key(spec)
    assert key_spec_of(key) == spec
    assert key_spec_of(key.public_key()) == spec


def test_default_spec_is_p256() -> None:
    assert KeySpec(KeyAlgorithm.ECDSA, 256) == DEFAULT_KEY_SPEC
    key = generate_private_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_supported_specs_cover_the_documented_set() -> None:
    assert {str(s) for s in SUPPORTED_KEY_SPECS} == {
        "ECDSA P-256",
        "ECDSA P-384",
        "RSA 2048",
        "RSA 3072",
        "RSA 4096",
        "Ed25519",
    }


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (KeySpec(KeyAlgorithm.ECDSA, 256), "ECDSA P-256"),
        (KeySpec(KeyAlgorithm.ECDSA, 384), "ECDSA P-384"),
        (KeySpec(KeyAlgorithm.RSA, 2048), "RSA 2048"),
        (KeySpec(KeyAlgorithm.ED25519, 256), "Ed25519"),
    ],
)
def test_str(spec: KeySpec, text: str) -> None:
    assert str(spec) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ecdsa-p256", KeySpec(KeyAlgorithm.ECDSA, 256)),
        ("ECDSA-P384", KeySpec(KeyAlgorithm.ECDSA, 384)),
        ("p256", KeySpec(KeyAlgorithm.ECDSA, 256)),
        ("P384", KeySpec(KeyAlgorithm.ECDSA, 384)),
        ("rsa2048", KeySpec(KeyAlgorithm.RSA, 2048)),
        ("rsa-3072", KeySpec(KeyAlgorithm.RSA, 3072)),
        ("RSA-4096", KeySpec(KeyAlgorithm.RSA, 4096)),
        ("ed25519", KeySpec(KeyAlgorithm.ED25519, 256)),
        ("Ed25519", KeySpec(KeyAlgorithm.ED25519, 256)),
    ],
)
def test_parse_accepts(text: str, expected: KeySpec) -> None:
    assert KeySpec.parse(text) == expected


@pytest.mark.parametrize("spec", SUPPORTED_KEY_SPECS, ids=str)
def test_parse_reads_its_own_str(spec: KeySpec) -> None:
    assert KeySpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text", ["", "rsa", "rsa1024", "rsa-8192", "p521", "ecdsa-p224", "ed448", "dsa2048", "x"])
def test_parse_rejects_and_names_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        KeySpec.parse(text)
    assert "ecdsa-p256" in str(excinfo.value)
    assert "rsa2048" in str(excinfo.value)
    assert "ed25519" in str(excinfo.value)


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [
        (KeyAlgorithm.RSA, 1024),
        (KeyAlgorithm.ECDSA, 521),
        (KeyAlgorithm.ED25519, 448),
        (KeyAlgorithm.RSA, 256),
    ],
)
def test_checked_rejects_unsupported_combinations(algorithm: KeyAlgorithm, size: int) -> None:
    with pytest.raises(InvalidInput, match="unsupported key"):
        KeySpec.checked(algorithm, size)


def test_checked_accepts_supported() -> None:
    assert KeySpec.checked(KeyAlgorithm.RSA, 3072) == KeySpec(KeyAlgorithm.RSA, 3072)


def test_generate_refuses_unsupported_spec() -> None:
    with pytest.raises(InvalidInput):
        generate_private_key(KeySpec(KeyAlgorithm.RSA, 1024))


def test_key_spec_of_reports_unusual_sizes_as_found() -> None:
    assert key_spec_of(ec.generate_private_key(ec.SECP521R1())) == KeySpec(KeyAlgorithm.ECDSA, 521)


@pytest.mark.parametrize(
    "make",
    [lambda: dsa.generate_private_key(2048), lambda: ed448.Ed448PrivateKey.generate()],
    ids=["dsa", "ed448"],
)
def test_key_spec_of_rejects_unsupported_types(make: Callable[[], Any]) -> None:
    key = make()
    with pytest.raises(InvalidInput, match="unsupported key type"):
        key_spec_of(key)
    with pytest.raises(InvalidInput, match="unsupported key type"):
        key_spec_of(key.public_key())


@pytest.mark.parametrize("spec", SUPPORTED_KEY_SPECS[:3] + SUPPORTED_KEY_SPECS[-1:], ids=str)
def test_pem_round_trip_without_passphrase(spec: KeySpec) -> None:
    key = generate_private_key(spec)
    pem = private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key_pem(pem)
    assert private_key_to_pem(loaded) == pem


def test_pem_round_trip_with_passphrase() -> None:
    key = generate_private_key()
    pem = private_key_to_pem(key, b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_private_key_pem(pem, b"s3cret")
    assert private_key_to_pem(loaded) == private_key_to_pem(key)


def test_encrypted_key_without_passphrase() -> None:
    pem = private_key_to_pem(generate_private_key(), b"s3cret")
    with pytest.raises(InvalidInput, match=r"^private key is encrypted; a passphrase is required$"):
        load_private_key_pem(pem)


def test_encrypted_key_with_wrong_passphrase() -> None:
    pem = private_key_to_pem(generate_private_key(), b"s3cret")
    with pytest.raises(InvalidInput, match=r"^wrong passphrase for private key$"):
        load_private_key_pem(pem, b"nope")


def test_passphrase_for_unencrypted_key_is_ignored() -> None:
    key = generate_private_key()
    assert key_spec_of(load_private_key_pem(private_key_to_pem(key), b"unused")) == DEFAULT_KEY_SPEC


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(InvalidInput, match="passphrase"):
        private_key_to_pem(generate_private_key(), b"")


def test_loads_pkcs1_rsa_and_sec1_ec() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    for key, header in ((rsa_key, b"RSA PRIVATE KEY"), (ec_key, b"EC PRIVATE KEY")):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        assert header in pem
        assert key_spec_of(load_private_key_pem(pem)) == key_spec_of(key)


def test_legacy_encrypted_sec1_needs_passphrase() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(InvalidInput, match="passphrase is required"):
        load_private_key_pem(pem)
    with pytest.raises(InvalidInput, match="wrong passphrase"):
        load_private_key_pem(pem, b"bad")
    assert key_spec_of(load_private_key_pem(pem, b"pw")) == DEFAULT_KEY_SPEC


def test_key_found_inside_a_bundle() -> None:
    key = generate_private_key()
    bundle = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + private_key_to_pem(key)
    assert private_key_to_pem(load_private_key_pem(bundle)) == private_key_to_pem(key)


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"\x30\x82\x01\x00"],
)
def test_not_a_pem_private_key(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a PEM private key"):
        load_private_key_pem(data)


def test_corrupt_pem_body() -> None:
    with pytest.raises(InvalidInput, match="not a PEM private key"):
        load_private_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_unsupported_key_type_in_pem() -> None:
    for key in (dsa.generate_private_key(2048), ed448.Ed448PrivateKey.generate()):
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with pytest.raises(InvalidInput, match="unsupported key type"):
            load_private_key_pem(pem)


def test_ed25519_pem_round_trip_with_passphrase() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    loaded = load_private_key_pem(private_key_to_pem(key, b"pw"), b"pw")
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    assert loaded.public_key() == key.public_key()
