"""Opening the store and running write transactions.

Every mutation runs inside ``Store.write()``: one transaction that also takes the store's
write lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
PostgreSQL). Writers therefore append to the audit chain one at a time, whether they are
threads, processes or engines sharing one PostgreSQL, and the chain stays linear.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee

from certctl_engine.errors import StoreError
from certctl_engine.store.location import StoreLocation, ensure_directory
from certctl_engine.store.migrations import UpgradeReport, prepare
from certctl_engine.store.models import ALL_MODELS, database_proxy

# Arbitrary constant naming the certctl write lock among PostgreSQL advisory locks.
_PG_WRITE_LOCK_KEY = 0x63657274_63746C01

SQLITE_PRAGMAS: dict[str, Any] = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 60_000,
    "cache_size": -32_000,
    "temp_store": "memory",
}

_open_lock = threading.Lock()
_open_store: Store | None = None


def _connect(location: StoreLocation) -> peewee.Database:
    if location.is_sqlite:
        assert location.path is not None
        if not location.in_memory:
            ensure_directory(location.path.parent)
            _create_private(location.path)
        db: peewee.Database = peewee.SqliteDatabase(
            str(location.path), pragmas=SQLITE_PRAGMAS, timeout=60, check_same_thread=False
        )
    else:
        try:
            from playhouse.pool import PooledPostgresqlDatabase
        except ImportError:  # pragma: no cover - playhouse ships with peewee
            raise StoreError("PostgreSQL support needs peewee's playhouse package") from None
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise StoreError(
                "PostgreSQL support needs a driver: pip install 'certctl[postgres]' (psycopg2-binary)"
            ) from None
        db = PooledPostgresqlDatabase(
            location.database,
            host=location.host,
            port=location.port,
            user=location.user,
            password=location.password or None,
            max_connections=32,
            stale_timeout=300,
            connect_timeout=10,
        )
    try:
        db.connect(reuse_if_open=True)
    except peewee.OperationalError as exc:
        raise StoreError(f"cannot open the store at {location.describe()}: {_first_line(exc)}") from None
    return db


def _create_private(path: Path) -> None:
    """Create a new store file readable by its owner only (SQLite would follow the umask)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create the store file {path}: {exc.strerror or exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Store:
    """An open store: the Peewee database bound to the models, plus write transactions."""

    def __init__(self, location: StoreLocation, database: peewee.Database) -> None:
        self.location = location
        self.database = database
        self._local = threading.local()
        self.upgrade_report: UpgradeReport | None = None

    @classmethod
    def open(cls, location: StoreLocation, *, upgrade: bool = True) -> Store:
        """Connect, bind the models and bring the schema up to date.

        One store is open per process at a time (the models are bound globally); opening a
        second one while the first is open is refused.
        """
        global _open_store
        with _open_lock:
            if _open_store is not None:
                raise StoreError(
                    f"a store is already open in this process ({_open_store.location.describe()}); close it first"
                )
            database = _connect(location)
            database_proxy.initialize(database)
            store = cls(location, database)
            _open_store = store
        try:
            store.upgrade_report = prepare(store, upgrade=upgrade)
            if store.is_sqlite and not store._has_statistics():
                store.analyze()
        except BaseException:
            store.close()
            raise
        return store

    def _has_statistics(self) -> bool:
        if "sqlite_stat1" not in self.database.get_tables():
            return False
        return bool(self.database.execute_sql("SELECT 1 FROM sqlite_stat1 LIMIT 1").fetchone())

    def analyze(self) -> None:
        """Refresh the query planner's statistics (after bulk loads; SQLite keeps none on its own).

        Without them SQLite picks narrow indexes for the inventory's filtered, sorted pages and
        sorts thousands of rows to return fifty.
        """
        self.database.connect(reuse_if_open=True)
        self.database.execute_sql("ANALYZE")

    @property
    def is_sqlite(self) -> bool:
        return self.location.is_sqlite

    def close(self) -> None:
        global _open_store
        with _open_lock:
            if _open_store is self:
                _open_store = None
            if isinstance(self.database, peewee.SqliteDatabase):
                with contextlib.suppress(peewee.DatabaseError):
                    # Re-analyses the tables whose size changed a lot since the last statistics.
                    self.database.execute_sql("PRAGMA optimize")
                self.database.close()
            else:
                with contextlib.suppress(Exception):
                    self.database.close_all()  # type: ignore[attr-defined]
            database_proxy.initialize(None)

    @property
    def in_write(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction holding the store's write lock; nested calls join it."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        self.database.connect(reuse_if_open=True)
        if isinstance(self.database, peewee.SqliteDatabase):
            tx = self.database.atomic("IMMEDIATE")
        else:
            tx = self.database.atomic()
        with tx:
            if not isinstance(self.database, peewee.SqliteDatabase):
                self.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_WRITE_LOCK_KEY,))
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """A consistent read snapshot (one transaction) for multi-query reads."""
        self.database.connect(reuse_if_open=True)
        with self.database.atomic():
            yield

    def table_names(self) -> list[str]:
        return sorted(self.database.get_tables())

    @staticmethod
    def models() -> tuple[type[peewee.Model], ...]:
        return ALL_MODELS
