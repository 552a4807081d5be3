"""The issuer refusing for a simulated day: renewal jobs back off, one renewal-failed alert per certificate
goes out, and every certificate caught in the outage is renewed once the CA is back, before it expires."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certctl_engine.domain import JobType
from certctl_engine.store.models import AuditEventModel, JobModel

from .conftest import OPERATOR_INTERVALS, run_soak
from .simulation import Soak, SoakReport, SoakScale

pytestmark = pytest.mark.slow
OUTAGE_SCALE = SoakScale(
    certificates=24, days=100, nginx=False, agent=False, faults=("issuer_outage",), intervals=OPERATOR_INTERVALS
)


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory, say: Callable[[str], None]) -> Iterator[tuple[Soak, SoakReport]]:
    soak, report = run_soak(OUTAGE_SCALE, Path(tmp_path_factory.mktemp("soak-outage")), say)
    try:
        yield soak, report
    finally:
        soak.close()


def test_renewals_back_off_through_the_outage_alert_once_and_recover_before_expiry(
    outage: tuple[Soak, SoakReport],
) -> None:
    soak, report = outage
    fault = soak.faults["issuer_outage"]
    affected: list[str] = fault.notes["affected"]
    assert affected, "no renewal fell inside the outage"
    assert fault.started_at is not None and fault.ended_at is not None
    for cert_id in affected:
        jobs = list(
            JobModel.select()
            .where((JobModel.certificate == cert_id) & (JobModel.type == JobType.RENEWAL.value))
            .order_by(JobModel.created_at)
        )
        refused = list(
            AuditEventModel.select()
            .where(
                AuditEventModel.resource_id.in_([j.id for j in jobs])
                & AuditEventModel.action.in_(["job_attempt_failed", "renewal_job_failed"])
                & (AuditEventModel.timestamp >= fault.started_at)
                & (AuditEventModel.timestamp < fault.ended_at)
            )
            .order_by(AuditEventModel.sequence)
        )
        assert len(refused) >= 2 and all("disabled" in e.details for e in refused), cert_id
        assert len(refused) <= 24, f"{cert_id}: {len(refused)} attempts in one day is hammering the CA"
        for job in jobs:  # within a job, each retry waits longer than the one before
            stamps = [e.timestamp for e in refused if e.resource_id == job.id]
            gaps = [b - a for a, b in itertools.pairwise(stamps)]
            assert gaps == sorted(gaps), f"{cert_id}: retries of {job.id} did not back off: {gaps}"
        versions = sorted(soak.engine.certificates.list_versions(cert_id), key=lambda v: v.created_at)
        renewed = [v for v in versions if v.created_at >= fault.ended_at]
        assert renewed, f"{cert_id} was not renewed after the issuer came back"
        before = [v for v in versions if v.created_at < fault.started_at]
        assert renewed[0].created_at < before[-1].not_after, f"{cert_id} renewed only after it expired"
        alerts = Counter(
            d.dedup_key
            for d in soak.receiver.deliveries
            if d.event == "RenewalFailure" and d.status < 300 and d.details.get("job_id") in {j.id for j in jobs}
        )
        assert sum(alerts.values()) == 1, f"{cert_id}: {alerts}"
    assert report.expired_unrenewed == []
    assert report.loop_errors == []
