"""Helpers shared by the dashboard tests (imported by module name: tests/tui is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

FIXED = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
"""The frozen clock: the demo dataset is identical on every run for a fixed clock."""


def frozen() -> datetime:
    return FIXED


async def settle(pilot: Any, rounds: int = 3) -> None:
    """Let pending engine calls finish and the screen repaint."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def wait_until(pilot: Any, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` while the app runs; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
