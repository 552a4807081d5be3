"""Jobs: the state machine, approval by another person, backoff and attempts, renewal, claiming."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from certctl_engine.domain import Actor, CertificateStatus, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, Unauthorized
from certctl_engine.services.jobs import TRANSITIONS, backoff_delay
from certctl_engine.services.leases import SCHEDULER_LEASE, local_holder_name
from certctl_engine.store.models import CertificateVersionModel, IssuerModel, JobModel

ALICE = Actor("alice")
BOB = Actor("bob")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(store_url: str, store_env: dict[str, str], clock: Clock) -> Iterator[Engine]:
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {"validity_days": 30}, actor=ALICE, id="iss-local")
        engine.renewal_policies.create("Standard", actor=ALICE, id="rp-std", renewal_window_days=10)
        engine.renewal_policies.create("Manual", actor=ALICE, id="rp-manual", auto_renew=False)
        engine.profiles.create("Gated", actor=ALICE, id="prof-gated", requires_approval=True)
        yield engine


def _cert(engine: Engine, name: str, policy: str = "rp-std", profile: str | None = None) -> str:
    return engine.certificates.create(
        name=name,
        common_name=f"{name}.example.com",
        issuer_id="iss-local",
        renewal_policy_id=policy,
        certificate_profile_id=profile,
        actor=ALICE,
    ).id


def test_direct_issuance_fulfils_the_queued_job_and_the_processor_issues_nothing_twice(timed: Engine) -> None:
    cert = _cert(timed, "a")
    job = timed.jobs.active_for(cert, JobType.ISSUANCE)
    assert job is not None
    version = timed.issuance.issue(cert, actor=BOB)
    done = timed.jobs.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.attempts == 1
    assert done.details["version_id"] == version.id and done.details["fulfilled_by"] == "direct issuance"
    events = [(e.action, e.actor) for e in timed.audit.list(resource_type="job", resource_id=job.id).items]
    assert events == [("job_completed", "bob"), ("job_started", "bob"), ("job_created", "alice")]
    assert timed.renewal.process_due().completed == 0
    assert CertificateVersionModel.select().count() == 1
    # A caller that issues at once asks for no job; an imported or active certificate gets none either.
    quiet = timed.certificates.create(
        name="quiet", common_name="quiet.example.com", issuer_id="iss-local", actor=ALICE, queue_issuance=False
    )
    active = timed.certificates.create(
        name="act", common_name="act.example.com", issuer_id="iss-local", actor=ALICE, status=CertificateStatus.ACTIVE
    )
    assert timed.jobs.active_for(quiet.id, JobType.ISSUANCE) is None
    assert timed.jobs.active_for(active.id, JobType.ISSUANCE) is None
    assert timed.audit.verify().ok


def test_a_job_finished_meanwhile_is_not_failed_by_the_processor(timed: Engine) -> None:
    cert = _cert(timed, "a")
    (claimed,) = timed.jobs.claim_due(actor=ALICE)  # the processor took the job ...
    timed.issuance.issue(cert, actor=BOB)  # ... while a person issued the certificate directly
    assert timed.jobs.get(claimed.id).status is JobStatus.COMPLETED
    # The processor's own attempt finds the certificate issued and leaves the completed job be.
    assert timed.renewal._run(claimed, ALICE) is JobStatus.COMPLETED
    assert timed.jobs.get(claimed.id).status is JobStatus.COMPLETED
    assert timed.certificates.get(cert).status is CertificateStatus.ACTIVE
    assert CertificateVersionModel.select().count() == 1


def test_every_illegal_transition_is_refused(timed: Engine) -> None:
    cert = _cert(timed, "a")
    for source in JobStatus:
        for target in JobStatus:
            if target in TRANSITIONS[source]:
                continue
            job = timed.jobs.create(JobType.DEPLOYMENT, cert, actor=ALICE)
            JobModel.update(status=source.value).where(JobModel.id == job.id).execute()
            before = timed.audit.latest_sequence()
            with pytest.raises(Conflict, match=f"is {source.value}; it cannot go to {target.value}"):
                timed.jobs.transition(job.id, target, actor=ALICE)
            assert timed.jobs.get(job.id).status is source
            assert timed.audit.latest_sequence() == before


def test_issuance_job_runs_and_stores_one_version(timed: Engine) -> None:
    cert = _cert(timed, "a")
    # Registering the certificate queued its Issuance job, in the same transaction.
    job = timed.jobs.active_for(cert, JobType.ISSUANCE)
    assert job is not None and job.status is JobStatus.PENDING and job.requested_by == "alice"
    with pytest.raises(Conflict, match="already has a Issuance job"):
        timed.jobs.create(JobType.ISSUANCE, cert, actor=ALICE)
    run = timed.renewal.process_due()
    assert (run.completed, run.failed) == (1, 0)
    done = timed.jobs.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.attempts == 1
    assert done.started_at == done.completed_at == timed.now()
    assert done.details["version_id"] == timed.certificates.get(cert).current_version_id
    assert CertificateVersionModel.select().count() == 1


def test_approval_needs_another_person(timed: Engine) -> None:
    gated = _cert(timed, "gated", profile="prof-gated")
    job = timed.jobs.active_for(gated, JobType.ISSUANCE)
    assert (
        job is not None
        and job.status is JobStatus.AWAITING_APPROVAL
        and "requires approval" in job.details["approval_reason"]
    )
    assert timed.renewal.process_due().completed == 0  # waiting jobs are not run
    with pytest.raises(Unauthorized, match="cannot also approve"):
        timed.jobs.approve(job.id, actor=ALICE)
    # Issuing directly does not step round the approval, alone or in bulk.
    with pytest.raises(Conflict, match=f"waits for approval of its issuance job '{job.id}'"):
        timed.issuance.issue(gated, actor=ALICE)
    bulk = timed.issuance.issue_many([gated], actor=ALICE)
    assert bulk.issued == () and "waits for approval" in bulk.failed[0].error
    approved = timed.jobs.approve(job.id, actor=BOB)
    assert approved.status is JobStatus.PENDING and approved.details["approved_by"] == "bob"
    with pytest.raises(Conflict, match="nothing to approve"):
        timed.jobs.approve(job.id, actor=BOB)
    assert timed.renewal.process_due().completed == 1


def test_reject_and_cancel(timed: Engine) -> None:
    manual = _cert(timed, "manual", policy="rp-manual")
    timed.issuance.issue(manual, actor=ALICE)
    job = timed.jobs.create(JobType.RENEWAL, manual, actor=ALICE)
    assert job.status is JobStatus.AWAITING_APPROVAL
    rejected = timed.jobs.reject(job.id, "not during the freeze", actor=BOB)
    assert rejected.status is JobStatus.CANCELLED and rejected.last_error == "rejected: not during the freeze"
    pending = timed.jobs.create(JobType.DEPLOYMENT, manual, actor=ALICE)
    assert timed.jobs.cancel(pending.id, actor=ALICE).last_error == "cancelled by user"
    with pytest.raises(Conflict, match="only waiting or running jobs"):
        timed.jobs.cancel(pending.id, actor=ALICE)


def test_failures_back_off_then_fail_with_the_error_kept(timed: Engine, clock: Clock) -> None:
    cert = _cert(timed, "a")
    IssuerModel.update(enabled=False).where(IssuerModel.id == "iss-local").execute()
    job = timed.jobs.active_for(cert, JobType.ISSUANCE)
    delays = []
    for attempt in range(1, 4):
        run = timed.renewal.process_due()
        current = timed.jobs.get(job.id)
        assert current.attempts == attempt
        assert "issuer 'iss-local' is disabled" in (current.last_error or "")
        if attempt < 3:
            assert run.retrying == 1 and current.status is JobStatus.PENDING
            delays.append(current.scheduled_at - clock.now)
            assert timed.renewal.process_due().retrying == 0  # not due yet
            clock.now = current.scheduled_at
        else:
            assert run.failed == 1 and current.status is JobStatus.FAILED
    assert timedelta(seconds=15) <= delays[0] <= timedelta(seconds=30)
    assert timedelta(seconds=30) <= delays[1] <= timedelta(seconds=60)
    # A person retries it after fixing the issuer.
    IssuerModel.update(enabled=True).where(IssuerModel.id == "iss-local").execute()
    timed.jobs.retry(job.id, actor=BOB)
    assert timed.renewal.process_due().completed == 1
    assert timed.jobs.get(job.id).status is JobStatus.COMPLETED


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    for attempts in range(1, 12):
        delay = backoff_delay(attempts, rng=rng)
        ceiling = min(30 * 2 ** (attempts - 1), 6 * 3600)
        assert ceiling / 2 <= delay.total_seconds() <= ceiling


def test_renewal_check_uses_each_policys_window(timed: Engine, clock: Clock) -> None:
    soon = _cert(timed, "soon")
    later = _cert(timed, "later")
    manual = _cert(timed, "manual", policy="rp-manual")
    for cert in (soon, later, manual):
        timed.issuance.issue(cert, actor=ALICE)  # 30-day certificates
    clock.advance(days=21)  # 9 days left: inside rp-std's 10 days and rp-manual's 30
    timed.issuance.renew(later, actor=ALICE)  # renewed by hand: 30 days left again
    result = timed.renewal.check()
    assert result.jobs_created == 2
    assert timed.certificates.get(soon).status is CertificateStatus.RENEWAL_IN_PROGRESS
    assert timed.certificates.get(manual).status is CertificateStatus.EXPIRING  # waits for approval
    assert timed.jobs.active_for(manual, JobType.RENEWAL).status is JobStatus.AWAITING_APPROVAL
    assert timed.jobs.active_for(later, JobType.RENEWAL) is None
    assert timed.renewal.check().jobs_created == 0  # no duplicates
    assert timed.renewal.process_due().completed == 1
    assert timed.certificates.get(soon).status is CertificateStatus.ACTIVE
    assert len(timed.certificates.list_versions(soon)) == 2


def test_a_killed_worker_is_requeued_without_a_duplicate_version(timed: Engine, clock: Clock) -> None:
    cert = _cert(timed, "a")
    job = timed.jobs.active_for(cert, JobType.ISSUANCE)
    claimed = timed.jobs.claim_due(actor=ALICE)  # the worker took it ... and died
    assert [j.id for j in claimed] == [job.id]
    assert timed.renewal.process_due().completed == 0
    clock.advance(minutes=11)
    assert timed.jobs.requeue_stale(older_than=timedelta(minutes=10), actor=ALICE) == [job.id]
    assert timed.renewal.process_due().completed == 1
    assert CertificateVersionModel.select().count() == 1
    assert timed.audit.verify().ok


def test_job_list_filters_and_pages(timed: Engine) -> None:
    cert = _cert(timed, "a")
    for _ in range(5):
        timed.jobs.create(JobType.DEPLOYMENT, cert, actor=ALICE)
    assert len(timed.jobs.list(type="Deployment").items) == 5
    assert len(timed.jobs.list(status=JobStatus.PENDING).items) == 6
    with pytest.raises(InvalidInput, match="unknown job status 'Done'"):
        timed.jobs.list(status="Done")
    seen = []
    cursor = None
    while True:
        page = timed.jobs.list(limit=4, cursor=cursor)
        seen.extend(j.id for j in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 6


def test_lease_is_exclusive_until_it_expires(timed: Engine, clock: Clock) -> None:
    ttl = timedelta(seconds=30)
    assert timed.leases.acquire("scheduler", "engine-a", ttl)
    assert not timed.leases.acquire("scheduler", "engine-b", ttl)
    assert timed.leases.acquire("scheduler", "engine-a", ttl)  # renewal by the holder
    clock.advance(seconds=31)
    assert timed.leases.holder("scheduler") is None
    assert timed.leases.acquire("scheduler", "engine-b", ttl)
    assert timed.leases.holder("scheduler") == "engine-b"
    timed.leases.release("scheduler", "engine-b")
    assert timed.leases.acquire("scheduler", "engine-a", ttl)


def test_jobs_of_a_lease_holder_that_is_gone_are_requeued_at_once_and_complete_once(
    timed: Engine, clock: Clock
) -> None:
    cert = _cert(timed, "a")
    job = timed.jobs.active_for(cert, JobType.ISSUANCE)
    assert timed.leases.acquire(SCHEDULER_LEASE, "old-host:1", timedelta(seconds=30))
    assert [j.id for j in timed.jobs.claim_due(actor=ALICE)] == [job.id]  # the old holder took it, and died
    clock.advance(seconds=31)
    assert timed.jobs.requeue_stale(older_than=timedelta(minutes=10), actor=ALICE) == []  # no holder now
    assert timed.leases.acquire(SCHEDULER_LEASE, "new-host:2", timedelta(seconds=30))
    clock.advance(seconds=1)
    assert timed.jobs.requeue_stale(older_than=timedelta(minutes=10), actor=ALICE) == [job.id]
    requeued = timed.jobs.get(job.id)
    assert requeued.status is JobStatus.PENDING and requeued.last_error.startswith("interrupted")
    # Jobs the new holder starts itself are not orphans.
    (again,) = timed.jobs.claim_due(actor=ALICE)
    assert timed.jobs.requeue_stale(older_than=timedelta(minutes=10), actor=ALICE) == []
    # Had the old worker been alive after all, its late completion and the new one make one version.
    timed.jobs.complete(again.id, actor=ALICE)
    with pytest.raises(Conflict):
        timed.issuance.issue(cert, actor=ALICE, on_stored=lambda v: timed.jobs.complete(job.id, actor=ALICE))
    assert CertificateVersionModel.select().count() == 0
    assert timed.audit.verify().ok


def test_a_dead_holder_on_this_host_loses_its_lease_at_once(timed: Engine) -> None:

    child = subprocess.run(
        [sys.executable, "-c", "from certctl_engine.services.leases import local_holder_name as n; print(n())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = child.stdout.strip()
    assert dead.split("@")[1] == local_holder_name().split("@")[1]
    assert timed.leases.acquire(SCHEDULER_LEASE, dead, timedelta(minutes=5))
    assert timed.leases.acquire(SCHEDULER_LEASE, local_holder_name(), timedelta(seconds=30))
    # A live holder elsewhere keeps it until it expires.
    assert timed.leases.acquire(SCHEDULER_LEASE, "elsewhere:1@0", timedelta(minutes=5)) is False


def test_a_ca_that_asks_to_wait_is_left_alone_that_long(
    timed: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certctl_engine.errors import IssuerError

    cert = _cert(timed, "limited")
    timed.issuance.issue(cert, actor=ALICE)
    job = timed.jobs.create(JobType.RENEWAL, cert, actor=ALICE)

    def rate_limited(*_args: object, **_kwargs: object) -> None:
        raise IssuerError("the ACME CA refused creating the order: rateLimited", retry_after_seconds=7200)

    monkeypatch.setattr(timed.issuance, "renew", rate_limited)
    assert timed.renewal.process_due().retrying == 1
    waiting = timed.jobs.get(job.id)
    assert waiting.status is JobStatus.PENDING and "rateLimited" in (waiting.last_error or "")
    assert waiting.scheduled_at >= clock() + timedelta(seconds=7200)  # not the 30-60 s backoff
    clock.advance(minutes=30)
    assert timed.renewal.process_due().retrying == 0  # not due yet
