"""The scheduler: loops tick, failures do not stop them, and one engine per store leads."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import anyio
import pytest

from certctl_engine.domain import Actor, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.scheduler import LOOPS, LoopSpec, Scheduler

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _run_for(scheduler: Scheduler, seconds: float) -> None:
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(scheduler.run, stop)
        await anyio.sleep(seconds)
        stop.set()


async def test_a_failing_tick_is_logged_and_the_loop_goes_on(engine: Engine) -> None:
    calls = {"boom": 0, "slow": 0}

    def boom(_: Engine) -> None:
        calls["boom"] += 1
        raise RuntimeError("tick failed")

    def slow(_: Engine) -> None:
        calls["slow"] += 1
        time.sleep(0.7)

    loops = (LoopSpec("boom", 0.1, 0.1, None, boom), LoopSpec("slow", 0.1, 0.1, None, slow))
    scheduler = Scheduler(engine, loops=loops, intervals={"boom": 0.1, "slow": 0.1}, lease_renew=0.1)
    await _run_for(scheduler, 1.0)
    assert calls["boom"] >= 3 and scheduler.state["boom"].failures == calls["boom"]
    assert scheduler.state["boom"].last_error == "RuntimeError: tick failed"
    assert scheduler.state["slow"].skipped >= 2  # ticks that came due while the slow one ran
    assert not scheduler.state["slow"].running  # the in-flight tick finished before run() returned
    assert engine.leases.holder("scheduler") is None  # released on a clean stop


async def test_the_job_processor_runs_queued_work(engine: Engine) -> None:
    actor = Actor("alice")
    engine.issuers.create("Local", "GenericCA", actor=actor, id="iss-local")
    cert = engine.certificates.create(name="a", common_name="a.example.com", issuer_id="iss-local", actor=actor).id
    job = engine.jobs.active_for(cert, JobType.ISSUANCE)
    intervals = {spec.name: 0.2 for spec in LOOPS}
    await _run_for(Scheduler(engine, intervals=intervals, lease_renew=0.2), 1.5)
    assert engine.jobs.get(job.id).status is JobStatus.COMPLETED


def _lead_forever(url: str, env: dict[str, str]) -> None:
    with Engine.open(url, env=env) as engine:
        loops = (LoopSpec("noop", 0.2, 0.2, None, lambda e: None),)
        scheduler = Scheduler(
            engine, loops=loops, intervals={"noop": 0.2}, holder="child", lease_ttl=2.0, lease_renew=0.2
        )
        anyio.run(scheduler.run, anyio.Event())


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


async def test_one_leader_per_store_and_take_over_after_a_kill(store_url: str, store_env: dict[str, str]) -> None:
    Engine.open(store_url, env=store_env).close()
    child = multiprocessing.get_context("spawn").Process(target=_lead_forever, args=(store_url, store_env))
    child.start()
    try:
        with Engine.open(store_url, env=store_env) as engine:
            assert _wait_for(lambda: engine.leases.holder("scheduler") == "child", 30)
            ran: list[int] = []
            loops = (LoopSpec("mine", 0.1, 0.1, None, lambda e: ran.append(1)),)
            mine = Scheduler(
                engine, loops=loops, intervals={"mine": 0.1}, holder="parent", lease_ttl=2.0, lease_renew=0.2
            )
            await _run_for(mine, 1.0)
            assert ran == [] and not mine.leading  # the child leads; this engine only waits
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
            child.join(10)
            started = time.monotonic()
            stop = anyio.Event()
            async with anyio.create_task_group() as group:
                group.start_soon(mine.run, stop)
                while not ran and time.monotonic() - started < 10:
                    await anyio.sleep(0.1)
                stop.set()
            taken_after = time.monotonic() - started
            assert ran, "the surviving engine never took over"
            assert taken_after < 2.0 + 1.5  # lease time plus a renewal period or so
    finally:
        if child.is_alive():
            child.kill()
            child.join(10)
