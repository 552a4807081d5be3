"""Real TLS servers for target tests: NGINX, Apache httpd, HAProxy and Caddy on loopback.

Each server runs from its own temporary directory (configuration, pid file, logs, the
certificate directory certctl deploys into) on a free port. Its TLS lines are the ones
``snippet_for`` gives for the target, so every test also proves those lines work. A
server whose program is not installed fails the test with the Debian package to install:
these tests are the proof that the connectors work, so they never quietly skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from acme_server import free_port
from cryptography import x509

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.snippets import snippet_for
from certctl_engine.domain import TargetType
from certctl_engine.pki import (
    build_leaf,
    certificate_to_pem,
    create_root_ca,
    fingerprint_sha256,
    generate_private_key,
    private_key_to_pem,
)

SERVER_NAME = "www.example.test"


def require_program(name: str, package: str) -> str:
    """The program's path, or fail the test naming the Debian package that provides it."""
    found = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/usr/bin") if (p := Path(d) / name).exists()), None
    )
    if found is None:
        pytest.fail(f"'{name}' is not installed: apt-get install -y {package}", pytrace=False)
    return found


# --------------------------------------------------------------------------- certificates


class LeafIssuer:
    """A root CA that issues leaves for SERVER_NAME; every leaf has its own key and serial."""

    def __init__(self) -> None:
        self.ca = create_root_ca(common_name="certctl target test root")
        self._serial = 1000

    def issue(self, name: str = SERVER_NAME) -> DeploymentBundle:
        self._serial += 1
        key = generate_private_key()
        now = datetime.now(UTC)
        leaf = build_leaf(
            issuer_cert=self.ca.certificate,
            issuer_key=self.ca.key,
            public_key=key.public_key(),
            common_name=name,
            sans=[name],
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=30),
            serial=self._serial,
        )
        return DeploymentBundle(
            certificate_id="cert-test",
            version_id=f"ver-{self._serial}",
            fingerprint_sha256=fingerprint_sha256(leaf),
            certificate_pem=certificate_to_pem(leaf),
            chain_pem=self.ca.certificate_pem,
            key_pem=private_key_to_pem(key).decode(),
        )


def serial_of(bundle: DeploymentBundle) -> int:
    return x509.load_pem_x509_certificate(bundle.certificate_pem.encode()).serial_number


def served_serial(port: int, server_name: str = SERVER_NAME, timeout: float = 5.0) -> int:
    """The serial of the leaf the server at 127.0.0.1:port presents (Python ssl, no trust check)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def wait_for_serial(port: int, serial: int, timeout: float = 10.0) -> int:
    """Handshake until the server presents ``serial`` three times running (reloads are asynchronous:
    old workers accept for a moment); the last serial seen."""
    deadline = time.monotonic() + timeout
    seen, streak = -1, 0
    while True:
        with contextlib.suppress(OSError):
            seen = served_serial(port)
        streak = streak + 1 if seen == serial else 0
        if streak >= 3 or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def still_serving(port: int, serial: int, seconds: float = 1.5) -> bool:
    """True when every handshake for ``seconds`` presents ``serial`` (a rollback left the server as it was)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if served_serial(port) != serial:
            return False
        time.sleep(0.1)
    return True


def recording(argv: Sequence[str], log: Path) -> list[str]:
    """``argv`` wrapped so every run appends a line to ``log``: proves whether a reload ran."""
    code = (
        "import os, sys\n"
        "with open(sys.argv[1], 'a') as f: f.write(' '.join(sys.argv[2:]) + '\\n')\n"
        "os.execvp(sys.argv[2], sys.argv[2:])\n"
    )
    return [sys.executable, "-c", code, str(log), *argv]


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def write_initial(certs: Path, bundle: DeploymentBundle) -> None:
    """The files a server starts on, before certctl deploys anything."""
    certs.mkdir(parents=True, exist_ok=True)
    (certs / "cert.pem").write_text(bundle.certificate_pem)
    (certs / "chain.pem").write_text(bundle.chain_pem)
    (certs / "fullchain.pem").write_text(bundle.fullchain_pem)
    (certs / "privkey.pem").write_text(bundle.key_pem or "")
    (certs / "privkey.pem").chmod(0o600)
    (certs / "combined.pem").write_text(bundle.fullchain_pem + (bundle.key_pem or ""))
    (certs / "combined.pem").chmod(0o600)


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A server process on 127.0.0.1:port, run from ``workdir``."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited at start: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{argv[0]} did not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


