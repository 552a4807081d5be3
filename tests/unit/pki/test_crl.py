"""Building CRLs, checked by cryptography and by the openssl binary."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import (
    SUPPORTED_KEY_SPECS,
    KeySpec,
    PrivateKey,
    build_self_signed_ca,
    certificate_to_pem,
    generate_private_key,
    random_serial,
)
from certctl_engine.pki.crl import RevokedEntry, build_crl, crl_to_der, crl_to_pem, load_crl

NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=1)
END = NOW + timedelta(days=365)
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
needs_openssl = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="openssl binary not available")

# One spec per key family plus P-384 (which signs with SHA-384).
SPECS = [s for s in SUPPORTED_KEY_SPECS if str(s) in {"ECDSA P-256", "ECDSA P-384", "RSA 2048", "Ed25519"}]


def _ca(spec: KeySpec | None = None, name: str = "Test Root") -> tuple[x509.Certificate, PrivateKey]:
    key = generate_private_key(spec) if spec else generate_private_key()
    return build_self_signed_ca(key, name, not_before=START, not_after=END), key


def _crl(
    ca: tuple[x509.Certificate, PrivateKey], entries: list[RevokedEntry], **kwargs: object
) -> x509.CertificateRevocationList:
    cert, key = ca
    args: dict[str, object] = {"crl_number": 1, "this_update": NOW, "next_update": NOW + timedelta(days=7)}
    args.update(kwargs)
    return build_crl(issuer_cert=cert, issuer_key=key, entries=entries, **args)  # type: ignore[arg-type]


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def _openssl_serial(serial: int) -> str:
    """How openssl prints a serial: uppercase hex of the magnitude, padded to whole bytes."""
    text = f"{serial:X}"
    return text.rjust(len(text) + len(text) % 2, "0")


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, PrivateKey]:
    return _ca()


# --------------------------------------------------------------------------- contents


def test_crl_contents(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    cert, _ = ca
    revoked_at = NOW - timedelta(hours=2)
    crl = _crl(
        ca,
        [
            RevokedEntry(101, revoked_at, RevocationReason.KEY_COMPROMISE, NOW + timedelta(days=30)),
            RevokedEntry(102, revoked_at, RevocationReason.UNSPECIFIED),
        ],
        crl_number=7,
    )
    assert crl.issuer == cert.subject
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + timedelta(days=7)
    assert crl.is_signature_valid(cert.public_key())  # type: ignore[arg-type]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest

    first = crl.get_revoked_certificate_by_serial_number(101)
    assert first is not None
    assert first.revocation_date_utc == revoked_at
    assert first.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    second = crl.get_revoked_certificate_by_serial_number(102)
    assert second is not None
    assert len(second.extensions) == 0  # unspecified: no reason code at all


@pytest.mark.parametrize("reason", list(RevocationReason))
def test_every_reason_maps_to_its_code(ca: tuple[x509.Certificate, PrivateKey], reason: RevocationReason) -> None:
    crl = _crl(ca, [RevokedEntry(5, NOW, reason)])
    entry = crl.get_revoked_certificate_by_serial_number(5)
    assert entry is not None
    if reason is RevocationReason.UNSPECIFIED:
        assert len(entry.extensions) == 0
        return
    # The DER of the CRLReason extension value is an ENUMERATED holding the RFC 5280 code.
    der = entry.extensions.get_extension_for_class(x509.CRLReason).value.public_bytes()
    assert der == bytes([0x0A, 0x01, reason.code])


def test_expired_entries_are_pruned(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    crl = _crl(
        ca,
        [
            RevokedEntry(1, NOW - timedelta(days=10), RevocationReason.SUPERSEDED, NOW - timedelta(seconds=1)),
            RevokedEntry(2, NOW - timedelta(days=10), RevocationReason.SUPERSEDED, NOW),  # expires right now: kept
            RevokedEntry(3, NOW - timedelta(days=10), RevocationReason.SUPERSEDED, None),  # unknown expiry: kept
        ],
    )
    assert sorted(r.serial_number for r in crl) == [2, 3]


def test_naive_datetimes_are_utc(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    naive = NOW.replace(tzinfo=None)
    crl = _crl(
        ca,
        [RevokedEntry(9, naive, RevocationReason.CA_COMPROMISE)],
        this_update=naive,
        next_update=naive + timedelta(days=1),
    )
    assert crl.last_update_utc == NOW
    entry = crl.get_revoked_certificate_by_serial_number(9)
    assert entry is not None
    assert entry.revocation_date_utc == NOW


def test_empty_crl(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    crl = _crl(ca, [], crl_number=0)
    assert len(crl) == 0
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 0


def test_entries_may_be_a_generator(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    crl = _crl(ca, (RevokedEntry(s, NOW, RevocationReason.SUPERSEDED) for s in range(1, 6)))  # type: ignore[arg-type]
    assert len(crl) == 5


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_signing_hash_follows_the_key(spec: KeySpec) -> None:
    cert, key = _ca(spec)
    crl = _crl((cert, key), [RevokedEntry(1, NOW, RevocationReason.KEY_COMPROMISE)])
    expected = {"ECDSA P-256": hashes.SHA256, "ECDSA P-384": hashes.SHA384, "RSA 2048": hashes.SHA256}
    if str(spec) in expected:
        assert isinstance(crl.signature_hash_algorithm, expected[str(spec)])
    else:
        assert crl.signature_hash_algorithm is None
    assert crl.is_signature_valid(cert.public_key())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("next_update", [NOW, NOW - timedelta(seconds=1)])
def test_refuses_next_update_not_after_this_update(
    ca: tuple[x509.Certificate, PrivateKey], next_update: datetime
) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        _crl(ca, [], next_update=next_update)
    assert excinfo.value.field == "next_update"


@pytest.mark.parametrize("number", [-1, 1 << 159])
def test_refuses_bad_crl_number(ca: tuple[x509.Certificate, PrivateKey], number: int) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        _crl(ca, [], crl_number=number)
    assert excinfo.value.field == "crl_number"


def test_accepts_largest_crl_number(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    crl = _crl(ca, [], crl_number=(1 << 159) - 1)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == (1 << 159) - 1


def test_refuses_issuer_key_mismatch(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    cert, _ = ca
    with pytest.raises(InvalidInput, match="does not match"):
        _crl((cert, generate_private_key()), [])


@pytest.mark.parametrize("serial", [0, -5, 1 << 159])
def test_refuses_bad_serial(ca: tuple[x509.Certificate, PrivateKey], serial: int) -> None:
    with pytest.raises(InvalidInput, match="serial"):
        _crl(ca, [RevokedEntry(serial, NOW, RevocationReason.SUPERSEDED)])


def test_refuses_duplicate_serial(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    with pytest.raises(InvalidInput, match="listed twice"):
        _crl(
            ca,
            [
                RevokedEntry(0xBEEF, NOW, RevocationReason.SUPERSEDED),
                RevokedEntry(0xBEEF, NOW, RevocationReason.KEY_COMPROMISE),
            ],
        )


def test_refuses_unknown_reason(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    with pytest.raises(InvalidInput, match="unknown revocation reason"):
        _crl(ca, [RevokedEntry(1, NOW, "removeFromCRL")])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- encodings


def test_der_and_pem_round_trip(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    crl = _crl(ca, [RevokedEntry(77, NOW, RevocationReason.AFFILIATION_CHANGED)])
    der = crl_to_der(crl)
    pem = crl_to_pem(crl)
    assert der[0] == 0x30
    assert pem.startswith("-----BEGIN X509 CRL-----\n")
    assert load_crl(der) == crl
    assert load_crl(pem.encode()) == crl
    assert crl_to_der(load_crl(pem.encode())) == der


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n", b"garbage", b"\x30\x03\x02\x01\x01", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"],
)
def test_load_crl_refuses_garbage(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="CRL"):
        load_crl(data)


def test_load_crl_refuses_a_certificate(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    with pytest.raises(InvalidInput):
        load_crl(certificate_to_pem(ca[0]).encode())


# --------------------------------------------------------------------------- size


def test_large_crl_builds_quickly(ca: tuple[x509.Certificate, PrivateKey]) -> None:
    """Sanity check that building stays linear (one-by-one adding was quadratic: 100,000 entries took 18 s)."""
    revoked_at = NOW - timedelta(days=1)
    entries = [RevokedEntry(random_serial(), revoked_at, RevocationReason.SUPERSEDED) for _ in range(20_000)]
    started = time.perf_counter()
    crl = _crl(ca, entries)
    elapsed = time.perf_counter() - started
    assert len(crl) == 20_000
    assert elapsed < 5, f"building a 20,000-entry CRL took {elapsed:.1f} s"


# --------------------------------------------------------------------------- openssl


@needs_openssl
def test_openssl_reads_and_verifies_crl(tmp_path: Path, ca: tuple[x509.Certificate, PrivateKey]) -> None:
    cert, _ = ca
    revoked_at = NOW - timedelta(hours=1)
    serials = {"compromised": random_serial(), "superseded": 0xABCDEF, "unspecified": 0x1000, "expired": 0x0777}
    crl = _crl(
        ca,
        [
            RevokedEntry(serials["compromised"], revoked_at, RevocationReason.KEY_COMPROMISE, NOW + timedelta(days=1)),
            RevokedEntry(serials["superseded"], revoked_at, RevocationReason.SUPERSEDED),
            RevokedEntry(serials["unspecified"], revoked_at, RevocationReason.UNSPECIFIED),
            RevokedEntry(serials["expired"], revoked_at, RevocationReason.KEY_COMPROMISE, NOW - timedelta(days=1)),
        ],
        crl_number=4242,
    )
    crl_path = tmp_path / "crl.der"
    ca_path = tmp_path / "ca.pem"
    crl_path.write_bytes(crl_to_der(crl))
    ca_path.write_text(certificate_to_pem(cert))

    text = _openssl("crl", "-inform", "DER", "-in", crl_path, "-noout", "-text")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    listed = re.findall(r"Serial Number: ([0-9A-F]+)", out)
    expected = [_openssl_serial(serials[k]) for k in ("compromised", "superseded", "unspecified")]
    assert listed == expected
    assert _openssl_serial(serials["expired"]) not in listed
    assert re.search(r"X509v3 CRL Number: *\n\s+4242\n", out)
    assert "X509v3 Authority Key Identifier" in out
    assert out.count("X509v3 CRL Reason Code") == 2
    assert "Key Compromise" in out
    assert "Superseded" in out
    assert "Unspecified" not in out
    # The unspecified entry is followed directly by the next entry (or the signature), with no reason block.
    unspecified_block = out.split(f"Serial Number: {_openssl_serial(serials['unspecified'])}")[1]
    assert "CRL entry extensions" not in unspecified_block.split("Signature Algorithm")[0]

    verify = _openssl("crl", "-inform", "DER", "-in", crl_path, "-CAfile", ca_path, "-noout", "-verify")
    assert verify.returncode == 0, verify.stderr
    assert "verify OK" in verify.stdout + verify.stderr


@needs_openssl
@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_openssl_verifies_crl_of_every_key_family(tmp_path: Path, spec: KeySpec) -> None:
    cert, key = _ca(spec)
    crl = _crl((cert, key), [RevokedEntry(1, NOW, RevocationReason.KEY_COMPROMISE)])
    (tmp_path / "crl.pem").write_text(crl_to_pem(crl))
    (tmp_path / "ca.pem").write_text(certificate_to_pem(cert))
    verify = _openssl("crl", "-in", tmp_path / "crl.pem", "-CAfile", tmp_path / "ca.pem", "-noout", "-verify")
    assert verify.returncode == 0, verify.stderr
    assert "verify OK" in verify.stdout + verify.stderr


@needs_openssl
def test_openssl_rejects_crl_checked_against_another_ca(
    tmp_path: Path, ca: tuple[x509.Certificate, PrivateKey]
) -> None:
    crl = _crl(ca, [RevokedEntry(1, NOW, RevocationReason.KEY_COMPROMISE)])
    other, _ = _ca(name="Test Root")  # same name, different key
    (tmp_path / "crl.der").write_bytes(crl_to_der(crl))
    (tmp_path / "other.pem").write_text(certificate_to_pem(other))
    verify = _openssl(
        "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-CAfile", tmp_path / "other.pem", "-noout", "-verify"
    )
    assert "verify OK" not in verify.stdout + verify.stderr
