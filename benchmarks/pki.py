"""PKI benchmark: issuance through the engine against a bare ``cryptography`` loop, and CRLs against openssl.

    python benchmarks/pki.py [--count 1000] [--crl-entries 100000] [--crl-runs 5]
                             [--profile] [--profile-count 200] [--skip-engine-crl]

1. Issuance. On a fresh SQLite store in a temporary directory it creates a GenericCA issuer
   and its CA (ECDSA P-384 root), registers N certificates (timed on its own, not part of
   the issuance figure), then times ``engine.issuance.issue`` for each: leaf key, CSR,
   profile rules, CA signing, storage, sealing the key and the audit event. The same N
   leaves are then made by a bare ``cryptography`` loop (P-256 key, a CSR-less leaf with the
   same subject, extensions and validity, signed by the same CA key) and the ratio is
   printed against its target (engine <= 1.5x the bare loop). When the ratio misses (or
   with ``--profile``) it shows where the engine's time goes: exclusive wall time per step
   of ``issue()`` measured with light wrappers, the SQL it runs, and a cProfile of the same
   path, followed by concrete suggestions. Product code is not changed.
2. CRLs. It signs a CRL of M revoked entries (default 100,000) with
   ``certctl_engine.pki.crl.build_crl`` and the CA of step 1, and in the same run
   ``openssl ca -gencrl`` on an equivalent M-line ``index.txt`` with the same CA
   certificate and key; runs alternate, and the medians are compared (target: certctl
   faster), for ``build_crl`` alone and with ``crl_to_der``. Both CRLs are checked to list
   the same serials, and ``build_crl`` is split into its parts. Finally it bulk-inserts the
   M revocations (with their certificates and versions) into the store and times the
   engine's end-to-end ``engine.revocation.crl(issuer_id)``, which includes the database
   query, and that query on its own, through the engine and as raw SQL
   (``--skip-engine-crl`` leaves this part out).

This is a benchmark, not a test: it never fails, it reports.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import platform
import pstats
import random
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cryptography
import peewee
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from inventory import capture_sql, peak_memory_mb, percentile

import certctl_engine.pki as pki
import certctl_engine.services.certificates as certificates_service
import certctl_engine.services.issuance as issuance_service
from certctl_engine.domain import Actor, ActorType, IssuerType, RevocationReason
from certctl_engine.engine import Engine
from certctl_engine.pki.ca import CAMaterial
from certctl_engine.pki.crl import RevokedEntry, build_crl, crl_to_der
from certctl_engine.pki.keys import private_key_to_pem
from certctl_engine.store.migrations import search_text_for
from certctl_engine.store.models import CertificateModel, CertificateVersionModel, RevocationModel

SEED = 20260402
WARMUPS = 10
BATCH = 1_000
VALIDITY = timedelta(days=90)  # certctl's default for a GenericCA issuer without validity_days
BACKDATE = timedelta(minutes=5)  # certctl backdates leaves of an hour or more by five minutes

TARGET_ISSUE_RATIO = 1.5  # engine / bare loop, at most
TARGET_CRL_RATIO = 1.0  # certctl / openssl, below

ACTOR = Actor("benchmark", ActorType.SYSTEM)
LABEL_WIDTH = 52


# ----------------------------------------------------------------------------- output


def section(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def line(label: str, value: str, target: str = "", verdict: str = "") -> None:
    print(f"  {label:<{LABEL_WIDTH}} {value:>24}  {target:<18} {verdict}".rstrip())


def seconds_text(seconds: float) -> str:
    return f"{seconds:,.3f} s" if seconds < 10 else f"{seconds:,.2f} s"


class Verdicts:
    """PASS/MISS of the figures that have a target, for the summary."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def ratio(self, label: str, ratio: float, limit: float, *, inclusive: bool) -> str:
        ok = ratio <= limit if inclusive else ratio < limit
        verdict = "PASS" if ok else "MISS"
        target = f"{'<=' if inclusive else '<'} {limit:g}x"
        self.rows.append((label, f"{ratio:.2f}x", target, verdict))
        line(label, f"{ratio:.2f}x", target, verdict)
        return verdict

    def info(self, label: str, value: str) -> None:
        """A figure without a target, repeated in the summary."""
        self.rows.append((label, value, "", ""))

    def summary(self) -> None:
        section("Summary")
        for label, value, target, verdict in self.rows:
            line(label, value, target, verdict)


# ----------------------------------------------------------------------------- machine


