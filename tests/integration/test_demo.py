"""The demo dataset: what ``seed_demo`` writes, on both back ends, and that its PKI is real."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certctl_engine.demo import seed_demo
from certctl_engine.domain import CertificateFilter, CertificateStatus, DiscoveryStatus, ExtendedKeyUsage, JobStatus
from certctl_engine.engine import Engine
from certctl_engine.store.models import (
    AgentGroupModel,
    AgentModel,
    AuditEventModel,
    CertificateVersionModel,
    DiscoveredCertificateModel,
    IssuerModel,
    JobModel,
    NetworkScanTargetModel,
    NotificationModel,
    OwnerModel,
    PolicyViolationModel,
    ProfileModel,
    RenewalPolicyModel,
    TargetModel,
    TeamModel,
)

ALL_CERTS = CertificateFilter(include_archived=True)
PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.DOTALL)


def test_demo_seeds_the_organisation(engine: Engine) -> None:
    result = seed_demo(engine)
    assert result.seeded
    assert result.certificates == 32

    assert len(engine.ownership.list_teams()) == TeamModel.select().count() == 5
    assert len(engine.ownership.list_owners()) == OwnerModel.select().count() == 5
    assert len(engine.issuers.list()) == IssuerModel.select().count() == 4
    assert len(engine.targets.list()) == TargetModel.select().count() == 5
    assert {p.id for p in engine.renewal_policies.list()} == {"rp-standard", "rp-urgent", "rp-manual"}
    assert RenewalPolicyModel.select().count() == 3

    profiles = {p.id: p for p in engine.profiles.list()}
    assert len(profiles) == ProfileModel.select().count() == 5
    assert ExtendedKeyUsage.EMAIL_PROTECTION in profiles["prof-smime"].allowed_ekus
    short = profiles["prof-short-lived"]
    assert short.max_ttl_seconds == 300
    assert short.allow_short_lived
    assert short.is_short_lived

    agents = {a.id for a in AgentModel.select()}
    assert len(agents) == 6
    assert "server-scanner" in agents
    assert AgentGroupModel.select().count() == 5
    assert NetworkScanTargetModel.select().count() == 3

    discoveries = list(DiscoveredCertificateModel.select())
    assert len(discoveries) == 9
    assert {d.status for d in discoveries} == {s.value for s in DiscoveryStatus}

    assert PolicyViolationModel.select().count() == 4
    assert NotificationModel.select().count() >= 6
    awaiting = JobModel.select().where(JobModel.status == JobStatus.AWAITING_APPROVAL.value)
    assert {j.id for j in awaiting} == {"job-approval-01", "job-approval-02"}


def test_demo_certificates_cover_every_status(engine: Engine) -> None:
    seed_demo(engine)
    page = engine.certificates.list(ALL_CERTS, limit=100)
    certs = page.items
    assert page.next_cursor is None
    assert len(certs) == engine.certificates.count(ALL_CERTS) == 32
    assert {c.status for c in certs} == set(CertificateStatus)
    assert engine.certificates.count() == 31  # the archived one is hidden by default

    for cert in certs:
        current = engine.certificates.current_version(cert.id)
        if cert.status is CertificateStatus.PENDING:
            assert cert.current_version_id is None
            assert current is None
            assert cert.expires_at is None
            assert engine.certificates.list_versions(cert.id) == []
        else:
            assert current is not None, cert.id
            assert current.certificate_id == cert.id
            assert cert.expires_at == current.not_after
            assert current.has_private_key
            assert current.subject_cn == cert.common_name


def test_demo_audit_trail_spans_six_months_and_verifies(engine: Engine) -> None:
    seed_demo(engine)
    oldest = AuditEventModel.select().order_by(AuditEventModel.timestamp.asc()).first()
    newest = AuditEventModel.select().order_by(AuditEventModel.timestamp.desc()).first()
    assert newest.timestamp - oldest.timestamp >= timedelta(days=170)
    assert newest.timestamp <= engine.now()

    verification = engine.audit.verify()
    assert verification.ok, verification
    assert verification.events_checked == engine.audit.latest_sequence() == AuditEventModel.select().count()
    latest = engine.audit.list(limit=1).items[0]
    assert latest.action == "demo_seeded"


def test_demo_twice_is_a_no_op_and_reset_reseeds(engine: Engine) -> None:
    seed_demo(engine)
    events = engine.audit.latest_sequence()
    again = seed_demo(engine)
    assert not again.seeded
    assert "already present" in again.message
    assert engine.audit.latest_sequence() == events

    reset = seed_demo(engine, reset=True)
    assert reset.seeded
    assert engine.certificates.count(ALL_CERTS) == 32
    assert engine.audit.verify().ok


# ---------------------------------------------------------------------- real PKI (SQLite only)

openssl = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(openssl is None, reason="the openssl command is not installed")


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert openssl is not None
    return subprocess.run([openssl, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


@needs_openssl
def test_demo_certificates_verify_with_openssl(sqlite_engine: Engine, tmp_path: Path) -> None:
    seed_demo(sqlite_engine)
    now = sqlite_engine.now()
    checked = []
    for cert in sqlite_engine.certificates.list(ALL_CERTS, limit=100).items:
        if cert.status is CertificateStatus.PENDING:
            continue
        version = sqlite_engine.certificates.current_version(cert.id)
        assert version is not None
        if not version.not_before <= now <= version.not_after:
            continue
        blocks = PEM_BLOCK.findall(version.pem_chain)
        assert len(blocks) >= 2, cert.id
        leaf, ca = tmp_path / f"{cert.id}.pem", tmp_path / f"{cert.id}-ca.pem"
        leaf.write_text(blocks[0])
        ca.write_text(blocks[-1])
        proc = _openssl("verify", "-CAfile", ca, leaf)
        assert proc.returncode == 0, f"{cert.id}: {proc.stdout}{proc.stderr}"
        assert proc.stdout.strip().endswith(": OK")
        checked.append(cert.id)
    assert len(checked) >= 25  # all but the expired ones (and the pending one)
    assert "mc-api-prod" in checked

    smime = sqlite_engine.certificates.current_version("mc-smime-alice")
    assert smime is not None
    pem = tmp_path / "smime.pem"
    pem.write_text(PEM_BLOCK.findall(smime.pem_chain)[0])
    text = _openssl("x509", "-noout", "-text", "-in", pem)
    assert text.returncode == 0, text.stderr
    assert "E-mail Protection" in text.stdout
    assert "email:alice@example.com" in text.stdout


def test_demo_is_deterministic_with_a_fixed_clock(store_env: dict[str, str], tmp_path: Path) -> None:
    fixed = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)

    def versions_of(path: Path) -> set[tuple[str, str]]:
        with Engine.open(str(path), env=store_env, clock=lambda: fixed) as engine:
            assert seed_demo(engine).seeded
            return {
                (row.certificate_id, row.fingerprint_sha256)
                for row in CertificateVersionModel.select(
                    CertificateVersionModel.certificate, CertificateVersionModel.fingerprint_sha256
                )
            }

    first = versions_of(tmp_path / "a.db")
    second = versions_of(tmp_path / "b.db")
    assert len(first) >= 32
    assert first == second
