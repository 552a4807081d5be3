"""Bad input to the server targets: paths that leave the base directory, commands given as shell
strings, shell metacharacters passed as data, and programs that are not installed. Each gets a clear
error naming what is wrong, and nothing is written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tls_servers import LeafIssuer, NginxServer, require_program, serial_of, still_serving, wait_for_serial

from certctl_engine.connectors.targets import connector_for
from certctl_engine.connectors.targets.snippets import snippet_for
from certctl_engine.domain import TargetType
from certctl_engine.errors import DeployError, InvalidInput

SERVER_TYPES = (TargetType.NGINX, TargetType.APACHE, TargetType.HAPROXY, TargetType.CADDY)


def _minimal(kind: TargetType, directory: Path, **extra: Any) -> dict[str, Any]:
    """A configuration each connector accepts, with ``extra`` on top."""
    base: dict[str, Any] = {"directory": str(directory)}
    if kind is TargetType.HAPROXY:
        base |= {"haproxy_conf": "/etc/haproxy/haproxy.cfg", "reload_command": ["true"]}
    if kind is TargetType.CADDY:
        base |= {"caddy_config": "/etc/caddy/Caddyfile"}
    return base | extra


_FILE_FIELD = {
    TargetType.NGINX: "fullchain_file",
    TargetType.APACHE: "cert_file",
    TargetType.HAPROXY: "combined_file",
    TargetType.CADDY: "fullchain_file",
}
_BINARY = {
    TargetType.NGINX: ("nginx_binary", "nginx", "nginx"),
    TargetType.APACHE: ("apache_binary", "apachectl", "apache2"),
    TargetType.HAPROXY: ("haproxy_binary", "haproxy", "haproxy"),
    TargetType.CADDY: ("caddy_binary", "caddy", "caddy"),
}


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    directory.mkdir()
    (tmp_path / "outside").mkdir()
    (directory / "link").symlink_to(tmp_path / "outside")
    return directory


def _nothing_written(out: Path) -> bool:
    return sorted(p.name for p in out.iterdir()) == ["link"] and not any((out.parent / "outside").iterdir())


@pytest.mark.parametrize("kind", SERVER_TYPES, ids=lambda k: k.value)
@pytest.mark.parametrize("name", ["../escape.pem", "/etc/certctl-escape.pem", "link/escape.pem", "a/../../escape.pem"])
def test_a_file_outside_the_base_directory_is_refused(kind: TargetType, name: str, out: Path, ca: LeafIssuer) -> None:
    field = _FILE_FIELD[kind]
    with pytest.raises(InvalidInput) as caught:
        connector_for(kind).deploy(ca.issue(), _minimal(kind, out, **{field: name}))
    assert caught.value.field == field and str(out) in caught.value.message
    assert _nothing_written(out)
    assert not Path("/etc/certctl-escape.pem").exists()
    with pytest.raises(InvalidInput):
        snippet_for(kind, _minimal(kind, out, **{field: name}))


@pytest.mark.parametrize("kind", SERVER_TYPES, ids=lambda k: k.value)
def test_a_command_given_as_a_shell_string_is_refused(kind: TargetType, out: Path, ca: LeafIssuer) -> None:
    config = _minimal(kind, out, reload_command=f"{kind.value.lower()} reload; touch {out}/pwned")
    with pytest.raises(InvalidInput, match="never a shell string") as caught:
        connector_for(kind).deploy(ca.issue(), config)
    assert caught.value.field == "reload_command"
    assert _nothing_written(out)


@pytest.mark.parametrize("kind", SERVER_TYPES, ids=lambda k: k.value)
def test_a_missing_program_is_named_with_its_package_and_nothing_is_written(
    kind: TargetType, out: Path, ca: LeafIssuer
) -> None:
    field, program, package = _BINARY[kind]
    config = _minimal(kind, out, **{field: f"/nonexistent/sbin/{program}"})
    if kind is TargetType.HAPROXY:
        config.pop("reload_command")
        config["master_pid_file"] = "/nonexistent/haproxy.pid"
    with pytest.raises(DeployError) as caught:
        connector_for(kind).deploy(ca.issue(), config)
    message = caught.value.message
    assert f"'/nonexistent/sbin/{program}' not found" in message and f"Debian package {package}" in message, message
    assert "nothing was written" in message
    assert _nothing_written(out)


def test_a_server_test_without_its_program_fails_and_names_the_package() -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y certctl-test-pkg"):
        require_program("certctl-no-such-server", "certctl-test-pkg")


def test_snippets_exist_only_for_servers(out: Path) -> None:
    with pytest.raises(InvalidInput, match="need no server configuration lines"):
        snippet_for(TargetType.FILES, {"directory": str(out), "cert_file": "c.pem"})
    with pytest.raises(InvalidInput, match="unknown target type"):
        snippet_for("Gopher", {})
    assert snippet_for("NGINX", {"directory": str(out)}) == (
        f"ssl_certificate {out}/fullchain.pem;\nssl_certificate_key {out}/privkey.pem;\n"
    )


# --------------------------------------------------------------------------- metacharacters on a live nginx


@pytest.fixture
def nginx(tmp_path: Path, ca: LeafIssuer) -> Iterator[NginxServer]:
    server = NginxServer(tmp_path / "nginx", binary=require_program("nginx", "nginx"))
    server.workdir.mkdir()
    server.start(ca.issue())
    try:
        yield server
    finally:
        server.stop()


_PAYLOADS = ["; touch {p}", "$(touch {p})", "`touch {p}`", "| touch {p}", "&& touch {p}", "\ntouch {p}"]


def test_shell_metacharacters_in_arguments_are_only_data(nginx: NginxServer, ca: LeafIssuer) -> None:
    pwned = nginx.workdir / "pwned"
    echoed = nginx.workdir / "argv.txt"
    payloads = [p.format(p=pwned) for p in _PAYLOADS]
    recorder = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(repr(sys.argv[2:]))", str(echoed)]
    bundle = ca.issue()
    connector_for(TargetType.NGINX).deploy(bundle, nginx.target_config(post_deploy_command=[*recorder, *payloads]))
    assert wait_for_serial(nginx.port, serial_of(bundle)) == serial_of(bundle)
    assert echoed.read_text() == repr(payloads)  # every argument arrived verbatim
    assert not pwned.exists()


def test_a_reload_argument_with_metacharacters_fails_as_nginx_says_and_rolls_back(
    nginx: NginxServer, ca: LeafIssuer
) -> None:
    current = ca.issue()
    connector_for(TargetType.NGINX).deploy(current, nginx.target_config())
    previous = {p.name: p.read_bytes() for p in nginx.certs.iterdir()}
    pwned = nginx.workdir / "pwned"
    reload = [*nginx.base(), "-s", f"reload; touch {pwned}"]
    with pytest.raises(DeployError) as caught:
        connector_for(TargetType.NGINX).deploy(ca.issue(), nginx.target_config(reload_command=reload))
    assert f'nginx: invalid option: "-s reload; touch {pwned}"' in caught.value.message, caught.value.message
    assert not pwned.exists()
    assert {p.name: p.read_bytes() for p in nginx.certs.iterdir()} == previous
    assert still_serving(nginx.port, serial_of(current))
