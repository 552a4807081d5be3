"""MCP benchmark: in-process tool-call latency at 100,000 certificates.

    python benchmarks/mcp.py [--count 100000] [--runs 200]

Seeds a fresh SQLite store with ``benchmarks/inventory.py``'s functions (reference data
through the services, certificates in bulk), builds the MCP server over it and times
``list_certificates`` (the default first page: 25 rows, every status but Archived, by
expiry) and ``dashboard_summary`` through the SDK's in-process client
(``mcp.Client(server)``), after warm-up calls. Each tool call includes what a real call
costs: argument validation, the engine call in a worker thread, the structured result and
the ``mcp_tool_call`` audit event. For comparison it times the same engine calls directly
and the audit append alone. Prints p50/p95 next to the target (p50 < 10 ms); never fails.

A fast summary is only worth having if it is true, so the script also times
``dashboard_summary`` right after a write (a certificate archived through the service, so
each call sees a store that just changed) and checks that every one of those results, and
the figures at the end, equal a row-by-row recount of the certificates.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# This script is named mcp.py: drop its own directory from the path so `import mcp` finds the SDK.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import anyio  # noqa: E402
from mcp import Client  # noqa: E402
from mcp_types import Implementation  # noqa: E402

from certctl_engine.domain import CertificateFilter, CertificateStatus  # noqa: E402
from certctl_engine.engine import Engine  # noqa: E402
from certctl_engine.store.models import CertificateModel  # noqa: E402
from certctl_mcp import build_server  # noqa: E402


def _load_inventory() -> Any:
    """benchmarks/inventory.py, for its seeding functions (not importable by name from here)."""
    spec = importlib.util.spec_from_file_location("certctl_inventory_benchmark", _HERE / "inventory.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


inventory = _load_inventory()
ACTOR = inventory.ACTOR
create_reference_data = inventory.create_reference_data
percentile = inventory.percentile
seed_certificates = inventory.seed_certificates

TARGET_P50_MS = 10.0
WARMUPS = 5
AFTER_WRITE_RUNS = 50
_NOT_LIVE = (CertificateStatus.REVOKED.value, CertificateStatus.ARCHIVED.value)


def _ms(samples: list[float]) -> tuple[float, float]:
    return percentile(samples, 50), percentile(samples, 95)


async def _timed_async(fn: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    for _ in range(WARMUPS):
        await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _timed(fn: Callable[[], Any], runs: int) -> list[float]:
    for _ in range(WARMUPS):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _row(label: str, samples: list[float], target: float | None = None) -> str:
    p50, p95 = _ms(samples)
    verdict = "" if target is None else ("PASS" if p50 < target else "MISS")
    goal = f"p50 < {target:g} ms" if target is not None else ""
    return f"  {label:<52} {p50:>8.2f} {p95:>8.2f}  {goal:<14} {verdict}"


class ServerClock:
    """Outermost server middleware: how long the server spends on each tools/call, by tool."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        start = time.perf_counter()
        try:
            return await call_next(ctx)
        finally:
            name = str((ctx.params or {}).get("name"))
            self.samples.setdefault(name, []).append((time.perf_counter() - start) * 1000)


def recount(now: datetime) -> dict[str, Any]:
    """The dashboard's inventory figures counted row by row, for checking the tool's answer."""
    by_status = {status.value: 0 for status in CertificateStatus}
    by_issuer: Counter[str] = Counter()
    buckets = [0, 0, 0, 0]
    edges = [now + timedelta(days=days) for days in (0, 8, 31, 91)]
    rows = CertificateModel.select(CertificateModel.status, CertificateModel.issuer, CertificateModel.expires_at)
    for status, issuer, expires_at in rows.tuples().iterator():
        by_status[status] += 1
        if status != CertificateStatus.ARCHIVED.value:
            by_issuer[issuer] += 1
        if status not in _NOT_LIVE:
            index = next((i for i, edge in enumerate(edges) if expires_at < edge), None)
            if index is not None:
                buckets[index] += 1
    expiry = dict(zip(("expired", "days_0_7", "days_8_30", "days_31_90"), buckets, strict=True))
    return {"total": sum(by_status.values()), "by_status": by_status, "by_issuer": dict(by_issuer), "expiry": expiry}


def _inventory_of(structured: dict[str, Any]) -> dict[str, Any]:
    inventory = structured["inventory"]
    return {key: inventory[key] for key in ("total", "by_status", "by_issuer", "expiry")}


