"""Deployments: one job per certificate-target mapping, run where the target lives, then verified.

Every new certificate version (issued, renewed, by hand or by the scheduler) queues one
``Deployment`` job per enabled target mapped to its certificate, in the transaction that
stores the version, so a crash never leaves a version that nobody will deploy. Targets
owned by an agent wait for that agent to claim them; targets without one are run by the
engine itself (its built-in local agent). After a deployment the served certificate is
checked over TLS when the target names a host; the check is recorded and never changes
the job's outcome, as in the inventory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from certctl_engine.connectors.targets import (
    DeploymentBundle,
    DeploymentResult,
    VerificationOutcome,
    connector_for,
    verify_served_certificate,
)
from certctl_engine.domain import (
    ACTIVE_JOB_STATUSES,
    Actor,
    AgentStatus,
    CertificateVersion,
    Job,
    JobStatus,
    JobType,
    TargetCheck,
    TargetType,
    VerificationStatus,
)
from certctl_engine.errors import CertctlError, Conflict, DeployError, NotFound
from certctl_engine.faults import crash_point
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.jobs import JobService
from certctl_engine.services.targets import TargetService
from certctl_engine.store.bulk import insert_rows
from certctl_engine.store.models import (
    AgentModel,
    CertificateTargetModel,
    JobModel,
    TargetModel,
    VerificationResultModel,
)

log = logging.getLogger(__name__)

DEFAULT_VERIFY_DELAY_SECONDS = 2.0
DEFAULT_VERIFY_TIMEOUT_SECONDS = 10.0
_HOST_KEYS = ("host", "hostname", "target", "address")
OFFLINE_AGENT_ERROR = "agent is offline"
FAILED_RETRY_AFTER = timedelta(hours=1)
"""How long a failed deployment of a current version rests before it is tried again."""
"""How a deployment attempt that its agent could not take starts; such jobs run again when it returns."""


@dataclass(frozen=True, slots=True)
class DeploymentRun:
    """What one pass of the local deployment runner did."""

    completed: int
    failed: int
    retrying: int
    held_for_offline_agents: int = 0
    caught_up: int = 0


def split_chain(pem_chain: str) -> tuple[str, str]:
    """The leaf's PEM and the rest of the chain's, from a stored version's PEM chain."""
    marker = "-----END CERTIFICATE-----"
    end = pem_chain.find(marker)
    if end < 0:
        raise DeployError("the certificate version holds no PEM certificate")
    end += len(marker)
    return pem_chain[:end].strip() + "\n", pem_chain[end:].strip() + ("\n" if pem_chain[end:].strip() else "")


