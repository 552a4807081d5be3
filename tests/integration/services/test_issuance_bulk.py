"""Issuing and renewing many certificates at once: shared look-ups, batched writes, isolated failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from certctl_engine.domain import Actor, CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.pki import load_certificates
from certctl_engine.store.models import AuditEventModel, CertificateVersionModel


@pytest.fixture
def bulk(engine: Engine, actor: Actor) -> Engine:
    engine.issuers.create("Local CA", "GenericCA", {"validity_days": 30}, actor=actor, id="iss-local")
    engine.issuers.create("Off", "GenericCA", {}, actor=actor, id="iss-off")
    engine.issuers.update("iss-off", enabled=False, actor=actor)
    engine.ca.init("iss-local", actor=actor)
    engine.profiles.create(
        "High", actor=actor, id="prof-high", allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 384}]
    )
    return engine


def _register(engine: Engine, actor: Actor, count: int, *, issuer: str = "iss-local", prefix: str = "svc") -> list[str]:
    return [
        engine.certificates.create(
            name=f"{prefix}-{i}", common_name=f"{prefix}-{i}.example.com", issuer_id=issuer, actor=actor
        ).id
        for i in range(count)
    ]


def test_issue_many_issues_every_certificate_in_batches_with_progress(
    bulk: Engine, actor: Actor, tmp_path: Path
) -> None:
    ids = _register(bulk, actor, 7)
    calls: list[tuple[int, int]] = []
    before = bulk.audit.latest_sequence()

    result = bulk.issuance.issue_many(
        ids, actor=actor, batch_size=3, progress=lambda done, total: calls.append((done, total))
    )

    assert result.failed == ()
    assert [v.certificate_id for v in result.issued] == ids
    assert calls == [(3, 7), (6, 7), (7, 7)]
    for version in result.issued:
        cert = bulk.certificates.get(version.certificate_id)
        assert cert.status is CertificateStatus.ACTIVE
        assert cert.current_version_id == version.id
        assert cert.expires_at == version.not_after
        # What the call returned is what the store holds.
        assert bulk.certificates.get_version(version.id) == version
        leaf = load_certificates(version.pem_chain.encode())[0]
        assert leaf.serial_number == int(version.serial_number, 16)
        assert version.subject_cn == cert.common_name
        assert version.has_private_key and bulk.certificates.private_key_pem(version.id) is not None
    # One audit event per certificate, chained, and the chain still verifies.
    events = list(AuditEventModel.select().where(AuditEventModel.sequence > before).order_by(AuditEventModel.sequence))
    issued_events = [e for e in events if e.action == "certificate_issued"]
    assert [e.resource_id for e in issued_events] == ids
    # Each certificate's queued Issuance job is fulfilled by the bulk issuance (started, then
    # completed with the new version), so the job processor never issues it a second time.
    assert [e.action for e in events if e.resource_type == "job"] == ["job_started", "job_completed"] * 7
    for version in result.issued:
        job = bulk.jobs.list(certificate_id=version.certificate_id).items[0]
        assert (job.type.value, job.status.value, job.attempts) == ("Issuance", "Completed", 1)
        assert job.details["version_id"] == version.id
    assert bulk.audit.verify().ok
    # openssl, as an independent judge, accepts a leaf of the last batch under the CA.
    (tmp_path / "root.pem").write_text(bulk.ca.info("iss-local").certificate_pem)
    pem = result.issued[-1].pem_chain
    (tmp_path / "leaf.pem").write_text(pem[: pem.index("-----END CERTIFICATE-----") + 26])
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "leaf.pem"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_bad_certificate_never_stops_the_others(bulk: Engine, actor: Actor) -> None:
    good = _register(bulk, actor, 3)
    disabled = _register(bulk, actor, 1, issuer="iss-off", prefix="off")
    strict = bulk.certificates.create(
        name="strict",
        common_name="strict.example.com",
        issuer_id="iss-local",
        certificate_profile_id="prof-high",
        actor=actor,
    ).id
    already = good[0]
    bulk.issuance.issue(already, actor=actor)

    result = bulk.issuance.issue_many([*good, *disabled, "cert-missing", strict], actor=actor)

    failed = {f.certificate_id: f.error for f in result.failed}
    assert set(failed) == {already, disabled[0], "cert-missing"}
    assert "already issued" in failed[already]
    assert "disabled" in failed[disabled[0]]
    assert "cert-missing" in failed["cert-missing"]
    # The profile's rule picks the key: a P-384 key for the strict profile.
    issued = {v.certificate_id: v for v in result.issued}
    assert set(issued) == {good[1], good[2], strict}
    assert (issued[strict].key_algorithm.value, issued[strict].key_size) == ("ECDSA", 384)
    assert bulk.certificates.get(disabled[0]).current_version_id is None


def test_renew_many_adds_a_version_and_keeps_history(bulk: Engine, actor: Actor) -> None:
    ids = _register(bulk, actor, 4)
    first = bulk.issuance.issue_many(ids, actor=actor)
    unissued = _register(bulk, actor, 1, prefix="new")[0]
    bulk.certificates.archive(ids[3], actor=actor)

    result = bulk.issuance.renew_many([*ids, unissued], actor=actor)

    assert {f.certificate_id for f in result.failed} == {ids[3], unissued}
    assert {v.certificate_id for v in result.issued} == set(ids[:3])
    old = {v.certificate_id: v for v in first.issued}
    for version in result.issued:
        cert = bulk.certificates.get(version.certificate_id)
        assert cert.current_version_id == version.id != old[version.certificate_id].id
        assert cert.last_renewal_at is not None
        assert len(bulk.certificates.list_versions(version.certificate_id)) == 2
    renewed = AuditEventModel.select().where(AuditEventModel.action == "certificate_renewed").count()
    assert renewed == 3


def test_an_empty_request_does_nothing(bulk: Engine, actor: Actor) -> None:
    before = CertificateVersionModel.select().count()
    result = bulk.issuance.issue_many([], actor=actor)
    assert result.issued == () and result.failed == ()
    assert CertificateVersionModel.select().count() == before
    with pytest.raises(ValueError, match="batch_size"):
        bulk.issuance.issue_many(["x"], actor=actor, batch_size=0)
