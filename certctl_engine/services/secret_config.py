"""Splitting connector configuration into plain fields and encrypted secret fields.

A field is secret when its name says so (password, secret, token, hmac, key material...),
at any depth of nested objects. Plain fields stay readable JSON; secret fields are sealed
together in one AES-GCM blob bound to the row, and faces only ever see them as
``REDACTED``. Secret paths are dotted (``connection.password``).
"""

from __future__ import annotations

import re
from typing import Any

from certctl_engine.secretbox import SecretBox

REDACTED = "********"
_SECRET_NAME = re.compile(
    r"(password|passphrase|secret|token|hmac|api_key|apikey|private_key|credential|routing_key|auth)",
    re.IGNORECASE,
)


def is_secret_field(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, secret) halves of a configuration mapping; nested objects are split too."""
    plain: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for key, value in config.items():
        if is_secret_field(key):
            secret[key] = value
        elif isinstance(value, dict):
            inner_plain, inner_secret = split_config(value)
            plain[key] = inner_plain
            if inner_secret:
                secret[key] = inner_secret
        else:
            plain[key] = value
    return plain, secret


def join_config(plain: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    """The full configuration: ``secret`` laid back over ``plain`` at the same paths."""
    merged = dict(plain)
    for key, value in secret.items():
        if isinstance(value, dict) and not is_secret_field(key) and isinstance(merged.get(key), dict):
            merged[key] = join_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def secret_paths(secret: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in secret.items():
        if isinstance(value, dict) and not is_secret_field(key):
            paths.extend(secret_paths(value, f"{prefix}{key}."))
        else:
            paths.append(f"{prefix}{key}")
    return sorted(paths)


def redacted_view(plain: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    """What faces see: plain values, and ``REDACTED`` wherever a secret is stored."""
    return join_config(plain, _redact(secret))


def _redact(secret: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _redact(value) if isinstance(value, dict) and not is_secret_field(key) else REDACTED
        for key, value in secret.items()
    }


def merge_update(old_secret: dict[str, Any], new_secret: dict[str, Any]) -> dict[str, Any]:
    """New secret values, except that a value left at ``REDACTED`` keeps the stored one."""
    merged: dict[str, Any] = {}
    for key, value in new_secret.items():
        if value == REDACTED:
            if key in old_secret:
                merged[key] = old_secret[key]
        elif isinstance(value, dict) and not is_secret_field(key):
            inner = merge_update(old_secret.get(key) or {}, value)
            if inner:
                merged[key] = inner
        else:
            merged[key] = value
    return merged


def seal(box: SecretBox, secret: dict[str, Any], context: str) -> str | None:
    return box.encrypt_json(secret, context) if secret else None


def unseal(box: SecretBox, token: str | None, context: str) -> dict[str, Any]:
    return box.decrypt_json(token, context) if token else {}


class SealedConfig:
    """Reads and writes one kind of connector configuration (issuer or target) with its secrets sealed."""

    def __init__(self, box: SecretBox, kind: str) -> None:
        self._box = box
        self._kind = kind

    def _context(self, row_id: str) -> str:
        return f"{self._kind}:{row_id}"

    def view(self, row_id: str, plain: dict[str, Any], token: str | None) -> tuple[dict[str, Any], tuple[str, ...]]:
        """(configuration with secrets redacted, dotted paths of the secret fields)."""
        secret = unseal(self._box, token, self._context(row_id))
        return redacted_view(plain, secret), tuple(secret_paths(secret))

    def full(self, row_id: str, plain: dict[str, Any], token: str | None) -> dict[str, Any]:
        """The real configuration, secrets included: for connectors, never for display."""
        return join_config(plain, unseal(self._box, token, self._context(row_id)))

    def seal_new(
        self, row_id: str, config: dict[str, Any], old_token: str | None = None
    ) -> tuple[dict[str, Any], str | None, list[str]]:
        """(plain half, sealed secret half, secret paths) of ``config``; ``REDACTED`` keeps old values."""
        plain, secret = split_config(config)
        if old_token is not None:
            secret = merge_update(unseal(self._box, old_token, self._context(row_id)), secret)
        return plain, seal(self._box, secret, self._context(row_id)), secret_paths(secret)
