"""Shared by the connector tests: one pebble (ACME test CA) per test module, on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from acme_server import Pebble, free_port, missing_binaries


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    if missing_binaries():
        pytest.fail(f"pebble is required here: missing {', '.join(missing_binaries())}")
    server = Pebble(tmp_path_factory.mktemp("pebble"), http_port=free_port()).start()
    yield server
    server.stop()
