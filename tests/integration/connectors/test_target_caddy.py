"""The Caddy target against a real ``caddy run`` on loopback: files named by a ``tls`` directive,
``caddy validate``, a forced ``caddy reload`` or the admin API's POST /load, and rollback when
either refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from acme_server import free_port
from tls_servers import (
    CaddyServer,
    LeafIssuer,
    recording,
    require_program,
    runs,
    serial_of,
    still_serving,
    wait_for_serial,
)

from certctl_engine.connectors.targets import connector_for
from certctl_engine.connectors.targets.caddy import CaddyConnector
from certctl_engine.domain import TargetType
from certctl_engine.errors import DeployError, InvalidInput


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


@pytest.fixture
def caddy(tmp_path: Path, ca: LeafIssuer) -> Iterator[CaddyServer]:
    server = CaddyServer(tmp_path / "caddy", binary=require_program("caddy", "caddy"))
    server.workdir.mkdir()
    server.start(ca.issue())
    try:
        yield server
    finally:
        server.stop()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def test_deploy_renew_and_an_identical_redeploy_that_does_nothing(caddy: CaddyServer, ca: LeafIssuer) -> None:
    connector = connector_for(TargetType.CADDY)
    assert isinstance(connector, CaddyConnector)
    log = caddy.workdir / "reloads.log"
    config = caddy.target_config()
    config["reload_command"] = recording(list(connector.reload_argv(config)), log)
    assert "--force" in config["reload_command"]
    fullchain, key = caddy.certs / "fullchain.pem", caddy.certs / "privkey.pem"

    first = ca.issue()
    assert connector.deploy(first, config).changed and runs(log) == 1
    assert wait_for_serial(caddy.port, serial_of(first)) == serial_of(first)
    assert fullchain.read_text() == first.fullchain_pem and key.stat().st_mode & 0o777 == 0o600

    renewal = ca.issue()
    assert connector.deploy(renewal, config).changed and runs(log) == 2
    assert wait_for_serial(caddy.port, serial_of(renewal)) == serial_of(renewal)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (fullchain, key)}
    assert not connector.deploy(renewal, config).changed
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (fullchain, key)} == before
    assert runs(log) == 2
    assert still_serving(caddy.port, serial_of(renewal))


def test_the_admin_api_load(caddy: CaddyServer, ca: LeafIssuer) -> None:
    config = caddy.target_config(admin_api=f"http://127.0.0.1:{caddy.admin_port}")
    for _ in range(2):
        bundle = ca.issue()
        assert CaddyConnector().deploy(bundle, config).changed
        assert wait_for_serial(caddy.port, serial_of(bundle)) == serial_of(bundle)
    assert caddy.log.read_text().count('"uri":"/load"') == 2


def test_a_broken_configuration_rolls_back_with_caddy_own_error(caddy: CaddyServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    CaddyConnector().deploy(current, caddy.target_config())
    previous = _files(caddy.certs)
    good = caddy.conf.read_text()
    caddy.conf.write_text(good.replace('respond "ok"', 'respond "ok"\n  certctl_bogus on'))
    try:
        with pytest.raises(DeployError) as caught:
            CaddyConnector().deploy(ca.issue(), caddy.target_config())
    finally:
        caddy.conf.write_text(good)
    assert "unrecognized directive: certctl_bogus" in caught.value.message, caught.value.message
    assert _files(caddy.certs) == previous
    assert still_serving(caddy.port, serial_of(current))


def test_an_unreachable_admin_api_rolls_back(caddy: CaddyServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    CaddyConnector().deploy(current, caddy.target_config())
    previous = _files(caddy.certs)
    config = caddy.target_config(admin_api=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DeployError, match=r"admin API .* unreachable"):
        CaddyConnector().deploy(ca.issue(), config)
    assert _files(caddy.certs) == previous
    assert still_serving(caddy.port, serial_of(current))


def test_configuration_checks(tmp_path: Path) -> None:
    for config, field in (
        ({"directory": str(tmp_path)}, "caddy_config"),
        ({"directory": str(tmp_path), "caddy_config": "Caddyfile"}, "caddy_config"),
        ({"directory": str(tmp_path), "caddy_config": "/etc/caddy/Caddyfile", "admin_api": "unix:///x"}, "admin_api"),
        (
            {"directory": str(tmp_path), "caddy_config": "/etc/caddy/Caddyfile", "caddy_adapter": "nginx"},
            "caddy_adapter",
        ),
    ):
        with pytest.raises(InvalidInput) as caught:
            CaddyConnector().validate_config(config)
        assert caught.value.field == field, config
