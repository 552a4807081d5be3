"""Fixtures of the dashboard tests: a demo store on a frozen clock, snapshots kept in snapshots/."""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_textual_snapshot
from syrupy.location import PyTestLocation
from tui_helpers import frozen

from certctl_engine.demo import seed_demo
from certctl_engine.engine import Engine
from certctl_tui import CertctlApp

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_DIR = ROOT / "snapshots"

# A fixed place, so the store's name (shown in the header and in the demo's audit events)
# is the same on every run and every machine.
STORE_DIR = Path("/tmp/certctl-tui-tests")
# Held while a test uses STORE_DIR: two test runs on one machine take turns instead of
# deleting each other's store.
STORE_LOCK = Path("/tmp/certctl-tui-tests.lock")


class SnapshotsDirSVGExtension(pytest_textual_snapshot.SVGImageExtension):
    """Keep the SVG snapshots in the project's snapshots/ directory, one folder per test module."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOT_DIR / test_location.basename)


# snap_compare looks this name up when it runs, so the project's extension takes over.
pytest_textual_snapshot.SVGImageExtension = SnapshotsDirSVGExtension  # type: ignore[misc]


@pytest.fixture
def demo_engine() -> Iterator[Engine]:
    """An engine on a fresh demo store with the frozen clock; closed after the test."""
    with STORE_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(STORE_DIR, ignore_errors=True)
        STORE_DIR.mkdir(parents=True)
        engine = Engine.open(str(STORE_DIR / "demo.db"), env={"CERTCTL_HOME": str(STORE_DIR)}, clock=frozen)
        try:
            seed_demo(engine)
            yield engine
        finally:
            engine.close()
            shutil.rmtree(STORE_DIR, ignore_errors=True)


@pytest.fixture
def make_app(demo_engine: Engine) -> Callable[..., CertctlApp]:
    def make(**kwargs: Any) -> CertctlApp:
        app = CertctlApp(demo_engine, clock=frozen, **kwargs)
        app.store_label = "demo.db"
        return app

    return make


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests are async: run them on asyncio through anyio's pytest plugin."""
    return "asyncio"
