"""Schema versions: new stores, upgrades from the first schema, refusals."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from certctl_engine.domain import CertificateFilter
from certctl_engine.engine import Engine
from certctl_engine.errors import StoreError
from certctl_engine.store.migrations import CURRENT_VERSION

FIXTURE = Path(__file__).parents[2] / "fixtures" / "schema_v1.db"
FIXTURE_KEY = "11" * 32


def _columns(path: Path) -> dict[str, set[str]]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")} for t in tables}
    finally:
        db.close()


def _row_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        db.close()


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return path


def test_new_store_is_created_at_the_current_version(engine: Engine) -> None:
    report = engine.upgrade_report
    assert report is not None and report.created
    assert report.to_version == CURRENT_VERSION


def test_first_schema_upgrades_without_losing_rows(v1_store: Path, tmp_path: Path) -> None:
    before = _row_counts(v1_store)
    assert "leases" not in before
    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_SECRET_KEY": FIXTURE_KEY}
    with Engine.open(str(v1_store), env=env) as engine:
        report = engine.upgrade_report
        assert report is not None
        assert (report.from_version, report.to_version, report.created) == (1, CURRENT_VERSION, False)
        # The backfilled search text finds a certificate by a SAN written in mixed case.
        found = engine.certificates.list(CertificateFilter(query="api-internal"))
        assert [c.id for c in found.items] == ["mc-api"]
        assert engine.issuers.connector_config("iss-local")["password"] == "v1-secret"
        assert engine.audit.verify().ok
    after = _row_counts(v1_store)
    for table, count in before.items():
        assert after[table] >= count, table
    assert after["managed_certificates"] == before["managed_certificates"] == 3


def test_upgraded_schema_matches_a_new_one(v1_store: Path, tmp_path: Path) -> None:
    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_SECRET_KEY": FIXTURE_KEY}
    Engine.open(str(v1_store), env=env).close()
    fresh = tmp_path / "fresh.db"
    Engine.open(str(fresh), env=env).close()
    assert _columns(v1_store) == _columns(fresh)


def test_opening_again_is_a_no_op(v1_store: Path, tmp_path: Path) -> None:
    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_SECRET_KEY": FIXTURE_KEY}
    Engine.open(str(v1_store), env=env).close()
    with Engine.open(str(v1_store), env=env) as engine:
        report = engine.upgrade_report
        assert report is not None and not report.changed


def test_upgrade_can_be_refused(v1_store: Path, tmp_path: Path) -> None:
    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_SECRET_KEY": FIXTURE_KEY}
    with pytest.raises(StoreError, match="certctl db upgrade"):
        Engine.open(str(v1_store), env=env, upgrade=False)
    # Refusing left the file at v1.
    assert "search_text" not in _columns(v1_store)["managed_certificates"]


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    env = {"CERTCTL_HOME": str(tmp_path)}
    Engine.open(str(path), env=env).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE certctl_meta SET value = ? WHERE key = 'schema_version'", (str(CURRENT_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this certctl"):
        Engine.open(str(path), env=env)


def test_a_foreign_database_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a certctl store"):
        Engine.open(str(path), env={"CERTCTL_HOME": str(tmp_path)})
    assert set(_columns(path)) == {"invoices"}


def test_only_one_store_per_process(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="already open"):
        Engine.open(str(tmp_path / "second.db"), env={"CERTCTL_HOME": str(tmp_path)})


@pytest.mark.postgres
def test_first_schema_upgrades_on_postgresql(postgres_url: str, store_env: dict[str, str]) -> None:
    """The same v1 -> v2 step on PostgreSQL: a store taken back to v1 layout comes forward intact."""
    import psycopg2

    from certctl_engine.domain import Actor

    actor = Actor("fixture")
    with Engine.open(postgres_url, env=store_env) as engine:
        engine.issuers.create("Local", "GenericCA", actor=actor, id="iss-local")
        engine.certificates.create(
            name="api",
            common_name="api.example.com",
            sans=["API-Internal.example.com"],
            issuer_id="iss-local",
            actor=actor,
            id="mc-api",
        )
    conn = psycopg2.connect(postgres_url)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE managed_certificates DROP COLUMN search_text")
        cur.execute("DROP TABLE leases")
        cur.execute("UPDATE certctl_meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    with Engine.open(postgres_url, env=store_env) as engine:
        report = engine.upgrade_report
        assert report is not None and (report.from_version, report.to_version) == (1, CURRENT_VERSION)
        assert [c.id for c in engine.certificates.list(CertificateFilter(query="api-internal")).items] == ["mc-api"]
        assert engine.certificates.get("mc-api").sans == ("api-internal.example.com",)
        assert engine.audit.verify().ok
