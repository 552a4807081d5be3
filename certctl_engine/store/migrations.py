"""Schema versions and forward migrations.

A new store is created straight at ``CURRENT_VERSION`` from the models. A store written by
an older certctl carries its version in ``certctl_meta`` and is brought forward one
migration at a time, each in its own transaction, so a crash mid-upgrade leaves the store
at the last completed version and the next open carries on. Stores newer than this
program are refused rather than guessed at.

History:
  1  the first schema
  2  ``managed_certificates.search_text`` (name, CN and SANs, lower-cased, for the
     inventory's text filter) and the ``leases`` table (one scheduler per store)
  3  ``certificate_authorities``: the local CA's certificate, chain and sealed key
  4  ``notification_channels`` (configured alert channels, secrets sealed) and, on
     ``notification_events``, the channel, subject, severity, details, de-duplication key and
     retry bookkeeping
  5  ``certificate_counts`` (certificates per status and issuer, kept exact by triggers on
     ``managed_certificates``, backfilled from a full count) and indexes on
     ``jobs (completed_at, status)`` and ``policy_violations (resolved_at)``, so the
     dashboard summary reads no certificate rows for its totals
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee

from certctl_engine.errors import StoreError
from certctl_engine.store import counters
from certctl_engine.store.models import (
    ALL_MODELS,
    CertificateAuthorityModel,
    CertificateCountModel,
    CertificateModel,
    CertificateSANModel,
    JobModel,
    LeaseModel,
    NotificationChannelModel,
    NotificationModel,
    PolicyViolationModel,
    RenewalInfoModel,
    StoreMetaModel,
)

if TYPE_CHECKING:
    from certctl_engine.store.database import Store

CURRENT_VERSION = 6
SCHEMA_VERSION_KEY = "schema_version"


@dataclass(frozen=True, slots=True)
class UpgradeReport:
    from_version: int
    to_version: int
    created: bool

    @property
    def changed(self) -> bool:
        return self.created or self.from_version != self.to_version


def search_text_for(name: str, common_name: str, sans: list[str] | tuple[str, ...]) -> str:
    """What the inventory's text filter matches against: name, CN and SANs, lower-cased."""
    parts = [name, common_name, *sans]
    seen: list[str] = []
    for part in parts:
        low = part.strip().lower()
        if low and low not in seen:
            seen.append(low)
    return " ".join(seen)


def _to_v2(db: peewee.Database) -> None:
    columns = {c.name for c in db.get_columns(CertificateModel._meta.table_name)}
    if "search_text" not in columns:
        # Plain ADD COLUMN on purpose: peewee's SQLite migrator rebuilds the table to add a
        # NOT NULL column, and dropping the old table would cascade into certificate_sans.
        db.execute_sql("ALTER TABLE managed_certificates ADD COLUMN search_text TEXT NOT NULL DEFAULT ''")
    sans: dict[str, list[str]] = {}
    for cert_id, value in CertificateSANModel.select(
        CertificateSANModel.certificate, CertificateSANModel.value
    ).tuples():
        sans.setdefault(cert_id, []).append(value)
    rows = list(
        CertificateModel.select(CertificateModel.id, CertificateModel.name, CertificateModel.common_name).tuples()
    )
    for cert_id, name, cn in rows:
        CertificateModel.update(search_text=search_text_for(name, cn, sans.get(cert_id, []))).where(
            CertificateModel.id == cert_id
        ).execute()
    db.create_tables([LeaseModel], safe=True)


def _to_v3(db: peewee.Database) -> None:
    db.create_tables([CertificateAuthorityModel], safe=True)


def _to_v4(db: peewee.Database) -> None:
    db.create_tables([NotificationChannelModel], safe=True)
    table = NotificationModel._meta.table_name
    present = {c.name for c in db.get_columns(table)}
    timestamp = "DATETIME" if isinstance(db, peewee.SqliteDatabase) else "TIMESTAMP"
    # Plain ADD COLUMN, as in v2: no table rebuild.
    for name, ddl in (
        ("channel_id", "VARCHAR(64) REFERENCES notification_channels (id) ON DELETE CASCADE"),
        ("subject", "TEXT NOT NULL DEFAULT ''"),
        ("severity", "VARCHAR(16) NOT NULL DEFAULT 'warning'"),
        ("dedup_key", "VARCHAR(255)"),
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("next_attempt_at", timestamp),
        ("details", "TEXT NOT NULL DEFAULT '{}'"),
    ):
        if name not in present:
            db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}")
    NotificationModel._schema.create_indexes(safe=True)


def _to_v5(db: peewee.Database) -> None:
    db.create_tables([CertificateCountModel], safe=True)
    # Triggers first, then the count, both under the write lock: no write falls between them.
    counters.install(db)
    counters.recount(db)
    JobModel._schema.create_indexes(safe=True)
    PolicyViolationModel._schema.create_indexes(safe=True)


def _to_v6(db: peewee.Database) -> None:
    db.create_tables([RenewalInfoModel], safe=True)


MIGRATIONS: dict[int, Callable[[peewee.Database], None]] = {
    2: _to_v2,
    3: _to_v3,
    4: _to_v4,
    5: _to_v5,
    6: _to_v6,
}


def stored_version(db: peewee.Database) -> int | None:
    """The schema version written in the store, or None for an empty database."""
    tables = set(db.get_tables())
    if StoreMetaModel._meta.table_name not in tables:
        if tables & {m._meta.table_name for m in ALL_MODELS}:
            raise StoreError("this database has certctl-like tables but no schema version; refusing to touch it")
        if tables:
            raise StoreError(f"this database is not a certctl store (it holds: {', '.join(sorted(tables)[:5])})")
        return None
    row = StoreMetaModel.get_or_none(StoreMetaModel.key == SCHEMA_VERSION_KEY)
    if row is None:
        raise StoreError("this certctl store has no schema version recorded; it may be damaged")
    try:
        return int(row.value)
    except ValueError:
        raise StoreError(f"this certctl store records an unreadable schema version '{row.value}'") from None


def _set_version(version: int) -> None:
    StoreMetaModel.insert(key=SCHEMA_VERSION_KEY, value=str(version)).on_conflict(
        conflict_target=[StoreMetaModel.key], update={StoreMetaModel.value: str(version)}
    ).execute()


def prepare(store: Store, *, upgrade: bool) -> UpgradeReport:
    """Create a new store or check (and, when allowed, upgrade) an existing one."""
    db = store.database
    with store.write():
        version = stored_version(db)
        if version is None:
            db.create_tables(list(ALL_MODELS), safe=True)
            counters.install(db)
            _set_version(CURRENT_VERSION)
            return UpgradeReport(CURRENT_VERSION, CURRENT_VERSION, created=True)
    if version > CURRENT_VERSION:
        raise StoreError(
            f"the store at {store.location.describe()} has schema v{version}, newer than this certctl "
            f"understands (v{CURRENT_VERSION}); upgrade certctl"
        )
    if version < CURRENT_VERSION and not upgrade:
        raise StoreError(f"the store has schema v{version} and needs v{CURRENT_VERSION}; run 'certctl db upgrade'")
    start = version
    while version < CURRENT_VERSION:
        target = version + 1
        with store.write():
            # Re-read inside the lock: another process may have upgraded meanwhile.
            current = stored_version(db)
            assert current is not None
            if current >= target:
                version = current
                continue
            MIGRATIONS[target](db)
            _set_version(target)
        version = target
    return UpgradeReport(start, version, created=False)