class DeploymentService:
    def __init__(
        self,
        ctx: ServiceContext,
        audit: AuditService,
        jobs: JobService,
        certificates: CertificateService,
        targets: TargetService,
        *,
        verify: Callable[..., VerificationOutcome] = verify_served_certificate,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._jobs = jobs
        self._certificates = certificates
        self._targets = targets
        self._verify = verify
        self._sleep = sleep

    # ------------------------------------------------------------------ queueing
    def queue_for_versions(self, versions: Sequence[CertificateVersion], *, actor: Actor) -> list[str]:
        """Queue deployment jobs for new versions; runs inside the transaction that stored them.

        One query finds the mapped targets of all the versions' certificates, so a bulk
        issuance of certificates without targets costs one SELECT.
        """
        if not versions:
            return []
        by_certificate = {v.certificate_id: v for v in versions}
        mappings = list(
            CertificateTargetModel.select(
                CertificateTargetModel.certificate, TargetModel.id, TargetModel.agent, TargetModel.enabled
            )
            .join(TargetModel, on=(CertificateTargetModel.target == TargetModel.id))
            .where(CertificateTargetModel.certificate.in_(list(by_certificate)))
            .tuples()
        )
        if not mappings:
            return []
        now = self._ctx.now()
        rows: list[dict[str, Any]] = []
        for cert_id, target_id, agent_id, enabled in mappings:
            if not enabled:
                continue
            rows.append(
                {
                    "id": new_id("job"),
                    "type": JobType.DEPLOYMENT.value,
                    "certificate": cert_id,
                    "target": target_id,
                    "agent": agent_id,
                    "status": JobStatus.PENDING.value,
                    "max_attempts": 3,
                    "details": {"version_id": by_certificate[cert_id].id},
                    "requested_by": actor.name,
                    "scheduled_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with self._ctx.store.write():
            # An older deployment still waiting for the same target is superseded: deploying
            # the previous version after this one would roll the server back.
            pairs = {(r["certificate"], r["target"]) for r in rows}
            waiting = JobModel.select(JobModel.id, JobModel.certificate, JobModel.target).where(
                (JobModel.type == JobType.DEPLOYMENT.value)
                & (JobModel.status == JobStatus.PENDING.value)
                & JobModel.certificate.in_(list({cert for cert, _ in pairs}))
            )
            for job in waiting:
                if (job.certificate_id, job.target_id) in pairs:
                    self._jobs.transition(
                        job.id, JobStatus.CANCELLED, actor=actor, error="superseded by a newer certificate version"
                    )
            insert_rows(self._ctx.store.database, JobModel, rows)
            self._audit.record_many(
                actor,
                "deployment_job_created",
                "job",
                [
                    (r["id"], {"certificate_id": r["certificate"], "target_id": r["target"], **r["details"]})
                    for r in rows
                ],
            )
        return [r["id"] for r in rows]

    def trigger(self, certificate_id: str, *, actor: Actor, target_ids: Sequence[str] | None = None) -> list[Job]:
        """Deploy the current version now: to the given mapped targets, or to all of them."""
        version = self._certificates.current_version(certificate_id)
        if version is None:
            raise Conflict(f"certificate '{certificate_id}' has not been issued yet; there is nothing to deploy")
        mapped = set(self._certificates.get(certificate_id).target_ids)
        wanted = list(dict.fromkeys(target_ids)) if target_ids else sorted(mapped)
        if not wanted:
            raise Conflict(f"certificate '{certificate_id}' is mapped to no target; add targets to it first")
        for target_id in wanted:
            if target_id not in mapped:
                raise NotFound(
                    "target mapping", f"{certificate_id} → {target_id}", hint="map the target to the certificate first"
                )
        jobs: list[Job] = []
        with self._ctx.store.write():
            for target_id in wanted:
                active = (
                    JobModel.select(JobModel.id)
                    .where(
                        (JobModel.type == JobType.DEPLOYMENT.value)
                        & (JobModel.certificate == certificate_id)
                        & (JobModel.target == target_id)
                        & JobModel.status.in_([s.value for s in ACTIVE_JOB_STATUSES])
                    )
                    .first()
                )
                if active is not None:
                    raise Conflict(
                        f"a deployment of '{certificate_id}' to '{target_id}' is already queued: {active.id}"
                    )
                target = self._targets.get(target_id)
                jobs.append(
                    self._jobs.create(
                        JobType.DEPLOYMENT,
                        certificate_id,
                        actor=actor,
                        target_id=target_id,
                        agent_id=target.agent_id,
                        details={"version_id": version.id},
                    )
                )
        return jobs

    # ------------------------------------------------------------------ running (engine-side targets)
    def bundle(self, job: Job) -> DeploymentBundle:
        """The files of the job's version; the key only when the engine holds it."""
        version_id = (job.details or {}).get("version_id")
        version = (
            self._certificates.get_version(version_id)
            if version_id
            else self._certificates.current_version(job.certificate_id)
        )
        if version is None:
            raise DeployError(f"certificate '{job.certificate_id}' has no issued version to deploy")
        leaf, chain = split_chain(version.pem_chain)
        key = self._certificates.private_key_pem(version.id)
        return DeploymentBundle(
            certificate_id=job.certificate_id,
            version_id=version.id,
            fingerprint_sha256=version.fingerprint_sha256,
            certificate_pem=leaf,
            chain_pem=chain,
            key_pem=key.decode() if key else None,
        )

    def process_due(self, *, actor: Actor, limit: int = 20) -> DeploymentRun:
        """Run due deployment jobs of targets without an agent; one failing target never blocks another.

        Due jobs of agents that are offline fail their attempt (so their owners hear of it and
        backoff applies), and the ones that failed only for that run again once the agent is back.
        """
        held = self.hold_for_offline_agents(actor=actor, limit=limit)
        caught_up = self.catch_up_returned_agents(actor=actor, limit=limit)
        caught_up += self.retry_failed(actor=actor, limit=limit)
        completed = failed = retrying = 0
        for job in self._jobs.claim_due(actor=actor, limit=limit, types=(JobType.DEPLOYMENT,), unassigned_only=True):
            status = self._run(job, actor)
            if status is JobStatus.COMPLETED:
                completed += 1
            elif status is JobStatus.FAILED:
                failed += 1
            else:
                retrying += 1
        return DeploymentRun(completed, failed, retrying, held, caught_up)

    def hold_for_offline_agents(self, *, actor: Actor, limit: int = 50) -> int:
        """Due deployments of Offline agents: the attempt fails with "agent is offline" and backs off.

        After its last attempt the job is Failed and the deployment-failed alert goes out, as
        for any other failure; nothing waits silently behind an agent that is gone.
        """
        offline = {r.id: r for r in AgentModel.select().where(AgentModel.status == AgentStatus.OFFLINE.value)}
        if not offline:
            return 0
        jobs = self._jobs.claim_due(actor=actor, limit=limit, types=(JobType.DEPLOYMENT,), agent_ids=list(offline))
        for job in jobs:
            agent = offline[job.agent_id or ""]
            seen = f"{agent.last_heartbeat_at:%Y-%m-%d %H:%M} UTC" if agent.last_heartbeat_at else "never"
            self._jobs.fail(job.id, f"{OFFLINE_AGENT_ERROR}: '{agent.name}' last sent a heartbeat {seen}", actor=actor)
        return len(jobs)

    def catch_up_returned_agents(self, *, actor: Actor, limit: int = 50) -> int:
        """Failed deployments whose only trouble was an offline agent run again once it is Online."""
        rows = list(
            JobModel.select(JobModel)
            .join(AgentModel, on=(JobModel.agent == AgentModel.id))
            .where(
                (JobModel.type == JobType.DEPLOYMENT.value)
                & (JobModel.status == JobStatus.FAILED.value)
                & JobModel.last_error.startswith(OFFLINE_AGENT_ERROR)
                & (AgentModel.status == AgentStatus.ONLINE.value)
            )
            .order_by(JobModel.created_at)
            .limit(limit)
        )
        return self._retry(rows, actor)

    def retry_failed(self, *, actor: Actor, cool_down: timedelta = FAILED_RETRY_AFTER, limit: int = 50) -> int:
        """Failed deployments of a current version get one more attempt every ``cool_down``.

        A server whose reload stayed broken for longer than a job's attempts would otherwise keep
        the old certificate until it expired; instead it is tried again until it takes the new
        one (its failure was alerted once, at the job's first failed attempt).
        """
        offline = AgentModel.select(AgentModel.id).where(AgentModel.status != AgentStatus.ONLINE.value)
        rows = list(
            JobModel.select(JobModel)
            .where(
                (JobModel.type == JobType.DEPLOYMENT.value)
                & (JobModel.status == JobStatus.FAILED.value)
                & (JobModel.completed_at <= self._ctx.now() - cool_down)
                # An absent agent's jobs wait for it instead (catch_up_returned_agents).
                & (JobModel.agent.is_null() | JobModel.agent.not_in(offline))
            )
            .order_by(JobModel.completed_at)
            .limit(limit)
        )
        return self._retry(rows, actor)

    def _retry(self, rows: Sequence[JobModel], actor: Actor) -> int:
        """Retry each failed job that still matters: its version is current and nothing else is queued
        for that target (a newer version has its own deployment)."""
        retried = 0
        for row in rows:
            current = self._certificates.current_version(row.certificate_id)
            if current is None or (row.details or {}).get("version_id") != current.id:
                continue
            queued = (
                JobModel.select(JobModel.id)
                .where(
                    (JobModel.type == JobType.DEPLOYMENT.value)
                    & (JobModel.certificate == row.certificate_id)
                    & (JobModel.target == row.target_id)
                    & JobModel.status.in_([s.value for s in ACTIVE_JOB_STATUSES])
                )
                .exists()
            )
            if queued:
                continue
            self._jobs.retry(row.id, actor=actor)
            retried += 1
        return retried

    def _run(self, job: Job, actor: Actor) -> JobStatus:
        try:
            if job.target_id is None:
                raise DeployError("the deployment job names no target")
            target = self._targets.get(job.target_id)
            if not target.enabled:
                raise DeployError(f"target '{target.name}' is disabled")
            config = self._targets.connector_config(job.target_id)
            bundle = self.bundle(job)
            result = connector_for(target.type).deploy(bundle, config)
            crash_point("deployment.deployed")
        except CertctlError as exc:
            return self._jobs.fail(job.id, exc.message, actor=actor).status
        except Exception as exc:  # a connector bug must not stop the loop; keep the error verbatim
            log.exception("deployment job %s crashed", job.id)
            return self._jobs.fail(job.id, f"{type(exc).__name__}: {exc}", actor=actor).status
        self._jobs.complete(job.id, actor=actor, details=_result_details(result, target.type))
        self.verify(job.id, bundle.fingerprint_sha256, config, actor=actor)
        return JobStatus.COMPLETED

    def mapped_certificates(self, target_id: str) -> list[str]:
        """The ids of the certificates mapped to ``target_id``, sorted."""
        self._targets.get(target_id)
        query = CertificateTargetModel.select(CertificateTargetModel.certificate).where(
            CertificateTargetModel.target == target_id
        )
        return sorted(row.certificate_id for row in query)

    def snippet(self, target_id: str) -> str:
        """The server configuration lines that point the target's server at the files certctl deploys."""
        from certctl_engine.connectors.targets.snippets import snippet_for

        target = self._targets.get(target_id)
        return snippet_for(target.type, self._targets.connector_config(target_id))

    # ------------------------------------------------------------------ testing a target
    def check_target(self, target_id: str) -> TargetCheck:
        """Whether a deployment to ``target_id`` can work now; never raises for the target's own trouble.

        The configuration is checked by the target's connector; a connector that can ask the
        server itself (a configuration test) does so; when the configuration names a host, the
        certificate it serves now is reported. A target owned by an agent is checked there,
        at deployment, so here only its configuration and its agent's state are known.
        """
        target = self._targets.get(target_id)
        if not target.enabled:
            return TargetCheck(target_id, False, f"target '{target.name}' is disabled; enable it to deploy to it")
        config = self._targets.connector_config(target_id)
        try:
            connector = connector_for(target.type)
            connector.validate_config(config)
        except CertctlError as exc:
            return TargetCheck(target_id, False, f"configuration: {exc.message}")
        if target.agent_id:
            agent = AgentModel.get_or_none(AgentModel.id == target.agent_id)
            if agent is None:
                return TargetCheck(target_id, False, f"its agent '{target.agent_id}' is not registered")
            seen = f", last heartbeat {agent.last_heartbeat_at:%Y-%m-%d %H:%M} UTC" if agent.last_heartbeat_at else ""
            ok = agent.status == AgentStatus.ONLINE.value
            return TargetCheck(
                target_id,
                ok,
                f"configuration valid; agent '{agent.name}' deploys to it and is {agent.status}{seen}"
                + ("" if ok else "; deployments wait until it is back online"),
            )
        notes = ["configuration valid"]
        server_check = getattr(connector, "check", None)
        if server_check is not None:
            try:
                notes.append(str(server_check(config)))
            except CertctlError as exc:
                return TargetCheck(target_id, False, exc.message)
        host = next((str(config[k]) for k in _HOST_KEYS if config.get(k)), None)
        if host is not None:
            port = int(config.get("port") or 443)
            outcome = self._verify(
                host,
                port,
                "",
                server_name=config.get("server_name") or None,
                timeout=float(config.get("verify_timeout_seconds", DEFAULT_VERIFY_TIMEOUT_SECONDS)),
            )
            if not outcome.actual_fingerprint:
                return TargetCheck(target_id, False, f"{'; '.join(notes)}; but {outcome.error}")
            notes.append(f"{host}:{port} serves a certificate with SHA-256 {outcome.actual_fingerprint[:16]}…")
        return TargetCheck(target_id, True, "; ".join(notes))

    # ------------------------------------------------------------------ verification
    def verify(self, job_id: str, expected: str, config: Mapping[str, Any], *, actor: Actor) -> VerificationStatus:
        """Check what the target serves; skipped when its configuration names no host."""
        host = next((str(config[k]) for k in _HOST_KEYS if config.get(k)), None)
        if host is None:
            self.record_verification(job_id, expected, None, actor=actor)
            return VerificationStatus.SKIPPED
        delay = float(config.get("verify_delay_seconds", DEFAULT_VERIFY_DELAY_SECONDS))
        if delay > 0:
            self._sleep(delay)
        outcome = self._verify(
            host,
            int(config.get("port") or 443),
            expected,
            server_name=config.get("server_name") or None,
            timeout=float(config.get("verify_timeout_seconds", DEFAULT_VERIFY_TIMEOUT_SECONDS)),
        )
        return self.record_verification(job_id, expected, outcome, actor=actor)

    def record_verification(
        self, job_id: str, expected: str, outcome: VerificationOutcome | None, *, actor: Actor
    ) -> VerificationStatus:
        """Store a verification result (None = skipped) on the job, with its audit event."""
        now = self._ctx.now()
        with self._ctx.store.write():
            job = JobModel.get_or_none(JobModel.id == job_id)
            if job is None:
                raise NotFound("job", job_id)
            if outcome is None:
                status = VerificationStatus.SKIPPED
            else:
                status = VerificationStatus.SUCCESS if outcome.verified else VerificationStatus.FAILED
                VerificationResultModel.create(
                    id=new_id("verify"),
                    job=job_id,
                    target=job.target_id,
                    expected_fingerprint=expected,
                    actual_fingerprint=outcome.actual_fingerprint,
                    verified=outcome.verified,
                    verified_at=now,
                    error=outcome.error,
                )
            JobModel.update(
                verification_status=status.value,
                verified_at=now,
                verification_error=outcome.error if outcome else None,
                verification_fingerprint=outcome.actual_fingerprint if outcome else None,
                updated_at=now,
            ).where(JobModel.id == job_id).execute()
            action = "job_verification_success" if status is VerificationStatus.SUCCESS else "job_verification_failed"
            if status is VerificationStatus.SKIPPED:
                action = "job_verification_skipped"
            self._audit.record(
                actor,
                action,
                "job",
                job_id,
                {
                    "expected_fingerprint": expected,
                    "actual_fingerprint": outcome.actual_fingerprint if outcome else None,
                    "error": outcome.error if outcome else None,
                },
            )
        return status


def _result_details(result: DeploymentResult, target_type: TargetType) -> dict[str, Any]:
    return {
        "deployment": {
            "target_type": target_type.value,
            "changed": result.changed,
            "files": list(result.files),
            "message": result.message,
            **dict(result.details),
        }
    }
