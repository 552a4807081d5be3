"""Secrets at rest: AES-256-GCM under one key per installation.

The key comes from ``CERTCTL_SECRET_KEY`` (64 hex characters or base64 of 32 bytes) or
from a key file created with mode 0600 next to the store. Each ciphertext is bound to the
row it belongs to through the associated data (``context``), so a secret copied into
another row does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certctl_engine.errors import IntegrityError, InvalidInput, StoreError

SECRET_KEY_ENV = "CERTCTL_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
_PREFIX = "v1."
_NONCE_BYTES = 12


def parse_key(text: str) -> bytes:
    """A 32-byte key from 64 hex characters or base64 (standard or URL-safe)."""
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True
        )
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise InvalidInput(
            f"{SECRET_KEY_ENV} must be 32 bytes written as 64 hex characters or base64 "
            "(generate one with: python -c 'import secrets; print(secrets.token_hex(32))')",
            field=SECRET_KEY_ENV,
        )
    return raw


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StoreError(
                f"the secret key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                f"run: chmod 600 {path}"
            ) from None
        try:
            return parse_key(path.read_text())
        except InvalidInput:
            raise StoreError(f"the secret key file {path} does not hold a valid key") from None
    except OSError as exc:
        raise StoreError(f"cannot create the secret key file {path}: {exc.strerror or exc}") from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


class SecretBox:
    """Encrypts and decrypts small secrets bound to a context string."""

    def __init__(self, key: bytes, *, source: str = "given key") -> None:
        if len(key) != 32:
            raise InvalidInput("a secret key must be 32 bytes")
        self._aead = AESGCM(key)
        self.source = source

    @classmethod
    def for_store(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> SecretBox:
        env = os.environ if env is None else env
        if env.get(SECRET_KEY_ENV):
            return cls(parse_key(env[SECRET_KEY_ENV]), source=SECRET_KEY_ENV)
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / KEY_FILE_NAME
        return cls(_load_or_create_key_file(path), source=str(path))

    def encrypt(self, plaintext: bytes, context: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str) -> bytes:
        if not token.startswith(_PREFIX):
            raise IntegrityError(f"stored secret for {context} is not in a known format")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise IntegrityError(
                f"cannot decrypt the stored secret for {context}: the secret key ({self.source}) "
                "is not the one it was written with, or the row was altered"
            ) from None

    def encrypt_json(self, value: Mapping[str, Any], context: str) -> str:
        return self.encrypt(json.dumps(value, sort_keys=True).encode(), context)

    def decrypt_json(self, token: str, context: str) -> dict[str, Any]:
        result = json.loads(self.decrypt(token, context))
        assert isinstance(result, dict)
        return result
