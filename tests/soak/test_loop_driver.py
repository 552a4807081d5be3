"""The soak's driver runs the scheduler's own loops on simulated time, each at its interval, without sleeping."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from frozen_clock import Clock

from certctl_engine.engine import Engine
from certctl_engine.scheduler import LOOPS, loop_intervals

from .simulation import START, LoopDriver


def test_each_loop_runs_once_per_interval_of_simulated_time(tmp_path: Path) -> None:
    clock = Clock(START)
    with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}, clock=clock) as engine:
        intervals = loop_intervals({})
        driver = LoopDriver(engine, clock, intervals)
        began = time.monotonic()
        end = START + timedelta(minutes=10)
        while clock.now <= end:
            driver.run_due()
            clock.now = min(driver.next_due.values())
        assert time.monotonic() - began < 10  # ten simulated minutes, never slept through
    assert driver.errors == []
    for spec in LOOPS:
        expected = int(600 // intervals[spec.name]) + 1  # at 0 s, then every interval up to 600 s
        assert driver.runs[spec.name] == expected, spec.name
