"""What the agent does with one work item: answer a CSR request, or deploy and verify a certificate.

Blocking steps (key generation, file writes, the post-deploy command, the TLS check) run
in worker threads so heartbeats keep flowing. Unavailability of the engine propagates
(the runner backs off and the item comes back on the next poll); anything else that goes
wrong with an item is reported to the engine as the job's failure, in words, and the
agent moves on to the next item.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from certctl_engine.agent.client import AgentAPIError, AgentClient, EngineUnavailable
from certctl_engine.agent.keystore import KeyStore
from certctl_engine.connectors.targets import (
    DeploymentBundle,
    VerificationOutcome,
    connector_for,
    verify_served_certificate,
)
from certctl_engine.domain import JobStatus, JobType, TargetType
from certctl_engine.errors import CertctlError, DeployError, InvalidInput
from certctl_engine.pki import KeySpec

log = logging.getLogger("certctl.agent")

HOST_KEYS = ("host", "hostname", "target", "address")
DEFAULT_VERIFY_DELAY_SECONDS = 2.0
DEFAULT_VERIFY_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Report:
    """A job status or verification result owed to the engine."""

    job_id: str
    what: str  # "status" | "verification"
    body: Mapping[str, Any] = field(default_factory=dict)

    def send(self, client: AgentClient) -> Awaitable[dict[str, Any]]:
        if self.what == "verification":
            return client.report_verification(
                self.job_id, bool(self.body["verified"]), str(self.body["actual_fingerprint"]), self.body["error"]
            )
        return client.report_status(self.job_id, str(self.body["status"]), self.body.get("error"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one work item, for logs and tests."""

    job_id: str
    action: str  # "csr_submitted" | "deployed" | "failed" | "skipped"
    detail: str = ""


