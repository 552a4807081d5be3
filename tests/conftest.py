"""Shared pytest fixtures for the certctl test suite."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from postgres_server import PostgresServer, PostgresUnavailable, find_pg_bindir, postgres_required

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine


def pytest_report_header(config: pytest.Config) -> str:
    external = os.environ.get("CERTCTL_TEST_POSTGRES_URL")
    if external:
        where = urlsplit(external)
        return f"postgresql: tests use CERTCTL_TEST_POSTGRES_URL ({where.hostname}:{where.port or 5432})"
    try:
        bindir = find_pg_bindir()
    except PostgresUnavailable as exc:
        outcome = "FAIL (CI or CERTCTL_REQUIRE_POSTGRES=1)" if postgres_required() else "be skipped"
        return f"postgresql: tests will {outcome}: {exc}"
    return f"postgresql: tests run on a throwaway cluster using {bindir}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (a throwaway cluster on loopback)."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(str(exc), pytrace=False)
        pytest.skip("PostgreSQL half not run: " + str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    with contextlib.suppress(Exception):
        postgres_server.drop_database(urlsplit(url).path.lstrip("/"))


# --------------------------------------------------------------------------- engines

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def store_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment for Engine.open that keeps every file (key file, default store) in a temp dir."""
    home = tmp_path_factory.mktemp("certctl-home")
    return {"CERTCTL_HOME": str(home)}


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, store_env: dict[str, str]) -> str:
    """A fresh store on each back end: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(Path(store_env["CERTCTL_HOME"]) / "certctl.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(store_url: str, store_env: dict[str, str]) -> Iterator[Engine]:
    """An open engine on a fresh store, on SQLite and on PostgreSQL."""
    opened = Engine.open(store_url, env=store_env)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_engine(store_env: dict[str, str]) -> Iterator[Engine]:
    """An open engine on a fresh SQLite store only (for file-level checks)."""
    opened = Engine.open(str(Path(store_env["CERTCTL_HOME"]) / "certctl.db"), env=store_env)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def actor() -> Actor:
    return Actor("alice@example.com")
