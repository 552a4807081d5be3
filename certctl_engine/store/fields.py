"""Column types shared by the models.

Timestamps are stored as naive UTC in a fixed-width text form on SQLite (so text order is
time order and indexes serve range queries) and as ``timestamp`` on PostgreSQL; Python
always sees timezone-aware UTC values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee

_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def to_utc(value: datetime) -> datetime:
    """Aware UTC copy of ``value``; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTimeField(peewee.DateTimeField):
    """A timestamp column that round-trips aware UTC datetimes on every back end."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is not None and value.utcoffset():
                value = value.astimezone(UTC)
            # The same text as strftime(_FORMAT) for years 1000-9999, several times faster.
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def python_value(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return to_utc(value)
        text = str(value)
        try:  # the stored form; fromisoformat is several times faster than strptime
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        except ValueError:
            pass
        for fmt in (_FORMAT, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        return to_utc(datetime.fromisoformat(text))


def dump_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; the audit chain hashes this exact text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class JSONTextField(peewee.TextField):
    """JSON kept as canonical text, identical on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return dump_json(value)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)
