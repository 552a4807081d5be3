"""The Apache target against a real httpd (apache2, event MPM, mod_ssl) on loopback: deploy, renew,
idempotent redeploy, the full-chain layout, and rollback when the configuration test fails or the
graceful restart does not take."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_servers import (
    ApacheServer,
    LeafIssuer,
    recording,
    require_program,
    runs,
    serial_of,
    still_serving,
    wait_for_serial,
)

from certctl_engine.connectors.targets import connector_for
from certctl_engine.connectors.targets.apache import ApacheConnector
from certctl_engine.domain import TargetType
from certctl_engine.errors import DeployError, InvalidInput


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


def _apache(tmp_path: Path, ca: LeafIssuer, layout: str) -> ApacheServer:
    server = ApacheServer(tmp_path / "httpd", binary=require_program("apache2", "apache2"))
    server.workdir.mkdir()
    server.start(ca.issue(), layout=layout)
    return server


@pytest.fixture
def apache(tmp_path: Path, ca: LeafIssuer) -> Iterator[ApacheServer]:
    server = _apache(tmp_path, ca, "separate")
    try:
        yield server
    finally:
        server.stop()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_deploy_renew_and_an_identical_redeploy_that_does_nothing(apache: ApacheServer, ca: LeafIssuer) -> None:
    log = apache.workdir / "reloads.log"
    graceful = recording([apache.binary, "-f", str(apache.conf), "-k", "graceful"], log)
    config = apache.target_config(reload_command=graceful)
    connector = connector_for(TargetType.APACHE)
    assert isinstance(connector, ApacheConnector)
    cert, chain, key = (apache.certs / n for n in ("cert.pem", "chain.pem", "privkey.pem"))
    cert.chmod(0o664)

    first = ca.issue()
    assert connector.deploy(first, config).changed and runs(log) == 1
    assert wait_for_serial(apache.port, serial_of(first)) == serial_of(first)
    assert (cert.read_text(), chain.read_text(), key.read_text()) == (
        first.certificate_pem,
        first.chain_pem,
        first.key_pem,
    )
    assert cert.stat().st_mode & 0o777 == 0o664 and key.stat().st_mode & 0o777 == 0o600

    renewal = ca.issue()
    assert connector.deploy(renewal, config).changed and runs(log) == 2
    assert wait_for_serial(apache.port, serial_of(renewal)) == serial_of(renewal)

    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (cert, chain, key)}
    assert not connector.deploy(renewal, config).changed
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (cert, chain, key)} == before
    assert runs(log) == 2
    assert still_serving(apache.port, serial_of(renewal))


def test_the_full_chain_layout(tmp_path: Path, ca: LeafIssuer) -> None:
    server = _apache(tmp_path, ca, "fullchain")
    try:
        bundle = ca.issue()
        result = ApacheConnector().deploy(bundle, server.target_config(layout="fullchain"))
        assert sorted(Path(f).name for f in result.files) == ["fullchain.pem", "privkey.pem"]
        assert (server.certs / "fullchain.pem").read_text() == bundle.fullchain_pem
        assert wait_for_serial(server.port, serial_of(bundle)) == serial_of(bundle)
    finally:
        server.stop()


def test_a_broken_configuration_rolls_back_with_httpd_own_error(apache: ApacheServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    ApacheConnector().deploy(current, apache.target_config())
    previous = _files(apache.certs)
    good = apache.conf.read_text()
    apache.conf.write_text(good + "CertctlBogus on\n")
    try:
        with pytest.raises(DeployError) as caught:
            ApacheConnector().deploy(ca.issue(), apache.target_config())
    finally:
        apache.conf.write_text(good)
    assert "Invalid command 'CertctlBogus'" in caught.value.message, caught.value.message
    assert _files(apache.certs) == previous
    assert still_serving(apache.port, serial_of(current))


def test_a_graceful_restart_that_does_not_take_is_rolled_back(apache: ApacheServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    ApacheConnector().deploy(current, apache.target_config())
    previous = _files(apache.certs)
    config = apache.target_config(reload_command=["true"], check_timeout_seconds=1)
    with pytest.raises(DeployError, match="after the reload"):
        ApacheConnector().deploy(ca.issue(), config)
    assert _files(apache.certs) == previous
    assert still_serving(apache.port, serial_of(current))


def test_default_commands_and_layout_checks(tmp_path: Path) -> None:
    connector = ApacheConnector()
    plain = {"directory": str(tmp_path)}
    assert connector.test_argv(plain) == ("apachectl", "configtest")
    assert connector.reload_argv(plain) == ("apachectl", "graceful")
    own = {**plain, "apache_binary": "apache2", "apache_conf": "/etc/apache2/apache2.conf"}
    assert connector.test_argv(own) == ("apache2", "-f", "/etc/apache2/apache2.conf", "-t")
    assert connector.reload_argv(own) == ("apache2", "-f", "/etc/apache2/apache2.conf", "-k", "graceful")
    with pytest.raises(InvalidInput) as caught:
        connector.validate_config({**plain, "layout": "separate", "chain_file": ""})
    assert caught.value.field == "chain_file"
    with pytest.raises(InvalidInput):
        connector.validate_config({**plain, "layout": "pkcs12"})
    assert os.listdir(tmp_path) == []
