"""Inventory benchmark: list pages, stats and memory of certctl at 100,000 certificates.

    python benchmarks/inventory.py [--count 100000] [--db PATH] [--runs 200] [--explain] [--no-analyze]

Seeds a fresh SQLite store (teams, owners, issuers, renewal policies and profiles through
the services; certificates and their SANs in bulk), then times the inventory list the
faces use (``engine.certificates.list``), ``engine.stats`` and the process peak memory,
and prints each figure next to its target with PASS or MISS. As a reference it times the
first-page query through Python's ``sqlite3`` module directly on the same file.

This is a benchmark, not a test: it never fails, it reports. ``--explain`` adds the
``EXPLAIN QUERY PLAN`` of every statement the engine ran for each timed query;
After seeding it refreshes the planner statistics with ``engine.store.analyze()``, as
certctl's own bulk paths do (demo seed, import; ``PRAGMA optimize`` on close);
``--no-analyze`` skips that, to show what a store without statistics costs.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from peewee import chunked

from certctl_engine.domain import (
    Actor,
    ActorType,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    IssuerType,
    SortOrder,
)
from certctl_engine.engine import Engine
from certctl_engine.store.migrations import search_text_for
from certctl_engine.store.models import NOT_ISSUED, CertificateModel, CertificateSANModel

SEED = 20260401
BATCH = 1_000
WARMUPS = 5
STATS_RUNS = 50
PAGE_SIZE = 50
WALK_PAGES = 20

TARGET_PAGE_P95_MS = 20.0
TARGET_STATS_MS = 100.0
TARGET_MEMORY_MB = 300.0

ACTOR = Actor("benchmark", ActorType.SYSTEM)

# Weighted status mix of a healthy inventory: mostly Active.
STATUS_WEIGHTS: tuple[tuple[CertificateStatus, int], ...] = (
    (CertificateStatus.ACTIVE, 70),
    (CertificateStatus.EXPIRING, 8),
    (CertificateStatus.EXPIRED, 6),
    (CertificateStatus.REVOKED, 4),
    (CertificateStatus.ARCHIVED, 4),
    (CertificateStatus.PENDING, 3),
    (CertificateStatus.FAILED, 2),
    (CertificateStatus.RENEWAL_IN_PROGRESS, 3),
)
ENVIRONMENTS = ("prod", "prod", "prod", "staging", "dev")


# ----------------------------------------------------------------------------- helpers


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile of ``samples`` (p in 0-100)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def timed(fn: Callable[[], Any], runs: int, warmups: int = WARMUPS) -> list[float]:
    """Milliseconds of ``runs`` calls of ``fn`` after ``warmups`` untimed calls."""
    for _ in range(warmups):
        fn()
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def peak_memory_mb() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class SqlCapture(logging.Handler):
    """Collects the (sql, params) Peewee logs at DEBUG, to EXPLAIN exactly what ran."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg
        if isinstance(msg, tuple) and len(msg) == 2 and isinstance(msg[0], str):
            self.statements.append((msg[0], tuple(msg[1] or ())))


def capture_sql(fn: Callable[[], Any]) -> list[tuple[str, tuple[Any, ...]]]:
    logger = logging.getLogger("peewee")
    handler = SqlCapture()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        fn()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return handler.statements


# ----------------------------------------------------------------------------- seeding


def create_reference_data(engine: Engine) -> dict[str, list[Any]]:
    """Teams, owners, issuers, policies and profiles through the services (audited as usual)."""
    teams = [engine.ownership.create_team(f"team{t}", f"Benchmark team {t}", actor=ACTOR) for t in range(1, 6)]
    owners = [
        engine.ownership.create_owner(
            f"Owner {o:02d}", f"owner{o:02d}@example.com", teams[(o - 1) % len(teams)].id, actor=ACTOR
        )
        for o in range(1, 21)
    ]
    issuers = [
        engine.issuers.create(
            f"Generic CA {i}", IssuerType.GENERIC_CA, {"url": f"https://ca{i}.example.com"}, actor=ACTOR
        )
        for i in range(1, 5)
    ]
    policies = [
        engine.renewal_policies.create(f"Renew {days}d", actor=ACTOR, renewal_window_days=days) for days in (14, 30, 60)
    ]
    profiles = [
        engine.profiles.create(f"Profile {p}", actor=ACTOR, description=f"benchmark profile {p}")
        for p in ("web", "internal", "mtls")
    ]
    return {"teams": teams, "owners": owners, "issuers": issuers, "policies": policies, "profiles": profiles}


