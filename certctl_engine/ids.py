"""Identifiers: ``<prefix>-<unix nanoseconds>-<random>``, readable and sortable by creation."""

from __future__ import annotations

import re
import secrets
import time

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def new_id(prefix: str) -> str:
    """A fresh id such as ``cert-1732460000000000000-3fa2``."""
    return f"{prefix}-{time.time_ns()}-{secrets.token_hex(2)}"


def is_valid_id(value: str) -> bool:
    """Caller-chosen ids (``mc-api-prod``) are 1-64 characters of letters, digits, ``.``, ``_``, ``-``."""
    return bool(_ID_PATTERN.match(value))
