"""Automatic renewal: finding certificates inside their renewal window and running the jobs.

The window is the renewal policy's ``renewal_window_days`` before expiry, or, for an ACME CA
that publishes renewal information (ARI, RFC 9773), the CA's suggested window when that
comes first. One indexed range query on ``expires_at`` (bounded by the widest window) finds
the policy's candidates and one indexed query the CA's; each then gets a renewal job unless
it already has one. Jobs run one at a time per certificate and one certificate's failure
never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import peewee

from certctl_engine.domain import (
    Actor,
    CertificateStatus,
    CertificateVersion,
    Job,
    JobStatus,
    JobType,
)
from certctl_engine.errors import CertctlError, InvalidInput, IssuerError
from certctl_engine.faults import crash_point
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.issuance import IssuanceService
from certctl_engine.services.jobs import JobService
from certctl_engine.services.profiles import short_lived_profile
from certctl_engine.services.renewal_info import RenewalInfoService
from certctl_engine.store.models import (
    CertificateModel,
    CertificateTargetModel,
    ProfileModel,
    RenewalPolicyModel,
    TargetModel,
)

log = logging.getLogger("certctl.renewal")
SCHEDULER = Actor.system("scheduler")
_RENEWABLE = (
    CertificateStatus.ACTIVE.value,
    CertificateStatus.EXPIRING.value,
    CertificateStatus.EXPIRED.value,
    # A renewal whose attempts ran out (a CA down longer than its backoff) is tried again at the
    # next check, with a new job, until it succeeds or the certificate is retired.
    CertificateStatus.FAILED.value,
)


KEYGEN_MODES = ("server", "agent")
"""Where keys are made: by the engine (sealed in the store) or by the agent that deploys them."""


@dataclass(frozen=True, slots=True)
class RenewalCheck:
    checked: int
    jobs_created: int
    status_changes: int


@dataclass(frozen=True, slots=True)
class JobRun:
    completed: int
    failed: int
    retrying: int
    awaiting_csr: int = 0


class RenewalService:
    def __init__(
        self,
        ctx: ServiceContext,
        audit: AuditService,
        jobs: JobService,
        issuance: IssuanceService,
        *,
        keygen_mode: str = "server",
        renewal_info: RenewalInfoService | None = None,
    ) -> None:
        self._ctx = ctx
        self._renewal_info = renewal_info
        self._audit = audit
        self._jobs = jobs
        self._issuance = issuance
        if keygen_mode not in KEYGEN_MODES:
            raise InvalidInput(
                f"CERTCTL_KEYGEN_MODE must be one of {', '.join(KEYGEN_MODES)}, got '{keygen_mode}'",
                field="CERTCTL_KEYGEN_MODE",
            )
        self._keygen_mode = keygen_mode

    def due(self) -> list[str]:
        """Ids of every live certificate inside its renewal window: its policy's, or its CA's (ARI) if earlier."""
        in_policy = self._policy_due()
        asked = self._renewal_info.due() if self._renewal_info is not None else {}
        seen = set(in_policy)
        return in_policy + [cert_id for cert_id in asked if cert_id not in seen]

    def _policy_due(self) -> list[str]:
        """Ids of every live certificate inside its policy's renewal window."""
        now = self._ctx.now()
        widest = RenewalPolicyModel.select(peewee.fn.MAX(RenewalPolicyModel.renewal_window_days)).scalar() or 0
        rows = (
            CertificateModel.select(
                CertificateModel.id,
                CertificateModel.status,
                CertificateModel.expires_at,
                RenewalPolicyModel.renewal_window_days,
            )
            .join(RenewalPolicyModel, on=(RenewalPolicyModel.id == CertificateModel.renewal_policy))
            .switch(CertificateModel)
            .join(ProfileModel, peewee.JOIN.LEFT_OUTER, on=(ProfileModel.id == CertificateModel.certificate_profile))
            .where(
                (CertificateModel.expires_at < now + timedelta(days=int(widest)))
                & CertificateModel.status.in_(_RENEWABLE)
                # Short-lived certificates are re-requested by their workloads, not renewed here.
                & ~short_lived_profile()
            )
            .tuples()
        )
        return [cert_id for cert_id, _status, expires_at, window in rows if expires_at - timedelta(days=window) <= now]

    def check(self, *, actor: Actor = SCHEDULER) -> RenewalCheck:
        """Mark expiring/expired certificates and queue a renewal job for each that has none."""
        now = self._ctx.now()
        created = changed = 0
        if self._renewal_info is not None:
            try:
                self._renewal_info.refresh(actor=actor)
            except Exception:  # the CAs' advice is extra: without it the policy window still applies
                log.exception("asking ACME CAs for renewal information failed")
        in_policy = set(self._policy_due())
        candidates = self.due()
        for cert_id in candidates:
            try:
                with self._ctx.store.write():
                    row = CertificateModel.get(CertificateModel.id == cert_id)
                    if cert_id in in_policy:
                        wanted = (
                            CertificateStatus.EXPIRED if row.expires_at <= now else CertificateStatus.EXPIRING
                        ).value
                    else:  # renewed early at the CA's request: not expiring by the policy's measure
                        wanted = row.status
                    if self._jobs.active_for(cert_id, JobType.RENEWAL) is None:
                        details = None if cert_id in in_policy else {"reason": "the ACME CA's renewal information"}
                        job = self._jobs.create(JobType.RENEWAL, cert_id, actor=actor, details=details)
                        created += 1
                        if job.status is JobStatus.PENDING:
                            wanted = CertificateStatus.RENEWAL_IN_PROGRESS.value
                    if row.status != wanted and row.status in _RENEWABLE:
                        CertificateModel.update(status=wanted, updated_at=now).where(
                            CertificateModel.id == cert_id
                        ).execute()
                        self._audit.record(
                            actor,
                            "certificate_updated",
                            "certificate",
                            cert_id,
                            {"status": {"from": row.status, "to": wanted}},
                        )
                        changed += 1
            except CertctlError as exc:  # one certificate never blocks the others
                log.warning("renewal check of %s failed: %s", cert_id, exc)
        return RenewalCheck(len(candidates), created, changed)

    def process_due(self, *, actor: Actor = SCHEDULER, limit: int = 20) -> JobRun:
        """Run due issuance and renewal jobs (server-side keys); each result is stored with its job."""
        completed = failed = retrying = awaiting = 0
        for job in self._jobs.claim_due(actor=actor, limit=limit, types=(JobType.ISSUANCE, JobType.RENEWAL)):
            outcome = self._run(job, actor)
            if outcome is JobStatus.COMPLETED:
                completed += 1
            elif outcome is JobStatus.FAILED:
                failed += 1
            elif outcome is JobStatus.AWAITING_CSR:
                awaiting += 1
            else:
                retrying += 1
        return JobRun(completed, failed, retrying, awaiting)

    def _key_holder(self, certificate_id: str) -> str | None:
        """The agent that makes this certificate's key, in agent key generation mode: the agent owning
        one of its targets (the key must live where the certificate is deployed)."""
        if self._keygen_mode != "agent":
            return None
        return (
            TargetModel.select(TargetModel.agent)
            .join(CertificateTargetModel, on=(CertificateTargetModel.target == TargetModel.id))
            .where((CertificateTargetModel.certificate == certificate_id) & TargetModel.agent.is_null(False))
            .order_by(TargetModel.id)
            .limit(1)
            .scalar()
        )

    def _run(self, job: Job, actor: Actor) -> JobStatus:
        def finish(version: CertificateVersion) -> None:
            self._jobs.complete(job.id, actor=actor, details={"version_id": version.id})
            crash_point("job.storing")

        holder = self._key_holder(job.certificate_id)
        if holder is not None:
            # The key is made on the agent; the job waits for its CSR (see the agent API).
            self._jobs.await_csr(job.id, actor=actor, agent_id=holder)
            with self._ctx.store.write():
                CertificateModel.update(
                    status=CertificateStatus.RENEWAL_IN_PROGRESS.value, updated_at=self._ctx.now()
                ).where(
                    (CertificateModel.id == job.certificate_id) & CertificateModel.current_version_id.is_null(False)
                ).execute()
            return JobStatus.AWAITING_CSR
        try:
            if job.type is JobType.ISSUANCE:
                self._issuance.issue(job.certificate_id, actor=actor, on_stored=finish)
            else:
                self._issuance.renew(job.certificate_id, actor=actor, on_stored=finish)
            crash_point("job.stored")
            return JobStatus.COMPLETED
        except CertctlError as exc:
            now = self._jobs.get(job.id)
            if now.status is not JobStatus.RUNNING:  # finished meanwhile (issued directly): nothing to fail
                return now.status
            wait = exc.retry_after_seconds if isinstance(exc, IssuerError) else None
            result = self._jobs.fail(job.id, str(exc), actor=actor, wait_seconds=wait)
        except Exception as exc:  # a bug in one job must not stop the loop; keep the error verbatim
            log.exception("job %s crashed", job.id)
            result = self._jobs.fail(job.id, f"{type(exc).__name__}: {exc}", actor=actor)
        if result.status is JobStatus.FAILED:
            with self._ctx.store.write():
                CertificateModel.update(status=CertificateStatus.FAILED.value, updated_at=self._ctx.now()).where(
                    (CertificateModel.id == job.certificate_id)
                    & (CertificateModel.status == CertificateStatus.RENEWAL_IN_PROGRESS.value)
                ).execute()
        return result.status
