"""kill -9 of ``certctl certs revoke`` at each step of a revocation; the certificate ends revoked exactly once.

Each case publishes the CA's CRL, then runs the real ``certctl certs revoke`` process with
``CERTCTL_CRASH_AT`` naming a step (the process SIGKILLs itself there). Before the commit
nothing of the revocation may be stored and a retry revokes it once; after it the
revocation is whole and a retry changes nothing. Either way the published CRL and the
OCSP look-up list the serial, there is one revocation row and one audit event, and the
audit chain verifies. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest
from cryptography import x509

from certctl_engine.domain import Actor, CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.faults import REVOCATION_CRASH_POINTS

ALICE = Actor("alice")


def _certctl() -> list[str]:
    found = shutil.which("certctl")
    return [found] if found else [sys.executable, "-m", "certctl_engine.cli"]


def _revoke(store_url: str, home: str, cert_id: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env.update(CERTCTL_HOME=home, **extra)
    command = [*_certctl(), "--db", store_url, "certs", "revoke", cert_id, "--reason", "keyCompromise"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def _revocation_events(engine: Engine, cert_id: str) -> int:
    events = engine.audit.list(resource_id=cert_id, limit=500).items
    return sum(1 for e in events if e.action == "certificate_revoked")


@pytest.mark.parametrize("point", REVOCATION_CRASH_POINTS)
def test_a_revocation_killed_at_each_step_ends_revoked_exactly_once(
    point: str, store_url: str, store_env: dict[str, str]
) -> None:
    home = store_env["CERTCTL_HOME"]
    with Engine.open(store_url, env=store_env) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        cert_id = engine.certificates.create(
            name="web", common_name="web.example.com", issuer_id="iss-local", actor=ALICE
        ).id
        serial = engine.issuance.issue(cert_id, actor=ALICE).serial_number
        before = engine.crl_publisher.current("iss-local")
        assert int(serial, 16) not in {e.serial_number for e in x509.load_der_x509_crl(before.der)}

    crashed = _revoke(store_url, home, cert_id, CERTCTL_CRASH_AT=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]

    with Engine.open(store_url, env=store_env) as engine:
        committed = point != "revocation.recorded"
        status = engine.certificates.get(cert_id).status
        # Before the commit nothing of the revocation is stored; from then on all of it is.
        assert status is (CertificateStatus.REVOKED if committed else CertificateStatus.ACTIVE)
        assert len(engine.revocation.list_revocations("iss-local")) == (1 if committed else 0)
        assert _revocation_events(engine, cert_id) == (1 if committed else 0)

    retry = _revoke(store_url, home, cert_id)
    if committed:  # already revoked: the retry refuses and changes nothing
        assert retry.returncode != 0 and "already revoked" in retry.stderr, retry.stderr[-3000:]
    else:
        assert retry.returncode == 0, retry.stderr[-3000:]
        assert f"revoked {cert_id}" in retry.stdout

    with Engine.open(store_url, env=store_env) as engine:
        cert = engine.certificates.get(cert_id)
        assert cert.status is CertificateStatus.REVOKED and cert.revocation_reason == "keyCompromise"
        revocations = engine.revocation.list_revocations("iss-local")
        assert [(r.certificate_id, r.serial_number) for r in revocations] == [(cert_id, serial)]
        assert _revocation_events(engine, cert_id) == 1

        published = engine.crl_publisher.current("iss-local")
        assert published.crl_number > before.crl_number
        crl = x509.load_der_x509_crl(published.der)
        listed = [e for e in crl if e.serial_number == int(serial, 16)]
        assert len(listed) == 1
        assert engine.revocation.check("iss-local", serial).status == "revoked"
        assert engine.audit.verify().ok
