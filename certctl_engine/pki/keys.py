"""Private keys: which kinds certctl issues for, how to make them, and how to move them as PEM.

certctl supports exactly three key families (RSA, ECDSA on the NIST curves, Ed25519) so that
every key it hands out can be used with every target it deploys to. Everything here is pure:
no files, no storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certctl_engine.domain import KeyAlgorithm
from certctl_engine.errors import InvalidInput

__all__ = [
    "DEFAULT_KEY_SPEC",
    "SUPPORTED_KEY_SPECS",
    "KeySpec",
    "PrivateKey",
    "PublicKey",
    "generate_private_key",
    "key_spec_of",
    "load_private_key_pem",
    "private_key_to_pem",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_ED25519_SIZE = 256
_RSA_PUBLIC_EXPONENT = 65537

_CURVES: dict[int, type[ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1}

_SUPPORTED_SIZES: dict[KeyAlgorithm, tuple[int, ...]] = {
    KeyAlgorithm.ECDSA: (256, 384),
    KeyAlgorithm.RSA: (2048, 3072, 4096),
    KeyAlgorithm.ED25519: (_ED25519_SIZE,),
}

_ACCEPTED_FORMS = "ecdsa-p256, ecdsa-p384, p256, p384, rsa2048, rsa3072, rsa4096 (or rsa-2048 ...), ed25519"

# After lower-casing and dropping "-", "_" and blanks: "ecdsap256", "ecp384", "p256", "ecdsa256".
_ECDSA_RE = re.compile(r"^(?:ecdsa|ec)?p(\d+)$|^(?:ecdsa|ec)(\d+)$")
_RSA_RE = re.compile(r"^rsa(\d+)$")


@dataclass(frozen=True)
class KeySpec:
    """A key algorithm with its size in bits; the unit profiles and requests talk in."""

    algorithm: KeyAlgorithm
    size: int

    def __str__(self) -> str:
        if self.algorithm is KeyAlgorithm.ECDSA:
            return f"ECDSA P-{self.size}"
        if self.algorithm is KeyAlgorithm.RSA:
            return f"RSA {self.size}"
        return "Ed25519"

    @property
    def supported(self) -> bool:
        """Whether certctl can generate and issue for this spec (inspected keys may be anything)."""
        return self.size in _SUPPORTED_SIZES.get(self.algorithm, ())

    @classmethod
    def checked(cls, algorithm: KeyAlgorithm, size: int) -> KeySpec:
        """Build a spec, refusing combinations certctl does not generate keys for."""
        try:
            spec = cls(KeyAlgorithm(algorithm), size)
        except ValueError:
            spec = None
        if spec is None or not spec.supported:
            allowed = ", ".join(str(s) for s in SUPPORTED_KEY_SPECS)
            raise InvalidInput(f"unsupported key: {algorithm} {size}; supported are {allowed}", field="key_spec")
        return spec

    @classmethod
    def parse(cls, text: str) -> KeySpec:
        """Read a spec as people type it ("ecdsa-p256", "rsa2048", "ed25519", ...)."""
        norm = re.sub(r"[\s_-]+", "", text).lower()
        if norm == "ed25519":
            return cls(KeyAlgorithm.ED25519, _ED25519_SIZE)
        size_text: str | None = None
        algorithm: KeyAlgorithm | None = None
        if match := _ECDSA_RE.match(norm):
            algorithm, size_text = KeyAlgorithm.ECDSA, match.group(1) or match.group(2)
        elif match := _RSA_RE.match(norm):
            algorithm, size_text = KeyAlgorithm.RSA, match.group(1)
        if algorithm is None or size_text is None:
            raise InvalidInput(f"unknown key spec '{text}'; accepted forms are {_ACCEPTED_FORMS}", field="key_spec")
        try:
            return cls.checked(algorithm, int(size_text))
        except InvalidInput as exc:
            raise InvalidInput(
                f"unsupported key spec '{text}'; accepted forms are {_ACCEPTED_FORMS}", field="key_spec"
            ) from exc


SUPPORTED_KEY_SPECS: tuple[KeySpec, ...] = tuple(
    KeySpec(alg, size) for alg, sizes in _SUPPORTED_SIZES.items() for size in sizes
)
"""Every spec ``generate_private_key`` accepts, in the order they are offered to people."""

DEFAULT_KEY_SPEC = KeySpec(KeyAlgorithm.ECDSA, 256)
"""ECDSA P-256: small, fast, and accepted by every TLS stack certctl deploys to."""


def generate_private_key(spec: KeySpec = DEFAULT_KEY_SPEC) -> PrivateKey:
    """Make a fresh private key of a supported spec."""
    spec = KeySpec.checked(spec.algorithm, spec.size)
    if spec.algorithm is KeyAlgorithm.ECDSA:
        return ec.generate_private_key(_CURVES[spec.size]())
    if spec.algorithm is KeyAlgorithm.RSA:
        return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=spec.size)
    return ed25519.Ed25519PrivateKey.generate()


def key_spec_of(key: PrivateKey | PublicKey) -> KeySpec:
    """Say what kind of key this is; the size is reported as found, not checked against policy."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return KeySpec(KeyAlgorithm.RSA, key.key_size)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return KeySpec(KeyAlgorithm.ECDSA, key.curve.key_size)
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeySpec(KeyAlgorithm.ED25519, _ED25519_SIZE)
    raise InvalidInput(f"unsupported key type {_type_name(key)}; certctl handles RSA, ECDSA and Ed25519 keys")


def private_key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """Serialise as PKCS#8 PEM, encrypted with the best available cipher when a passphrase is given."""
    key_spec_of(key)  # refuse key types the rest of certctl cannot handle
    encryption: serialization.KeySerializationEncryption
    if passphrase is None:
        encryption = serialization.NoEncryption()
    elif not passphrase:
        raise InvalidInput("passphrase must not be empty", field="passphrase")
    else:
        encryption = serialization.BestAvailableEncryption(passphrase)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


_PEM_KEY_RE = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----\r?\n.*?-----END \1-----", re.DOTALL)


def load_private_key_pem(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """Read a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC), possibly bundled with certificates.

    A passphrase given for an unencrypted key is ignored, so callers may always pass one.
    """
    match = _PEM_KEY_RE.search(data)
    if match is None:
        raise InvalidInput("not a PEM private key")
    block = match.group(0)
    encrypted = match.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and not passphrase:
        raise InvalidInput("private key is encrypted; a passphrase is required", field="passphrase")
    try:
        key = serialization.load_pem_private_key(block, passphrase if encrypted else None)
    except UnsupportedAlgorithm as exc:
        raise InvalidInput(f"unsupported key type in PEM: {exc}") from exc
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise InvalidInput("wrong passphrase for private key", field="passphrase") from exc
        raise InvalidInput(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise InvalidInput(f"unsupported key type {_type_name(key)}; certctl handles RSA, ECDSA and Ed25519 keys")
    return key


def _type_name(key: object) -> str:
    """The key's class name without the leading underscore of cryptography's Rust types."""
    return type(key).__name__.lstrip("_")
