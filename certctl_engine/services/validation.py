"""Small checks every service applies to input from outside, with messages naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from certctl_engine.errors import InvalidInput
from certctl_engine.ids import is_valid_id

E = TypeVar("E", bound=StrEnum)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_storable_text(text: str) -> bool:
    """False for text no store can hold: NUL (PostgreSQL refuses it) or lone surrogates (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_text(value: Any, field: str, *, max_length: int = 255, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field=field)
    text = value.strip()
    if not text and not allow_empty:
        raise InvalidInput(f"{field} is required", field=field)
    if len(text) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    if any(ord(ch) < 32 for ch in text):
        raise InvalidInput(f"{field} contains control characters", field=field)
    if not is_storable_text(text):
        raise InvalidInput(f"{field} contains characters that are not valid Unicode (lone surrogates)", field=field)
    return text


def optional_id(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_valid_id(value):
        raise InvalidInput(f"{field} '{value}' is not a valid id (1-64 letters, digits, '.', '_' or '-')", field=field)
    return value


def require_email(value: str, field: str = "email", *, allow_empty: bool = True) -> str:
    text = require_text(value, field, max_length=320, allow_empty=allow_empty)
    if text and not _EMAIL.match(text):
        raise InvalidInput(f"{field} '{text}' is not an email address", field=field)
    return text


def parse_enum(
    enum: type[E], value: Any, label: str, *, field: str | None = None, allowed: Iterable[E] | None = None
) -> E:
    """The member of ``enum`` whose value is ``value`` (exact, or case-insensitive as a courtesy).

    ``allowed`` narrows the members accepted (and named in the error); ``field`` names the
    parameter in the error when it differs from the human ``label``.
    """
    members = list(allowed) if allowed is not None else list(enum)
    if isinstance(value, enum) and value in members:
        return value
    if isinstance(value, str):
        for member in members:
            if member.value == value:
                return member
        for member in members:
            if member.value.lower() == value.lower():
                return member
    names = ", ".join(m.value for m in members)
    shown = value.value if isinstance(value, enum) else value
    raise InvalidInput(f"unknown {label} '{shown}'; expected one of: {names}", field=field or label)


def require_int(value: Any, field: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number, got {value!r}", field=field)
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{field} must be at least {minimum}, got {value}", field=field)
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{field} must be at most {maximum}, got {value}", field=field)
    return value


def require_mapping(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInput(f"{field} must be an object with text keys", field=field)
    return dict(value)


def require_tags(value: Any) -> dict[str, str]:
    tags = require_mapping(value, "tags")
    for key, item in tags.items():
        require_text(key, "tag name", max_length=128)
        if not isinstance(item, str) or len(item) > 1024:
            raise InvalidInput(f"tag '{key}' must have a text value of at most 1024 characters", field="tags")
    return tags
