"""Jobs: the unit of automated work (issue, renew, deploy, validate) and its state machine.

Every transition is one transaction and one audit event, checked against ``TRANSITIONS``:
an illegal move raises ``Conflict`` naming both states. A failed attempt goes back to
``Pending`` with an exponential, jittered delay until ``max_attempts`` is spent; then the
job is ``Failed`` and its last error is kept verbatim. Claiming due jobs is safe with
several schedulers: the store's write lock serialises it on SQLite, and on PostgreSQL the
rows are taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import peewee

from certctl_engine.domain import (
    ACTIVE_JOB_STATUSES,
    Actor,
    Job,
    JobStatus,
    JobType,
    Page,
    VerificationStatus,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound, Unauthorized
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.leases import SCHEDULER_LEASE
from certctl_engine.services.paging import check_limit, decode_cursor, encode_cursor
from certctl_engine.services.validation import parse_enum
from certctl_engine.store.models import CertificateModel, JobModel, LeaseModel, ProfileModel, RenewalPolicyModel

S = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.CANCELLED, S.AWAITING_APPROVAL}),
    S.AWAITING_APPROVAL: frozenset({S.PENDING, S.CANCELLED}),
    S.AWAITING_CSR: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.PENDING, S.AWAITING_CSR, S.CANCELLED}),
    S.FAILED: frozenset({S.PENDING}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}
CANCELLABLE = frozenset({S.PENDING, S.RUNNING, S.AWAITING_APPROVAL, S.AWAITING_CSR})
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)


def backoff_delay(attempts: int, *, base: timedelta = BACKOFF_BASE, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter: up to base·2^(attempts-1), capped, never under half of it."""
    ceiling = min(base * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)
    fraction = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling.total_seconds() * fraction)


def _job(row: JobModel) -> Job:
    return Job(
        id=row.id,
        type=JobType(row.type),
        certificate_id=row.certificate_id,
        target_id=row.target_id,
        agent_id=row.agent_id,
        status=JobStatus(row.status),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        last_error=row.last_error,
        scheduled_at=row.scheduled_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        created_at=row.created_at,
        requested_by=row.requested_by,
        verification_status=VerificationStatus(row.verification_status),
        details=dict(row.details or {}),
    )


