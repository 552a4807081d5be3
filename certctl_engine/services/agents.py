"""Agents: registration with a bootstrap token, per-agent keys kept hashed, heartbeats, and the work
an agent does for the engine (deployments to its targets, CSRs for keys that never leave it).

Everything an agent sees is its own: its jobs, the certificates of its jobs and targets. A
job of another agent is reported as not found, so ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from certctl_engine.connectors.targets import VerificationOutcome
from certctl_engine.domain import (
    Actor,
    ActorType,
    Agent,
    AgentStatus,
    CertificateVersion,
    Job,
    JobStatus,
    JobType,
    VerificationStatus,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound, Unauthorized
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.deployments import DeploymentService, split_chain
from certctl_engine.services.discovery import DiscoveryService
from certctl_engine.services.issuance import IssuanceService
from certctl_engine.services.jobs import JobService
from certctl_engine.services.validation import require_text
from certctl_engine.store.models import (
    AgentModel,
    CertificateModel,
    CertificateSANModel,
    CertificateTargetModel,
    JobModel,
    TargetModel,
)

HEARTBEAT_TIMEOUT = timedelta(minutes=5)
_METADATA = ("hostname", "os", "architecture", "ip_address", "version")


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _agent(row: AgentModel) -> Agent:
    return Agent(
        id=row.id,
        name=row.name,
        hostname=row.hostname,
        status=AgentStatus(row.status),
        last_heartbeat_at=row.last_heartbeat_at,
        registered_at=row.registered_at,
        os=row.os,
        architecture=row.architecture,
        ip_address=row.ip_address,
        version=row.version,
    )


@dataclass(frozen=True, slots=True)
class Registration:
    """A new agent and its API key, shown this once (only its hash is stored)."""

    agent: Agent
    api_key: str


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One thing for an agent to do, with what it needs to do it (never a private key)."""

    job_id: str
    type: JobType
    status: JobStatus
    certificate_id: str
    common_name: str
    sans: tuple[str, ...]
    target_id: str | None = None
    target_type: str | None = None
    target_config: Mapping[str, Any] | None = None
    version_id: str | None = None


def agent_actor(agent: Agent | AgentModel) -> Actor:
    return Actor(agent.id, ActorType.AGENT)