async def _after_writes(engine: Engine, client: Client, runs: int) -> tuple[list[float], list[str]]:
    """``dashboard_summary`` timed right after each of ``runs`` archivals; returns samples and mismatches."""
    ids = [
        cert_id
        for (cert_id,) in CertificateModel.select(CertificateModel.id)
        .where(CertificateModel.status == CertificateStatus.ACTIVE.value)
        .order_by(CertificateModel.id)
        .limit(runs)
        .tuples()
    ]
    samples: list[float] = []
    problems: list[str] = []
    previous = (await client.call_tool("dashboard_summary", {})).structured_content or {}
    for cert_id in ids:
        await anyio.to_thread.run_sync(lambda cert_id=cert_id: engine.certificates.archive(cert_id, actor=ACTOR))
        start = time.perf_counter()
        result = await client.call_tool("dashboard_summary", {})
        samples.append((time.perf_counter() - start) * 1000)
        current = result.structured_content or {}
        was, now = previous["inventory"]["by_status"], current["inventory"]["by_status"]
        if (now["Archived"] - was["Archived"], now["Active"] - was["Active"]) != (1, -1):
            problems.append(f"archiving {cert_id} did not show in the next dashboard_summary")
        if current["audit_sequence"] <= previous["audit_sequence"]:
            problems.append(f"the audit sequence did not move after archiving {cert_id}")
        previous = current
    truth = await anyio.to_thread.run_sync(lambda: recount(engine.now()))
    if _inventory_of(previous) != truth:
        problems.append(f"dashboard_summary after the writes {_inventory_of(previous)} != recount {truth}")
    return samples, problems


async def _bench(engine: Engine, runs: int) -> tuple[dict[str, list[float]], list[str]]:
    server = build_server(engine)
    clock = ServerClock()
    server.middleware.insert(0, clock)
    results: dict[str, list[float]] = {}
    calls = {
        "list_certificates (25 rows)": ("list_certificates", {}),
        "list_certificates (Active, 100 rows)": ("list_certificates", {"status": ["Active"], "limit": 100}),
        "dashboard_summary": ("dashboard_summary", {}),
    }
    async with Client(server, client_info=Implementation(name="benchmark", version="1")) as client:
        for label, (name, args) in calls.items():

            async def call(name: str = name, args: dict[str, Any] = args) -> None:
                result = await client.call_tool(name, args)
                if result.is_error:
                    raise RuntimeError(f"{name} failed: {result.content}")

            clock.samples.clear()
            results[f"mcp {label}, round trip"] = await _timed_async(call, runs)
            results[f"mcp {label}, server side"] = clock.samples[name][WARMUPS:]
        first = (await client.call_tool("dashboard_summary", {})).structured_content or {}
        truth = await anyio.to_thread.run_sync(lambda: recount(engine.now()))
        problems = [] if _inventory_of(first) == truth else [f"dashboard_summary {_inventory_of(first)} != {truth}"]
        clock.samples.clear()
        samples, found = await _after_writes(engine, client, min(runs, AFTER_WRITE_RUNS))
        problems += found
        results["mcp dashboard_summary right after a write, round trip"] = samples
        results["mcp dashboard_summary right after a write, server side"] = clock.samples["dashboard_summary"][1:]
    return results, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="certificates to seed (default 100000)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per measure (default 200)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="certctl-mcp-bench-") as tmp:
        home = Path(tmp)
        engine = Engine.open(str(home / "certctl.db"), env={"CERTCTL_HOME": str(home)})
        try:
            refs = create_reference_data(engine)
            seconds, sans = seed_certificates(engine, args.count, refs, engine.now())
            engine.store.analyze()
            print(f"seeded {args.count:,} certificates ({sans:,} SANs) in {seconds:.1f} s")
            print(
                f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
                f"{platform.machine()}, runs={args.runs}"
            )
            results, problems = anyio.run(_bench, engine, args.runs)
            results["engine certificates.list (25 rows), direct"] = _timed(
                lambda: engine.certificates.list(CertificateFilter(), limit=25), args.runs
            )
            results["engine stats.dashboard(), direct"] = _timed(engine.stats.dashboard, args.runs)
            results["engine audit.append (the per-call audit event)"] = _timed(
                lambda: engine.audit.append(ACTOR, "benchmark", "mcp", "noop", {}), args.runs
            )
        finally:
            engine.close()

    print()
    print(f"  {'measure (ms)':<52} {'p50':>8} {'p95':>8}  {'target':<14} result")
    for label, samples in results.items():
        target = TARGET_P50_MS if label.startswith(("mcp list_certificates (25", "mcp dashboard_summary")) else None
        print(_row(label, samples, target))
    print()
    if problems:
        print("dashboard_summary figures WRONG:")
        for problem in problems:
            print(f"  {problem}")
    else:
        print(
            "dashboard_summary figures equal a row-by-row recount, before and after "
            f"{min(args.runs, AFTER_WRITE_RUNS)} archivals (each shown by the very next call)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
