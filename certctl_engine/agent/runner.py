"""The agent's life: register once, then heartbeat, poll for work and scan for certificates until stopped.

The three loops run side by side, so a long deployment never delays a heartbeat. When the
engine is unreachable each loop backs off exponentially (with jitter, up to the configured
ceiling) and tries again; the outage is logged once when it starts and once when it ends,
never once per attempt. Only a refusal that no retry can fix (a bad bootstrap token, a
revoked API key) stops the agent, with a message saying what to do.
"""

from __future__ import annotations

import logging
import platform
import random
import socket
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio

from certctl_engine.agent.client import AgentAPIError, AgentClient, Credentials, EngineUnavailable, trust
from certctl_engine.agent.config import AgentConfig
from certctl_engine.agent.fs_scan import ScanReport, scan_directories
from certctl_engine.agent.keystore import KeyStore
from certctl_engine.agent.state import load_state, save_state
from certctl_engine.agent.work import WorkHandler
from certctl_engine.errors import CertctlError

log = logging.getLogger("certctl.agent")
T = TypeVar("T")

FIRST_RETRY_SECONDS = 1.0


class AgentStopped(CertctlError):
    """The engine refused the agent in a way no retry can fix."""

    kind = "agent_stopped"


def agent_version() -> str:
    try:
        return version("certctl")
    except PackageNotFoundError:
        return "0.1.0"


def outbound_ip(server_url: str) -> str:
    """The local address the engine sees this agent come from (a UDP 'connect' sends nothing)."""
    host = urlsplit(server_url).hostname or "127.0.0.1"
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, urlsplit(server_url).port or 443))
            return str(sock.getsockname()[0])
    except OSError:
        return ""


def backoff_delay(failures: int, ceiling: float) -> float:
    """Exponential from one second, doubling per failure, capped, with up to 25% jitter off."""
    base = min(ceiling, FIRST_RETRY_SECONDS * 2.0 ** max(0, failures - 1))
    return base * (1 - random.random() * 0.25)