class JobService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit

    # ------------------------------------------------------------------ reading
    def _row(self, job_id: str) -> JobModel:
        row = JobModel.get_or_none(JobModel.id == job_id)
        if row is None:
            raise NotFound("job", job_id, hint="list jobs to see the ids")
        return row

    def get(self, job_id: str) -> Job:
        return _job(self._row(job_id))

    def list(
        self,
        *,
        status: JobStatus | str | None = None,
        type: JobType | str | None = None,
        certificate_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Job]:
        """Jobs newest first, filtered, one page at a time."""
        size = check_limit(limit)
        query = JobModel.select()
        if status is not None:
            query = query.where(JobModel.status == parse_enum(JobStatus, status, "job status", field="status").value)
        if type is not None:
            query = query.where(JobModel.type == parse_enum(JobType, type, "job type", field="type").value)
        if certificate_id:
            query = query.where(JobModel.certificate == certificate_id)
        if cursor:
            position = decode_cursor("jobs", cursor)
            created, last_id = position.get("c"), position.get("id")
            if not isinstance(created, str) or not isinstance(last_id, str):
                raise InvalidInput("invalid cursor for the job list", field="cursor")
            query = query.where(peewee.Tuple(JobModel.created_at, JobModel.id) < peewee.Tuple(created, last_id))
        rows = list(query.order_by(JobModel.created_at.desc(), JobModel.id.desc()).limit(size + 1))
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = None
        if more and rows:
            stamp = JobModel.created_at.db_value(rows[-1].created_at)
            next_cursor = encode_cursor("jobs", {"c": stamp, "id": rows[-1].id})
        return Page(tuple(_job(r) for r in rows), next_cursor)

    def active_for(self, certificate_id: str, job_type: JobType) -> Job | None:
        row = (
            JobModel.select()
            .where(
                (JobModel.certificate == certificate_id)
                & (JobModel.type == job_type.value)
                & JobModel.status.in_([s.value for s in ACTIVE_JOB_STATUSES])
            )
            .first()
        )
        return _job(row) if row else None

    # ------------------------------------------------------------------ creating
    def needs_approval(self, certificate_id: str, job_type: JobType) -> str | None:
        """Why a job for this certificate must wait for a person, or None."""
        if job_type not in (JobType.ISSUANCE, JobType.RENEWAL):
            return None
        cert = CertificateModel.get(CertificateModel.id == certificate_id)
        profile = ProfileModel.get_or_none(ProfileModel.id == cert.certificate_profile_id)
        if profile is not None and profile.requires_approval:
            return f"profile '{profile.name}' requires approval"
        if job_type is JobType.RENEWAL:
            policy = RenewalPolicyModel.get_or_none(RenewalPolicyModel.id == cert.renewal_policy_id)
            if policy is not None and not policy.auto_renew:
                return f"renewal policy '{policy.name}' does not renew automatically"
        return None

    def create(
        self,
        job_type: JobType | str,
        certificate_id: str,
        *,
        actor: Actor,
        target_id: str | None = None,
        agent_id: str | None = None,
        max_attempts: int = 3,
        scheduled_at: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Job:
        """Queue a job; issuance and renewal wait in AwaitingApproval when profile or policy say so."""
        kind = parse_enum(JobType, job_type, "job type", field="type")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= 100:
            raise InvalidInput("max_attempts must be a whole number from 1 to 100", field="max_attempts")
        with self._ctx.store.write():
            if not CertificateModel.get_or_none(CertificateModel.id == certificate_id):
                raise NotFound("certificate", certificate_id, hint="list certificates to find its id")
            if kind in (JobType.ISSUANCE, JobType.RENEWAL):
                existing = self.active_for(certificate_id, kind)
                if existing is not None:
                    raise Conflict(
                        f"certificate '{certificate_id}' already has a {kind.value} job '{existing.id}' "
                        f"({existing.status.value})"
                    )
            reason = self.needs_approval(certificate_id, kind)
            now = self._ctx.now()
            job_details = dict(details or {})
            if reason:
                job_details["approval_reason"] = reason
            row = JobModel.create(
                id=new_id("job"),
                type=kind.value,
                certificate=certificate_id,
                target=target_id,
                agent=agent_id,
                status=(S.AWAITING_APPROVAL if reason else S.PENDING).value,
                max_attempts=max_attempts,
                details=job_details,
                requested_by=actor.name,
                scheduled_at=scheduled_at or now,
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "renewal_job_created" if kind is JobType.RENEWAL else "job_created",
                "job",
                row.id,
                {"type": kind.value, "certificate_id": certificate_id, "status": row.status, "reason": reason},
            )
        return _job(row)

    def awaiting_approval(self, certificate_ids: Sequence[str], job_type: JobType) -> dict[str, str]:
        """The jobs of this type waiting for a person, by certificate: what may not be bypassed."""
        found: dict[str, str] = {}
        ids = list(certificate_ids)
        for start in range(0, len(ids), 500):
            rows = JobModel.select(JobModel.certificate, JobModel.id).where(
                JobModel.certificate.in_(ids[start : start + 500])
                & (JobModel.type == job_type.value)
                & (JobModel.status == S.AWAITING_APPROVAL.value)
            )
            found.update((row.certificate_id, row.id) for row in rows)
        return found

    def fulfil_issuance(self, versions: Mapping[str, str], *, actor: Actor) -> list[str]:
        """Complete the queued Issuance jobs of certificates just issued directly (``versions``:
        certificate id -> new version id), so the job processor does not issue them twice.

        Runs inside the caller's write transaction, the one that stores the versions: a crash
        keeps both or neither. Returns the ids of the jobs completed.
        """
        completed: list[str] = []
        ids = list(versions)
        with self._ctx.store.write():
            for start in range(0, len(ids), 500):
                rows = list(
                    JobModel.select().where(
                        JobModel.certificate.in_(ids[start : start + 500])
                        & (JobModel.type == JobType.ISSUANCE.value)
                        & JobModel.status.in_([S.PENDING.value, S.AWAITING_CSR.value, S.RUNNING.value])
                    )
                )
                for row in rows:
                    if row.status != S.RUNNING.value:
                        self._move(row, S.RUNNING, actor=actor, action="job_started", extra={"by": "direct issuance"})
                    row.details = {
                        **(row.details or {}),
                        "version_id": versions[row.certificate_id],
                        "fulfilled_by": "direct issuance",
                    }
                    self._move(row, S.COMPLETED, actor=actor, action="job_completed")
                    completed.append(row.id)
        return completed

    # ------------------------------------------------------------------ transitions
    def _move(
        self,
        row: JobModel,
        to: JobStatus,
        *,
        actor: Actor,
        action: str,
        error: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Job:
        current = JobStatus(row.status)
        if to not in TRANSITIONS[current]:
            raise Conflict(f"job '{row.id}' is {current.value}; it cannot go to {to.value}")
        now = self._ctx.now()
        row.status = to.value
        row.updated_at = now
        if to is S.RUNNING and current is not S.AWAITING_CSR:
            row.attempts += 1
            row.started_at = now
        if to in (S.COMPLETED, S.FAILED, S.CANCELLED):
            row.completed_at = now
        if error is not None:
            row.last_error = error
        row.save()
        details: dict[str, Any] = {"from": current.value, "to": to.value, **(extra or {})}
        if error is not None:
            details["error"] = error
        self._audit.record(actor, action, "job", row.id, details)
        return _job(row)

    def transition(self, job_id: str, to: JobStatus | str, *, actor: Actor, error: str | None = None) -> Job:
        """Move a job to another state, if the state machine allows it."""
        target = parse_enum(JobStatus, to, "job status", field="status")
        with self._ctx.store.write():
            return self._move(self._row(job_id), target, actor=actor, action="job_status_changed", error=error)

    def approve(self, job_id: str, *, actor: Actor) -> Job:
        """Release a job waiting for approval; the requester cannot approve their own job."""
        with self._ctx.store.write():
            row = self._row(job_id)
            if row.status != S.AWAITING_APPROVAL.value:
                raise Conflict(f"job '{job_id}' is {row.status}, not AwaitingApproval; there is nothing to approve")
            if actor.name == row.requested_by:
                raise Unauthorized(
                    f"'{actor.name}' requested job '{job_id}' and cannot also approve it; another person must"
                )
            row.details = {**(row.details or {}), "approved_by": actor.name}
            return self._move(row, S.PENDING, actor=actor, action="job_approved")

    def reject(self, job_id: str, reason: str = "", *, actor: Actor) -> Job:
        with self._ctx.store.write():
            row = self._row(job_id)
            if row.status != S.AWAITING_APPROVAL.value:
                raise Conflict(f"job '{job_id}' is {row.status}, not AwaitingApproval; there is nothing to reject")
            if actor.name == row.requested_by:
                raise Unauthorized(f"'{actor.name}' requested job '{job_id}'; another person must decide on it")
            text = f"rejected: {reason.strip()}" if reason and reason.strip() else "rejected by user"
            return self._move(row, S.CANCELLED, actor=actor, action="job_rejected", error=text)

    def cancel(self, job_id: str, *, actor: Actor) -> Job:
        with self._ctx.store.write():
            row = self._row(job_id)
            if JobStatus(row.status) not in CANCELLABLE:
                raise Conflict(f"job '{job_id}' is {row.status}; only waiting or running jobs can be cancelled")
            return self._move(row, S.CANCELLED, actor=actor, action="job_cancelled", error="cancelled by user")

    def retry(self, job_id: str, *, actor: Actor) -> Job:
        """Give a failed job one more attempt, now."""
        with self._ctx.store.write():
            row = self._row(job_id)
            if row.status != S.FAILED.value:
                raise Conflict(f"job '{job_id}' is {row.status}; only failed jobs can be retried")
            row.max_attempts = row.attempts + 1  # one more attempt; failing again ends in Failed
            row.scheduled_at = self._ctx.now()
            return self._move(row, S.PENDING, actor=actor, action="job_retried")

    # ------------------------------------------------------------------ running
    def claim_due(
        self,
        *,
        actor: Actor,
        limit: int = 20,
        types: tuple[JobType, ...] | None = None,
        unassigned_only: bool = False,
        agent_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        """Take up to ``limit`` due Pending jobs and mark them Running, oldest first.

        ``unassigned_only`` leaves jobs that belong to an agent for that agent to claim;
        ``agent_ids`` takes only the jobs of those agents.
        """
        now = self._ctx.now()
        with self._ctx.store.write():
            query = (
                JobModel.select()
                .where((JobModel.status == S.PENDING.value) & (JobModel.scheduled_at <= now))
                .order_by(JobModel.scheduled_at, JobModel.id)
                .limit(limit)
            )
            if types:
                query = query.where(JobModel.type.in_([t.value for t in types]))
            if unassigned_only:
                query = query.where(JobModel.agent.is_null())
            if agent_ids is not None:
                query = query.where(JobModel.agent.in_(list(agent_ids)))
            if not self._ctx.store.is_sqlite:
                query = query.for_update("FOR UPDATE SKIP LOCKED")
            return [self._move(row, S.RUNNING, actor=actor, action="job_started") for row in list(query)]

    def complete(self, job_id: str, *, actor: Actor, details: Mapping[str, Any] | None = None) -> Job:
        with self._ctx.store.write():
            row = self._row(job_id)
            if details:
                row.details = {**(row.details or {}), **details}
            action = "renewal_job_completed" if row.type == JobType.RENEWAL.value else "job_completed"
            return self._move(row, S.COMPLETED, actor=actor, action=action)

    def fail(
        self, job_id: str, error: str, *, actor: Actor, retryable: bool = True, wait_seconds: float | None = None
    ) -> Job:
        """Record a failed attempt: back to Pending after a backoff, or Failed when attempts are spent.

        ``wait_seconds`` is how long the other side asked to be left alone (a CA's rate limit):
        the next attempt comes no sooner, whatever the backoff says.
        """
        with self._ctx.store.write():
            row = self._row(job_id)
            if retryable and row.attempts < row.max_attempts:
                delay = max(backoff_delay(row.attempts), timedelta(seconds=wait_seconds or 0))
                row.scheduled_at = self._ctx.now() + delay
                return self._move(
                    row,
                    S.PENDING,
                    actor=actor,
                    action="job_attempt_failed",
                    error=error,
                    extra={"attempt": row.attempts, "retry_in_seconds": round(delay.total_seconds())},
                )
            action = "renewal_job_failed" if row.type == JobType.RENEWAL.value else "job_failed"
            return self._move(row, S.FAILED, actor=actor, action=action, error=error, extra={"attempts": row.attempts})

    def requeue_stale(self, *, older_than: timedelta, actor: Actor) -> list[str]:
        """Running jobs whose worker died (an engine or agent killed mid-job) go back to Pending.

        Nothing such a job did was committed, because each job's result is stored in the
        transaction that completes it (and a deployment rewrites its files whole). A job
        counts as dead when it started longer than ``older_than`` ago, or, for the jobs the
        engine runs itself (issuance, renewal, deployments to targets without an agent),
        when it started before the current scheduler lease was taken: only the lease holder
        runs them, so those are the work of a holder that is gone. A job run twice still
        completes once: its completion and its result share one transaction, and a second
        completion is refused by the state machine.
        """
        now = self._ctx.now()
        cutoff = now - older_than
        engine_side = JobModel.type.in_([JobType.ISSUANCE.value, JobType.RENEWAL.value]) | (
            (JobModel.type == JobType.DEPLOYMENT.value) & JobModel.agent.is_null()
        )
        dead = JobModel.started_at < cutoff
        lease = LeaseModel.get_or_none(LeaseModel.name == SCHEDULER_LEASE)
        if lease is not None and lease.expires_at > now:
            dead = dead | (engine_side & (JobModel.started_at < lease.acquired_at))
        with self._ctx.store.write():
            rows = list(
                JobModel.select().where(
                    (JobModel.status == S.RUNNING.value)
                    & (engine_side | (JobModel.type == JobType.DEPLOYMENT.value))
                    & dead
                )
            )
            for row in rows:
                row.scheduled_at = now
                self._move(
                    row,
                    S.PENDING,
                    actor=actor,
                    action="job_requeued",
                    error="interrupted: its worker stopped before finishing; retrying",
                )
        return [r.id for r in rows]

    def await_csr(self, job_id: str, *, actor: Actor, agent_id: str | None = None) -> Job:
        with self._ctx.store.write():
            row = self._row(job_id)
            if agent_id:
                row.agent = agent_id
            return self._move(row, S.AWAITING_CSR, actor=actor, action="renewal_awaiting_csr")
