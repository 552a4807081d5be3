"""Dashboard benchmark: the certificate list of the TUI at 100,000 certificates.

    python benchmarks/tui.py [--count 100000] [--keystrokes 3]

Seeds a fresh SQLite store with the inventory benchmark's fixture (``inventory.py``:
reference data through the services, certificates in bulk), then runs the real app
headless at 120x40 (Textual's ``run_test``) and times:

* launch: from creating ``CertctlApp`` (started on the certificate list) to the first
  painted page of the list; also the same for the dashboard;
* filter: from a keystroke in the ``/`` filter box to the painted, updated table, over a
  sequence of typed and erased characters (one keystroke at a time, so each reloads at
  the leading edge of the debounce); p50 and p95.

It prints each figure next to its target with PASS or MISS. A benchmark, not a test:
it asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inventory import create_reference_data, peak_memory_mb, percentile, seed_certificates

from certctl_engine.engine import Engine
from certctl_tui import CertctlApp
from certctl_tui.screens.certificates import FILTER_DEBOUNCE_SECONDS, CertificatesScreen
from certctl_tui.screens.dashboard import DashboardScreen
from certctl_tui.widgets.paged_table import PagedTable

TARGET_LAUNCH_S = 1.0
TARGET_FILTER_P95_MS = 100.0
SIZE = (120, 40)
# What a person types: prefixes that match (a filter matching nothing scans every row).
TYPED = ("svc-42", "team3", "www.svc-7")


def verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "MISS"


async def _until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.001)


async def launch_to_list(engine: Engine) -> float:
    started = time.perf_counter()
    app = CertctlApp(engine, start="certs")
    async with app.run_test(size=SIZE):
        await _until(lambda: isinstance(app.screen, CertificatesScreen) and app.screen.painted_at > 0)
        elapsed = app.screen.painted_at - started  # the first frame with the rows
        assert app.screen.query_one(PagedTable).row_count == 50
    return elapsed


async def launch_to_dashboard(engine: Engine) -> float:
    started = time.perf_counter()
    app = CertctlApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        await _until(lambda: isinstance(app.screen, DashboardScreen) and app.loaded_at is not None)
        await pilot.pause()
        elapsed = time.perf_counter() - started
    return elapsed


async def filter_keystrokes(engine: Engine, rounds: int) -> list[float]:
    samples: list[float] = []
    app = CertctlApp(engine, start="certs")
    async with app.run_test(size=SIZE) as pilot:
        await _until(lambda: isinstance(app.screen, CertificatesScreen) and app.screen.updates >= 1)
        screen = app.screen
        assert isinstance(screen, CertificatesScreen)
        await pilot.press("slash")
        await pilot.pause()

        async def key(name: str) -> None:
            before = screen.updates
            started = time.perf_counter()
            await pilot.press(name)
            await _until(lambda: screen.updates > before and screen.painted_at > started)
            samples.append(screen.painted_at - started)
            await app.workers.wait_for_complete()  # let the count finish before the next keystroke

        for _ in range(rounds):
            for text in TYPED:
                for ch in text:
                    await key(ch)
                for _ in text:
                    await key("backspace")
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="certificates to seed (default 100000)")
    parser.add_argument("--launches", type=int, default=5, help="timed launches (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the typed sequence (default 2)")
    args = parser.parse_args(argv)
    print("certctl dashboard (TUI) benchmark")
    print(f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="certctl-tui-bench-") as tmp:
        engine = Engine.open(str(Path(tmp) / "certctl.db"), env={"CERTCTL_HOME": tmp})
        try:
            refs = create_reference_data(engine)
            seconds, _sans = seed_certificates(engine, args.count, refs, engine.now())
            engine.store.analyze()
            print(f"  seeded {args.count:,} certificates in {seconds:.1f} s")
            launches = [asyncio.run(launch_to_list(engine)) for _ in range(args.launches)]
            dashboards = [asyncio.run(launch_to_dashboard(engine)) for _ in range(args.launches)]
            keys = asyncio.run(filter_keystrokes(engine, args.rounds))
        finally:
            engine.close()
    launch_median = statistics.median(launches)
    p50 = percentile(keys, 50) * 1000
    p95 = percentile(keys, 95) * 1000
    print()
    print(
        f"  launch → first painted certificate list: median {launch_median:.3f} s, worst {max(launches):.3f} s "
        f"(target < {TARGET_LAUNCH_S:.1f} s): {verdict(max(launches), TARGET_LAUNCH_S)}"
    )
    print(
        f"  launch → painted dashboard:              median {statistics.median(dashboards):.3f} s, "
        f"worst {max(dashboards):.3f} s"
    )
    print(
        f"  filter keystroke → updated table ({len(keys)} keystrokes, {FILTER_DEBOUNCE_SECONDS * 1000:.0f} ms "
        f"debounce window, leading edge): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(keys) * 1000:.1f} ms "
        f"(target p95 < {TARGET_FILTER_P95_MS:.0f} ms): {verdict(p95, TARGET_FILTER_P95_MS)}"
    )
    print(f"  peak RSS: {peak_memory_mb():.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
