"""Exporting a certificate with its chain and key: the PEM file set and PKCS#12 bundles.

Targets want the same material in different shapes (nginx a full-chain PEM, Apache separate
files, Windows/Java a PKCS#12), so the shapes are made here once. A key is always checked
against the leaf first: a bundle whose key does not fit its certificate fails only later,
on the target, where it is much harder to diagnose. Pure functions, no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certctl_engine.errors import InvalidInput
from certctl_engine.pki.build import _public_bytes
from certctl_engine.pki.inspect import certificate_to_pem, certificates_to_pem
from certctl_engine.pki.keys import PrivateKey, key_spec_of, private_key_to_pem

__all__ = [
    "PemBundle",
    "export_pem",
    "export_pkcs12",
    "load_pkcs12",
]

# PBKDF2-HMAC-SHA256 iterations for the encrypted bags. cryptography always derives the MAC key
# with 2048 PKCS#12-KDF iterations (not configurable in v50), and the MAC lets an attacker test
# passphrase guesses just as well, so more rounds here would only slow down honest loads: the
# passphrase's own strength is what protects the file.
_PKCS12_KDF_ROUNDS = 100_000


@dataclass(frozen=True)
class PemBundle:
    """The PEM files a target is configured with; ``full_chain`` is leaf then chain (nginx style)."""

    certificate: str
    chain: str
    full_chain: str
    private_key: str | None


def export_pem(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: PrivateKey | None = None,
    passphrase: bytes | None = None,
) -> PemBundle:
    """PEM texts of the leaf, its chain (nearest issuer first, as given) and optionally its key.

    The key is PKCS#8, encrypted with the best available cipher when a passphrase is given;
    without a key the passphrase has nothing to protect and is ignored.
    """
    chain = _chain_list(chain)
    certificate = certificate_to_pem(leaf)
    chain_pem = certificates_to_pem(chain)
    private_key: str | None = None
    if key is not None:
        _check_key_matches(key, leaf)
        private_key = private_key_to_pem(key, passphrase).decode("ascii")
    return PemBundle(
        certificate=certificate,
        chain=chain_pem,
        full_chain=certificate + chain_pem,
        private_key=private_key,
    )


def export_pkcs12(
    *,
    name: str,
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: PrivateKey | None,
    passphrase: bytes,
) -> bytes:
    """A PKCS#12 (.p12/.pfx) file of the leaf, its chain and optionally its key.

    Always encrypted with PBES2 (PBKDF2-SHA256, AES-256-CBC) and an HMAC-SHA256 MAC rather
    than the legacy RC2/3DES and SHA-1 defaults; OpenSSL 1.1.1+, Java 8u301+ and current
    Windows read it. ``name`` becomes the friendly name (the alias in a Java keystore).
    Without a key the file is a certificate-only bundle, e.g. for a trust store.
    """
    if not passphrase:
        raise InvalidInput("a PKCS#12 file needs a non-empty passphrase", field="passphrase")
    chain = _chain_list(chain)
    if key is not None:
        _check_key_matches(key, leaf)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    friendly_name = name.strip().encode("utf-8") or None
    return pkcs12.serialize_key_and_certificates(friendly_name, key, leaf, chain or None, encryption)


def load_pkcs12(
    data: bytes, passphrase: bytes
) -> tuple[PrivateKey | None, x509.Certificate | None, list[x509.Certificate]]:
    """Read a PKCS#12 file: (key, the certificate paired with the key, other certificates).

    As with OpenSSL, the certificate slot is filled only when the file holds a key; the
    certificates of a certificate-only file all come back in the list, in file order.

    OpenSSL cannot tell a wrong passphrase from a damaged file (the MAC just fails), so
    neither can this function's error message.
    """
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("wrong passphrase or not a PKCS#12 file", field="passphrase") from exc
    except UnsupportedAlgorithm as exc:
        raise InvalidInput(f"PKCS#12 file uses an unsupported algorithm: {exc}") from exc
    if key is not None and not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        kind = type(key).__name__.lstrip("_")
        raise InvalidInput(f"unsupported key type {kind} in PKCS#12 file; certctl handles RSA, ECDSA and Ed25519 keys")
    return key, cert, list(others)


# --------------------------------------------------------------------------- helpers


def _chain_list(chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    if isinstance(chain, x509.Certificate):
        raise InvalidInput("chain must be a list of certificates, not a single certificate", field="chain")
    return list(chain)


def _check_key_matches(key: PrivateKey, leaf: x509.Certificate) -> None:
    key_spec_of(key)
    if _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
        raise InvalidInput("private key does not match the certificate", field="key")
