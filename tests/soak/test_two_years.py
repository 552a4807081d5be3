"""Two simulated years of the real engine, asserted: nothing expires, every renewal lands, alerts fire
once, the audit chain holds, costs stay flat, and each injected fault is survived as promised."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from certctl_engine.domain import JobStatus, JobType, VerificationStatus
from certctl_engine.services.deployments import OFFLINE_AGENT_ERROR
from certctl_engine.store.models import AuditEventModel, JobModel, NotificationModel

from .simulation import (
    START,
    Soak,
    SoakReport,
    audit_out_of_order,
    deployment_gaps,
    expiry_alerts,
    flatness,
    timestamps_before,
    versions_by_certificate,
)

pytestmark = pytest.mark.slow
Run = tuple[Soak, SoakReport]


def _all_certs(soak: Soak) -> list[str]:
    return [*soak.cert_ids, *soak.pebble_certs]


def test_no_certificate_ever_passes_not_after_unrenewed(two_years: Run) -> None:
    soak, report = two_years
    assert report.ended_at >= START + timedelta(days=report.scale.days)
    assert report.expired_unrenewed == [], "expired before renewal (certificate, not_after, seen at)"
    assert report.loop_errors == [], "a scheduler loop raised"
    lifetime = report.scale.validity_days - report.scale.window_days
    for cert_id, versions in versions_by_certificate(soak.engine, soak.cert_ids).items():
        cert = soak.engine.certificates.get(cert_id)
        assert cert.expires_at == versions[-1].not_after > report.ended_at
        # Every period of the lifetime less the window brought its renewal (give or take the first one).
        assert len(versions) >= int(report.scale.days / lifetime) - 1, cert_id


def test_every_renewal_is_deployed_and_verified(two_years: Run) -> None:
    soak, report = two_years
    assert deployment_gaps(soak.engine, _all_certs(soak)) == []
    assert report.deployment_mismatches == [], "a target did not hold its certificate's current version"
    assert soak.nginx_cert is not None
    nginx_jobs = [
        j
        for j in JobModel.select().where((JobModel.target == "tgt-nginx") & (JobModel.status == "Completed"))
        if j.verification_status == VerificationStatus.SUCCESS.value
    ]
    versions = soak.engine.certificates.list_versions(soak.nginx_cert)
    assert sorted(j.details["version_id"] for j in nginx_jobs) == sorted(v.id for v in versions)


def test_no_duplicate_versions_and_one_version_per_renewal(two_years: Run) -> None:
    soak, _ = two_years
    everything = [v for vs in versions_by_certificate(soak.engine, _all_certs(soak)).values() for v in vs]
    fingerprints = Counter(v.fingerprint_sha256 for v in everything)
    assert fingerprints.most_common(1)[0][1] == 1
    assert len({(v.issuer_dn, v.serial_number) for v in everything}) == len(everything)
    completed = [j for j in JobModel.select() if j.status == JobStatus.COMPLETED.value and j.type != "Deployment"]
    assert Counter(j.details["version_id"] for j in completed).most_common(1)[0][1] == 1
    per_cert = Counter(j.certificate_id for j in completed)
    for cert_id, versions in versions_by_certificate(soak.engine, _all_certs(soak)).items():
        assert len(versions) == per_cert[cert_id], f"{cert_id}: versions without their issuance/renewal job"


def test_each_alert_threshold_fires_exactly_once_per_version(two_years: Run) -> None:
    soak, report = two_years
    counts = expiry_alerts()
    assert counts, "no expiry alert was ever queued"
    assert set(counts.values()) == {1}, {k: n for k, n in counts.items() if n != 1}
    # Renewing at 16 days left: every version hears the 30-day alert once, none the 14, 7 or 0-day one.
    assert {threshold for _, threshold in counts} == {30}
    for versions in versions_by_certificate(soak.engine, soak.cert_ids).values():
        for version, following in zip(versions, [*versions[1:], None], strict=True):
            lived_until = following.created_at if following else report.ended_at
            if version.not_after - timedelta(days=30) < lived_until:
                assert counts.get((version.id, 30)) == 1, version.id
    # And the webhook took each alert, by its dedup key, exactly once.
    accepted = soak.receiver.accepted()
    assert accepted and set(accepted.values()) == {1}, accepted.most_common(3)
    assert set(accepted) == {r.dedup_key for r in NotificationModel.select() if r.status == "sent"}, (
        "the receiver and the store disagree on what was delivered"
    )


def test_the_audit_chain_verifies_and_no_clock_but_the_engines_was_read(two_years: Run) -> None:
    soak, _ = two_years
    verification = soak.engine.audit.verify()
    assert verification.ok, verification
    assert timestamps_before(START) == []
    assert audit_out_of_order() == 0


def test_store_size_and_tick_time_stay_flat(two_years: Run) -> None:
    _, report = two_years
    figures = flatness(report.months)
    # CPU time of the engine's thread: wall time on shared cores also measures the neighbours.
    (early_cpu, late_cpu), (early_growth, late_growth) = figures["tick_cpu_mean_ms"], figures["growth_bytes"]
    assert late_cpu < 3 * early_cpu + 1.0, figures
    # The store grows with its history (audit trail, versions, jobs); each month must not add more than the early ones.
    assert late_growth < 3 * early_growth, figures


# ---------------------------------------------------------------------- faults


def test_a_failing_reload_rolls_back_alerts_once_and_the_retry_deploys(two_years: Run) -> None:
    soak, _ = two_years
    fault = soak.faults["reload"]
    assert fault.started_at is not None and fault.ended_at is not None, "the broken reload never met a deployment"
    assert fault.notes["rolled_back_to_old"], "the failed deployment left the new files in place"
    assert "post_deploy_command" in fault.notes["error"] and "rolled back" in fault.notes["error"]
    job = soak.engine.jobs.get(fault.notes["job_id"])
    assert job.status is JobStatus.COMPLETED and job.completed_at is not None
    assert job.completed_at >= fault.ended_at
    failures = AuditEventModel.select().where(
        (AuditEventModel.resource_id == job.id) & (AuditEventModel.action == "job_attempt_failed")
    )
    assert failures.count() == job.attempts - 1 >= 2
    assert soak.receiver.accepted()[f"job-failed:{job.id}"] == 1


def test_an_agent_offline_for_a_week_fails_its_deployment_and_catches_up(two_years: Run) -> None:
    soak, _ = two_years
    fault = soak.faults["agent_offline"]
    assert soak.agent is not None and fault.started_at and fault.ended_at
    marked = [
        e
        for e in AuditEventModel.select().where(
            (AuditEventModel.resource_id == soak.agent.id) & (AuditEventModel.action == "agent_marked_offline")
        )
    ]
    assert len(marked) == 1 and fault.started_at <= marked[0].timestamp <= fault.started_at + timedelta(minutes=10)
    offline_alerts = [k for k in soak.receiver.accepted() if k.startswith(f"agent-offline:{soak.agent.id}:")]
    assert len(offline_alerts) == 1
    versions = soak.engine.certificates.list_versions(fault.certificate_id)
    renewed = [v for v in versions if fault.started_at <= v.created_at < fault.ended_at]
    assert len(renewed) == 1, "no renewal fell inside the agent's absence"
    jobs = list(
        JobModel.select().where(
            (JobModel.certificate == fault.certificate_id) & (JobModel.type == JobType.DEPLOYMENT.value)
        )
    )
    job = next(j for j in jobs if j.details["version_id"] == renewed[0].id)
    assert job.status == JobStatus.COMPLETED.value
    refused = AuditEventModel.select().where(
        (AuditEventModel.resource_id == job.id) & AuditEventModel.details.contains(OFFLINE_AGENT_ERROR)
    )
    assert refused.count() >= 1, "the deployment never met the offline agent"
    assert (
        AuditEventModel.select()
        .where((AuditEventModel.resource_id == job.id) & (AuditEventModel.action == "job_retried"))
        .count()
        == 1
    )
    done = [when for when, job_id, version_id in soak.agent.deployed if job_id == job.id]
    assert len(done) == 1 and fault.ended_at <= done[0] <= fault.ended_at + timedelta(minutes=10)


def test_alerts_sent_while_the_notifier_is_down_are_delivered_once_after(two_years: Run) -> None:
    soak, _ = two_years
    fault = soak.faults["notifier_down"]
    assert fault.ended_at is not None, "nothing was sent while the webhook was down"
    refused = fault.notes["refused"]
    assert refused and max(refused.values()) >= 2, refused  # retried while down
    accepted = soak.receiver.accepted()
    assert {key: accepted[key] for key in refused} == dict.fromkeys(refused, 1)
    rows = NotificationModel.select().where(NotificationModel.dedup_key.in_(list(refused)))
    assert {r.status for r in rows} == {"sent"} and all(r.sent_at >= fault.ended_at for r in rows)
