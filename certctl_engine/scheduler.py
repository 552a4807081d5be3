"""The scheduler: the engine's background loops, run by one engine per store at a time.

Each loop calls one service method in a worker thread (the event loop never blocks), on
its own interval; a tick still running when the next is due is skipped, a tick that raises
is logged and the loop goes on. Loops run only while this engine holds the store's
``scheduler`` lease, renewed every few seconds; a holder that dies stops renewing and
another engine takes over when the lease expires. Stopping lets in-flight ticks finish;
work cut short (a killed process) is resumable because every job step is one transaction.

Intervals (Go-style durations such as ``30s``, ``2m``, ``1h``) come from the same
environment variables as the original system.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio

from certctl_engine.domain import Actor
from certctl_engine.errors import InvalidInput
from certctl_engine.services.leases import SCHEDULER_LEASE, local_holder_name

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

log = logging.getLogger("certctl.scheduler")
LEASE_NAME = SCHEDULER_LEASE
SCHEDULER_ACTOR = Actor.system("scheduler")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str, name: str = "duration") -> float:
    """Seconds in a Go-style duration: ``90s``, ``2m``, ``1h30m``, ``500ms``."""
    value = text.strip()
    parts = _DURATION.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise InvalidInput(f"{name} '{text}' is not a duration like 30s, 2m or 1h", field=name)
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * factor[u] for n, u in parts)


@dataclass(frozen=True, slots=True)
class LoopSpec:
    name: str
    default_seconds: float
    minimum_seconds: float
    env: str | None
    run: Callable[[Engine], Any]


def _process_jobs(engine: Engine) -> dict[str, Any]:
    """Issuance and renewal jobs first (they queue deployments), then deployments of engine-side targets."""
    return {
        "renewal": engine.renewal.process_due(actor=SCHEDULER_ACTOR),
        "deployment": engine.deployments.process_due(actor=SCHEDULER_ACTOR),
    }


def _refresh_crls(engine: Engine) -> dict[str, int]:
    """Re-sign each local CA's published CRL when it is half way to its nextUpdate or a revocation changed it."""
    return engine.crl_publisher.refresh_all(actor=SCHEDULER_ACTOR)


LOOPS: tuple[LoopSpec, ...] = (
    LoopSpec(
        "renewal_check",
        3600,
        60,
        "CERTCTL_SCHEDULER_RENEWAL_CHECK_INTERVAL",
        lambda e: e.renewal.check(actor=SCHEDULER_ACTOR),
    ),
    LoopSpec(
        "job_processor",
        30,
        1,
        "CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL",
        _process_jobs,
    ),
    LoopSpec("short_lived_expiry", 30, 1, None, lambda e: e.lifecycle.expire_short_lived(actor=SCHEDULER_ACTOR)),
    LoopSpec(
        "agent_health",
        120,
        1,
        "CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL",
        lambda e: e.agents.mark_stale_offline(actor=SCHEDULER_ACTOR),
    ),
    LoopSpec(
        "network_scan",
        6 * 3600,
        60,
        "CERTCTL_SCHEDULER_NETWORK_SCAN_INTERVAL",
        lambda e: e.discovery.scan_due(actor=SCHEDULER_ACTOR),
    ),
    LoopSpec(
        "policy_scan",
        3600,
        60,
        "CERTCTL_SCHEDULER_POLICY_SCAN_INTERVAL",
        lambda e: e.policies.scan(actor=SCHEDULER_ACTOR),
    ),
    LoopSpec(
        "notifications",
        60,
        1,
        "CERTCTL_SCHEDULER_NOTIFICATION_PROCESS_INTERVAL",
        lambda e: e.notifications.tick(actor=SCHEDULER_ACTOR),
    ),
    LoopSpec(
        "job_retry",
        300,
        1,
        "CERTCTL_SCHEDULER_JOB_RETRY_INTERVAL",
        lambda e: e.jobs.requeue_stale(older_than=timedelta(minutes=10), actor=SCHEDULER_ACTOR),
    ),
    LoopSpec("crl_refresh", 3600, 60, "CERTCTL_SCHEDULER_CRL_REFRESH_INTERVAL", _refresh_crls),
)


def loop_intervals(env: Mapping[str, str] | None = None) -> dict[str, float]:
    """Each loop's interval in seconds, from the environment or the default, never under its minimum."""
    env = os.environ if env is None else env
    intervals: dict[str, float] = {}
    for spec in LOOPS:
        seconds = spec.default_seconds
        if spec.env and env.get(spec.env):
            seconds = parse_duration(env[spec.env], spec.env)
        intervals[spec.name] = max(seconds, spec.minimum_seconds)
    return intervals


@dataclass
class LoopState:
    runs: int = 0
    failures: int = 0
    skipped: int = 0
    running: bool = False
    last_duration: float = 0.0
    last_error: str | None = None


@dataclass
class Scheduler:
    """Runs ``LOOPS`` for one engine while it holds the lease."""

    engine: Engine
    loops: tuple[LoopSpec, ...] = LOOPS
    intervals: dict[str, float] = field(default_factory=loop_intervals)
    holder: str = field(default_factory=local_holder_name)
    lease_ttl: float = 30.0
    lease_renew: float = 5.0
    state: dict[str, LoopState] = field(default_factory=dict)
    leading: bool = False

    def __post_init__(self) -> None:
        self.state = {spec.name: LoopState() for spec in self.loops}

    async def _hold_lease(self) -> bool:
        ttl = timedelta(seconds=self.lease_ttl)
        try:
            held = await anyio.to_thread.run_sync(lambda: self.engine.leases.acquire(LEASE_NAME, self.holder, ttl))
        except Exception:
            log.exception("could not renew the scheduler lease")
            held = False
        if held != self.leading:
            log.info("scheduler lease %s by %s", "taken" if held else "lost", self.holder)
        self.leading = held
        return held

    async def _tick(self, spec: LoopSpec, task_group: anyio.abc.TaskGroup) -> None:
        state = self.state[spec.name]
        if state.running:
            state.skipped += 1
            log.info("%s: previous tick still running, skipping this one", spec.name)
            return

        async def run() -> None:
            state.running = True
            started = time.monotonic()
            try:
                await anyio.to_thread.run_sync(lambda: spec.run(self.engine))
                state.last_error = None
            except Exception as exc:
                state.failures += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("%s tick failed; the loop goes on", spec.name)
            finally:
                state.runs += 1
                state.last_duration = time.monotonic() - started
                state.running = False

        task_group.start_soon(run)

    async def run(self, stop: anyio.Event) -> None:
        """Run until ``stop`` is set; in-flight ticks finish before this returns."""
        next_due = {spec.name: 0.0 for spec in self.loops}
        async with anyio.create_task_group() as ticks:
            while not stop.is_set():
                if await self._hold_lease():
                    now = time.monotonic()
                    for spec in self.loops:
                        if now >= next_due[spec.name]:
                            next_due[spec.name] = now + self.intervals[spec.name]
                            await self._tick(spec, ticks)
                with anyio.move_on_after(min(self.lease_renew, *(self.intervals[s.name] for s in self.loops))):
                    await stop.wait()
        if self.leading:
            await anyio.to_thread.run_sync(lambda: self.engine.leases.release(LEASE_NAME, self.holder))
            self.leading = False
