"""Opaque cursors and bounded page sizes shared by every list."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from certctl_engine.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def check_limit(limit: int | None) -> int:
    """A page size between 1 and MAX_LIMIT; None means the default."""
    if limit is None:
        return DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}", field="limit")
    return limit


def encode_cursor(kind: str, position: dict[str, Any]) -> str:
    """An opaque token naming where the next page starts; ``kind`` stops mixing lists up."""
    raw = json.dumps({"k": kind, **position}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise InvalidInput("invalid cursor: pass back the next_cursor of the previous page unchanged", field="cursor")
    data.pop("k")
    return data
