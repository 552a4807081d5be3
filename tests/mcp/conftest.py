"""Fixtures for the MCP face: a demo store per test, a server over it, in-process clients."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_types import Implementation

from certctl_engine.demo import seed_demo
from certctl_engine.engine import Engine
from certctl_mcp import build_server

CLIENT = Implementation(name="pytest-client", version="1.0")
"""The client every in-process test connects as; its audit actor is ``mcp:pytest-client``."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded demo store (database + key file), made once and copied for each test."""
    home = tmp_path_factory.mktemp("mcp-demo-template")
    engine = Engine.open(str(home / "certctl.db"), env={"CERTCTL_HOME": str(home)})
    try:
        seed_demo(engine)
    finally:
        engine.close()
    return home


@pytest.fixture
def demo_home(demo_template: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo_template, home)
    return home


@pytest.fixture
def demo_engine(demo_home: Path) -> Iterator[Engine]:
    """An engine on a fresh copy of the demo store (temp SQLite, CERTCTL_HOME in the temp dir)."""
    engine = Engine.open(str(demo_home / "certctl.db"), env={"CERTCTL_HOME": str(demo_home)})
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def server(demo_engine: Engine):  # type: ignore[no-untyped-def]
    return build_server(demo_engine)
