"""The NGINX target against a real nginx on loopback: deploy, renew, idempotent redeploy, rollback
on a broken configuration, a key that does not match, a reload that fails or does not take, and
deployments run by the engine as jobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tls_servers import (
    SERVER_NAME,
    LeafIssuer,
    NginxServer,
    recording,
    require_program,
    runs,
    serial_of,
    served_serial,
    still_serving,
    wait_for_serial,
)

from certctl_engine.connectors.targets import connector_for
from certctl_engine.connectors.targets.nginx import NginxConnector
from certctl_engine.domain import Actor, JobStatus, JobType, TargetType, VerificationStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import DeployError
from certctl_engine.store.models import JobModel

ALICE = Actor("alice")


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


@pytest.fixture
def nginx(tmp_path: Path, ca: LeafIssuer) -> Iterator[NginxServer]:
    server = NginxServer(tmp_path / "nginx", binary=require_program("nginx", "nginx"))
    server.workdir.mkdir()
    server.start(ca.issue())
    try:
        yield server
    finally:
        server.stop()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_deploy_renew_and_an_identical_redeploy_that_does_nothing(nginx: NginxServer, ca: LeafIssuer) -> None:
    log = nginx.workdir / "reloads.log"
    config = nginx.target_config(reload_command=recording([*nginx.base(), "-s", "reload"], log))
    connector = connector_for(TargetType.NGINX)
    assert isinstance(connector, NginxConnector)
    fullchain, key = nginx.certs / "fullchain.pem", nginx.certs / "privkey.pem"
    fullchain.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(fullchain, 65534, 65534)

    first = ca.issue()
    result = connector.deploy(first, config)
    assert result.changed and runs(log) == 1
    assert wait_for_serial(nginx.port, serial_of(first)) == serial_of(first)
    assert fullchain.read_text() == first.fullchain_pem and key.read_text() == first.key_pem
    assert fullchain.stat().st_mode & 0o777 == 0o640  # the replaced file's mode is kept
    assert key.stat().st_mode & 0o777 == 0o600
    if os.geteuid() == 0:
        assert (fullchain.stat().st_uid, fullchain.stat().st_gid) == (65534, 65534)
    assert not [p for p in nginx.certs.iterdir() if p.name.startswith(".")]  # no temp file left

    renewal = ca.issue()
    assert connector.deploy(renewal, config).changed and runs(log) == 2
    assert wait_for_serial(nginx.port, serial_of(renewal)) == serial_of(renewal)

    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (fullchain, key)}
    again = connector.deploy(renewal, config)
    assert not again.changed and "nothing reloaded" in again.message
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (fullchain, key)} == before
    assert runs(log) == 2  # the reload command did not run
    assert still_serving(nginx.port, serial_of(renewal))


def test_the_managed_snippet_points_nginx_at_the_deployed_files(nginx: NginxServer, ca: LeafIssuer) -> None:
    config = nginx.target_config(snippet_file="ssl.conf", fullchain_file="site.crt", key_file="site.key")
    bundle = ca.issue()
    NginxConnector().deploy(bundle, config)
    snippet = (nginx.certs / "ssl.conf").read_text()
    assert f"ssl_certificate {nginx.certs}/site.crt;" in snippet
    assert f"ssl_certificate_key {nginx.certs}/site.key;" in snippet
    assert wait_for_serial(nginx.port, serial_of(bundle)) == serial_of(bundle)


def test_a_broken_configuration_rolls_back_with_nginx_own_error(nginx: NginxServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    NginxConnector().deploy(current, nginx.target_config())
    previous = _files(nginx.certs)
    good_conf = nginx.conf.read_text()
    nginx.conf.write_text(good_conf.replace("access_log off;", "access_log off;\n  certctl_bogus on;"))
    try:
        with pytest.raises(DeployError) as caught:
            NginxConnector().deploy(ca.issue(), nginx.target_config())
    finally:
        nginx.conf.write_text(good_conf)
    message = caught.value.message
    assert 'unknown directive "certctl_bogus"' in message and "rolled back" in message, message
    assert _files(nginx.certs) == previous
    assert still_serving(nginx.port, serial_of(current))


def test_a_key_that_does_not_match_is_refused_before_anything_is_written(nginx: NginxServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    log = nginx.workdir / "reloads.log"
    config = nginx.target_config(reload_command=recording([*nginx.base(), "-s", "reload"], log))
    NginxConnector().deploy(current, config)
    previous = {p.name: (p.stat().st_ino, p.read_bytes()) for p in nginx.certs.iterdir()}
    mismatched = replace(ca.issue(), key_pem=ca.issue().key_pem)
    with pytest.raises(DeployError, match="does not belong to the certificate"):
        NginxConnector().deploy(mismatched, config)
    assert {p.name: (p.stat().st_ino, p.read_bytes()) for p in nginx.certs.iterdir()} == previous
    assert runs(log) == 1
    assert still_serving(nginx.port, serial_of(current))


def test_a_failing_reload_command_rolls_back_and_keeps_its_error(nginx: NginxServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    NginxConnector().deploy(current, nginx.target_config())
    previous = _files(nginx.certs)
    elsewhere = nginx.workdir / "elsewhere.conf"  # names a pid file no master wrote
    elsewhere.write_text(
        nginx.conf.read_text().replace(f"pid {nginx.workdir}/nginx.pid;", "pid /nonexistent/nginx.pid;")
    )
    reload = [nginx.binary, "-p", str(nginx.workdir), "-c", str(elsewhere), "-s", "reload"]
    with pytest.raises(DeployError) as caught:
        NginxConnector().deploy(ca.issue(), nginx.target_config(reload_command=reload))
    assert '"/nonexistent/nginx.pid" failed' in caught.value.message, caught.value.message
    assert _files(nginx.certs) == previous
    assert still_serving(nginx.port, serial_of(current))


def test_a_reload_that_does_not_take_fails_the_post_deploy_check(nginx: NginxServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    NginxConnector().deploy(current, nginx.target_config())
    previous = _files(nginx.certs)
    config = nginx.target_config(reload_command=["true"], check_timeout_seconds=1)
    with pytest.raises(DeployError) as caught:
        NginxConnector().deploy(ca.issue(), config)
    assert "after the reload" in caught.value.message and "reloaded onto them" in caught.value.message
    assert _files(nginx.certs) == previous
    assert still_serving(nginx.port, serial_of(current))


def test_several_certificates_share_one_test_and_one_reload(nginx: NginxServer, ca: LeafIssuer) -> None:
    log = nginx.workdir / "reloads.log"
    reload = recording([*nginx.base(), "-s", "reload"], log)
    served = ca.issue()
    items = [(served, nginx.target_config(reload_command=reload))] + [
        (ca.issue(f"site{i}.example.test"), nginx.target_config(
            reload_command=reload, fullchain_file=f"site{i}.crt", key_file=f"site{i}.key", check_after_reload=False
        ))
        for i in range(5)
    ]  # fmt: skip
    result = NginxConnector().deploy_batch(items)
    assert result.changed and result.details["written"] == 12 and runs(log) == 1
    assert wait_for_serial(nginx.port, serial_of(served)) == serial_of(served)
    assert not NginxConnector().deploy_batch(items).changed and runs(log) == 1


# --------------------------------------------------------------------------- through the engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = Engine.open(str(tmp_path / "certctl.db"), env={"CERTCTL_HOME": str(tmp_path / "home")})
    try:
        yield opened
    finally:
        opened.close()


def _nginx_target(engine: Engine, nginx: NginxServer) -> str:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.targets.create(
        "web nginx", "NGINX", nginx.target_config(verify_delay_seconds=0), actor=ALICE, id="tgt-nginx"
    )
    return engine.certificates.create(
        name="web", common_name=SERVER_NAME, issuer_id="iss-local", target_ids=["tgt-nginx"], actor=ALICE
    ).id


def test_an_engine_deployment_job_completes_and_nginx_serves_the_version(engine: Engine, nginx: NginxServer) -> None:
    cert_id = _nginx_target(engine, nginx)
    version = engine.issuance.issue(cert_id, actor=ALICE)
    run = engine.deployments.process_due(actor=ALICE)
    assert (run.completed, run.failed, run.retrying) == (1, 0, 0)
    (job,) = engine.jobs.list(type=JobType.DEPLOYMENT).items
    done = engine.jobs.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.details["deployment"]["changed"] is True
    assert done.verification_status is VerificationStatus.SUCCESS
    assert wait_for_serial(nginx.port, int(version.serial_number, 16)) == int(version.serial_number, 16)
    checked = engine.deployments.check_target("tgt-nginx")
    assert checked.ok and "nginx accepts its configuration" in checked.message, checked.message


def test_an_engine_deployment_job_fails_with_nginx_error_on_the_job(engine: Engine, nginx: NginxServer) -> None:
    cert_id = _nginx_target(engine, nginx)
    served = served_serial(nginx.port)
    previous = _files(nginx.certs)
    nginx.conf.write_text(nginx.conf.read_text().replace("access_log off;", "access_log off;\n  certctl_bogus on;"))
    engine.issuance.issue(cert_id, actor=ALICE)
    JobModel.update(max_attempts=1).where(JobModel.type == JobType.DEPLOYMENT.value).execute()
    run = engine.deployments.process_due(actor=ALICE)
    assert (run.completed, run.failed) == (0, 1)
    (job,) = engine.jobs.list(type=JobType.DEPLOYMENT).items
    failed = engine.jobs.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.last_error and 'unknown directive "certctl_bogus"' in failed.last_error
    assert _files(nginx.certs) == previous
    assert still_serving(nginx.port, served)
    checked = engine.deployments.check_target("tgt-nginx")
    assert not checked.ok and 'unknown directive "certctl_bogus"' in checked.message, checked.message
