"""Chain verification: the strict cryptography verifier and the loose signature-and-dates walk."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certctl_engine.domain import ExtendedKeyUsage
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import PrivateKey, build_leaf, certificate_to_pem, generate_private_key, random_serial
from certctl_engine.pki.ca import CAMaterial, create_root_ca
from certctl_engine.pki.chain import verify_chain, verify_chain_loosely

NOW = datetime.now(UTC).replace(microsecond=0)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _sub_ca(
    parent: CAMaterial,
    name: str = "Test Sub CA",
    *,
    ekus: Sequence[x509.ObjectIdentifier] | None = None,
    not_after: datetime | None = None,
) -> CAMaterial:
    """An intermediate CA under ``parent``, shaped as the web PKI profile wants it."""
    key = generate_private_key()
    parent_ski = parent.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(parent.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(not_after or NOW + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(parent_ski), critical=False)
    )
    if ekus is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    cert = builder.sign(parent.key, hashes.SHA384())
    return CAMaterial(certificate=cert, key=key, chain=(parent.certificate, *parent.chain))


def _leaf(
    issuer: CAMaterial,
    sans: Sequence[str] = ("svc.example.com", "192.0.2.10"),
    *,
    ekus: Sequence[ExtendedKeyUsage] = (ExtendedKeyUsage.SERVER_AUTH,),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    return build_leaf(
        issuer_cert=issuer.certificate,
        issuer_key=issuer.key,
        public_key=generate_private_key().public_key(),
        common_name="",
        sans=sans,
        ekus=ekus,
        not_before=not_before or NOW - timedelta(minutes=1),
        not_after=not_after or NOW + timedelta(days=7),
    )


def _bare_leaf(issuer: CAMaterial, key: PrivateKey | None = None) -> x509.Certificate:
    """A leaf as old tools make it: no key identifiers, no SAN, no extensions at all."""
    key = key or generate_private_key()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy.example.com")]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial())
        .not_valid_before(NOW - timedelta(minutes=1))
        .not_valid_after(NOW + timedelta(days=7))
        .sign(issuer.key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def root() -> CAMaterial:
    return create_root_ca(common_name="Chain Test Root", validity_days=365, now=NOW)


@pytest.fixture(scope="module")
def sub(root: CAMaterial) -> CAMaterial:
    return _sub_ca(root)


# --------------------------------------------------------------------------- verify_chain: success


def test_leaf_directly_under_root(root: CAMaterial) -> None:
    leaf = _leaf(root)
    assert verify_chain(leaf, [], [root.certificate]) == [leaf, root.certificate]
    assert verify_chain(leaf, [], [root.certificate], server_name="svc.example.com") == [leaf, root.certificate]
    assert verify_chain(leaf, [], [root.certificate], server_name="SVC.example.com.") == [leaf, root.certificate]
    assert verify_chain(leaf, [], [root.certificate], server_name="192.0.2.10") == [leaf, root.certificate]


def test_three_level_chain_with_extra_and_shuffled_intermediates(root: CAMaterial, sub: CAMaterial) -> None:
    leaf = _leaf(sub)
    other = create_root_ca(common_name="Other Root").certificate
    intermediates = [other, root.certificate, sub.certificate]
    expected = [leaf, sub.certificate, root.certificate]
    assert verify_chain(leaf, intermediates, [other, root.certificate]) == expected
    assert verify_chain(leaf, intermediates, [root.certificate], server_name="svc.example.com") == expected


def test_naive_at_is_utc(root: CAMaterial) -> None:
    leaf = _leaf(root)
    naive = (NOW + timedelta(days=1)).replace(tzinfo=None)
    assert len(verify_chain(leaf, [], [root.certificate], at=naive)) == 2


@pytest.mark.parametrize(
    ("ekus", "sans"),
    [
        ((ExtendedKeyUsage.CLIENT_AUTH,), ("svc.example.com",)),
        ((ExtendedKeyUsage.EMAIL_PROTECTION,), ("ops@example.com",)),
        ((ExtendedKeyUsage.CODE_SIGNING,), ("build.example.com",)),
    ],
)
def test_without_server_name_any_purpose_verifies(
    root: CAMaterial, ekus: tuple[ExtendedKeyUsage, ...], sans: tuple[str, ...]
) -> None:
    leaf = _leaf(root, sans, ekus=ekus)
    assert verify_chain(leaf, [], [root.certificate]) == [leaf, root.certificate]


def test_purpose_restricted_intermediate(root: CAMaterial) -> None:
    tls_sub = _sub_ca(root, "TLS Sub CA", ekus=[ExtendedKeyUsageOID.SERVER_AUTH])
    leaf = _leaf(tls_sub)
    assert len(verify_chain(leaf, [tls_sub.certificate], [root.certificate])) == 3
    assert len(verify_chain(leaf, [tls_sub.certificate], [root.certificate], server_name="svc.example.com")) == 3


@pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")
def test_openssl_agrees(tmp_path: Path, root: CAMaterial, sub: CAMaterial) -> None:
    good, stranger = _leaf(sub), _leaf(_sub_ca(create_root_ca(common_name="Chain Test Root")))
    (tmp_path / "root.pem").write_text(certificate_to_pem(root.certificate))
    (tmp_path / "sub.pem").write_text(certificate_to_pem(sub.certificate))
    for name, leaf in (("good", good), ("stranger", stranger)):
        (tmp_path / f"{name}.pem").write_text(certificate_to_pem(leaf))
        args = ["verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", f"{name}.pem"]
        openssl_ok = subprocess.run([OPENSSL, *args], cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
        try:
            verify_chain(leaf, [sub.certificate], [root.certificate])
            ours = True
        except InvalidInput:
            ours = False
        assert ours is openssl_ok is (name == "good")


# --------------------------------------------------------------------------- verify_chain: failures


def test_leaf_from_another_ca_fails(root: CAMaterial) -> None:
    # Same name, different key: a look-alike issuer must not pass.
    impostor = create_root_ca(common_name="Chain Test Root")
    leaf = _leaf(impostor)
    with pytest.raises(InvalidInput, match=r"^certificate chain does not verify: "):
        verify_chain(leaf, [], [root.certificate])
    with pytest.raises(InvalidInput, match="does not verify"):
        verify_chain(leaf, [impostor.certificate], [root.certificate], server_name="svc.example.com")


def test_missing_intermediate_fails(root: CAMaterial, sub: CAMaterial) -> None:
    with pytest.raises(InvalidInput, match="does not verify"):
        verify_chain(_leaf(sub), [], [root.certificate])


def test_expired_and_not_yet_valid_leaf_fail(root: CAMaterial) -> None:
    leaf = _leaf(root, not_after=NOW + timedelta(days=2))
    assert len(verify_chain(leaf, [], [root.certificate], at=NOW + timedelta(days=1))) == 2
    with pytest.raises(InvalidInput, match=r"does not verify.*not valid at validation time"):
        verify_chain(leaf, [], [root.certificate], at=NOW + timedelta(days=3))
    with pytest.raises(InvalidInput, match="does not verify"):
        verify_chain(leaf, [], [root.certificate], at=NOW - timedelta(days=1))


def test_expired_intermediate_fails(root: CAMaterial) -> None:
    short = _sub_ca(root, "Short Sub CA", not_after=NOW + timedelta(days=1))
    leaf = _leaf(short, not_after=NOW + timedelta(days=5))
    with pytest.raises(InvalidInput, match="does not verify"):
        verify_chain(leaf, [short.certificate], [root.certificate], at=NOW + timedelta(days=2))


def test_server_name_mismatch_fails(root: CAMaterial) -> None:
    leaf = _leaf(root)
    for name in ("other.example.com", "192.0.2.11", "example.com"):
        with pytest.raises(InvalidInput, match="does not verify"):
            verify_chain(leaf, [], [root.certificate], server_name=name)


def test_server_name_requires_server_purpose(root: CAMaterial) -> None:
    leaf = _leaf(root, ("svc.example.com",), ekus=(ExtendedKeyUsage.CLIENT_AUTH,))
    with pytest.raises(InvalidInput, match="does not verify"):
        verify_chain(leaf, [], [root.certificate], server_name="svc.example.com")


@pytest.mark.parametrize("name", ["", "bad name!", "*.example.com"])
def test_invalid_server_name(root: CAMaterial, name: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        verify_chain(_leaf(root), [], [root.certificate], server_name=name)
    assert excinfo.value.field == "server_name"


def test_no_roots(root: CAMaterial) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        verify_chain(_leaf(root), [root.certificate], [])
    assert excinfo.value.field == "roots"


# --------------------------------------------------------------------------- verify_chain_loosely


def test_loosely_accepts_intact_chains(root: CAMaterial, sub: CAMaterial) -> None:
    assert verify_chain_loosely(_leaf(root), [], root.certificate)
    leaf = _leaf(sub)
    assert verify_chain_loosely(leaf, [sub.certificate], root.certificate)
    assert verify_chain_loosely(leaf, [sub.certificate, root.certificate], root.certificate)
    assert verify_chain_loosely(leaf, [sub.certificate], root.certificate, at=NOW + timedelta(days=6))


def test_loosely_accepts_what_the_strict_verifier_rejects(root: CAMaterial) -> None:
    legacy = _bare_leaf(root)
    with pytest.raises(InvalidInput, match="does not verify"):
        verify_chain(legacy, [], [root.certificate])
    assert verify_chain_loosely(legacy, [], root.certificate)


def test_loosely_rejects_broken_chains(root: CAMaterial, sub: CAMaterial) -> None:
    impostor = create_root_ca(common_name="Chain Test Root")
    leaf = _leaf(sub)
    assert not verify_chain_loosely(leaf, [], root.certificate)  # missing link
    assert not verify_chain_loosely(leaf, [sub.certificate], impostor.certificate)  # look-alike root
    assert not verify_chain_loosely(_leaf(impostor), [], root.certificate)
    assert not verify_chain_loosely(leaf, [root.certificate, sub.certificate], root.certificate)  # wrong order
    assert not verify_chain_loosely(leaf, [sub.certificate], root.certificate, at=NOW + timedelta(days=8))  # expired
    assert not verify_chain_loosely(leaf, [sub.certificate], root.certificate, at=NOW - timedelta(days=1))
