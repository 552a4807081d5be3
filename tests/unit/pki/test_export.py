"""Exporting PEM file sets and PKCS#12 bundles, judged by the openssl binary."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    SUPPORTED_KEY_SPECS,
    KeySpec,
    PrivateKey,
    build_leaf,
    build_self_signed_ca,
    certificate_to_pem,
    generate_private_key,
    load_certificates,
    load_private_key_pem,
)
from certctl_engine.pki.export import PemBundle, export_pem, export_pkcs12, load_pkcs12

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=1)
END = NOW + timedelta(days=90)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
needs_openssl = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")

SPECS = [s for s in SUPPORTED_KEY_SPECS if str(s) in {"ECDSA P-256", "ECDSA P-384", "RSA 2048", "Ed25519"}]


def _openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


def _public_pem(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _issue(spec: KeySpec | None = None) -> tuple[x509.Certificate, PrivateKey, x509.Certificate]:
    """A leaf with its key, issued by a fresh root; returns (leaf, leaf key, root)."""
    ca_key = generate_private_key()
    ca = build_self_signed_ca(ca_key, "Export Root", not_before=START, not_after=END)
    key = generate_private_key(spec) if spec else generate_private_key()
    leaf = build_leaf(
        issuer_cert=ca,
        issuer_key=ca_key,
        public_key=key.public_key(),
        common_name="www.example.com",
        sans=["www.example.com"],
        not_before=START,
        not_after=END,
    )
    return leaf, key, ca


@pytest.fixture(scope="module")
def issued() -> tuple[x509.Certificate, PrivateKey, x509.Certificate]:
    return _issue()


# --------------------------------------------------------------------------- PEM


def test_export_pem_without_key(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, _, ca = issued
    bundle = export_pem(leaf, [ca])
    assert isinstance(bundle, PemBundle)
    assert bundle.private_key is None
    assert bundle.certificate == certificate_to_pem(leaf)
    assert bundle.chain == certificate_to_pem(ca)
    assert bundle.full_chain == bundle.certificate + bundle.chain
    assert load_certificates(bundle.full_chain.encode()) == [leaf, ca]


def test_export_pem_with_empty_chain(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, _, _ = issued
    bundle = export_pem(leaf, [])
    assert bundle.chain == ""
    assert bundle.full_chain == bundle.certificate


def test_export_pem_with_plain_key(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, ca = issued
    bundle = export_pem(leaf, [ca], key)
    assert bundle.private_key is not None
    assert bundle.private_key.startswith("-----BEGIN PRIVATE KEY-----\n")
    loaded = load_private_key_pem(bundle.private_key.encode())
    assert _public_pem(loaded.public_key()) == _public_pem(leaf.public_key())


def test_export_pem_with_passphrase(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, ca = issued
    bundle = export_pem(leaf, [ca], key, passphrase=b"x")
    assert bundle.private_key is not None
    assert bundle.private_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    loaded = load_private_key_pem(bundle.private_key.encode(), b"x")
    assert _public_pem(loaded.public_key()) == _public_pem(leaf.public_key())
    with pytest.raises(InvalidInput, match="wrong passphrase"):
        load_private_key_pem(bundle.private_key.encode(), b"y")


def test_export_pem_refuses_empty_passphrase(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, ca = issued
    with pytest.raises(InvalidInput, match="passphrase"):
        export_pem(leaf, [ca], key, passphrase=b"")


def test_export_pem_refuses_mismatched_key(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, _, ca = issued
    with pytest.raises(InvalidInput, match="does not match") as excinfo:
        export_pem(leaf, [ca], generate_private_key())
    assert excinfo.value.field == "key"


def test_export_refuses_single_certificate_as_chain(
    issued: tuple[x509.Certificate, PrivateKey, x509.Certificate],
) -> None:
    leaf, _, ca = issued
    with pytest.raises(InvalidInput, match="chain must be a list"):
        export_pem(leaf, ca)  # type: ignore[arg-type]


@needs_openssl
def test_openssl_reads_encrypted_pem_key(
    tmp_path: Path, issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]
) -> None:
    leaf, key, ca = issued
    bundle = export_pem(leaf, [ca], key, passphrase=b"x")
    assert bundle.private_key is not None
    (tmp_path / "k.pem").write_text(bundle.private_key)
    ok = _openssl("pkey", "-in", "k.pem", "-passin", "pass:x", "-noout", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    wrong = _openssl("pkey", "-in", "k.pem", "-passin", "pass:y", "-noout", cwd=tmp_path)
    assert wrong.returncode != 0
    pub = _openssl("pkey", "-in", "k.pem", "-passin", "pass:x", "-pubout", cwd=tmp_path)
    assert pub.stdout.encode() == _public_pem(leaf.public_key())


@needs_openssl
def test_openssl_verifies_full_chain(
    tmp_path: Path, issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]
) -> None:
    leaf, _, ca = issued
    bundle = export_pem(leaf, [ca])
    (tmp_path / "chain.pem").write_text(bundle.chain)
    (tmp_path / "cert.pem").write_text(bundle.certificate)
    out = _openssl("verify", "-CAfile", "chain.pem", "cert.pem", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------- PKCS#12


def test_pkcs12_round_trip(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, ca = issued
    data = export_pkcs12(name="web", leaf=leaf, chain=[ca], key=key, passphrase=b"secret")
    loaded_key, loaded_leaf, others = load_pkcs12(data, b"secret")
    assert loaded_leaf == leaf
    assert others == [ca]
    assert loaded_key is not None
    assert _public_pem(loaded_key.public_key()) == _public_pem(leaf.public_key())
    # friendly name is the alias Java keystores and Windows show
    full = pkcs12.load_pkcs12(data, b"secret")
    assert full.cert is not None
    assert full.cert.friendly_name == b"web"


def test_pkcs12_without_key(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, _, ca = issued
    data = export_pkcs12(name="trust", leaf=leaf, chain=[ca], key=None, passphrase=b"secret")
    loaded_key, loaded_leaf, others = load_pkcs12(data, b"secret")
    assert loaded_key is None
    # Like OpenSSL's PKCS12_parse, the "certificate" is the one paired with the key; without a key
    # every certificate comes back in the list, in file order.
    assert loaded_leaf is None
    assert others == [leaf, ca]


def test_pkcs12_with_empty_name_and_chain(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, _ = issued
    data = export_pkcs12(name="", leaf=leaf, chain=[], key=key, passphrase=b"secret")
    full = pkcs12.load_pkcs12(data, b"secret")
    assert full.cert is not None
    assert full.cert.friendly_name is None
    assert full.additional_certs == []


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_pkcs12_round_trip_every_key_family(spec: KeySpec) -> None:
    leaf, key, ca = _issue(spec)
    loaded_key, _, _ = load_pkcs12(export_pkcs12(name="x", leaf=leaf, chain=[ca], key=key, passphrase=b"pw"), b"pw")
    assert loaded_key is not None
    assert type(loaded_key) is type(key)


def test_pkcs12_refuses_empty_passphrase(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, ca = issued
    with pytest.raises(InvalidInput, match="non-empty passphrase") as excinfo:
        export_pkcs12(name="web", leaf=leaf, chain=[ca], key=key, passphrase=b"")
    assert excinfo.value.field == "passphrase"


def test_pkcs12_refuses_mismatched_key(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, _, ca = issued
    with pytest.raises(InvalidInput, match="does not match"):
        export_pkcs12(name="web", leaf=leaf, chain=[ca], key=generate_private_key(), passphrase=b"secret")


def test_load_pkcs12_wrong_passphrase(issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]) -> None:
    leaf, key, ca = issued
    data = export_pkcs12(name="web", leaf=leaf, chain=[ca], key=key, passphrase=b"secret")
    with pytest.raises(InvalidInput, match=r"^wrong passphrase or not a PKCS#12 file$"):
        load_pkcs12(data, b"nope")


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x03"])
def test_load_pkcs12_garbage(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"^wrong passphrase or not a PKCS#12 file$"):
        load_pkcs12(data, b"secret")


def test_load_pkcs12_refuses_unsupported_key_type(
    issued: tuple[x509.Certificate, PrivateKey, x509.Certificate],
) -> None:
    leaf, _, _ = issued
    dsa_key = dsa.generate_private_key(2048)
    data = pkcs12.serialize_key_and_certificates(
        b"x", dsa_key, None, [leaf], serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidInput, match="unsupported key type DSAPrivateKey"):
        load_pkcs12(data, b"pw")


@needs_openssl
def test_openssl_reads_pkcs12_certificates(
    tmp_path: Path, issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]
) -> None:
    leaf, key, ca = issued
    (tmp_path / "out.p12").write_bytes(export_pkcs12(name="web", leaf=leaf, chain=[ca], key=key, passphrase=b"secret"))
    out = _openssl("pkcs12", "-info", "-in", "out.p12", "-passin", "pass:secret", "-nokeys", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    combined = out.stdout + out.stderr
    assert "subject=CN = www.example.com" in combined
    assert "subject=CN = Export Root" in combined
    assert "friendlyName: web" in combined
    assert "MAC: sha256" in combined
    assert "PBES2, PBKDF2, AES-256-CBC" in combined
    assert "PRF hmacWithSHA256" in combined
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in combined
    assert "RC2" not in combined
    assert "3DES" not in combined


@needs_openssl
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_openssl_extracts_the_matching_key(tmp_path: Path, spec: KeySpec) -> None:
    leaf, key, ca = _issue(spec)
    (tmp_path / "out.p12").write_bytes(export_pkcs12(name="web", leaf=leaf, chain=[ca], key=key, passphrase=b"secret"))
    out = _openssl("pkcs12", "-in", "out.p12", "-passin", "pass:secret", "-nodes", "-nocerts", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "-----BEGIN PRIVATE KEY-----" in out.stdout
    (tmp_path / "key.pem").write_text(out.stdout)
    pub = _openssl("pkey", "-in", "key.pem", "-pubout", cwd=tmp_path)
    assert pub.returncode == 0, pub.stderr
    assert pub.stdout.encode() == _public_pem(leaf.public_key())


@needs_openssl
def test_openssl_reads_certificate_only_pkcs12(
    tmp_path: Path, issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]
) -> None:
    leaf, _, ca = issued
    (tmp_path / "trust.p12").write_bytes(
        export_pkcs12(name="trust", leaf=leaf, chain=[ca], key=None, passphrase=b"secret")
    )
    out = _openssl("pkcs12", "-in", "trust.p12", "-passin", "pass:secret", "-nodes", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("-----BEGIN CERTIFICATE-----") == 2
    assert "PRIVATE KEY" not in out.stdout


@needs_openssl
def test_openssl_refuses_wrong_passphrase(
    tmp_path: Path, issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]
) -> None:
    leaf, key, ca = issued
    (tmp_path / "out.p12").write_bytes(export_pkcs12(name="web", leaf=leaf, chain=[ca], key=key, passphrase=b"secret"))
    out = _openssl("pkcs12", "-info", "-in", "out.p12", "-passin", "pass:wrong", "-nokeys", cwd=tmp_path)
    assert out.returncode != 0
    assert "invalid password" in (out.stdout + out.stderr).lower()


@needs_openssl
def test_load_pkcs12_made_by_openssl(
    tmp_path: Path, issued: tuple[x509.Certificate, PrivateKey, x509.Certificate]
) -> None:
    leaf, key, ca = issued
    bundle = export_pem(leaf, [ca], key)
    assert bundle.private_key is not None
    (tmp_path / "cert.pem").write_text(bundle.certificate)
    (tmp_path / "chain.pem").write_text(bundle.chain)
    (tmp_path / "key.pem").write_text(bundle.private_key)
    out = _openssl(
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-certfile",
        "chain.pem",
        "-passout",
        "pass:secret",
        "-out",
        "made.p12",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    loaded_key, loaded_leaf, others = load_pkcs12((tmp_path / "made.p12").read_bytes(), b"secret")
    assert loaded_leaf == leaf
    assert others == [ca]
    assert loaded_key is not None
    assert _public_pem(loaded_key.public_key()) == _public_pem(leaf.public_key())
