"""Deployments: queued with each new version, written to a Files target, verified over TLS, rolled back."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from acme_server import free_port

from certctl_engine.domain import Actor, JobStatus, JobType, VerificationStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.store.models import JobModel, VerificationResultModel

ALICE = Actor("alice")


@pytest.fixture
def deploying(engine: Engine, tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    out = tmp_path / "www"
    out.mkdir()
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.targets.create(
        "web files",
        "Files",
        {
            "directory": str(out),
            "cert_file": "cert.pem",
            "chain_file": "chain.pem",
            "fullchain_file": "fullchain.pem",
            "key_file": "key.pem",
            "verify_delay_seconds": 0,
        },
        actor=ALICE,
        id="tgt-files",
    )
    yield engine, out


def _mapped(engine: Engine, name: str = "web") -> str:
    return engine.certificates.create(
        name=name, common_name=f"{name}.example.com", issuer_id="iss-local", target_ids=["tgt-files"], actor=ALICE
    ).id


def test_a_new_version_is_deployed_to_the_files_with_safe_modes(deploying: tuple[Engine, Path]) -> None:
    engine, out = deploying
    cert_id = _mapped(engine)
    version = engine.issuance.issue(cert_id, actor=ALICE)
    (job,) = engine.jobs.list(type=JobType.DEPLOYMENT).items
    assert job.status is JobStatus.PENDING and job.target_id == "tgt-files"
    assert job.details["version_id"] == version.id
    run = engine.deployments.process_due(actor=ALICE)
    assert (run.completed, run.failed) == (1, 0)
    done = engine.jobs.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.details["deployment"]["changed"] is True
    assert done.verification_status is VerificationStatus.SKIPPED  # no host configured
    assert (out / "fullchain.pem").read_text() == version.pem_chain
    assert (out / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (out / "cert.pem").stat().st_mode & 0o777 == 0o644
    key = (out / "key.pem").read_bytes()
    assert key == engine.certificates.private_key_pem(version.id)
    # openssl agrees the key belongs to the certificate.
    public = [
        subprocess.run(argv, capture_output=True).stdout
        for argv in (
            ["openssl", "x509", "-in", str(out / "cert.pem"), "-noout", "-pubkey"],
            ["openssl", "pkey", "-in", str(out / "key.pem"), "-pubout"],
        )
    ]
    assert public[0] == public[1] and public[0].startswith(b"-----BEGIN PUBLIC KEY")


def test_redeploying_the_same_version_changes_nothing(deploying: tuple[Engine, Path]) -> None:
    engine, out = deploying
    cert_id = _mapped(engine)
    engine.issuance.issue(cert_id, actor=ALICE)
    engine.deployments.process_due(actor=ALICE)
    before = (out / "cert.pem").stat()
    (job,) = engine.deployments.trigger(cert_id, actor=ALICE)
    engine.deployments.process_due(actor=ALICE)
    assert engine.jobs.get(job.id).details["deployment"]["changed"] is False
    after = (out / "cert.pem").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_failing_post_deploy_command_rolls_every_file_back(deploying: tuple[Engine, Path]) -> None:
    engine, out = deploying
    cert_id = _mapped(engine)
    engine.issuance.issue(cert_id, actor=ALICE)
    engine.deployments.process_due(actor=ALICE)
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    config = engine.targets.connector_config("tgt-files")
    engine.targets.update(
        "tgt-files",
        config={
            **config,
            "post_deploy_command": [sys.executable, "-c", "import sys; sys.exit('reload failed: bad conf')"],
        },
        actor=ALICE,
    )
    engine.issuance.renew(cert_id, actor=ALICE)
    run = engine.deployments.process_due(actor=ALICE)
    assert run.retrying == 1
    job = JobModel.get((JobModel.type == "Deployment") & (JobModel.status == "Pending"))
    assert "rolled back" in job.last_error and "reload failed: bad conf" in job.last_error
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous


def test_only_engine_side_targets_are_run_here_and_old_versions_are_superseded(deploying: tuple[Engine, Path]) -> None:
    engine, out = deploying
    cert_id = _mapped(engine)
    engine.issuance.issue(cert_id, actor=ALICE)
    engine.issuance.renew(cert_id, actor=ALICE)  # before anything was deployed
    jobs = JobModel.select().where(JobModel.type == "Deployment").order_by(JobModel.created_at)
    assert [j.status for j in jobs] == ["Cancelled", "Pending"]
    assert "superseded" in jobs[0].last_error
    engine.deployments.process_due(actor=ALICE)
    latest = engine.certificates.current_version(cert_id)
    assert latest is not None and (out / "fullchain.pem").read_text() == latest.pem_chain


def test_verification_compares_what_the_server_serves(deploying: tuple[Engine, Path]) -> None:
    engine, out = deploying
    cert_id = _mapped(engine)
    version = engine.issuance.issue(cert_id, actor=ALICE)
    engine.deployments.process_due(actor=ALICE)
    (job,) = [j for j in JobModel.select().where(JobModel.type == "Deployment")]
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(out / "fullchain.pem"),
         "-key", str(out / "key.pem"), "-www", "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        config = {"host": "127.0.0.1", "port": port, "server_name": "web.example.com", "verify_delay_seconds": 0}
        status = engine.deployments.verify(job.id, version.fingerprint_sha256, config, actor=ALICE)
        assert status is VerificationStatus.SUCCESS
        wrong = engine.deployments.verify(job.id, "ab" * 32, config, actor=ALICE)
        assert wrong is VerificationStatus.FAILED
    finally:
        server.terminate()
        server.wait(5)
    results = list(VerificationResultModel.select().order_by(VerificationResultModel.verified_at))
    assert [r.verified for r in results] == [True, False]
    assert results[1].actual_fingerprint == version.fingerprint_sha256 and "serves" in results[1].error
    closed = engine.deployments.verify(
        job.id, version.fingerprint_sha256, {"host": "127.0.0.1", "port": port, "verify_delay_seconds": 0}, actor=ALICE
    )
    assert closed is VerificationStatus.FAILED
    assert JobModel.get_by_id(job.id).verification_error.endswith("connection refused")


def test_files_target_configuration_is_checked(deploying: tuple[Engine, Path]) -> None:
    _, out = deploying
    from certctl_engine.connectors.targets.files import FilesConnector

    files = FilesConnector()
    for config, field in (
        ({"directory": "relative", "cert_file": "c.pem"}, "directory"),
        ({"directory": str(out)}, "cert_file"),
        ({"directory": str(out), "cert_file": "../escape.pem"}, "cert_file"),
        ({"directory": str(out), "cert_file": "/etc/passwd"}, "cert_file"),
        (
            {"directory": str(out), "cert_file": "c.pem", "post_deploy_command": "systemctl reload nginx"},
            "post_deploy_command",
        ),
        ({"directory": str(out), "cert_file": "c.pem", "mode": "rw"}, "mode"),
    ):
        with pytest.raises(InvalidInput) as caught:
            files.validate_config(config)
        assert caught.value.field == field, config
    (out / "link").symlink_to("/etc")
    with pytest.raises(InvalidInput, match="symlink"):
        files.validate_config({"directory": str(out), "cert_file": "link/passwd"})


def test_testing_a_target_reports_its_configuration_and_what_its_host_serves(deploying: tuple[Engine, Path]) -> None:
    engine, out = deploying
    version = engine.issuance.issue(_mapped(engine), actor=ALICE)
    engine.deployments.process_due(actor=ALICE)
    assert engine.deployments.check_target("tgt-files").message == "configuration valid"
    assert engine.deployments.mapped_certificates("tgt-files") == [version.certificate_id]

    port = free_port()
    engine.targets.update(
        "tgt-files",
        config={**engine.targets.connector_config("tgt-files"), "host": "127.0.0.1", "port": port},
        actor=ALICE,
    )
    refused = engine.deployments.check_target("tgt-files")
    assert not refused.ok and refused.message.startswith("configuration valid; but 127.0.0.1:")
    assert refused.message.endswith("connection refused")
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(out / "fullchain.pem"),
         "-key", str(out / "key.pem"), "-www", "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        served = engine.deployments.check_target("tgt-files")
    finally:
        server.terminate()
        server.wait(5)
    assert served.ok, served.message
    assert f"127.0.0.1:{port} serves a certificate with SHA-256 {version.fingerprint_sha256[:16]}" in served.message

    engine.targets.update("tgt-files", enabled=False, actor=ALICE)
    disabled = engine.deployments.check_target("tgt-files")
    assert not disabled.ok and "disabled" in disabled.message
    engine.targets.create("odd", "F5", {}, actor=ALICE, id="tgt-f5")
    unsupported = engine.deployments.check_target("tgt-f5")
    assert not unsupported.ok and unsupported.message.startswith("configuration: no connector for F5 targets")


def test_deployments_of_an_offline_agent_fail_loudly_and_run_again_when_it_returns(
    store_url: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    from datetime import timedelta

    from certctl_engine.domain import NotificationType

    engine = Engine.open(store_url, env={**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": "offline-test-token"})
    try:
        agent = engine.agents.register("edge-1", bootstrap_token="offline-test-token").agent
        engine.notifications.create_channel(
            "ops hook", "Webhook", {"url": f"http://127.0.0.1:{free_port()}/hook"}, actor=ALICE
        )
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        engine.targets.create(
            "edge files", "Files", {"directory": str(tmp_path), "cert_file": "c.pem"}, actor=ALICE, agent_id=agent.id
        )
        target_id = engine.targets.list(agent.id)[0].id
        cert = engine.certificates.create(
            name="edge", common_name="edge.example.com", issuer_id="iss-local", target_ids=[target_id], actor=ALICE
        )
        engine.issuance.issue(cert.id, actor=ALICE)
        (job,) = engine.jobs.list(type=JobType.DEPLOYMENT).items
        assert job.agent_id == agent.id and job.status is JobStatus.PENDING

        # Online: the engine leaves the agent's job for the agent.
        assert engine.deployments.process_due(actor=ALICE).held_for_offline_agents == 0
        assert engine.jobs.get(job.id).status is JobStatus.PENDING and engine.jobs.get(job.id).attempts == 0

        assert engine.agents.mark_stale_offline(older_than=timedelta(seconds=-1), actor=ALICE) == [agent.id]
        for attempt in (1, 2, 3):
            JobModel.update(scheduled_at=engine.context.now()).where(JobModel.id == job.id).execute()
            assert engine.deployments.process_due(actor=ALICE).held_for_offline_agents == 1
            held = engine.jobs.get(job.id)
            assert held.attempts == attempt and held.last_error
            assert held.last_error.startswith("agent is offline: 'edge-1' last sent a heartbeat ")
        assert held.status is JobStatus.FAILED
        engine.notifications.collect_events()
        alerts = engine.notifications.list(certificate_id=cert.id).items
        assert [n.type for n in alerts] == [NotificationType.DEPLOYMENT_FAILURE]
        assert alerts[0].subject.startswith("Deployment of edge failed") and "agent is offline" in alerts[0].message

        # Still offline: nothing is retried.
        assert engine.deployments.process_due(actor=ALICE).caught_up == 0
        engine.agents.heartbeat(agent.id, {"os": "linux"})
        run = engine.deployments.process_due(actor=ALICE)
        assert run.caught_up == 1
        again = engine.jobs.get(job.id)
        assert again.status is JobStatus.PENDING and again.agent_id == agent.id
        assert [w.job_id for w in engine.agents.work(agent.id)] == [job.id]
        assert engine.deployments.process_due(actor=ALICE).caught_up == 0  # once
    finally:
        engine.close()


def test_a_deployment_that_ran_out_of_attempts_is_tried_again_an_hour_later(deploying: tuple[Engine, Path]) -> None:
    from datetime import timedelta

    engine, out = deploying
    cert_id = _mapped(engine)
    engine.issuance.issue(cert_id, actor=ALICE)
    engine.deployments.process_due(actor=ALICE)
    config = engine.targets.connector_config("tgt-files")
    failing = [sys.executable, "-c", "import sys; sys.exit('reload failed')"]
    engine.targets.update("tgt-files", config={**config, "post_deploy_command": failing}, actor=ALICE)
    version = engine.issuance.renew(cert_id, actor=ALICE)
    for _ in range(3):  # every attempt fails; backoff is skipped by making the job due
        JobModel.update(scheduled_at=engine.context.now()).where(JobModel.status == "Pending").execute()
        engine.deployments.process_due(actor=ALICE)
    (job,) = [
        j for j in JobModel.select().where(JobModel.type == "Deployment") if j.details["version_id"] == version.id
    ]
    assert job.status == "Failed" and job.attempts == 3
    assert engine.deployments.retry_failed(actor=ALICE) == 0  # not before the cool-down
    engine.targets.update("tgt-files", config=config, actor=ALICE)  # the server is mended
    JobModel.update(completed_at=engine.context.now() - timedelta(hours=1, minutes=1)).where(
        JobModel.id == job.id
    ).execute()
    run = engine.deployments.process_due(actor=ALICE)
    assert run.caught_up == 1 and run.completed == 1
    assert JobModel.get_by_id(job.id).status == "Completed"
    assert (out / "cert.pem").read_text() == version.pem_chain.split("-----END CERTIFICATE-----")[0] + (
        "-----END CERTIFICATE-----\n"
    )
