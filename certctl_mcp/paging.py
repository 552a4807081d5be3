"""Opaque cursors for the short configuration lists the engine returns whole.

Issuers, profiles, owners, teams and renewal policies number in the tens; the engine
lists them in full, sorted by name, and the tools hand them out a page at a time with the
same kind of opaque cursor as the certificate list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from certctl_engine.errors import InvalidInput

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "page_of"]

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _encode(kind: str, offset: int) -> str:
    raw = json.dumps({"k": kind, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(kind: str, cursor: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("o"), int) or data["o"] < 0:
        raise InvalidInput(
            f"invalid cursor for the {kind} list: pass back the next_cursor of the previous page unchanged",
            field="cursor",
        )
    return int(data["o"])


def page_of(kind: str, items: Sequence[T], limit: int, cursor: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` and the cursor of the next page (None at the end)."""
    start = _decode(kind, cursor) if cursor else 0
    end = start + limit
    return list(items[start:end]), (_encode(kind, end) if end < len(items) else None)