def _command_output(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "?"


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_machine(openssl: str | None) -> None:
    from cryptography.hazmat.backends.openssl import backend

    print(f"  nproc {_command_output('nproc')} (os.cpu_count {os.cpu_count()}), {cpu_model()}")
    print(f"  {platform.system()} {platform.release()}, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  python {platform.python_version()} ({sys.executable})")
    print(f"  cryptography {cryptography.__version__}, linked against {backend.openssl_version_text()}")
    print(f"  openssl CLI: {_command_output(openssl, 'version') if openssl else 'not found'}")
    print(f"  sqlite {sqlite3.sqlite_version}, peewee {peewee.__version__}")


# ----------------------------------------------------------------------------- step 1: issuance


def names_for(index: int, prefix: str = "svc") -> tuple[str, tuple[str, ...]]:
    cn = f"{prefix}-{index:05d}.bench.example.com"
    return cn, (cn, f"www.{cn}")


def register(engine: Engine, issuer_id: str, count: int, prefix: str) -> tuple[list[str], list[float]]:
    """Register ``count`` certificates through the service (audited); returns ids and per-call ms."""
    ids: list[str] = []
    samples: list[float] = []
    for i in range(count):
        cn, sans = names_for(i, prefix)
        start = time.perf_counter()
        cert = engine.certificates.create(
            name=f"{prefix}-{i:05d}",
            common_name=cn,
            sans=sans,
            issuer_id=issuer_id,
            actor=ACTOR,
            queue_issuance=False,  # issued at once below, as a caller that issues right away does
        )
        samples.append((time.perf_counter() - start) * 1000)
        ids.append(cert.id)
    return ids, samples


def issue_all(engine: Engine, ids: Iterable[str]) -> list[float]:
    """``engine.issuance.issue`` for each id; per-call milliseconds."""
    samples: list[float] = []
    issue = engine.issuance.issue
    for cert_id in ids:
        start = time.perf_counter()
        issue(cert_id, actor=ACTOR)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def issue_many(engine: Engine, ids: list[str]) -> float:
    """``engine.issuance.issue_many`` over all ids; total seconds. Every certificate must be issued."""
    start = time.perf_counter()
    result = engine.issuance.issue_many(ids, actor=ACTOR)
    elapsed = time.perf_counter() - start
    if result.failed:
        raise SystemExit(f"issue_many failed for {len(result.failed)} certificates: {result.failed[0]}")
    return elapsed


class BareIssuer:
    """What a hand-written issuance loop does per certificate: P-256 key, leaf, CA signature.

    The leaf has the subject, extensions (and their criticality), SANs, validity and
    signature hash that certctl gives a serverAuth leaf of a GenericCA issuer without CRL or
    OCSP URLs. Per-CA values (issuer name, authority key id, hash) are computed once.
    """

    def __init__(self, material: CAMaterial) -> None:
        self.ca_cert = material.certificate
        self.ca_key = material.key
        ski = self.ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        self.aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        self.hash = hashes.SHA384() if self.ca_key.curve.key_size > 256 else hashes.SHA256()  # type: ignore[union-attr]
        self.usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        self.eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])

    def issue(self, cn: str, sans: tuple[str, ...], now: datetime) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.ca_cert.subject)
            .public_key(public_key)
            .serial_number(secrets.randbits(127) or 1)
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(self.usage, critical=True)
            .add_extension(self.eku, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(self.aki, critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        )
        return builder.sign(self.ca_key, self.hash)  # type: ignore[arg-type]


def bare_loop(bare: BareIssuer, count: int) -> list[float]:
    for i in range(WARMUPS):
        bare.issue(*names_for(i, "warm"), datetime.now(UTC))
    samples: list[float] = []
    for i in range(count):
        cn, sans = names_for(i)
        start = time.perf_counter()
        bare.issue(cn, sans, datetime.now(UTC))
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def certificate_shape(cert: x509.Certificate) -> tuple[Any, ...]:
    """What must agree between the engine's leaf and the bare loop's (keys, serials, times aside)."""
    extensions = tuple(
        (
            ext.oid.dotted_string,
            ext.critical,
            "<key id>" if isinstance(ext.value, x509.SubjectKeyIdentifier) else ext.value,
        )
        for ext in cert.extensions
    )
    public_key = cert.public_key()
    curve = public_key.curve.name if isinstance(public_key, ec.EllipticCurvePublicKey) else type(public_key).__name__
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return (
        cert.version,
        cert.subject.rfc4514_string(),
        cert.issuer.rfc4514_string(),
        cert.signature_algorithm_oid.dotted_string,
        curve,
        round(lifetime.total_seconds() / 60),
        extensions,
    )


def timing_line(label: str, samples: list[float]) -> None:
    total = sum(samples) / 1000
    mean = sum(samples) / len(samples)
    line(label, f"{seconds_text(total)}, {mean:.3f} ms/cert")
    print(
        f"  {'':<{LABEL_WIDTH}} p50 {percentile(samples, 50):.3f} ms, p95 {percentile(samples, 95):.3f} ms, "
        f"{len(samples) / total:,.0f} certificates/s"
    )


# ----------------------------------------------------------------------------- step 1: where the time goes


class StageClock:
    """Exclusive wall time per wrapped function: its own time minus that of the wrapped functions it calls.

    The wrappers are instance or module attributes set for the measurement and removed after
    it, so no product code changes. SQL run through ``Database.execute_sql`` is counted
    against the innermost wrapped function, so each step shows how much of it is SQLite.
    """

    def __init__(self) -> None:
        self.own: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.sql: dict[str, float] = defaultdict(float)
        self.statements: Counter[str] = Counter()
        self.order: list[str] = []
        self._stack: list[str] = []
        self._children: list[float] = []
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)
        if label not in self.order:
            self.order.append(label)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            self._stack.append(label)
            self._children.append(0.0)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self._stack.pop()
                self.own[label] += elapsed - self._children.pop()
                self.calls[label] += 1
                if self._children:
                    self._children[-1] += elapsed

        self._install(owner, attr, original, timed_call)

    def wrap_sql(self, database: peewee.Database) -> None:
        original = database.execute_sql

        def timed_sql(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                where = self._stack[-1] if self._stack else "(outside)"
                self.sql[where] += time.perf_counter() - start
                self.statements[where] += 1

        self._install(database, "execute_sql", original, timed_sql)

    def _install(self, owner: Any, attr: str, original: Any, replacement: Any) -> None:
        shadowed = isinstance(owner, types.ModuleType) or attr in vars(owner)
        setattr(owner, attr, replacement)
        if shadowed:
            self._undo.append(lambda: setattr(owner, attr, original))
        else:
            self._undo.append(lambda: delattr(owner, attr))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


def stage_breakdown(engine: Engine, ids: list[str], unprofiled_ms: float) -> dict[str, float]:
    """Issue ``ids`` with every step of issue() wrapped; prints the table, returns ms/cert per label."""
    clock = StageClock()
    db = engine.store.database
    wraps: list[tuple[Any, str, str]] = [
        (engine.issuance, "issue_many", "issue_many() own code: batching, checks, glue"),
        (issuance_service, "_load_subjects", "load certificates + SANs (2 queries a batch)"),
        (issuance_service.IssuanceService, "_sign", "_sign() own code: profile rules, request"),
        (issuance_service, "generate_private_key", "leaf key generation (P-256)"),
        (pki.LeafSigner, "sign", "LeafSigner.sign: extensions + CA signature (P-384)"),
        (issuance_service, "private_key_to_pem", "leaf key to PKCS#8 PEM"),
        (issuance_service.NewVersion, "from_certificate", "NewVersion: DER hash, PEM, names"),
        (db, "begin", "BEGIN IMMEDIATE"),
        (issuance_service, "_current_states", "re-check states inside the transaction"),
        (engine.certificates, "store_versions", "store_versions() own code: rows, sealing"),
        (engine.context.secrets, "encrypt", "secret box encrypt (leaf keys)"),
        (certificates_service, "insert_rows", "INSERT versions (one prepared statement)"),
        (certificates_service, "update_rows", "UPDATE certificates (one prepared statement)"),
        (engine.audit, "record_many", "audit.record_many: head, hashes, INSERT"),
        (db, "commit", "COMMIT"),
    ]
    for owner, attr, label in wraps:
        clock.wrap(owner, attr, label)
    clock.wrap_sql(db)
    try:
        start = time.perf_counter()
        issue_many(engine, ids)
        wall_ms = (time.perf_counter() - start) * 1000 / len(ids)
    finally:
        clock.restore()

    n = len(ids)
    section(f"Where issue_many() spends its time: exclusive wall time per step ({n} more issues, light wrappers)")
    print(f"  {'step':<{LABEL_WIDTH}} {'ms/cert':>8} {'share':>6} {'SQL ms':>7} {'stmts':>6} {'calls':>6}")
    per_stage: dict[str, float] = {}
    total_own = sum(clock.own.values())
    for label in clock.order:
        ms = clock.own[label] * 1000 / n
        per_stage[label] = ms
        sql_ms = clock.sql.get(label, 0.0) * 1000 / n
        stmts = clock.statements.get(label, 0) / n
        print(
            f"  {label:<{LABEL_WIDTH}} {ms:>8.3f} {ms / (total_own * 1000 / n):>6.1%} "
            f"{sql_ms:>7.3f} {stmts:>6.1f} {clock.calls[label] / n:>6.1f}"
        )
    sql_total = sum(clock.sql.values()) * 1000 / n
    statements = sum(clock.statements.values()) / n
    print(f"  {'total of this wrapped run':<{LABEL_WIDTH}} {wall_ms:>8.3f}   (unwrapped run: {unprofiled_ms:.3f})")
    print(
        f"  SQL statements per issue: {statements:.1f} through execute_sql ({sql_total:.3f} ms in SQLite and the "
        f"driver), plus BEGIN and COMMIT"
    )
    per_stage["__sql__"] = sql_total
    per_stage["__statements__"] = statements
    per_stage["__wall__"] = wall_ms
    return per_stage


def _package(filename: str, function: str) -> str:
    if filename == "~":  # C functions: name the extension they belong to
        if "_rust" in function or "cryptography" in function:
            return "cryptography (Rust + OpenSSL)"
        if "sqlite3" in function:
            return "sqlite3 (SQLite + driver)"
        return "Python builtins"
    if "peewee" in filename or "playhouse" in filename:
        return "peewee (query building, rows -> models)"
    if "certctl_engine" in filename:
        return "certctl_engine"
    if "cryptography" in filename:
        return "cryptography (Python layer)"
    return "stdlib / other"


def cprofile_breakdown(engine: Engine, ids: list[str], unprofiled_ms: float) -> None:
    """cProfile the same path; self time by package and the heaviest functions."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    issue_many(engine, ids)
    profiler.disable()
    wall_ms = (time.perf_counter() - start) * 1000 / len(ids)
    stats = pstats.Stats(profiler)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    n = len(ids)
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _lineno, function), (_cc, _nc, tottime, _ct, _callers) in entries.items():
        by_package[_package(filename, function)] += tottime
    total = sum(by_package.values())

    section(
        f"cProfile of issue_many() ({n} more issues; {wall_ms:.2f} ms/cert under the profiler, "
        f"{unprofiled_ms:.2f} without)"
    )
    print("  self time by package (the profiler inflates many small Python calls, so Python shares read high):")
    for package, tottime in sorted(by_package.items(), key=lambda kv: -kv[1]):
        print(f"    {package:<{LABEL_WIDTH - 2}} {tottime * 1000 / n:>8.3f} ms/cert {tottime / total:>6.1%}")
    print("  heaviest functions by self time:")
    print(f"    {'function':<70} {'calls/cert':>10} {'self ms':>8} {'cum ms':>8}")
    heaviest = sorted(entries.items(), key=lambda kv: -kv[1][2])[:14]
    for (filename, lineno, function), (_cc, ncalls, tottime, cumtime, _callers) in heaviest:
        where = function if filename == "~" else f"{_short_path(filename)}:{lineno}({function})"
        print(f"    {where[:70]:<70} {ncalls / n:>10.1f} {tottime * 1000 / n:>8.3f} {cumtime * 1000 / n:>8.3f}")
    print("  heaviest certctl functions by cumulative time:")
    mine = [(k, v) for k, v in entries.items() if "certctl_engine" in k[0]]
    for (filename, lineno, function), (_cc, ncalls, _tt, cumtime, _callers) in sorted(mine, key=lambda kv: -kv[1][3])[
        :12
    ]:
        where = f"{_short_path(filename)}:{lineno}({function})"
        print(f"    {where[:70]:<70} {ncalls / n:>10.1f} {'':>8} {cumtime * 1000 / n:>8.3f}")


def _short_path(filename: str) -> str:
    for marker in ("certctl_engine/", "site-packages/"):
        if marker in filename:
            return filename.split(marker, 1)[1] if marker == "site-packages/" else marker + filename.split(marker, 1)[1]
    return Path(filename).name


# ----------------------------------------------------------------------------- step 2: CRLs


def make_entries(count: int, now: datetime, rng: random.Random) -> list[RevokedEntry]:
    """``count`` unique 127-bit serials revoked for keyCompromise over the last 300 days, all still unexpired."""
    serials: set[int] = set()
    entries: list[RevokedEntry] = []
    while len(entries) < count:
        serial = rng.getrandbits(127)
        if serial == 0 or serial in serials:
            continue
        serials.add(serial)
        entries.append(
            RevokedEntry(
                serial=serial,
                revoked_at=now - timedelta(seconds=rng.randint(60, 300 * 86_400)),
                reason=RevocationReason.KEY_COMPROMISE,
                expires_at=now + timedelta(seconds=rng.randint(86_400, 365 * 86_400)),
            )
        )
    return entries


OPENSSL_CONFIG = """\
[ ca ]
default_ca = bench_ca

[ bench_ca ]
dir = {dir}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 1
crl_extensions = crl_ext

[ crl_ext ]
authorityKeyIdentifier = keyid:always
"""


def write_openssl_ca(directory: Path, material: CAMaterial, entries: list[RevokedEntry]) -> Path:
    """An openssl ``ca`` directory with the same CA and an index.txt listing ``entries`` as revoked."""
    directory.mkdir()
    (directory / "ca.pem").write_text(material.certificate_pem)
    key_path = directory / "ca.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(private_key_to_pem(material.key))
    with (directory / "index.txt").open("w") as index:
        for entry in entries:
            serial = format(entry.serial, "X")
            if len(serial) % 2:
                serial = "0" + serial
            expires = entry.expires_at or entry.revoked_at + VALIDITY
            index.write(
                f"R\t{expires:%y%m%d%H%M%S}Z\t{entry.revoked_at:%y%m%d%H%M%S}Z,keyCompromise\t{serial}\tunknown\t/CN=x\n"
            )
    (directory / "index.txt.attr").write_text("unique_subject = no\n")
    (directory / "crlnumber").write_text("01\n")
    config = directory / "ca.cnf"
    config.write_text(OPENSSL_CONFIG.format(dir=directory))
    return config


def run_openssl(openssl: str, config: Path, out: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [openssl, "ca", "-config", str(config), "-gencrl", "-out", str(out), "-batch"],
        capture_output=True,
        text=True,
        check=False,
        cwd=config.parent,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"openssl ca -gencrl failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def serials_of(crl: x509.CertificateRevocationList) -> set[int]:
    return {revoked.serial_number for revoked in crl}


def bench_crls(
    material: CAMaterial, entries: list[RevokedEntry], runs: int, openssl: str | None, work: Path, verdicts: Verdicts
) -> float:
    """build_crl against openssl ca -gencrl, alternating runs; returns the median build_crl seconds."""
    now = datetime.now(UTC).replace(microsecond=0)
    certctl_build: list[float] = []
    certctl_der: list[float] = []
    openssl_times: list[float] = []
    config = write_openssl_ca(work / "openssl-ca", material, entries) if openssl else None
    out = work / "openssl-crl.pem"
    der = b""
    for run in range(-1, runs):  # run -1 warms both up and is not counted
        start = time.perf_counter()
        crl = build_crl(
            issuer_cert=material.certificate,
            issuer_key=material.key,
            entries=entries,
            crl_number=run + 2,
            this_update=now,
            next_update=now + timedelta(days=1),
        )
        built = time.perf_counter()
        der = crl_to_der(crl)
        if run >= 0:
            certctl_build.append(built - start)
            certctl_der.append(time.perf_counter() - start)
        del crl
        if openssl and config:
            seconds = run_openssl(openssl, config, out)
            if run >= 0:
                openssl_times.append(seconds)

    n = len(entries)
    section(f"CRL of {n:,} revoked entries ({runs} runs each after a warm-up, alternating; median, min)")
    line("certctl build_crl (entries -> signed CRL)", _median_min(certctl_build))
    line("certctl build_crl + crl_to_der", _median_min(certctl_der))
    mine = load_der(der)
    print(f"  {'':<{LABEL_WIDTH}} {len(der) / 1e6:,.2f} MB DER, {len(mine):,} entries, {_sig(mine)}")
    if not openssl or not config:
        print("  openssl not found: the openssl comparison is skipped")
        return percentile(certctl_build, 50)
    per_entry, least = crl_split(entries, percentile(certctl_build, 50), percentile(certctl_der, 50))
    verdicts.info(f"CRL {n:,}: certctl build_crl (median)", seconds_text(percentile(certctl_build, 50)))
    verdicts.info(f"CRL {n:,}: certctl build_crl + crl_to_der (median)", seconds_text(percentile(certctl_der, 50)))
    if not openssl or not config:
        print("  openssl not found: the openssl comparison is skipped")
        return percentile(certctl_build, 50)
    line("openssl ca -gencrl (process, index.txt -> PEM file)", _median_min(openssl_times))
    theirs = x509.load_pem_x509_crl(out.read_bytes())
    print(f"  {'':<{LABEL_WIDTH}} {out.stat().st_size / 1e6:,.2f} MB PEM, {len(theirs):,} entries, {_sig(theirs)}")
    start_up = min(_time_process([openssl, "version"]) for _ in range(5))
    print(f"  {'':<{LABEL_WIDTH}} (openssl process start-up alone, `openssl version`: {start_up * 1000:.1f} ms)")
    same = serials_of(mine) == serials_of(theirs) == {e.serial for e in entries}
    print(f"  both CRLs list the same {n:,} serials: {'yes' if same else 'NO'}")
    verdicts.info(f"CRL {n:,}: openssl ca -gencrl (median)", seconds_text(percentile(openssl_times, 50)))
    build_s, der_s, openssl_s = (percentile(x, 50) for x in (certctl_build, certctl_der, openssl_times))
    verdicts.ratio("CRL: build_crl / openssl ca -gencrl", build_s / openssl_s, TARGET_CRL_RATIO, inclusive=False)
    verdicts.ratio(
        "CRL: build_crl + crl_to_der / openssl ca -gencrl", der_s / openssl_s, TARGET_CRL_RATIO, inclusive=False
    )
    fastest = min(openssl_times)
    print(
        f"  {'':<{LABEL_WIDTH}} (fastest runs: {min(certctl_build) / fastest:.2f}x and "
        f"{min(certctl_der) / fastest:.2f}x)"
    )
    if der_s >= openssl_s * TARGET_CRL_RATIO:
        saved = max(per_entry - least, 0.0)
        items = [
            f"crl.py builds a new CRLReason Extension for every entry and normalises each timestamp with _utc(): the "
            f"per-entry objects cost {per_entry:.2f} s against {least:.2f} s with the cryptography API alone and one "
            f"shared extension list. One ready extension list per reason (a module-level dict) and no re-normalising "
            f"of values that are already aware UTC would save about {saved:.2f} s: build_crl "
            f"{(build_s - saved) / openssl_s:.2f}x and build_crl + crl_to_der {(der_s - saved) / openssl_s:.2f}x "
            "openssl's time, from the medians above.",
            f"crl_to_der() costs {max(der_s - build_s, 0.0):.2f} s because cryptography re-encodes the whole list on "
            "every public_bytes() call. engine.revocation.crl() queries, signs and encodes a new CRL (with a new CRL "
            "number) on every call, and the MCP CRL resource calls it on every read; keeping the last signed DER per "
            "issuer and serving it until nextUpdate or the next revocation would skip all three.",
        ]
        print("  CRL suggestions (product code unchanged):")
        for number, text in enumerate(items, 1):
            print(textwrap.fill(text, 116, initial_indent=f"  {number}. ", subsequent_indent="     "))
    return build_s


def crl_split(entries: list[RevokedEntry], build_s: float, der_s: float, runs: int = 3) -> tuple[float, float]:
    """Split build_crl: the per-entry objects, the rest (checks, signing, encoding), and crl_to_der.

    Timed without a profiler. The per-entry part is timed through crl.py's own helper, and
    again with the cryptography API alone (one shared reason extension), which is the least
    that part can cost.
    """
    from certctl_engine.pki import crl as crl_module

    shared = [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(x509.ReasonFlags.key_compromise))]

    def helper() -> None:
        # What build_crl does per entry: one shared extension list per reason, then the builder.
        cache: dict[Any, Any] = {}
        for entry in entries:
            if entry.reason not in cache:
                cache[entry.reason] = crl_module._reason_extensions(entry.reason)
            x509.RevokedCertificateBuilder(entry.serial, entry.revoked_at, cache[entry.reason]).build()

    def bare() -> None:
        [x509.RevokedCertificateBuilder(entry.serial, entry.revoked_at, shared).build() for entry in entries]

    per_entry = percentile([_seconds(helper) for _ in range(runs)], 50)
    least = percentile([_seconds(bare) for _ in range(runs)], 50)
    print("  where build_crl's time goes (medians, no profiler; the rest is build_crl's median minus the first line):")
    line("    per-entry RevokedCertificate objects (crl.py)", seconds_text(per_entry))
    line("    same, cryptography API alone, one shared ext", seconds_text(least))
    line("    rest: expiry/duplicate checks, sign, encode", seconds_text(max(build_s - per_entry, 0.0)))
    line("    crl_to_der (cryptography re-encodes the list)", seconds_text(max(der_s - build_s, 0.0)))
    return per_entry, least


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _median_min(samples: list[float]) -> str:
    return f"{seconds_text(percentile(samples, 50))}, min {seconds_text(min(samples))}"


def _sig(crl: x509.CertificateRevocationList) -> str:
    oid = crl.signature_algorithm_oid
    return getattr(oid, "_name", oid.dotted_string)


def _time_process(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - start


def load_der(der: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(der)


# ----------------------------------------------------------------------------- step 2: the engine's CRL path


def seed_revocations(
    engine: Engine, issuer_id: str, policy_id: str, entries: list[RevokedEntry], payload: CertificateVersionModel
) -> float:
    """Bulk-insert one revoked certificate, its version and its revocation row per entry; returns seconds.

    A fixture, like inventory.py's: rows go straight into the tables in batches of 1,000 in
    one write transaction, without revoke()'s per-row audit event. Each version carries the
    PEM chain, CSR and sealed key of a real version from step 1, so rows have their real size.
    """
    start = time.perf_counter()
    with engine.store.write():
        for offset in range(0, len(entries), BATCH):
            certs, versions, revocations = [], [], []
            for i, entry in enumerate(entries[offset : offset + BATCH], offset):
                cert_id, version_id = f"cert-crl-{i:06d}", f"certver-crl-{i:06d}"
                name, cn = f"revoked-{i:06d}", f"revoked-{i:06d}.bench.example.com"
                serial = format(entry.serial, "x")
                not_after = entry.expires_at or entry.revoked_at + VALIDITY
                certs.append(
                    {
                        "id": cert_id,
                        "name": name,
                        "common_name": cn,
                        "issuer": issuer_id,
                        "renewal_policy": policy_id,
                        "status": "Revoked",
                        "expires_at": not_after,
                        "current_version_id": version_id,
                        "revoked_at": entry.revoked_at,
                        "revocation_reason": entry.reason.value,
                        "search_text": search_text_for(name, cn, [cn]),
                        "created_at": not_after - VALIDITY,
                        "updated_at": entry.revoked_at,
                    }
                )
                versions.append(
                    {
                        "id": version_id,
                        "certificate": cert_id,
                        "serial_number": serial,
                        "fingerprint_sha256": hashlib.sha256(serial.encode()).hexdigest(),
                        "subject_cn": cn,
                        "issuer_dn": payload.issuer_dn,
                        "not_before": not_after - VALIDITY,
                        "not_after": not_after,
                        "key_algorithm": payload.key_algorithm,
                        "key_size": payload.key_size,
                        "pem_chain": payload.pem_chain,
                        "csr_pem": payload.csr_pem,
                        "private_key_encrypted": payload.private_key_encrypted,
                        "created_at": not_after - VALIDITY,
                    }
                )
                revocations.append(
                    {
                        "id": f"rev-crl-{i:06d}",
                        "certificate": cert_id,
                        "serial_number": serial,
                        "reason": entry.reason.value,
                        "revoked_by": ACTOR.name,
                        "revoked_at": entry.revoked_at,
                        "issuer": issuer_id,
                        "issuer_notified": True,
                        "created_at": entry.revoked_at,
                    }
                )
            CertificateModel.insert_many(certs).execute()
            CertificateVersionModel.insert_many(versions).execute()
            RevocationModel.insert_many(revocations).execute()
    elapsed = time.perf_counter() - start
    engine.store.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.store.analyze()
    return elapsed


def bench_engine_crl(
    engine: Engine,
    issuer_id: str,
    sample_id: str,
    entries: list[RevokedEntry],
    runs: int,
    build_s: float,
    verdicts: Verdicts,
) -> None:
    sample = engine.certificates.get(sample_id)
    version = CertificateVersionModel.get(CertificateVersionModel.id == sample.current_version_id)
    seconds = seed_revocations(engine, issuer_id, sample.renewal_policy_id, entries, version)
    n = len(entries)
    section(f"Engine CRL path: engine.revocation.crl(issuer_id) with {n:,} revocations in the store")
    line("seeding (bulk, 3 tables, one transaction; untimed)", seconds_text(seconds))
    line("store file after seeding", f"{engine.location.path.stat().st_size / 1e6:,.1f} MB")
    query: list[float] = []
    total: list[float] = []
    der = b""
    for _ in range(runs):
        start = time.perf_counter()
        listed = engine.revocation._crl_entries(issuer_id)  # the query + RevokedEntry list, on its own
        query.append(time.perf_counter() - start)
        del listed
        start = time.perf_counter()
        der = engine.revocation.crl(issuer_id, actor=ACTOR)
        total.append(time.perf_counter() - start)
    raw = raw_query_seconds(engine, issuer_id, runs)
    line("crl(): end to end, INCLUDING the DB query", _median_min(total))
    line("  of which: query of the joined rows -> entries", _median_min(query))
    line("    of which SQLite alone (same SQL, sqlite3 module)", _median_min(raw))
    line("    of which peewee rows + RevokedEntry values", seconds_text(percentile(query, 50) - percentile(raw, 50)))
    line("  build_crl alone (from the CRL section above)", seconds_text(build_s))
    verdicts.info(f"CRL {n:,}: engine.revocation.crl(), incl. DB query", seconds_text(percentile(total, 50)))
    verdicts.info(f"CRL {n:,}:   its query -> RevokedEntry list", seconds_text(percentile(query, 50)))
    crl = load_der(der)
    same = serials_of(crl) == {e.serial for e in entries}
    print(
        f"  (the end-to-end figure also unseals the CA key, takes the next CRL number and writes the audit event; "
        f"{len(crl):,} entries, same serials as above: {'yes' if same else 'NO'})"
    )


def raw_query_seconds(engine: Engine, issuer_id: str, runs: int) -> list[float]:
    """The SQL that _crl_entries runs (captured from peewee's log), fetched through the sqlite3 module."""
    statements = capture_sql(lambda: engine.revocation._crl_entries(issuer_id))
    selects = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
    conn = sqlite3.connect(str(engine.location.path))
    try:
        conn.execute("PRAGMA cache_size = -32000")
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            for sql, params in selects:
                conn.execute(sql, params).fetchall()
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        conn.close()


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000, help="certificates to issue (default 1000)")
    parser.add_argument("--crl-entries", type=int, default=100_000, help="revoked entries per CRL (default 100000)")
    parser.add_argument("--crl-runs", type=int, default=5, help="timed runs of each CRL builder (default 5)")
    parser.add_argument("--profile", action="store_true", help="profile issuance even when the ratio passes")
    parser.add_argument("--profile-count", type=int, default=200, help="issues per profiling pass (default 200)")
    parser.add_argument("--skip-engine-crl", action="store_true", help="skip the engine.revocation.crl() part")
    args = parser.parse_args(argv)
    if min(args.count, args.crl_entries, args.crl_runs, args.profile_count) < 1:
        parser.error("--count, --crl-entries, --crl-runs and --profile-count must be positive")
    with tempfile.TemporaryDirectory(prefix="certctl-pki-bench-") as tmp:
        run(args, Path(tmp))
    return 0


def run(args: argparse.Namespace, tmp: Path) -> None:
    openssl = shutil.which("openssl")
    print("certctl PKI benchmark")
    print_machine(openssl)
    print(f"  temp dir {tmp}")
    verdicts = Verdicts()
    db_path = tmp / "certctl.db"
    engine = Engine.open(str(db_path), env={"CERTCTL_HOME": str(tmp)})
    try:
        # ---------------------------------------------------------------- 1. issuance
        start = time.perf_counter()
        issuer = engine.issuers.create("Bench CA", IssuerType.GENERIC_CA, {}, actor=ACTOR)
        info = engine.ca.init(issuer.id, actor=ACTOR)
        setup = time.perf_counter() - start
        material = engine.ca.material(issuer.id)
        warm_ids, _ = register(engine, issuer.id, WARMUPS, "warm")
        ids, registration = register(engine, issuer.id, args.count, "svc")

        section(f"Issuance of {args.count:,} certificates (fresh SQLite store)")
        line("issuer + CA created (untimed)", f"{info.key_algorithm} {info.key_size} root, {setup:.2f} s")
        timing_line("registration: certificates.create (apart)", registration)
        bulk_ids, _ = register(engine, issuer.id, args.count, "bulk")
        issue_all(engine, warm_ids)
        engine_ms = issue_all(engine, ids)
        many_s = issue_many(engine, bulk_ids)
        bare = BareIssuer(material)
        bare_ms = bare_loop(bare, args.count)
        print(f"  ({WARMUPS} warm-up issues before each loop, not counted)")
        timing_line("engine.issuance.issue, one call each", engine_ms)
        line(
            "engine.issuance.issue_many, one call",
            f"{seconds_text(many_s)}, {many_s * 1000 / args.count:.3f} ms/cert",
        )
        print(f"  {'':<{LABEL_WIDTH}} {args.count / many_s:,.0f} certificates/s, batches of 500, one transaction each")
        timing_line("bare cryptography loop (key, leaf, sign)", bare_ms)
        engine_leaf = pki.load_certificates(engine.certificates.current_version(bulk_ids[0]).pem_chain.encode())[0]
        bare_leaf = bare.issue(*names_for(0, "bulk"), datetime.now(UTC))
        same = certificate_shape(engine_leaf) == certificate_shape(bare_leaf)
        print(
            f"  same certificate shape (subject, issuer, signature, key curve, lifetime, extensions): "
            f"{'yes' if same else 'NO'}"
        )
        engine_mean = sum(engine_ms) / len(engine_ms)
        bare_mean = sum(bare_ms) / len(bare_ms)
        bare_s = sum(bare_ms) / 1000
        verdicts.info(
            f"issuance: engine issue_many, {args.count:,} certificates",
            f"{many_s:.2f} s, {many_s * 1000 / args.count:.3f} ms/cert",
        )
        verdicts.info(
            f"issuance: engine issue x {args.count:,}", f"{sum(engine_ms) / 1000:.2f} s, {engine_mean:.3f} ms/cert"
        )
        verdicts.info(f"issuance: bare loop, {args.count:,} certificates", f"{bare_s:.2f} s, {bare_mean:.3f} ms/cert")
        verdict = verdicts.ratio(
            "issuance: engine issue_many / bare loop", many_s / bare_s, TARGET_ISSUE_RATIO, inclusive=True
        )
        verdicts.info("issuance: engine issue one by one / bare loop", f"{sum(engine_ms) / 1000 / bare_s:.2f}x")
        if verdict == "MISS" or args.profile:
            extra, _ = register(engine, issuer.id, 2 * args.profile_count, "prof")
            stage_breakdown(engine, extra[: args.profile_count], many_s * 1000 / args.count)
            cprofile_breakdown(engine, extra[args.profile_count :], many_s * 1000 / args.count)

        # ---------------------------------------------------------------- 2. CRLs
        rng = random.Random(SEED)
        start = time.perf_counter()
        entries = make_entries(args.crl_entries, datetime.now(UTC).replace(microsecond=0), rng)
        print(f"\n  ({len(entries):,} RevokedEntry values made in {time.perf_counter() - start:.2f} s, untimed)")
        build_s = bench_crls(material, entries, args.crl_runs, openssl, tmp, verdicts)
        if args.skip_engine_crl:
            print("\n  engine.revocation.crl(): skipped (--skip-engine-crl)")
        else:
            bench_engine_crl(engine, issuer.id, ids[0], entries, min(args.crl_runs, 3), build_s, verdicts)

        section("Memory")
        line("peak RSS (ru_maxrss)", f"{peak_memory_mb():,.1f} MB")
        verdicts.summary()
    finally:
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