class AgentService:
    def __init__(
        self,
        ctx: ServiceContext,
        audit: AuditService,
        jobs: JobService,
        certificates: CertificateService,
        issuance: IssuanceService,
        deployments: DeploymentService,
        discovery: DiscoveryService,
        *,
        bootstrap_token: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._jobs = jobs
        self._certificates = certificates
        self._issuance = issuance
        self._deployments = deployments
        self._discovery = discovery
        self._bootstrap = bootstrap_token or None

    # ------------------------------------------------------------------ identity
    def register(self, name: str, *, bootstrap_token: str, hostname: str = "") -> Registration:
        """A new agent, if the bootstrap token is right (compared in constant time)."""
        if self._bootstrap is None:
            raise Unauthorized("agent registration is off: set CERTCTL_AGENT_BOOTSTRAP_TOKEN on the engine")
        if not hmac.compare_digest(bootstrap_token.encode(), self._bootstrap.encode()):
            raise Unauthorized("the bootstrap token is not valid")
        name = require_text(name, "name")
        api_key = secrets.token_urlsafe(32)
        now = self._ctx.now()
        with self._ctx.store.write():
            if AgentModel.get_or_none(AgentModel.name == name):
                raise Conflict(f"an agent named '{name}' is already registered")
            row = AgentModel.create(
                id=new_id("agent"),
                name=name,
                hostname=require_text(hostname, "hostname", max_length=255, allow_empty=True),
                status=AgentStatus.ONLINE.value,
                last_heartbeat_at=now,
                registered_at=now,
                api_key_hash=hash_key(api_key),
            )
            self._audit.record(agent_actor(row), "agent_registered", "agent", row.id, {"name": name})
        return Registration(_agent(row), api_key)

    def authenticate(self, api_key: str) -> Agent:
        """The agent this key belongs to; the lookup is by hash, the match checked in constant time."""
        if not api_key:
            raise Unauthorized("an agent API key is required")
        digest = hash_key(api_key)
        row = AgentModel.get_or_none(AgentModel.api_key_hash == digest)
        if row is None or not hmac.compare_digest(row.api_key_hash or "", digest):
            raise Unauthorized("the agent API key is not valid")
        return _agent(row)

    def get(self, agent_id: str) -> Agent:
        row = AgentModel.get_or_none(AgentModel.id == agent_id)
        if row is None:
            raise NotFound("agent", agent_id, hint="list agents to see the ids")
        return _agent(row)

    def list(self) -> list[Agent]:
        return [_agent(r) for r in AgentModel.select().order_by(AgentModel.name)]

    def heartbeat(self, agent_id: str, metadata: Mapping[str, Any]) -> Agent:
        """Alive, with what the agent says of itself (OS, architecture, version, address)."""
        changes: dict[str, Any] = {}
        for field in _METADATA:
            value = metadata.get(field)
            if value is not None:
                if not isinstance(value, str) or len(value) > (255 if field == "hostname" else 64):
                    raise InvalidInput(f"{field} must be text of reasonable length", field=field)
                changes[field] = value
        now = self._ctx.now()
        with self._ctx.store.write():
            row = AgentModel.get_or_none(AgentModel.id == agent_id)
            if row is None:
                raise NotFound("agent", agent_id)
            came_back = row.status != AgentStatus.ONLINE.value
            AgentModel.update(status=AgentStatus.ONLINE.value, last_heartbeat_at=now, **changes).where(
                AgentModel.id == agent_id
            ).execute()
            if came_back:
                self._audit.record(agent_actor(row), "agent_online", "agent", agent_id, {"name": row.name})
        return self.get(agent_id)

    def mark_stale_offline(self, *, older_than: timedelta = HEARTBEAT_TIMEOUT, actor: Actor) -> list[str]:
        """Online agents silent for longer than ``older_than`` become Offline (and are alerted on)."""
        cutoff = self._ctx.now() - older_than
        with self._ctx.store.write():
            rows = list(
                AgentModel.select().where(
                    (AgentModel.status == AgentStatus.ONLINE.value)
                    & (AgentModel.last_heartbeat_at < cutoff)
                    & (AgentModel.api_key_hash.is_null(False))
                )
            )
            for row in rows:
                AgentModel.update(status=AgentStatus.OFFLINE.value).where(AgentModel.id == row.id).execute()
                self._audit.record(
                    actor,
                    "agent_marked_offline",
                    "agent",
                    row.id,
                    {"name": row.name, "last_heartbeat_at": row.last_heartbeat_at.isoformat()},
                )
        return [r.id for r in rows]

    # ------------------------------------------------------------------ work
    def _own_job(self, agent_id: str, job_id: str) -> Job:
        job = self._jobs.get(job_id) if JobModel.get_or_none(JobModel.id == job_id) else None
        if job is None or job.agent_id != agent_id:
            raise NotFound("job", job_id, hint="ask for work to see this agent's jobs")
        return job

    def work(self, agent_id: str, *, limit: int = 20) -> list[WorkItem]:
        """This agent's due deployments (taken: they go to Running) and the CSRs it owes."""
        actor = Actor(agent_id, ActorType.AGENT)
        items: list[WorkItem] = []
        now = self._ctx.now()
        due = (
            (JobModel.agent == agent_id)
            & (JobModel.type == JobType.DEPLOYMENT.value)
            & (JobModel.status == JobStatus.PENDING.value)
            & (JobModel.scheduled_at <= now)
        )
        # Most polls find nothing: look first without the write lock, take it only to claim.
        if JobModel.select(JobModel.id).where(due).exists():
            with self._ctx.store.write():
                query = JobModel.select().where(due).order_by(JobModel.scheduled_at).limit(limit)
                if not self._ctx.store.is_sqlite:
                    query = query.for_update("FOR UPDATE SKIP LOCKED")
                for row in list(query):
                    job = self._jobs.transition(row.id, JobStatus.RUNNING, actor=actor)
                    items.append(self._item(job))
        for row in JobModel.select().where(
            (JobModel.agent == agent_id) & (JobModel.status == JobStatus.AWAITING_CSR.value)
        ):
            items.append(self._item(self._jobs.get(row.id)))
        return items

    def _item(self, job: Job) -> WorkItem:
        cert = CertificateModel.get_by_id(job.certificate_id)
        sans = tuple(s.value for s in CertificateSANModel.select().where(CertificateSANModel.certificate == cert.id))
        target = TargetModel.get_or_none(TargetModel.id == job.target_id) if job.target_id else None
        return WorkItem(
            job_id=job.id,
            type=job.type,
            status=job.status,
            certificate_id=cert.id,
            common_name=cert.common_name,
            sans=sans,
            target_id=target.id if target else None,
            target_type=target.type if target else None,
            target_config=dict(target.config or {}) if target else None,
            version_id=(job.details or {}).get("version_id"),
        )

    def certificate_for(self, agent_id: str, certificate_id: str) -> dict[str, str]:
        """The PEM of a certificate this agent has a job or a target for; never its key."""
        owns = (
            JobModel.select().where((JobModel.agent == agent_id) & (JobModel.certificate == certificate_id)).exists()
            or CertificateTargetModel.select()
            .join(TargetModel, on=(CertificateTargetModel.target == TargetModel.id))
            .where((CertificateTargetModel.certificate == certificate_id) & (TargetModel.agent == agent_id))
            .exists()
        )
        cert = CertificateModel.get_or_none(CertificateModel.id == certificate_id)
        if not owns or cert is None or not cert.current_version_id:
            raise NotFound("certificate", certificate_id, hint="only certificates of this agent's jobs and targets")
        version = self._certificates.get_version(cert.current_version_id)
        leaf, chain = split_chain(version.pem_chain)
        self._audit.append(Actor(agent_id, ActorType.AGENT), "certificate_picked_up", "certificate", certificate_id, {})
        return {
            "certificate_id": certificate_id,
            "version_id": version.id,
            "certificate_pem": leaf,
            "chain_pem": chain,
            "fingerprint_sha256": version.fingerprint_sha256,
        }

    def submit_csr(self, agent_id: str, job_id: str, csr_pem: str) -> CertificateVersion:
        """Sign the agent's CSR for a job waiting for one; the job completes with the new version."""
        job = self._own_job(agent_id, job_id)
        if job.status is not JobStatus.AWAITING_CSR:
            raise Conflict(f"job '{job_id}' is {job.status.value}; it does not wait for a CSR")
        actor = Actor(agent_id, ActorType.AGENT)
        self._jobs.transition(job_id, JobStatus.RUNNING, actor=actor)

        def finish(version: CertificateVersion) -> None:
            self._jobs.complete(job_id, actor=actor, details={"version_id": version.id, "key": "agent"})

        try:
            cert = CertificateModel.get_by_id(job.certificate_id)
            call = self._issuance.renew if cert.current_version_id else self._issuance.issue
            return call(job.certificate_id, actor=actor, csr_pem=csr_pem, on_stored=finish)
        except Exception:
            self._jobs.transition(job_id, JobStatus.AWAITING_CSR, actor=actor)
            raise

    def report(self, agent_id: str, job_id: str, status: str, error: str | None = None) -> Job:
        """What the agent did with a deployment: Running, Completed or Failed (with its error verbatim)."""
        job = self._own_job(agent_id, job_id)
        actor = Actor(agent_id, ActorType.AGENT)
        try:
            wanted = JobStatus(status)
        except ValueError:
            raise InvalidInput(
                f"unknown job status '{status}'; report Running, Completed or Failed", field="status"
            ) from None
        if wanted is JobStatus.COMPLETED:
            return self._jobs.complete(job_id, actor=actor)
        if wanted is JobStatus.FAILED:
            if job.status is JobStatus.AWAITING_CSR:  # the agent could not make or send a CSR: an attempt failed
                self._jobs.transition(job_id, JobStatus.RUNNING, actor=actor)
            return self._jobs.fail(job_id, error or "the agent reported a failure without a message", actor=actor)
        if wanted is JobStatus.RUNNING:
            return job if job.status is JobStatus.RUNNING else self._jobs.transition(job_id, wanted, actor=actor)
        raise InvalidInput(f"an agent reports Running, Completed or Failed, not {status}", field="status")

    def report_verification(
        self, agent_id: str, job_id: str, verified: bool, actual_fingerprint: str, error: str | None
    ) -> VerificationStatus:
        """What the agent's TLS check after a deployment saw; success only if the served leaf is the deployed one."""
        job = self._own_job(agent_id, job_id)
        if job.type is not JobType.DEPLOYMENT:
            raise Conflict(f"job '{job_id}' is a {job.type.value} job; only deployments are verified")
        version_id = (job.details or {}).get("version_id")
        version = (
            self._certificates.get_version(version_id)
            if version_id
            else self._certificates.current_version(job.certificate_id)
        )
        if version is None:
            raise Conflict(f"job '{job_id}' has no certificate version to verify against")
        actual = actual_fingerprint.strip().lower()[:128]
        matches = verified and actual == version.fingerprint_sha256
        if verified and not matches:
            error = f"the reported fingerprint {actual[:16]}… is not the deployed {version.fingerprint_sha256[:16]}…"
        outcome = VerificationOutcome(matches, actual, None if matches else (error or "verification failed")[:2000])
        return self._deployments.record_verification(
            job_id, version.fingerprint_sha256, outcome, actor=Actor(agent_id, ActorType.AGENT)
        )

    def report_discoveries(
        self, agent_id: str, entries: Sequence[Mapping[str, Any]], errors: Sequence[str], directories: Sequence[str],
        duration_ms: int,
    ) -> Any:  # fmt: skip
        return self._discovery.ingest(
            agent_id=agent_id,
            entries=entries,
            errors=errors,
            directories=directories,
            duration_ms=duration_ms,
            actor=Actor(agent_id, ActorType.AGENT),
        )
