from datetime import UTC, datetime, timedelta

from certctl_engine.domain import Actor, CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.store.models import CertificateModel


def test_summary_counts_statuses_buckets_and_issuers(engine: Engine, actor: Actor) -> None:
    engine.issuers.create("Local", "GenericCA", actor=actor, id="iss-local")
    engine.issuers.create("ACME", "ACME", {"directory_url": "https://acme.test/dir"}, actor=actor, id="iss-acme")
    now = engine.now()
    plan = [
        (-3, CertificateStatus.EXPIRED, "iss-local"),
        (0.5, CertificateStatus.EXPIRING, "iss-local"),
        (7.5, CertificateStatus.EXPIRING, "iss-acme"),
        (8.5, CertificateStatus.EXPIRING, "iss-acme"),
        (30.5, CertificateStatus.ACTIVE, "iss-local"),
        (31.5, CertificateStatus.ACTIVE, "iss-local"),
        (90.5, CertificateStatus.ACTIVE, "iss-local"),
        (91.5, CertificateStatus.ACTIVE, "iss-local"),
        (5, CertificateStatus.REVOKED, "iss-local"),  # revoked: not counted as expiring
        (5, CertificateStatus.ARCHIVED, "iss-acme"),  # archived: not counted at all in buckets/issuers
    ]
    for index, (days, status, issuer) in enumerate(plan):
        cert = engine.certificates.create(name=f"c{index}", common_name="x.example.com", issuer_id=issuer, actor=actor)
        CertificateModel.update(expires_at=now + timedelta(days=days), status=status.value).where(
            CertificateModel.id == cert.id
        ).execute()
    engine.certificates.create(name="pending", common_name="p.example.com", issuer_id="iss-local", actor=actor)
    summary = engine.stats.summary()
    assert summary.total == 11
    assert summary.by_status["Active"] == 4 and summary.by_status["Pending"] == 1
    assert summary.by_status["Archived"] == 1 and summary.by_status["RenewalInProgress"] == 0
    assert (summary.expiry.expired, summary.expiry.days_0_7, summary.expiry.days_8_30, summary.expiry.days_31_90) == (
        1,
        2,
        2,
        2,
    )
    assert summary.by_issuer == {"iss-local": 8, "iss-acme": 2}
    assert engine.stats.expiring_within(31) == 4
    assert isinstance(summary.computed_at, datetime) and summary.computed_at.tzinfo is UTC
