"""Agent API benchmark: N simulated agents heartbeating and polling one `certctl engine` on loopback.

    python benchmarks/agents.py [--agents 1000] [--duration 30] [--heartbeat 30] [--poll 15]
                                [--client-processes 2] [--no-tls]

The agents are registered beforehand (each with its own API key, through the agent service
on the benchmark's fresh SQLite store). Then a real `certctl engine` process serves that
store, over HTTPS by default, and each simulated agent (the agent's own client,
certctl_engine.agent.client.AgentClient: an httpx.AsyncClient with a connection of its
own), spread over ``--client-processes`` processes, runs in two phases:

1. paced: every agent heartbeats every ``--heartbeat`` seconds and polls for work every
   ``--poll`` seconds (the production intervals of 60 s / 30 s compressed, so the load is
   N/heartbeat + N/poll requests a second), each agent starting at a random offset;
2. saturation: every agent sends heartbeat, poll, heartbeat, ... back to back, so the
   engine is as busy as the clients can make it.

For each phase: requests, errors, throughput, latency p50/p95/p99 (target p95 < 50 ms in
the paced phase), the engine's CPU (user + system time of its pid from /proc, as a share
of one core) and the clients' CPU. The clients run on the same machine and share its
cores with the engine, which the figures include. This is a benchmark, not a test: it reports and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from certctl_engine.agent.client import AgentAPIError, AgentClient, Credentials
from certctl_engine.engine import Engine

TOKEN = "benchmark-bootstrap-token"
P95_TARGET_MS = 50.0
GAP_SECONDS = 2.0  # between the phases, for the paced requests still in flight to finish


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    cpu_seconds: float = 0.0

    def failed(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its waited-for children, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_load() -> str:
    """Load average and CPU pressure (share of time some task waited for a CPU): others' work skews the figures."""
    text = f"load {os.getloadavg()[0]:.2f}"
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        text += f", CPU pressure {some.split()[1].split('=')[1]} % (10 s)"
    except (OSError, IndexError):
        pass
    return text


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def register_agents(home: Path, count: int) -> list[tuple[str, str]]:
    env = {"CERTCTL_HOME": str(home), "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN}
    with Engine.open(str(home / "c.db"), env=env) as engine:
        out = []
        for index in range(count):
            registration = engine.agents.register(f"bench-{index:05d}", bootstrap_token=TOKEN, hostname=f"h{index}")
            out.append((registration.agent.id, registration.api_key))
    return out


def start_engine(home: Path, port: int, tls: bool) -> subprocess.Popen[bytes]:
    certctl = shutil.which("certctl")
    argv = [certctl] if certctl else [sys.executable, "-m", "certctl_engine.cli"]
    argv += ["--db", str(home / "c.db"), "engine", "--port", str(port)]
    if not tls:
        argv.append("--no-tls")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env.update(CERTCTL_HOME=str(home), CERTCTL_AGENT_BOOTSTRAP_TOKEN=TOKEN, CERTCTL_LOG_LEVEL="warning")
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=open(home / "engine.log", "wb"))


