"""The HAProxy target against a real master-worker HAProxy on loopback: the combined PEM picked up by
SIGUSR2 to the master, by a configured reload command, or swapped in through the runtime API with no
reload; a crt-list; and rollback when ``haproxy -c`` or the runtime API refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_servers import (
    HAProxyServer,
    LeafIssuer,
    recording,
    require_program,
    runs,
    serial_of,
    still_serving,
    wait_for_serial,
)

from certctl_engine.connectors.targets import connector_for
from certctl_engine.connectors.targets.haproxy import HAProxyConnector
from certctl_engine.domain import TargetType
from certctl_engine.errors import DeployError, InvalidInput


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


def _haproxy(tmp_path: Path, ca: LeafIssuer, crt_list: bool = False) -> HAProxyServer:
    server = HAProxyServer(tmp_path / "haproxy", binary=require_program("haproxy", "haproxy"))
    server.workdir.mkdir()
    server.start(ca.issue(), crt_list=crt_list)
    return server


@pytest.fixture
def haproxy(tmp_path: Path, ca: LeafIssuer) -> Iterator[HAProxyServer]:
    server = _haproxy(tmp_path, ca)
    try:
        yield server
    finally:
        server.stop()


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _reloads(server: HAProxyServer) -> int:
    return server.log.read_text().count("Reloading HAProxy")


def test_deploy_renew_and_an_identical_redeploy_through_the_master(haproxy: HAProxyServer, ca: LeafIssuer) -> None:
    connector = connector_for(TargetType.HAPROXY)
    assert isinstance(connector, HAProxyConnector)
    combined = haproxy.certs / "combined.pem"
    config = haproxy.target_config()
    first = ca.issue()
    assert connector.deploy(first, config).changed
    assert wait_for_serial(haproxy.port, serial_of(first)) == serial_of(first)
    assert combined.read_text() == first.fullchain_pem + (first.key_pem or "")
    assert combined.stat().st_mode & 0o777 == 0o600
    assert _reloads(haproxy) == 1

    renewal = ca.issue()
    assert connector.deploy(renewal, config).changed
    assert wait_for_serial(haproxy.port, serial_of(renewal)) == serial_of(renewal)
    before = (combined.stat().st_ino, combined.stat().st_mtime_ns)
    assert not connector.deploy(renewal, config).changed
    assert (combined.stat().st_ino, combined.stat().st_mtime_ns) == before
    assert _reloads(haproxy) == 2  # the identical deploy sent no signal
    assert still_serving(haproxy.port, serial_of(renewal))


def test_a_configured_reload_command(haproxy: HAProxyServer, ca: LeafIssuer) -> None:
    log = haproxy.workdir / "reloads.log"
    pid = haproxy.pid_file.read_text().split()[0]
    config = haproxy.target_config(master_pid_file=None, reload_command=recording(["kill", "-USR2", pid], log))
    bundle = ca.issue()
    assert HAProxyConnector().deploy(bundle, config).changed and runs(log) == 1
    assert wait_for_serial(haproxy.port, serial_of(bundle)) == serial_of(bundle)
    assert not HAProxyConnector().deploy(bundle, config).changed and runs(log) == 1


def test_the_runtime_api_swaps_the_certificate_without_a_reload(haproxy: HAProxyServer, ca: LeafIssuer) -> None:
    config = haproxy.target_config(master_pid_file=None, stats_socket=str(haproxy.socket))
    for _ in range(2):
        bundle = ca.issue()
        assert HAProxyConnector().deploy(bundle, config).changed
        assert wait_for_serial(haproxy.port, serial_of(bundle)) == serial_of(bundle)
    assert _reloads(haproxy) == 0
    assert (haproxy.certs / "combined.pem").read_text() == bundle.fullchain_pem + (bundle.key_pem or "")


def test_a_runtime_api_refusal_rolls_back_with_haproxy_own_words(haproxy: HAProxyServer, ca: LeafIssuer) -> None:
    config = haproxy.target_config(master_pid_file=None, stats_socket=str(haproxy.socket))
    current = ca.issue()
    HAProxyConnector().deploy(current, config)
    previous = _files(haproxy.certs)
    with pytest.raises(DeployError) as caught:
        HAProxyConnector().deploy(ca.issue(), {**config, "runtime_cert_name": "/not/in/the/config.pem"})
    assert "not referenced by the configuration" in caught.value.message, caught.value.message
    assert _files(haproxy.certs) == previous
    assert still_serving(haproxy.port, serial_of(current))


def test_a_crt_list(tmp_path: Path, ca: LeafIssuer) -> None:
    server = _haproxy(tmp_path, ca, crt_list=True)
    try:
        bundle = ca.issue()
        config = server.target_config(crt_list_file="crt-list.txt", sni_filters=["www.example.test"])
        HAProxyConnector().deploy(bundle, config)
        assert (server.certs / "crt-list.txt").read_text() == f"{server.certs}/combined.pem www.example.test\n"
        assert wait_for_serial(server.port, serial_of(bundle)) == serial_of(bundle)
    finally:
        server.stop()


def test_a_broken_configuration_rolls_back_with_haproxy_own_error(haproxy: HAProxyServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    HAProxyConnector().deploy(current, haproxy.target_config())
    previous = _files(haproxy.certs)
    good = haproxy.conf.read_text()
    haproxy.conf.write_text(good + "  certctl_bogus on\n")
    try:
        with pytest.raises(DeployError) as caught:
            HAProxyConnector().deploy(ca.issue(), haproxy.target_config())
    finally:
        haproxy.conf.write_text(good)
    assert "unknown keyword 'certctl_bogus'" in caught.value.message, caught.value.message
    assert _files(haproxy.certs) == previous
    assert _reloads(haproxy) == 1
    assert still_serving(haproxy.port, serial_of(current))


def test_configuration_needs_a_way_to_pick_the_file_up(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        HAProxyConnector().validate_config({"directory": str(tmp_path), "haproxy_conf": "/etc/haproxy/haproxy.cfg"})
    assert caught.value.field == "reload_command"
    with pytest.raises(InvalidInput) as caught:
        HAProxyConnector().validate_config(
            {"directory": str(tmp_path), "haproxy_conf": "/x.cfg", "reload_command": ["true"], "sni_filters": ["a b"]}
        )
    assert caught.value.field == "sni_filters"
