"""The agent's keys stay on disk, private, and survive a retried job until their certificate arrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from certctl_engine.agent.keystore import KeyStore
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import build_leaf, certificate_to_pem, create_root_ca


def _sign(csr_pem: str) -> str:
    ca = create_root_ca()
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.now(UTC)
    leaf = build_leaf(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        public_key=csr.public_key(),  # type: ignore[arg-type]
        common_name="api.example.com",
        sans=["api.example.com"],
        not_before=now,
        not_after=now + timedelta(days=30),
    )
    return certificate_to_pem(leaf)


def test_keys_are_private_and_reused_for_a_retried_csr(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    first = store.prepare_csr("cert-1", "api.example.com", ("api.example.com",))
    assert first.key_path.stat().st_mode & 0o777 == 0o600
    again = store.prepare_csr("cert-1", "api.example.com", ("api.example.com",))
    csr_a = x509.load_pem_x509_csr(first.csr_pem.encode())
    csr_b = x509.load_pem_x509_csr(again.csr_pem.encode())
    assert csr_a.public_key() == csr_b.public_key()  # the waiting key is reused, not replaced
    assert csr_a.is_signature_valid


def test_the_signed_certificate_finds_its_key_and_promotes_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    prepared = store.prepare_csr("cert-1", "api.example.com", ("api.example.com",))
    cert_pem = _sign(prepared.csr_pem)
    key = store.key_for("cert-1", cert_pem)
    assert key == prepared.key_path.read_bytes()
    store.promote("cert-1", cert_pem)
    assert not store.pending_path("cert-1").exists()
    assert store.current_path("cert-1").read_bytes() == key
    assert store.current_path("cert-1").stat().st_mode & 0o777 == 0o600
    # A certificate for another key is refused, naming the certificate.
    other = KeyStore(tmp_path / "other").prepare_csr("cert-2", "x.example.com", ())
    with pytest.raises(InvalidInput, match="cert-1"):
        store.key_for("cert-1", _sign(other.csr_pem))


def test_ids_cannot_escape_the_directory(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    for bad in ("../etc/passwd", "a/b", "", ".hidden"):
        with pytest.raises(InvalidInput):
            store.prepare_csr(bad, "x.example.com", ())