def certificate_rows(
    count: int, refs: dict[str, list[Any]], now: datetime, rng: random.Random
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One (certificate row, SAN rows) pair per certificate, lazily, from a fixed seed."""
    statuses = [s for s, _ in STATUS_WEIGHTS]
    weights = [w for _, w in STATUS_WEIGHTS]
    team_index = {team.id: n + 1 for n, team in enumerate(refs["teams"])}
    base_ns = int((now - timedelta(days=366)).timestamp() * 1e9)
    for i in range(count):
        owner = rng.choice(refs["owners"])
        team_no = team_index[owner.team_id]
        svc = rng.randint(1, 99_999)
        cn = f"svc-{svc}.team{team_no}.example.com"
        sans = [cn]
        for extra in range(rng.randint(0, 2)):
            sans.append(
                rng.choice((f"www.svc-{svc}", f"svc-{svc}-{extra + 1}", f"api.svc-{svc}"))
                + f".team{team_no}.example.com"
            )
        sans = list(dict.fromkeys(sans))
        status = rng.choices(statuses, weights)[0]
        if status is CertificateStatus.PENDING:
            expires_at = NOT_ISSUED
        else:
            expires_at = now + timedelta(seconds=rng.randint(-60 * 86_400, 400 * 86_400))
        created_at = now - timedelta(seconds=rng.randint(0, 365 * 86_400))
        updated_at = created_at + (now - created_at) * rng.random()
        cert_id = f"cert-{base_ns + i * 1_000_003}-{rng.getrandbits(16):04x}"
        name = f"svc-{svc}-team{team_no}-{i:06d}"
        row = {
            "id": cert_id,
            "name": name,
            "common_name": cn,
            "environment": rng.choice(ENVIRONMENTS),
            "owner": owner.id,
            "team": owner.team_id,
            "issuer": rng.choice(refs["issuers"]).id,
            "renewal_policy": rng.choice(refs["policies"]).id,
            "certificate_profile": rng.choice(refs["profiles"]).id if rng.random() < 0.9 else None,
            "status": status.value,
            "expires_at": expires_at,
            "tags": {"service": f"svc-{svc}", "tier": rng.choice(("gold", "silver", "bronze"))},
            "revoked_at": now - timedelta(days=rng.randint(1, 90)) if status is CertificateStatus.REVOKED else None,
            "revocation_reason": "superseded" if status is CertificateStatus.REVOKED else None,
            "search_text": search_text_for(name, cn, sans),
            "created_at": created_at,
            "updated_at": updated_at,
        }
        yield row, [{"certificate": cert_id, "value": v} for v in sans]


def seed_certificates(engine: Engine, count: int, refs: dict[str, list[Any]], now: datetime) -> tuple[float, int]:
    """Bulk-insert ``count`` certificates; returns (seconds, SAN rows).

    A bulk fixture: rows go straight into the certificate and SAN tables in batches of
    1,000 inside one write transaction, bypassing CertificateService.create and its
    per-row audit event on purpose (100,000 audited creates would measure the audit chain,
    not the inventory, and take far longer).
    """
    rng = random.Random(SEED)
    san_rows = 0
    start = time.perf_counter()
    with engine.store.write():
        for batch in chunked(certificate_rows(count, refs, now, rng), BATCH):
            certs = [cert for cert, _ in batch]
            sans = [san for _, cert_sans in batch for san in cert_sans]
            CertificateModel.insert_many(certs).execute()
            CertificateSANModel.insert_many(sans).execute()
            san_rows += len(sans)
    elapsed = time.perf_counter() - start
    # A settled store has its WAL checkpointed into the main file; do that before timing reads.
    engine.store.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return elapsed, san_rows


# ----------------------------------------------------------------------------- report

LABEL_WIDTH = 48


class Report:
    """Aligned plain-text tables; remembers every MISS for the summary."""

    def __init__(self) -> None:
        self.misses: list[str] = []

    @staticmethod
    def section(title: str) -> None:
        print()
        print(title)
        print("-" * len(title))

    @staticmethod
    def header() -> None:
        print(f"  {'measure':<{LABEL_WIDTH}} {'p50':>9} {'p95':>9}  {'target':<16} result")

    def _verdict(self, label: str, value: float, limit: float | None, unit: str, what: str) -> tuple[str, str]:
        if limit is None:
            return "-", ""
        if value < limit:
            return f"{what} < {limit:g} {unit}", "PASS"
        self.misses.append(f"{label}: {what} {value:.1f} {unit}, target < {limit:g} {unit}")
        return f"{what} < {limit:g} {unit}", "MISS"

    def timing(self, label: str, samples: list[float], target_ms: float | None) -> None:
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        target, verdict = self._verdict(label, p95, target_ms, "ms", "p95")
        print(f"  {label:<{LABEL_WIDTH}} {p50:>6.2f} ms {p95:>6.2f} ms  {target:<16} {verdict}")

    def value(self, label: str, value: float, unit: str, limit: float | None = None, fmt: str = ",.1f") -> None:
        text = f"{value:{fmt}} {unit}".rstrip()
        if limit is None:
            print(f"  {label:<{LABEL_WIDTH}} {text:>19}")
            return
        target, verdict = self._verdict(label, value, limit, unit, "")
        print(f"  {label:<{LABEL_WIDTH}} {text:>19}  {target.strip():<16} {verdict}")

    def summary(self) -> None:
        self.section("Summary")
        if not self.misses:
            print("  every figure met its target")
        for miss in self.misses:
            print(f"  MISS  {miss}")


def explain(db_path: Path, label: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(str(db_path))
    try:
        print(f"\n  [{label}]")
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            shown = sql if len(sql) <= 160 else sql[:70] + " ... " + sql[-85:]
            print(f"    {shown}")
            for _id, _parent, _unused, detail in conn.execute("EXPLAIN QUERY PLAN " + sql, params):
                print(f"      -> {detail}")
    finally:
        conn.close()


# ----------------------------------------------------------------------------- measures


def bench_pages(engine: Engine, refs: dict[str, list[Any]], runs: int, report: Report) -> dict[str, Callable[[], Any]]:
    """(a)-(e): one 50-row page of engine.certificates.list each; returns the queries by label."""
    certs = engine.certificates
    team_id = refs["teams"][2].id
    owner_id = refs["owners"][6].id
    active = CertificateFilter(statuses=(CertificateStatus.ACTIVE, CertificateStatus.EXPIRING))
    queries: dict[str, Callable[[], Any]] = {
        "(a) statuses Active+Expiring, expires_at asc": lambda: certs.list(
            active, sort=CertificateSortField.EXPIRES_AT, order=SortOrder.ASC, limit=PAGE_SIZE
        ),
        "(c) team, common_name desc": lambda: certs.list(
            CertificateFilter(team_id=team_id),
            sort=CertificateSortField.COMMON_NAME,
            order=SortOrder.DESC,
            limit=PAGE_SIZE,
        ),
        '(d) text "svc-42", expires_at asc': lambda: certs.list(
            CertificateFilter(query="svc-42"), sort=CertificateSortField.EXPIRES_AT, limit=PAGE_SIZE
        ),
        "(e) owner, expiring within 30 days": lambda: certs.list(
            CertificateFilter(owner_id=owner_id, expiring_within_days=30),
            sort=CertificateSortField.EXPIRES_AT,
            limit=PAGE_SIZE,
        ),
    }

    # (b): the default view (no filter, i.e. everything but Archived) sorted by expires_at,
    # walked WALK_PAGES pages deep by cursor; each page is timed on its own.
    def walk(record: list[list[float]] | None) -> None:
        cursor = None
        for page_no in range(WALK_PAGES):
            start = time.perf_counter()
            page = certs.list(sort=CertificateSortField.EXPIRES_AT, limit=PAGE_SIZE, cursor=cursor)
            if record is not None:
                record[page_no].append((time.perf_counter() - start) * 1000)
            cursor = page.next_cursor
            if cursor is None:
                break

    report.section(f"Inventory list pages ({PAGE_SIZE} rows, engine.certificates.list)")
    report.header()
    labels = list(queries)
    report.timing(labels[0], timed(queries[labels[0]], runs), TARGET_PAGE_P95_MS)

    for _ in range(WARMUPS):
        walk(None)
    per_page: list[list[float]] = [[] for _ in range(WALK_PAGES)]
    for _ in range(runs):
        walk(per_page)
    report.timing(
        f"(b) cursor walk, default view, all {WALK_PAGES} pages",
        [t for page in per_page for t in page],
        TARGET_PAGE_P95_MS,
    )
    report.timing("(b)   page 1 (rows 1-50)", per_page[0], TARGET_PAGE_P95_MS)
    deepest = f"(b)   page {WALK_PAGES} (rows {(WALK_PAGES - 1) * PAGE_SIZE + 1}-{WALK_PAGES * PAGE_SIZE})"
    report.timing(deepest, per_page[-1], TARGET_PAGE_P95_MS)

    for label in labels[1:]:
        report.timing(label, timed(queries[label], runs), TARGET_PAGE_P95_MS)
    return queries


def bench_stats(engine: Engine, report: Report) -> None:
    report.section("Stats (engine.stats)")
    report.header()
    report.timing(f"summary() ({STATS_RUNS} runs)", timed(engine.stats.summary, STATS_RUNS, 3), TARGET_STATS_MS)
    # No target was set for expiring_within; the stats target is shown for reference.
    expiring = timed(lambda: engine.stats.expiring_within(30), STATS_RUNS, 3)
    report.timing(f"expiring_within(30) ({STATS_RUNS} runs)", expiring, TARGET_STATS_MS)
    stats = engine.stats.summary()
    print(
        f"  (total {stats.total:,}; live expired {stats.expiry.expired:,}, 0-7 d {stats.expiry.days_0_7:,}, "
        f"8-30 d {stats.expiry.days_8_30:,}, 31-90 d {stats.expiry.days_31_90:,}; "
        f"expiring_within(30) = {engine.stats.expiring_within(30):,})"
    )


RAW_PAGE_SQL = (
    "SELECT id, name, common_name, environment, owner_id, team_id, issuer_id, renewal_policy_id, "
    "certificate_profile_id, status, expires_at, tags, current_version_id, last_renewal_at, "
    "last_deployment_at, revoked_at, revocation_reason, search_text, created_at, updated_at "
    "FROM managed_certificates WHERE status IN (?, ?) ORDER BY expires_at ASC, id ASC LIMIT ?"
)


def bench_raw(db_path: Path, engine_a: Callable[[], Any], runs: int, report: Report) -> None:
    """Query (a) through the sqlite3 module, on the same file with the engine's cache size.

    "page select" is the one SELECT; "+ SANs, targets" also runs the two look-ups the
    engine makes for the page's rows. Both return bare tuples: no models, no domain values.
    """
    raw = sqlite3.connect(str(db_path))
    try:
        raw.execute("PRAGMA cache_size = -32000")
        raw.execute("PRAGMA temp_store = memory")
        params = (CertificateStatus.ACTIVE.value, CertificateStatus.EXPIRING.value, PAGE_SIZE + 1)

        def raw_select() -> list[tuple[Any, ...]]:
            return raw.execute(RAW_PAGE_SQL, params).fetchall()

        def raw_page() -> tuple[list[Any], list[Any], list[Any]]:
            rows = raw_select()[:PAGE_SIZE]
            ids = [r[0] for r in rows]
            marks = ",".join("?" * len(ids))
            sans = raw.execute(
                f"SELECT certificate_id, value FROM certificate_sans WHERE certificate_id IN ({marks})", ids
            ).fetchall()
            targets = raw.execute(
                f"SELECT certificate_id, target_id FROM certificate_target_mappings WHERE certificate_id IN ({marks})",
                ids,
            ).fetchall()
            return rows, sans, targets

        same = [r[0] for r in raw_select()[:PAGE_SIZE]] == [c.id for c in engine_a().items]
        report.section("Reference: query (a) as raw SQL (sqlite3 module, same file)")
        report.header()
        engine_ms = timed(engine_a, runs)
        select_ms = timed(raw_select, runs)
        page_ms = timed(raw_page, runs)
        report.timing("engine (a), timed again alongside", engine_ms, None)
        report.timing("raw page select", select_ms, None)
        report.timing("raw page select + SANs, targets", page_ms, None)
        for name, ref in (("page select", select_ms), ("select + SANs, targets", page_ms)):
            p50 = percentile(engine_ms, 50) / percentile(ref, 50)
            p95 = percentile(engine_ms, 95) / percentile(ref, 95)
            print(f"  {'ratio engine / raw ' + name:<{LABEL_WIDTH}} {p50:>7.1f} x {p95:>7.1f} x")
        print(f"  (raw and engine return the same {PAGE_SIZE} rows: {'yes' if same else 'NO'})")
    finally:
        raw.close()


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="certificates to seed (default 100000)")
    parser.add_argument("--db", type=Path, help="store file to create (must not exist); default: in a temp dir")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per list query (default 200)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN QUERY PLAN of each timed query")
    parser.add_argument(
        "--no-analyze", action="store_true", help="skip engine.store.analyze() after seeding, for comparison"
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.runs < 1:
        parser.error("--count and --runs must be positive")
    with tempfile.TemporaryDirectory(prefix="certctl-bench-") as tmp:
        db_path = args.db.expanduser().absolute() if args.db else Path(tmp) / "certctl.db"
        if db_path.exists():
            parser.error(f"{db_path} already exists; the benchmark needs a fresh store")
        run(args, db_path, Path(tmp))
    return 0


def run(args: argparse.Namespace, db_path: Path, home: Path) -> None:
    print("certctl inventory benchmark")
    print(f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    print(f"  store {db_path}")
    print(f"  {args.count:,} certificates; {args.runs} runs per page query after {WARMUPS} warm-ups; seed {SEED}")

    report = Report()
    engine = Engine.open(str(db_path), env={"CERTCTL_HOME": str(home)})
    try:
        refs = create_reference_data(engine)
        seconds, san_rows = seed_certificates(engine, args.count, refs, engine.now())
        seeding_rss = peak_memory_mb()
        if not args.no_analyze:
            engine.store.analyze()

        report.section("Seeding (bulk insert, batches of 1,000, one write transaction)")
        report.value("certificates", args.count, "", fmt=",d")
        report.value("SAN rows", san_rows, "", fmt=",d")
        report.value("seeding time", seconds, "s", fmt=",.2f")
        report.value("certificates/s", args.count / seconds, "", fmt=",.0f")
        report.value("rows/s (certificates + SANs)", (args.count + san_rows) / seconds, "", fmt=",.0f")
        report.value("store file", db_path.stat().st_size / 1e6, "MB")
        report.value("peak RSS after seeding", seeding_rss, "MB")
        if args.no_analyze:
            print("  --no-analyze: the planner has no statistics (sqlite_stat1 empty)")

        queries = bench_pages(engine, refs, args.runs, report)
        bench_stats(engine, report)
        bench_raw(db_path, next(iter(queries.values())), args.runs, report)

        report.section("Memory")
        report.value("peak RSS (ru_maxrss)", peak_memory_mb(), "MB", TARGET_MEMORY_MB)
        report.summary()

        if args.explain:
            report.section("Query plans (EXPLAIN QUERY PLAN of the SQL the engine ran)")
            for label, fn in queries.items():
                explain(db_path, label, capture_sql(fn))
            first = engine.certificates.list(sort=CertificateSortField.EXPIRES_AT, limit=PAGE_SIZE)
            explain(
                db_path,
                "(b) page 2, by cursor",
                capture_sql(
                    lambda: engine.certificates.list(
                        sort=CertificateSortField.EXPIRES_AT, limit=PAGE_SIZE, cursor=first.next_cursor
                    )
                ),
            )
            explain(db_path, "stats.summary()", capture_sql(engine.stats.summary))
    finally:
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
