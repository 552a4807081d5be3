"""A step-ca JWK provisioner's private key, as step-ca and the step CLI keep it.

step-ca stores a JWK provisioner's private key encrypted as a JWE (``encryptedKey`` in
``ca.json``, compact form; ``step crypto jwk create`` writes the same in JSON form): the key
JSON encrypted with A256GCM under a content key wrapped by PBES2-HS256+A128KW from the
provisioner password (RFC 7518 §4.8, §5.3). That is decrypted here with ``cryptography``'s
PBKDF2, AES key unwrap and AES-GCM; general JOSE libraries cap PBES2 iteration counts below
the 100,000 the step CLI uses. An unencrypted JWK or a PEM private key (possibly encrypted)
is taken as well. The key id (``kid``) is the JWK's own, or its RFC 7638 thumbprint, which is
what step-ca names provisioner keys by.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from certctl_engine.errors import InvalidInput
from certctl_engine.pki import load_private_key_pem

_PBES2 = {
    "PBES2-HS256+A128KW": (hashes.SHA256, 16),
    "PBES2-HS384+A192KW": (hashes.SHA384, 24),
    "PBES2-HS512+A256KW": (hashes.SHA512, 32),
}
_GCM = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
_MAX_ITERATIONS = 10_000_000
_CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
FIELD = "provisioner_private_key"


@dataclass(frozen=True, slots=True)
class ProvisionerKey:
    """The signing key of a JWK provisioner, with the algorithm and key id its tokens carry."""

    algorithm: str
    kid: str
    public_jwk: dict[str, Any]
    key: Any = field(repr=False)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{FIELD}: the encrypted key's {what} is not base64url", field=FIELD) from None


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the required members, sorted, no whitespace."""
    members = _THUMBPRINT_MEMBERS.get(str(public_jwk.get("kty")))
    if members is None:
        raise InvalidInput(f"{FIELD}: key type {public_jwk.get('kty')!r} is not EC, RSA or OKP", field=FIELD)
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def decrypt_jwe(text: str, password: str | None) -> bytes:
    """The plaintext of a PBES2 + AES-GCM JWE, compact or JSON serialization."""
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
            recipient = (document.get("recipients") or [document])[0]
            protected, encrypted_key = document["protected"], recipient["encrypted_key"]
            iv, ciphertext, tag = document["iv"], document["ciphertext"], document["tag"]
        except (ValueError, KeyError, TypeError, IndexError):
            raise InvalidInput(
                f"{FIELD}: a JSON JWE needs protected, encrypted_key, iv, ciphertext, tag", field=FIELD
            ) from None
    else:
        parts = text.split(".")
        if len(parts) != 5:
            raise InvalidInput(f"{FIELD} is neither a JWK, a JWE nor a PEM private key", field=FIELD)
        protected, encrypted_key, iv, ciphertext, tag = parts
    if not password:
        raise InvalidInput(
            "the provisioner key is encrypted (a JWE); set provisioner_password to decrypt it",
            field="provisioner_password",
        )
    try:
        header = json.loads(_b64(protected, "protected header"))
        alg, enc = header["alg"], header["enc"]
        salt_input, iterations = _b64(header["p2s"], "p2s"), int(header["p2c"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{FIELD}: the JWE header lacks alg, enc, p2s or p2c", field=FIELD) from None
    if alg not in _PBES2 or enc not in _GCM:
        raise InvalidInput(
            f"{FIELD}: JWE {alg}/{enc} is not supported; step-ca keys use PBES2-HS256+A128KW/A256GCM", field=FIELD
        )
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise InvalidInput(f"{FIELD}: JWE p2c {iterations} is out of range", field=FIELD)
    digest, key_length = _PBES2[alg]
    kek = PBKDF2HMAC(
        algorithm=digest(), length=key_length, salt=alg.encode() + b"\x00" + salt_input, iterations=iterations
    ).derive(password.encode())
    try:
        cek = aes_key_unwrap(kek, _b64(encrypted_key, "encrypted_key"))
        if len(cek) != _GCM[enc]:
            raise InvalidTag
        return AESGCM(cek).decrypt(
            _b64(iv, "iv"), _b64(ciphertext, "ciphertext") + _b64(tag, "tag"), protected.encode()
        )
    except (InvalidUnwrap, InvalidTag, ValueError):
        raise InvalidInput(
            "provisioner_password does not decrypt the provisioner key (wrong password or damaged key)",
            field="provisioner_password",
        ) from None


def _from_jwk(document: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    if "d" not in document:
        raise InvalidInput(f"{FIELD} is a public JWK; the provisioner's private key is needed", field=FIELD)
    try:
        loaded = jwt.PyJWK(document)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{FIELD} is not a usable JWK: {exc}", field=FIELD) from None
    public = {k: v for k, v in document.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")}
    return loaded.key, str(document.get("alg") or loaded.algorithm_name), public


def _from_pem(data: bytes, password: str | None) -> tuple[Any, str, dict[str, Any]]:
    try:
        key = load_private_key_pem(data, password.encode() if password else None)
    except InvalidInput as exc:
        raise InvalidInput(f"{FIELD}: {exc.message}", field=FIELD) from None
    public_key = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = _CURVE_ALGORITHMS.get(key.curve.name)
        if algorithm is None:
            raise InvalidInput(f"{FIELD}: curve {key.curve.name} has no JWS algorithm", field=FIELD)
        public = jwt.algorithms.ECAlgorithm.to_jwk(public_key, as_dict=True)
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm, public = "RS256", jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm, public = "EdDSA", jwt.algorithms.OKPAlgorithm.to_jwk(public_key, as_dict=True)
    else:  # pragma: no cover - load_private_key_pem accepts only the three
        raise InvalidInput(f"{FIELD}: unsupported key type", field=FIELD)
    return key, algorithm, dict(public)


def load_provisioner_key(text: str, password: str | None, kid: str | None = None) -> ProvisionerKey:
    """Read a JWK, a JWE-encrypted JWK (compact or JSON) or a PEM private key."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        key, algorithm, public = _from_pem(stripped.encode(), password)
    else:
        document: Any = None
        if stripped.startswith("{"):
            try:
                document = json.loads(stripped)
            except ValueError:
                raise InvalidInput(f"{FIELD} is not valid JSON", field=FIELD) from None
            if not isinstance(document, dict):
                raise InvalidInput(f"{FIELD} must be a JSON object (a JWK or a JWE)", field=FIELD)
        if document is None or "ciphertext" in document:
            try:
                document = json.loads(decrypt_jwe(stripped, password))
            except ValueError:
                raise InvalidInput(f"{FIELD}: the decrypted key is not a JWK", field=FIELD) from None
        key, algorithm, public = _from_jwk(document)
    return ProvisionerKey(
        algorithm=algorithm, kid=kid or str(public.get("kid") or "") or thumbprint(public), public_jwk=public, key=key
    )