def wait_healthy(base: str, verify: ssl.SSLContext | bool, ca: Path | None, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with {proc.returncode}")
        try:
            if ca is not None and not ca.exists():
                raise FileNotFoundError
            context = ssl.create_default_context(cafile=str(ca)) if ca is not None else verify
            if httpx.get(f"{base}/health", verify=context, timeout=1).status_code == 200:
                return
        except (httpx.HTTPError, FileNotFoundError, ssl.SSLError):
            time.sleep(0.2)
    raise SystemExit("the engine never became healthy")


class SimAgent:
    """One simulated agent: the agent's own client (one connection of its own) and its identity."""

    def __init__(self, base: str, verify: ssl.SSLContext | bool, agent_id: str, api_key: str) -> None:
        self.client = AgentClient(base, verify=verify, timeout=30)
        self.client.credentials = Credentials(agent_id, api_key)
        self.meta = {"os": "linux", "architecture": "amd64", "version": "0.1.0", "ip_address": "127.0.0.1"}

    async def call(self, what: str, phase: Phase | None) -> None:
        started = time.perf_counter()
        try:
            if what == "heartbeat":
                await self.client.heartbeat(self.meta)
            else:
                await self.client.work()
        except AgentAPIError as exc:
            if phase is not None:
                phase.failed(f"HTTP {exc.status}" if exc.status else exc.message[:60])
            return
        if phase is not None:
            phase.latencies.append((time.perf_counter() - started) * 1000)


async def paced(agent: SimAgent, what: str, interval: float, start: float, until: float, phase: Phase) -> None:
    next_at = start + random.random() * interval
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await agent.call(what, phase)
        next_at += interval


async def flat_out(agent: SimAgent, start: float, until: float, phase: Phase) -> None:
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    what = "heartbeat"
    while time.monotonic() < until:
        await agent.call(what, phase)
        what = "work" if what == "heartbeat" else "heartbeat"


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _client_phases(args: argparse.Namespace, base: str, ca: str | None, credentials: list[tuple[str, str]],
                         barrier: Any) -> list[Phase]:  # fmt: skip
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else False
    agents = [SimAgent(base, verify, agent_id, key) for agent_id, key in credentials]
    try:
        # Warm-up, not measured: every agent connects (TLS handshake) and heartbeats once, 50 at a time.
        for first in range(0, len(agents), 50):
            await asyncio.gather(*(a.call("heartbeat", None) for a in agents[first : first + 50]))
        await asyncio.to_thread(barrier.wait)
        t0 = time.monotonic() + 0.5
        phases = []
        for name, start in (("paced", t0), ("saturation", t0 + args.duration + GAP_SECONDS)):
            phase = Phase(name)
            until = start + args.duration
            cpu_before = _own_cpu()
            if name == "paced":
                tasks = [paced(a, "heartbeat", args.heartbeat, start, until, phase) for a in agents]
                tasks += [paced(a, "work", args.poll, start, until, phase) for a in agents]
            else:
                tasks = [flat_out(a, start, until, phase) for a in agents]
            await asyncio.gather(*tasks)
            phase.cpu_seconds = _own_cpu() - cpu_before
            phases.append(phase)
        return phases
    finally:
        await asyncio.gather(*(a.client.aclose() for a in agents))


def _client_process(args: argparse.Namespace, base: str, ca: str | None, credentials: list[tuple[str, str]],
                    barrier: Any, results: Any) -> None:  # fmt: skip
    results.put(asyncio.run(_client_phases(args, base, ca, credentials, barrier)))


def run_phases(args: argparse.Namespace, base: str, ca: Path | None, pid: int,
               credentials: list[tuple[str, str]]) -> tuple[list[Phase], list[float]]:  # fmt: skip
    """Phases merged over the client processes, and the engine's CPU seconds in each phase."""
    context = multiprocessing.get_context("fork")
    workers = max(1, args.client_processes)
    barrier, results = context.Barrier(workers + 1), context.Queue()
    processes = [
        context.Process(target=_client_process,
                        args=(args, base, str(ca) if ca else None, credentials[i::workers], barrier, results))
        for i in range(workers)
    ]  # fmt: skip
    for proc in processes:
        proc.start()
    barrier.wait(timeout=600)
    t0 = time.monotonic() + 0.5
    engine_cpu = []
    for start in (t0, t0 + args.duration + GAP_SECONDS):
        time.sleep(max(0.0, start - time.monotonic()))
        before = _cpu_seconds(pid)
        time.sleep(max(0.0, start + args.duration - time.monotonic()))
        engine_cpu.append(_cpu_seconds(pid) - before)
    gathered = [results.get(timeout=300) for _ in processes]
    for proc in processes:
        proc.join(timeout=30)
    merged = []
    for index, name in enumerate(("paced", "saturation")):
        phase = Phase(name, wall=args.duration)
        for worker_phases in gathered:
            part = worker_phases[index]
            phase.latencies.extend(part.latencies)
            phase.cpu_seconds += part.cpu_seconds
            for what, count in part.errors.items():
                phase.errors[what] = phase.errors.get(what, 0) + count
        merged.append(phase)
    return merged, engine_cpu


def report(phases: list[Phase], engine_cpu: list[float], args: argparse.Namespace) -> None:
    offered = args.agents / args.heartbeat + args.agents / args.poll
    for phase, cpu in zip(phases, engine_cpu, strict=True):
        count = len(phase.latencies)
        p95 = _percentile(phase.latencies, 0.95)
        load = f"offered {offered:,.0f} req/s" if phase.name == "paced" else "back to back"
        print(f"\n  {phase.name} ({load})")
        errors = f" {phase.errors}" if phase.errors else ""
        print(f"    requests ok        {count:,} in {phase.wall:.0f} s; errors {sum(phase.errors.values()):,}{errors}")
        print(f"    throughput         {count / phase.wall:,.0f} req/s")
        if count:
            print(
                f"    latency ms         p50 {statistics.median(phase.latencies):.1f}   p95 {p95:.1f}   "
                f"p99 {_percentile(phase.latencies, 0.99):.1f}   max {max(phase.latencies):.1f}"
            )
        print(f"    engine CPU         {cpu:.1f} s = {100 * cpu / phase.wall:.0f} % of one core")
        client_share = 100 * phase.cpu_seconds / phase.wall
        print(f"    clients' CPU       {phase.cpu_seconds:.1f} s = {client_share:.0f} % of one core")
        if phase.name == "paced":
            verdict = "PASS" if p95 < P95_TARGET_MS else "MISS"
            print(f"    p95 target         < {P95_TARGET_MS:.0f} ms: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats (paced)")
    parser.add_argument("--poll", type=float, default=15.0, help="seconds between work polls (paced)")
    parser.add_argument("--client-processes", type=int, default=2, help="processes the simulated agents run in")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP instead of the engine's default HTTPS")
    args = parser.parse_args(argv)
    print("certctl agent API benchmark")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs, {machine_load()}")
    with tempfile.TemporaryDirectory(prefix="certctl-bench-agents-") as tmp:
        home = Path(tmp)
        started = time.monotonic()
        credentials = register_agents(home, args.agents)
        print(f"  {args.agents:,} agents registered in {time.monotonic() - started:.1f} s")
        port = _free_port()
        tls = not args.no_tls
        proc = start_engine(home, port, tls)
        try:
            base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
            ca = home / "tls" / "ca.crt" if tls else None
            wait_healthy(base, False, ca, proc)
            print(
                f"  engine pid {proc.pid} on {base}; {args.client_processes} client process(es); "
                f"{args.duration:g} s per phase"
            )
            phases, engine_cpu = run_phases(args, base, ca, proc.pid, credentials)
            report(phases, engine_cpu, args)
            print(f"\n  after the run: {machine_load()}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
