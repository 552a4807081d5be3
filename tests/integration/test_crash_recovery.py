"""kill -9 of the engine at each step of a renewal and its deployment; the restarted engine finishes once.

Each case runs the real ``certctl engine`` process twice on one store: first with
``CERTCTL_CRASH_AT`` naming a step (the process SIGKILLs itself there, in the middle of
the work), then without it. The restarted engine must take over at once (the dead holder's
lease is released), resume the interrupted job, and end with exactly one new version, its
key sealed in the store, the target's files all of that version, and an intact audit chain.
On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from acme_server import free_port
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certctl_engine.domain import Actor, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.faults import RENEWAL_CRASH_POINTS

ALICE = Actor("alice")
FILES = {"cert_file": "cert.pem", "chain_file": "chain.pem", "fullchain_file": "fullchain.pem", "key_file": "key.pem"}


def _certctl() -> list[str]:
    found = shutil.which("certctl")
    return [found] if found else [sys.executable, "-m", "certctl_engine.cli"]


def _engine(store_url: str, home: str, **extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env.update(CERTCTL_HOME=home, CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL="1s", **extra)
    command = [*_certctl(), "--db", store_url, "engine", "--no-tls", "--host", "127.0.0.1", "--port", str(free_port())]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return condition()


@pytest.mark.parametrize("point", RENEWAL_CRASH_POINTS)
def test_a_renewal_killed_at_each_step_completes_exactly_once_after_a_restart(
    point: str, store_url: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "www"
    out.mkdir()
    with Engine.open(store_url, env=store_env) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        engine.targets.create("web", "Files", {"directory": str(out), **FILES}, actor=ALICE, id="tgt-web")
        cert_id = engine.certificates.create(
            name="web", common_name="web.example.com", issuer_id="iss-local", target_ids=["tgt-web"], actor=ALICE
        ).id
        first = engine.issuance.issue(cert_id, actor=ALICE)
        assert engine.deployments.process_due(actor=ALICE).completed == 1
        renewal = engine.jobs.create(JobType.RENEWAL, cert_id, actor=ALICE)

    crashed = _engine(store_url, store_env["CERTCTL_HOME"], CERTCTL_CRASH_AT=point)
    try:
        crashed.wait(timeout=90)
    finally:
        if crashed.poll() is None:
            crashed.kill()
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.read() if crashed.stderr else ""

    with Engine.open(store_url, env=store_env) as engine:
        versions = engine.certificates.list_versions(cert_id)
        # Before its commit nothing of the renewal is stored; from then on all of it is.
        assert len(versions) == (1 if point == "job.storing" else 2)
        assert engine.jobs.get(renewal.id).status is (
            JobStatus.RUNNING if point == "job.storing" else JobStatus.COMPLETED
        )

        restarted = _engine(store_url, store_env["CERTCTL_HOME"])
        try:

            def finished() -> bool:
                deployments = engine.jobs.list(type=JobType.DEPLOYMENT, certificate_id=cert_id).items
                current = engine.certificates.current_version(cert_id)
                return (
                    engine.jobs.get(renewal.id).status is JobStatus.COMPLETED
                    and current is not None
                    and any(
                        d.status is JobStatus.COMPLETED and d.details.get("version_id") == current.id
                        for d in deployments
                    )
                )

            done = _wait_for(finished, 60)
        finally:
            restarted.send_signal(signal.SIGTERM)
            _, err = restarted.communicate(timeout=30)
        assert done, f"the restarted engine did not finish the renewal and its deployment:\n{err[-3000:]}"
        assert restarted.returncode == 0, err[-3000:]

        versions = engine.certificates.list_versions(cert_id)
        current = engine.certificates.current_version(cert_id)
        assert current is not None and len(versions) == 2 and current.id != first.id
        assert engine.jobs.get(renewal.id).details["version_id"] == current.id
        renewals = engine.jobs.list(type=JobType.RENEWAL, certificate_id=cert_id).items
        assert [j.id for j in renewals] == [renewal.id]
        for version in versions:  # no version without its key, no key without its version
            assert engine.certificates.private_key_pem(version.id) is not None

        assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())  # nothing half-written left
        leaf = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
        assert leaf.serial_number == int(current.serial_number, 16)
        key = serialization.load_pem_private_key((out / "key.pem").read_bytes(), None)
        assert key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert (out / "fullchain.pem").read_text().startswith((out / "cert.pem").read_text().strip())
        assert engine.audit.verify().ok


@pytest.mark.parametrize("point", ["job.storing", "job.stored", "deployment.partial"])
def test_a_first_issuance_killed_at_each_step_completes_exactly_once_after_a_restart(
    point: str, store_url: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "www"
    out.mkdir()
    with Engine.open(store_url, env=store_env) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        engine.targets.create("web", "Files", {"directory": str(out), **FILES}, actor=ALICE, id="tgt-web")
        cert_id = engine.certificates.create(
            name="new", common_name="new.example.com", issuer_id="iss-local", target_ids=["tgt-web"], actor=ALICE
        ).id
        issuance = engine.jobs.active_for(cert_id, JobType.ISSUANCE)

    crashed = _engine(store_url, store_env["CERTCTL_HOME"], CERTCTL_CRASH_AT=point)
    try:
        crashed.wait(timeout=90)
    finally:
        if crashed.poll() is None:
            crashed.kill()
    assert crashed.returncode == -signal.SIGKILL

    with Engine.open(store_url, env=store_env) as engine:
        assert len(engine.certificates.list_versions(cert_id)) == (0 if point == "job.storing" else 1)
        restarted = _engine(store_url, store_env["CERTCTL_HOME"])
        try:

            def finished() -> bool:
                current = engine.certificates.current_version(cert_id)
                deployments = engine.jobs.list(type=JobType.DEPLOYMENT, certificate_id=cert_id).items
                return (
                    engine.jobs.get(issuance.id).status is JobStatus.COMPLETED
                    and current is not None
                    and any(d.status is JobStatus.COMPLETED for d in deployments)
                )

            done = _wait_for(finished, 60)
        finally:
            restarted.send_signal(signal.SIGTERM)
            _, err = restarted.communicate(timeout=30)
        assert done, err[-3000:]
        (version,) = engine.certificates.list_versions(cert_id)  # exactly one, never a second
        assert engine.certificates.private_key_pem(version.id) is not None
        leaf = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
        assert leaf.serial_number == int(version.serial_number, 16)
        assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())
        assert engine.audit.verify().ok
