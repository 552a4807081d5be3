"""Exact certificate counts per (status, issuer), kept by the database itself.

The dashboard shows totals by status and by issuer, and they must be right the moment a
certificate is issued, renewed, revoked or archived. Counting 100,000 rows on every read
costs 10-15 ms on SQLite, so ``certificate_counts`` holds one row per (status, issuer)
pair instead, and triggers on ``managed_certificates`` add and subtract in the same
statement, and therefore the same transaction, as every INSERT, DELETE and UPDATE of
``status`` or ``issuer_id``. Triggers rather than service code: every write path (the
services, the bulk statements of ``store.bulk``, the demo seeder, raw SQL run by an
operator) keeps the counts exact without knowing about them.

``recount`` rebuilds the table from a full count; migrations call it under the store's
write lock after installing the triggers, so no write can fall between the two.

A SQLite table rebuild (drop and re-create, as peewee's SQLite migrator does for some
column changes) drops the table's triggers: a migration that rebuilds
``managed_certificates`` must call ``install`` and ``recount`` again.
"""

from __future__ import annotations

import peewee

from certctl_engine.store.models import CertificateCountModel, CertificateModel

_CERTS = CertificateModel._meta.table_name
_COUNTS = CertificateCountModel._meta.table_name

_ADD_NEW = (
    f"INSERT INTO {_COUNTS} (status, issuer_id, total) VALUES (NEW.status, NEW.issuer_id, 1) "
    f"ON CONFLICT (status, issuer_id) DO UPDATE SET total = {_COUNTS}.total + 1"
)
_SUBTRACT_OLD = f"UPDATE {_COUNTS} SET total = total - 1 WHERE status = OLD.status AND issuer_id = OLD.issuer_id"

TRIGGER_NAMES = (
    "certificate_counts_after_insert",
    "certificate_counts_after_delete",
    "certificate_counts_after_update",
)

_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS certificate_counts_after_insert AFTER INSERT ON {_CERTS} BEGIN {_ADD_NEW}; END",
    f"CREATE TRIGGER IF NOT EXISTS certificate_counts_after_delete AFTER DELETE ON {_CERTS} BEGIN {_SUBTRACT_OLD}; END",
    f"CREATE TRIGGER IF NOT EXISTS certificate_counts_after_update AFTER UPDATE OF status, issuer_id ON {_CERTS} "
    "WHEN OLD.status IS NOT NEW.status OR OLD.issuer_id IS NOT NEW.issuer_id "
    f"BEGIN {_SUBTRACT_OLD}; {_ADD_NEW}; END",
)

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION certctl_certificate_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM {_COUNTS};
        RETURN NULL;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        {_SUBTRACT_OLD};
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {_ADD_NEW};
    END IF;
    RETURN NULL;
END
$$
"""

_PG_TRIGGERS = (
    ("certificate_counts_after_insert", "AFTER INSERT", "FOR EACH ROW"),
    ("certificate_counts_after_delete", "AFTER DELETE", "FOR EACH ROW"),
    (
        "certificate_counts_after_update",
        "AFTER UPDATE OF status, issuer_id",
        "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.issuer_id IS DISTINCT FROM NEW.issuer_id)",
    ),
    ("certificate_counts_after_truncate", "AFTER TRUNCATE", "FOR EACH STATEMENT"),
)


def install(db: peewee.Database) -> None:
    """Create the counting triggers (idempotent); the table itself comes from the models."""
    if isinstance(db, peewee.SqliteDatabase):
        for ddl in _SQLITE_TRIGGERS:
            db.execute_sql(ddl)
        return
    db.execute_sql(_PG_FUNCTION)
    for name, event, scope in _PG_TRIGGERS:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {_CERTS}")
        run = "EXECUTE FUNCTION certctl_certificate_counts()"
        db.execute_sql(f"CREATE TRIGGER {name} {event} ON {_CERTS} {scope} {run}")


def recount(db: peewee.Database) -> None:
    """Rebuild the counts from a full count of the certificates (run inside a write transaction)."""
    db.execute_sql(f"DELETE FROM {_COUNTS}")
    db.execute_sql(
        f"INSERT INTO {_COUNTS} (status, issuer_id, total) "
        f"SELECT status, issuer_id, COUNT(*) FROM {_CERTS} GROUP BY status, issuer_id"
    )


def installed(db: peewee.Database) -> set[str]:
    """The names of the counting triggers present on the certificates table."""
    if isinstance(db, peewee.SqliteDatabase):
        rows = db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (_CERTS,)
        ).fetchall()
    else:
        rows = db.execute_sql(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", (_CERTS,)
        ).fetchall()
    return {str(name) for (name,) in rows} & {*TRIGGER_NAMES, "certificate_counts_after_truncate"}
