"""Shared pytest fixtures for the certctl test suite."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from postgres_server import PostgresServer, PostgresUnavailable, find_pg_bindir, postgres_required


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
