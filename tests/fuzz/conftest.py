"""Fixtures for the fuzz tests: one engine per module, since hypothesis runs many examples per test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from postgres_server import PostgresServer

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine

FUZZER = Actor("fuzzer")


def _open(url: str, home: Path) -> Engine:
    engine = Engine.open(url, env={"CERTCTL_HOME": str(home)})
    engine.issuers.create("Local", "GenericCA", {}, actor=FUZZER, id="iss-local")
    return engine


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a fresh SQLite store, shared by every example of a module."""
    home = tmp_path_factory.mktemp("fuzz-home")
    engine = _open(str(home / "certctl.db"), home)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fuzz_engine_any(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a fresh store, shared by every example of a module: on SQLite, then on PostgreSQL."""
    home = tmp_path_factory.mktemp("fuzz-home")
    server: PostgresServer | None = None
    if request.param == "sqlite":
        url = str(home / "certctl.db")
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database()
    engine = _open(url, home)
    try:
        yield engine
    finally:
        engine.close()
        if server is not None:
            with contextlib.suppress(Exception):
                server.drop_database(urlsplit(url).path.lstrip("/"))
