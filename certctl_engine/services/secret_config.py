"""Splitting connector configuration into plain fields and encrypted secret fields.

A field is secret when its name says so (password, secret, token, hmac, key material...).
Plain fields stay readable JSON; secret fields are sealed together in one AES-GCM blob
bound to the row, and faces only ever see them as ``REDACTED``.
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
    """(plain, secret) halves of a configuration mapping."""
    plain = {k: v for k, v in config.items() if not is_secret_field(k)}
    secret = {k: v for k, v in config.items() if is_secret_field(k)}
    return plain, secret


def seal(box: SecretBox, secret: dict[str, Any], context: str) -> str | None:
    return box.encrypt_json(secret, context) if secret else None


def unseal(box: SecretBox, token: str | None, context: str) -> dict[str, Any]:
    return box.decrypt_json(token, context) if token else {}


def merge_update(old_secret: dict[str, Any], new_secret: dict[str, Any]) -> dict[str, Any]:
    """New secret values, except that a value left at ``REDACTED`` keeps the stored one."""
    merged: dict[str, Any] = {}
    for key, value in new_secret.items():
        if value == REDACTED:
            if key in old_secret:
                merged[key] = old_secret[key]
        else:
            merged[key] = value
    return merged


def redacted_view(plain: dict[str, Any], secret_keys: list[str]) -> dict[str, Any]:
    view = dict(plain)
    for key in secret_keys:
        view[key] = REDACTED
    return view
