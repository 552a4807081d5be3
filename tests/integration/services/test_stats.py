"""Inventory figures: what they count, and that they are exact after every write and as time passes."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from frozen_clock import Clock

from certctl_engine.demo import seed_demo
from certctl_engine.domain import Actor, CertificateStatus, InventoryStats
from certctl_engine.engine import Engine
from certctl_engine.store import counters
from certctl_engine.store.migrations import CURRENT_VERSION, SCHEMA_VERSION_KEY
from certctl_engine.store.models import CertificateCountModel, CertificateModel, StoreMetaModel

V1_FIXTURE = Path(__file__).parents[2] / "fixtures" / "schema_v1.db"


def test_summary_counts_statuses_buckets_and_issuers(engine: Engine, actor: Actor) -> None:
    engine.issuers.create("Local", "GenericCA", actor=actor, id="iss-local")
    engine.issuers.create("ACME", "ACME", {"directory_url": "https://acme.test/dir"}, actor=actor, id="iss-acme")
    now = engine.now()
    plan = [
        (-3, CertificateStatus.EXPIRED, "iss-local"),
        (0.5, CertificateStatus.EXPIRING, "iss-local"),
        (7.5, CertificateStatus.EXPIRING, "iss-acme"),
        (8.5, CertificateStatus.EXPIRING, "iss-acme"),
        (30.5, CertificateStatus.ACTIVE, "iss-local"),
        (31.5, CertificateStatus.ACTIVE, "iss-local"),
        (90.5, CertificateStatus.ACTIVE, "iss-local"),
        (91.5, CertificateStatus.ACTIVE, "iss-local"),
        (5, CertificateStatus.REVOKED, "iss-local"),  # revoked: not counted as expiring
        (5, CertificateStatus.ARCHIVED, "iss-acme"),  # archived: not counted at all in buckets/issuers
    ]
    for index, (days, status, issuer) in enumerate(plan):
        cert = engine.certificates.create(name=f"c{index}", common_name="x.example.com", issuer_id=issuer, actor=actor)
        CertificateModel.update(expires_at=now + timedelta(days=days), status=status.value).where(
            CertificateModel.id == cert.id
        ).execute()
    engine.certificates.create(name="pending", common_name="p.example.com", issuer_id="iss-local", actor=actor)
    summary = engine.stats.summary()
    assert summary.total == 11
    assert summary.by_status["Active"] == 4 and summary.by_status["Pending"] == 1
    assert summary.by_status["Archived"] == 1 and summary.by_status["RenewalInProgress"] == 0
    assert (summary.expiry.expired, summary.expiry.days_0_7, summary.expiry.days_8_30, summary.expiry.days_31_90) == (
        1,
        2,
        2,
        2,
    )
    assert summary.by_issuer == {"iss-local": 8, "iss-acme": 2}
    assert engine.stats.expiring_within(31) == 4
    assert isinstance(summary.computed_at, datetime) and summary.computed_at.tzinfo is UTC


# --------------------------------------------------------------------------- exact at every moment
#
# The totals come from certificate_counts (kept by triggers) and the buckets from index range
# counts on every read. Each test below compares the summary with a full recount done here in
# Python from every certificate row, after each kind of write and after the clock moves.


def _recount(now: datetime) -> tuple[dict[str, int], dict[str, int], tuple[int, int, int, int]]:
    """By status, by issuer (non-archived) and the four live expiry buckets, counted row by row."""
    by_status = {status.value: 0 for status in CertificateStatus}
    by_issuer: Counter[str] = Counter()
    buckets = [0, 0, 0, 0]
    rows = CertificateModel.select(CertificateModel.status, CertificateModel.issuer, CertificateModel.expires_at)
    for status, issuer, expires_at in rows.tuples():
        by_status[status] += 1
        if status != CertificateStatus.ARCHIVED.value:
            by_issuer[issuer] += 1
        if status in (CertificateStatus.REVOKED.value, CertificateStatus.ARCHIVED.value):
            continue
        for index, edge in enumerate((0, 8, 31, 91)):
            if expires_at < now + timedelta(days=edge):
                buckets[index] += 1
                break
    return by_status, dict(by_issuer), (buckets[0], buckets[1], buckets[2], buckets[3])


def _stored_counts() -> dict[tuple[str, str], int]:
    rows = CertificateCountModel.select(
        CertificateCountModel.status, CertificateCountModel.issuer_id, CertificateCountModel.total
    ).tuples()
    return {(status, issuer): int(total) for status, issuer, total in rows if total}


def _grouped_counts() -> dict[tuple[str, str], int]:
    rows = (
        CertificateModel.select(CertificateModel.status, CertificateModel.issuer, peewee.fn.COUNT(peewee.SQL("*")))
        .group_by(CertificateModel.status, CertificateModel.issuer)
        .tuples()
    )
    return {(status, issuer): int(count) for status, issuer, count in rows}


def _assert_exact(engine: Engine, step: str) -> InventoryStats:
    """The summary equals a full recount, and the kept counts equal a GROUP BY of the rows."""
    summary = engine.stats.summary()
    by_status, by_issuer, buckets = _recount(engine.now())
    assert summary.by_status == by_status, step
    assert summary.total == sum(by_status.values()), step
    assert summary.by_issuer == by_issuer, step
    expiry = summary.expiry
    assert (expiry.expired, expiry.days_0_7, expiry.days_8_30, expiry.days_31_90) == buckets, step
    assert _stored_counts() == _grouped_counts(), step
    assert engine.stats.counts_by_status() == by_status, step
    return summary


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(store_url: str, store_env: dict[str, str], clock: Clock, actor: Actor) -> Iterator[Engine]:
    """An engine on a hand-moved clock with a local CA issuer (30-day leaves) and a second issuer."""
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {"validity_days": 30}, actor=actor, id="iss-local")
        engine.issuers.create("Other", "GenericCA", {}, actor=actor, id="iss-other")
        engine.ca.init("iss-local", actor=actor)
        yield engine


def _create(engine: Engine, actor: Actor, name: str, issuer: str = "iss-local") -> str:
    return engine.certificates.create(name=name, common_name=f"{name}.example.com", issuer_id=issuer, actor=actor).id


def _self_signed_leaf(now: datetime, days: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imported.example.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("imported.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_summary_matches_a_full_recount_after_every_kind_of_write(timed: Engine, clock: Clock, actor: Actor) -> None:
    engine = timed
    _assert_exact(engine, "empty store")
    ids = [_create(engine, actor, f"svc-{i}") for i in range(6)]
    other = _create(engine, actor, "elsewhere", issuer="iss-other")
    _assert_exact(engine, "create")

    engine.issuance.issue(ids[0], actor=actor)
    _assert_exact(engine, "issue")
    assert engine.issuance.issue_many(ids[1:5], actor=actor).failed == ()
    _assert_exact(engine, "issue_many (batched UPDATE statements)")
    engine.issuance.renew(ids[1], actor=actor)
    _assert_exact(engine, "renew")
    assert engine.issuance.renew_many(ids[2:4], actor=actor).failed == ()
    _assert_exact(engine, "renew_many")
    engine.revocation.revoke(ids[2], "keyCompromise", actor=actor)
    _assert_exact(engine, "revoke")
    engine.certificates.archive(ids[5], actor=actor)
    engine.certificates.archive(other, actor=actor)
    _assert_exact(engine, "archive")
    engine.certificates.update(ids[3], name="renamed", tags={"env": "prod"}, actor=actor)
    _assert_exact(engine, "update of other fields (a full-row save)")
    engine.exchange.import_pem(_self_signed_leaf(engine.now(), 20), issuer_id="iss-other", actor=actor)
    _assert_exact(engine, "import")

    # The scheduler's own transitions: Expiring / RenewalInProgress, then Expired.
    clock.advance(days=25)
    summary = _assert_exact(engine, "clock inside the renewal window")
    assert engine.renewal.check().status_changes > 0
    after = _assert_exact(engine, "renewal check")
    assert after.by_status != summary.by_status
    clock.advance(days=10)
    engine.renewal.check()
    _assert_exact(engine, "renewal check after expiry")

    # Writes that bypass the services: bulk INSERT, multi-row UPDATE, issuer change, DELETE.
    now = engine.now()
    template = CertificateModel.get(CertificateModel.id == ids[0])
    CertificateModel.insert_many(
        [
            {
                "id": f"bulk-{i}",
                "name": f"bulk-{i}",
                "common_name": f"bulk-{i}.example.com",
                "issuer": "iss-other" if i % 3 else "iss-local",
                "renewal_policy": template.renewal_policy_id,
                "status": CertificateStatus.ACTIVE.value,
                "expires_at": now + timedelta(days=i * 7 - 20),
            }
            for i in range(20)
        ]
    ).execute()
    _assert_exact(engine, "bulk insert")
    CertificateModel.update(status=CertificateStatus.FAILED.value).where(
        CertificateModel.id.startswith("bulk-1")
    ).execute()
    _assert_exact(engine, "multi-row status update")
    CertificateModel.update(status=CertificateStatus.FAILED.value).where(CertificateModel.id == "bulk-10").execute()
    _assert_exact(engine, "status set to the value it has")
    CertificateModel.update(issuer="iss-local").where(CertificateModel.id.startswith("bulk-")).execute()
    _assert_exact(engine, "issuer change")
    CertificateModel.delete().where(CertificateModel.id.in_(["bulk-3", "bulk-4", "bulk-15"])).execute()
    _assert_exact(engine, "delete")


def test_a_rolled_back_write_leaves_the_counts_as_they_were(timed: Engine, actor: Actor) -> None:
    cert_id = _create(timed, actor, "api")
    before = _assert_exact(timed, "before")
    with pytest.raises(RuntimeError, match="abandoned"), timed.store.write():
        CertificateModel.update(status=CertificateStatus.REVOKED.value).where(CertificateModel.id == cert_id).execute()
        CertificateModel.delete().where(CertificateModel.id == cert_id).execute()
        raise RuntimeError("abandoned")
    after = _assert_exact(timed, "after the rollback")
    assert after.by_status == before.by_status and after.total == 1


def test_a_revocation_shows_in_the_very_next_dashboard(timed: Engine, actor: Actor) -> None:
    cert_id = _create(timed, actor, "vpn")
    timed.issuance.issue(cert_id, actor=actor)
    before = timed.stats.dashboard()
    assert before.inventory.by_status["Active"] == 1 and before.inventory.expiry.days_8_30 == 1

    timed.revocation.revoke(cert_id, "keyCompromise", actor=actor)
    after = timed.stats.dashboard()

    assert after.audit_sequence > before.audit_sequence
    assert after.inventory.by_status["Active"] == 0 and after.inventory.by_status["Revoked"] == 1
    assert after.inventory.expiry.days_8_30 == 0
    assert after.inventory.by_issuer == {"iss-local": 1}


def test_buckets_move_with_the_clock_without_any_write(timed: Engine, clock: Clock, actor: Actor) -> None:
    """Expiry buckets depend on the time: they change as bucket edges pass, with no write at all."""
    cert_id = _create(timed, actor, "edge")
    CertificateModel.update(
        status=CertificateStatus.ACTIVE.value, expires_at=clock.now + timedelta(days=8, minutes=30)
    ).where(CertificateModel.id == cert_id).execute()
    sequence = timed.audit.latest_sequence()

    def buckets() -> tuple[int, int, int, int]:
        expiry = timed.stats.dashboard().inventory.expiry
        return expiry.expired, expiry.days_0_7, expiry.days_8_30, expiry.days_31_90

    assert buckets() == (0, 0, 1, 0)
    clock.advance(minutes=29)
    assert buckets() == (0, 0, 1, 0)
    clock.advance(minutes=2)  # the 8-day edge passes
    assert buckets() == (0, 1, 0, 0)
    clock.advance(days=8)  # the expiry passes
    assert buckets() == (1, 0, 0, 0)
    clock.advance(days=-100)  # earlier than 91 days ahead: in no bucket
    assert buckets() == (0, 0, 0, 0)
    assert timed.audit.latest_sequence() == sequence
    _assert_exact(timed, "after the clock moved")


def test_new_stores_carry_the_counting_triggers(engine: Engine) -> None:
    expected = set(counters.TRIGGER_NAMES)
    if not engine.store.is_sqlite:
        expected.add("certificate_counts_after_truncate")
    assert counters.installed(engine.store.database) == expected


def _drop_counts(db: peewee.Database, sqlite: bool) -> None:
    """Take a v5 store back to the v4 layout: no count table, no triggers."""
    for name in (*counters.TRIGGER_NAMES, "certificate_counts_after_truncate"):
        db.execute_sql(f"DROP TRIGGER IF EXISTS {name}" + ("" if sqlite else " ON managed_certificates"))
    db.execute_sql("DROP TABLE certificate_counts")
    db.execute_sql("DROP INDEX IF EXISTS jobs_completed_at_status")
    db.execute_sql("DROP INDEX IF EXISTS policy_violations_resolved_at")
    StoreMetaModel.update(value="4").where(StoreMetaModel.key == SCHEMA_VERSION_KEY).execute()


def test_the_v5_migration_backfills_the_counts(
    store_url: str, store_env: dict[str, str], clock: Clock, actor: Actor
) -> None:
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {"validity_days": 30}, actor=actor, id="iss-local")
        engine.issuers.create("Other", "GenericCA", {}, actor=actor, id="iss-other")
        engine.ca.init("iss-local", actor=actor)
        ids = [_create(engine, actor, f"svc-{i}") for i in range(4)] + [_create(engine, actor, "o", "iss-other")]
        engine.issuance.issue_many(ids[:3], actor=actor)
        engine.revocation.revoke(ids[0], actor=actor)
        engine.certificates.archive(ids[4], actor=actor)
        expected = _assert_exact(engine, "before the downgrade")
        _drop_counts(engine.store.database, engine.store.is_sqlite)
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        report = engine.upgrade_report
        assert report is not None and (report.from_version, report.to_version) == (4, CURRENT_VERSION)
        upgraded = _assert_exact(engine, "after the upgrade")
        assert (upgraded.by_status, upgraded.by_issuer) == (expected.by_status, expected.by_issuer)
        assert counters.installed(engine.store.database) >= set(counters.TRIGGER_NAMES)
        engine.certificates.archive(ids[1], actor=actor)
        _assert_exact(engine, "a write after the upgrade")


def test_the_first_schema_upgrades_with_exact_counts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(V1_FIXTURE, path)
    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_SECRET_KEY": "11" * 32}
    with Engine.open(str(path), env=env) as engine:
        summary = _assert_exact(engine, "v1 store upgraded")
        assert summary.total == 3


def test_demo_seed_and_reset_keep_the_counts_exact(engine: Engine) -> None:
    seed_demo(engine)
    _assert_exact(engine, "demo seeded")
    seed_demo(engine, reset=True)  # erases every table, certificates included, then seeds again
    summary = _assert_exact(engine, "demo reseeded")
    assert summary.total == CertificateModel.select().count() > 0