class WorkHandler:
    def __init__(
        self,
        client: AgentClient,
        keys: KeyStore,
        key_spec: KeySpec,
        *,
        verify: Callable[..., VerificationOutcome] = verify_served_certificate,
    ) -> None:
        self._client = client
        self._keys = keys
        self._key_spec = key_spec
        self._verify = verify
        self.outbox: list[Report] = []

    async def _send(self, report: Report) -> None:
        """A report after the fact; kept for later when the engine is unavailable (the job is not offered again)."""
        try:
            await report.send(self._client)
        except EngineUnavailable:
            self.outbox.append(report)
            log.info("job %s: engine unavailable, the %s report will be sent when it is back", report.job_id,
                     report.what)  # fmt: skip
        except AgentAPIError as exc:
            log.warning("job %s: the engine did not take the %s report: %s", report.job_id, report.what, exc.message)

    async def flush(self) -> None:
        """Send the reports kept during an outage, oldest first; EngineUnavailable stops at the first failure."""
        while self.outbox:
            report = self.outbox[0]
            try:
                await report.send(self._client)
            except EngineUnavailable:
                raise
            except AgentAPIError as exc:
                log.warning("job %s: the engine did not take the %s report: %s", report.job_id, report.what,
                            exc.message)  # fmt: skip
            self.outbox.pop(0)

    async def handle(self, item: Mapping[str, Any]) -> Outcome:
        job_id = str(item.get("job_id") or "")
        status, kind = item.get("status"), item.get("type")
        if status == JobStatus.AWAITING_CSR.value:
            return await self._csr(job_id, item)
        if kind == JobType.DEPLOYMENT.value and status == JobStatus.RUNNING.value:
            return await self._deploy(job_id, item)
        return Outcome(job_id, "skipped", f"nothing to do for a {kind} job in {status}")

    async def _fail(self, job_id: str, message: str) -> Outcome:
        log.warning("job %s failed: %s", job_id, message)
        await self._send(Report(job_id, "status", {"status": JobStatus.FAILED.value, "error": message}))
        return Outcome(job_id, "failed", message)

    # ------------------------------------------------------------------ CSR
    async def _csr(self, job_id: str, item: Mapping[str, Any]) -> Outcome:
        certificate_id = str(item.get("certificate_id") or "")
        common_name = str(item.get("common_name") or "")
        sans = tuple(str(s) for s in item.get("sans") or ())
        try:
            prepared = await anyio.to_thread.run_sync(
                lambda: self._keys.prepare_csr(certificate_id, common_name, sans, self._key_spec)
            )
        except CertctlError as exc:
            return await self._fail(job_id, f"cannot make a CSR on the agent: {exc.message}")
        except OSError as exc:
            return await self._fail(job_id, f"cannot write the key in {self._keys.directory}: {exc.strerror or exc}")
        try:
            await self._client.submit_csr(job_id, prepared.csr_pem)
        except EngineUnavailable:
            raise
        except AgentAPIError as exc:
            if exc.status == 409:  # the job no longer waits for a CSR (cancelled, or already answered)
                return Outcome(job_id, "skipped", exc.message)
            return await self._fail(job_id, f"the engine refused the CSR: {exc.message}")
        log.info("job %s: CSR for %s submitted; its key stays in %s", job_id, certificate_id, prepared.key_path)
        return Outcome(job_id, "csr_submitted", str(prepared.key_path))

    # ------------------------------------------------------------------ deployment
    async def _deploy(self, job_id: str, item: Mapping[str, Any]) -> Outcome:
        certificate_id = str(item.get("certificate_id") or "")
        config: Mapping[str, Any] = item.get("target_config") or {}
        try:
            target_type = TargetType(str(item.get("target_type")))
        except ValueError:
            return await self._fail(job_id, f"unknown target type '{item.get('target_type')}'")
        try:
            picked = await self._client.certificate(certificate_id)
        except EngineUnavailable:
            raise
        except AgentAPIError as exc:
            return await self._fail(job_id, f"cannot pick up the certificate: {exc.message}")
        leaf, chain = str(picked.get("certificate_pem") or ""), str(picked.get("chain_pem") or "")
        try:
            key = await anyio.to_thread.run_sync(lambda: self._local_key(certificate_id, leaf))
            bundle = DeploymentBundle(
                certificate_id=certificate_id,
                version_id=str(picked.get("version_id") or ""),
                fingerprint_sha256=str(picked.get("fingerprint_sha256") or ""),
                certificate_pem=leaf,
                chain_pem=chain,
                key_pem=key,
            )
            connector = connector_for(target_type)
            result = await anyio.to_thread.run_sync(lambda: connector.deploy(bundle, config))
            if key is not None:
                await anyio.to_thread.run_sync(lambda: self._keys.promote(certificate_id, leaf))
        except CertctlError as exc:
            return await self._fail(job_id, exc.message)
        except (OSError, ValueError) as exc:
            return await self._fail(job_id, f"deployment failed: {type(exc).__name__}: {exc}")
        await self._send(Report(job_id, "status", {"status": JobStatus.COMPLETED.value}))
        log.info("job %s: %s deployed to %s target (%s)", job_id, certificate_id, target_type.value, result.message)
        await self._verification(job_id, bundle.fingerprint_sha256, config)
        return Outcome(job_id, "deployed", result.message)

    def _local_key(self, certificate_id: str, leaf_pem: str) -> str | None:
        """The key made here for this certificate, or None (the engine made it and the target has it)."""
        if not leaf_pem:
            raise DeployError("the engine sent no certificate")
        try:
            return self._keys.key_for(certificate_id, leaf_pem).decode()
        except InvalidInput:
            if self._keys.pending_path(certificate_id).exists() or self._keys.current_path(certificate_id).exists():
                raise DeployError(
                    f"no key in {self._keys.directory} belongs to the certificate of '{certificate_id}'"
                ) from None
            return None

    async def _verification(self, job_id: str, expected: str, config: Mapping[str, Any]) -> None:
        """Best effort: what the target now serves, reported; never changes the deployment's outcome."""
        host = next((str(config[k]) for k in HOST_KEYS if config.get(k)), None)
        if host is None:
            return
        try:
            port = int(config.get("port") or 443)
            delay = float(config.get("verify_delay_seconds", DEFAULT_VERIFY_DELAY_SECONDS))
            timeout = float(config.get("verify_timeout_seconds", DEFAULT_VERIFY_TIMEOUT_SECONDS))
        except (TypeError, ValueError):
            log.warning("job %s: the target's port or verification settings are not numbers; not verified", job_id)
            return
        if delay > 0:
            await anyio.sleep(delay)
        server_name = config.get("server_name") or None
        outcome = await anyio.to_thread.run_sync(
            lambda: self._verify(host, port, expected, server_name=server_name, timeout=timeout)
        )
        body = {"verified": outcome.verified, "actual_fingerprint": outcome.actual_fingerprint, "error": outcome.error}
        await self._send(Report(job_id, "verification", body))
        if outcome.verified:
            log.info("job %s: %s:%s serves the deployed certificate", job_id, host, port)
        else:
            log.warning("job %s: verification failed: %s", job_id, outcome.error)