class Outage:
    """Whether the engine is down, seen by all the loops together, so an outage is logged once."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.attempts = 0

    def failed(self, exc: EngineUnavailable, ceiling: float) -> None:
        self.attempts += 1
        if self.since is None:
            self.since = time.monotonic()
            log.warning("engine unavailable: %s; retrying with backoff (at most every %gs)", exc.message, ceiling)

    def recovered(self) -> None:
        if self.since is not None:
            log.warning(
                "engine reachable again after %.1fs (%d failed attempts)", time.monotonic() - self.since, self.attempts
            )
        self.since, self.attempts = None, 0

    @property
    def down(self) -> bool:
        return self.since is not None


class AgentRunner:
    def __init__(self, config: AgentConfig, client: AgentClient | None = None) -> None:
        self.config = config
        self.client = client or AgentClient(
            config.server_url,
            verify=trust(config.ca_file) if config.server_url.startswith("https") else False,
            timeout=config.timeout_seconds,
        )
        self.keys = KeyStore(config.key_dir)
        self.work = WorkHandler(self.client, self.keys, config.key_spec)
        self.outage = Outage()
        self.heartbeats = 0
        self.polls = 0
        self.scans = 0

    # ------------------------------------------------------------------ helpers
    async def _pause(self, stop: anyio.Event, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await stop.wait()

    async def _attempt(
        self, stop: anyio.Event, call: Callable[[], Awaitable[T]], failures: list[int], *, keyed: bool = True
    ) -> T | None:
        """``call`` once; on unavailability wait the backoff and return None. A refused key (``keyed``) is fatal."""
        try:
            result = await call()
        except EngineUnavailable as exc:
            failures[0] += 1
            self.outage.failed(exc, self.config.max_backoff_seconds)
            wait = backoff_delay(failures[0], self.config.max_backoff_seconds)
            await self._pause(stop, max(wait, exc.retry_after or 0))
            return None
        except AgentAPIError as exc:
            if keyed and exc.status in (401, 403):
                raise AgentStopped(
                    f"the engine refuses this agent's key ({exc.message}); remove {self.config.state_file} "
                    "and start again with a bootstrap token to register anew"
                ) from None
            raise
        failures[0] = 0
        self.outage.recovered()
        return result

    def metadata(self) -> dict[str, str]:
        return {
            "hostname": socket.gethostname()[:255],
            "os": platform.system().lower()[:64],
            "architecture": platform.machine().lower()[:64],
            "version": agent_version(),
            "ip_address": outbound_ip(self.config.server_url)[:64],
        }

    # ------------------------------------------------------------------ registration
    async def ensure_registered(self, stop: anyio.Event) -> Credentials | None:
        """The stored identity, or a new one from the engine (retried while it is down)."""
        stored = load_state(self.config.state_file, self.config.server_url)
        if stored is not None:
            self.client.credentials = stored
            return stored
        token = self.config.bootstrap_token
        if not token:
            raise AgentStopped(
                f"this agent is not registered yet ({self.config.state_file} does not exist): "
                "give --bootstrap-token or set CERTCTL_AGENT_BOOTSTRAP_TOKEN"
            )
        failures = [0]
        while not stop.is_set():
            try:
                registered = await self._attempt(
                    stop,
                    lambda: self.client.register(self.config.name, socket.gethostname(), token),
                    failures,
                    keyed=False,
                )
            except AgentAPIError as exc:
                hint = ""
                if exc.status == 409:
                    hint = f"; give another --name, or restore the state file {self.config.state_file}"
                raise AgentStopped(f"registration refused: {exc.message}{hint}") from None
            if registered is not None:
                save_state(self.config.state_file, self.config.server_url, self.config.name, registered)
                log.info("registered as %s (%s)", registered.agent_id, self.config.name)
                return registered
        return None

    # ------------------------------------------------------------------ loops
    async def heartbeat_loop(self, stop: anyio.Event) -> None:
        failures = [0]
        while not stop.is_set():
            try:
                if await self._attempt(stop, lambda: self.client.heartbeat(self.metadata()), failures) is None:
                    continue
            except AgentAPIError as exc:
                if exc.status == 404:
                    raise AgentStopped(
                        f"the engine does not know this agent ({exc.message}); remove {self.config.state_file} "
                        "and start again with a bootstrap token to register anew"
                    ) from None
                log.warning("heartbeat refused: %s", exc.message)
            else:
                self.heartbeats += 1
            await self._pause(stop, self.config.heartbeat_seconds)

    async def _poll_once(self) -> int:
        await self.work.flush()
        items = await self.client.work()
        for item in items:
            try:
                await self.work.handle(item)
            except EngineUnavailable:
                raise
            except Exception:  # a bug with one item must not stop the agent or the other items
                log.exception("work item %s could not be handled", item.get("job_id"))
        return len(items)

    async def work_loop(self, stop: anyio.Event) -> None:
        failures = [0]
        while not stop.is_set():
            try:
                if await self._attempt(stop, self._poll_once, failures) is None:
                    continue
            except AgentStopped:
                raise
            except AgentAPIError as exc:
                log.warning("work poll refused: %s", exc.message)
            else:
                self.polls += 1
            await self._pause(stop, self.config.poll_seconds)

    def _sender(self, report: ScanReport) -> Callable[[], Awaitable[dict[str, Any]]]:
        return lambda: self.client.report_discoveries(
            report.certificates, report.errors, report.directories, report.duration_ms
        )

    async def discovery_loop(self, stop: anyio.Event) -> None:
        if not self.config.discovery_dirs:
            return
        failures = [0]
        report: ScanReport | None = None
        while not stop.is_set():
            if report is None:
                report = await anyio.to_thread.run_sync(
                    lambda: scan_directories(self.config.discovery_dirs, max_file_bytes=self.config.max_file_bytes)
                )
                log.info(
                    "discovery: %d certificate(s), %d problem(s) in %s",
                    len(report.certificates), len(report.errors), ", ".join(report.directories),
                )  # fmt: skip
            if report.certificates or report.errors:
                try:
                    sent = await self._attempt(stop, self._sender(report), failures)
                except AgentStopped:
                    raise
                except AgentAPIError as exc:  # the engine will not take this report; the next scan tries anew
                    log.warning("discovery report refused: %s", exc.message)
                    sent = {}
                if sent is None:
                    continue  # the same report goes again once the engine is back
            report = None
            self.scans += 1
            await self._pause(stop, self.config.discovery_seconds)

    async def run(self, stop: anyio.Event) -> None:
        """Until ``stop`` is set: a running deployment finishes first, owed reports are tried once more."""
        try:
            if await self.ensure_registered(stop) is None:
                return
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self.heartbeat_loop, stop)
                    group.start_soon(self.work_loop, stop)
                    group.start_soon(self.discovery_loop, stop)
            except BaseExceptionGroup as group_error:
                stopped = group_error.subgroup(AgentStopped)
                if stopped is not None:
                    raise stopped.exceptions[0] from None
                raise
            if self.work.outbox:
                with anyio.move_on_after(5):
                    try:
                        await self.work.flush()
                    except EngineUnavailable:
                        log.warning("%d report(s) could not be sent before stopping", len(self.work.outbox))
        finally:
            await self.client.aclose()