@dataclass
class NginxServer(Server):
    binary: str = "nginx"

    @property
    def conf(self) -> Path:
        return self.workdir / "nginx.conf"

    def write_conf(self) -> None:
        temp = self.workdir / "temp"
        temp.mkdir(exist_ok=True)
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {self.workdir}/nginx.pid;\n"
            f"error_log {self.workdir}/error.log;\nevents {{ worker_connections 64; }}\n"
            "http {\n  access_log off;\n"
            + "".join(
                f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  server {{\n    listen 127.0.0.1:{self.port} ssl;\n    server_name {SERVER_NAME};\n"
            f"    include {self.certs}/ssl.conf;\n    return 200 'ok';\n  }}\n}}\n"
        )

    def start(self, initial: DeploymentBundle) -> None:
        write_initial(self.certs, initial)
        (self.certs / "ssl.conf").write_text(snippet_for(TargetType.NGINX, self.target_config()))
        self.write_conf()
        self._spawn([self.binary, "-p", str(self.workdir), "-c", str(self.conf), "-e", str(self.workdir / "error.log")])

    def base(self) -> list[str]:
        return [self.binary, "-p", str(self.workdir), "-c", str(self.conf)]

    def target_config(self, **extra: object) -> dict[str, object]:
        return {
            "directory": str(self.certs),
            "nginx_binary": self.binary,
            "nginx_conf": str(self.conf),
            "nginx_prefix": str(self.workdir),
            "host": "127.0.0.1",
            "port": self.port,
            "server_name": SERVER_NAME,
            "check_after_reload": True,
            **extra,
        }


_APACHE_MODULES = ("mpm_event", "authz_core", "socache_shmcb", "ssl")


@dataclass
class ApacheServer(Server):
    """httpd in the foreground with a minimal configuration: event MPM, mod_ssl, one TLS vhost."""

    binary: str = "apache2"

    @property
    def conf(self) -> Path:
        return self.workdir / "httpd.conf"

    def write_conf(self, layout: str = "separate") -> None:
        modules = Path("/usr/lib/apache2/modules")
        tls = snippet_for(TargetType.APACHE, self.target_config(layout=layout))
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"ServerRoot {self.workdir}\nServerName 127.0.0.1\nDefaultRuntimeDir {self.workdir}/run\n"
            f"PidFile {self.workdir}/httpd.pid\nErrorLog {self.workdir}/error.log\nLogLevel warn\n"
            + "".join(f"LoadModule {m}_module {modules}/mod_{m}.so\n" for m in _APACHE_MODULES)
            + f"{user}Mutex file:{self.workdir}/run default\nSSLSessionCache none\n"
            f"Listen 127.0.0.1:{self.port}\n<VirtualHost 127.0.0.1:{self.port}>\n  ServerName {SERVER_NAME}\n"
            + "".join(f"  {line}\n" for line in tls.splitlines())
            + "</VirtualHost>\n"
        )

    def start(self, initial: DeploymentBundle, layout: str = "separate") -> None:
        write_initial(self.certs, initial)
        (self.workdir / "run").mkdir(exist_ok=True)
        self.write_conf(layout)
        self._spawn([self.binary, "-f", str(self.conf), "-DFOREGROUND"])

    def target_config(self, **extra: object) -> dict[str, object]:
        return {
            "directory": str(self.certs),
            "apache_binary": self.binary,
            "apache_conf": str(self.conf),
            "host": "127.0.0.1",
            "port": self.port,
            "server_name": SERVER_NAME,
            "check_after_reload": True,
            **extra,
        }


@dataclass
class HAProxyServer(Server):
    """HAProxy in master-worker mode (-W) in the foreground, with an admin-level stats socket."""

    binary: str = "haproxy"

    @property
    def conf(self) -> Path:
        return self.workdir / "haproxy.cfg"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "haproxy.pid"

    @property
    def socket(self) -> Path:
        return self.workdir / "admin.sock"

    def write_conf(self, crt_list: bool = False) -> None:
        extra = {"crt_list_file": "crt-list.txt"} if crt_list else {}
        bind = snippet_for(TargetType.HAPROXY, self.target_config(**extra)).strip()
        self.conf.write_text(
            f"global\n  stats socket {self.socket} level admin\n\n"
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n\n"
            f"frontend tls\n  {bind.replace('bind :443', f'bind 127.0.0.1:{self.port}')}\n"
            "  http-request return status 200 content-type text/plain string ok\n"
        )

    def start(self, initial: DeploymentBundle, crt_list: bool = False) -> None:
        write_initial(self.certs, initial)
        (self.certs / "crt-list.txt").write_text(f"{self.certs}/combined.pem\n")
        self.write_conf(crt_list)
        self._spawn([self.binary, "-W", "-f", str(self.conf), "-p", str(self.pid_file)])

    def target_config(self, **extra: object) -> dict[str, object]:
        return {
            "directory": str(self.certs),
            "combined_file": "combined.pem",
            "haproxy_binary": self.binary,
            "haproxy_conf": str(self.conf),
            "master_pid_file": str(self.pid_file),
            "host": "127.0.0.1",
            "port": self.port,
            "server_name": SERVER_NAME,
            "check_after_reload": True,
            **extra,
        }


@dataclass
class CaddyServer(Server):
    """``caddy run`` on a Caddyfile with a loopback admin endpoint; its data and config dirs stay in workdir."""

    binary: str = "caddy"
    admin_port: int = field(default_factory=free_port)

    @property
    def conf(self) -> Path:
        return self.workdir / "Caddyfile"

    @property
    def env(self) -> dict[str, str]:
        home = str(self.workdir / "home")
        return {"PATH": os.environ.get("PATH", ""), "HOME": home, "XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home}

    def write_conf(self) -> None:
        self.conf.write_text(
            f"{{\n  admin 127.0.0.1:{self.admin_port}\n  storage file_system {self.workdir}/data\n"
            "  auto_https disable_redirects\n  skip_install_trust\n}\n\n"
            f"https://{SERVER_NAME}:{self.port} {{\n  bind 127.0.0.1\n"
            f'  tls {self.certs}/fullchain.pem {self.certs}/privkey.pem\n  respond "ok"\n}}\n'
        )

    def start(self, initial: DeploymentBundle) -> None:
        write_initial(self.certs, initial)
        self.write_conf()
        self._spawn([self.binary, "run", "--config", str(self.conf), "--adapter", "caddyfile"], env=self.env)

    def target_config(self, **extra: object) -> dict[str, object]:
        return {
            "directory": str(self.certs),
            "caddy_binary": self.binary,
            "caddy_config": str(self.conf),
            "admin_address": f"127.0.0.1:{self.admin_port}",
            "host": "127.0.0.1",
            "port": self.port,
            "server_name": SERVER_NAME,
            "check_after_reload": True,
            **extra,
        }
