"""The Postfix and Dovecot targets against real daemons on loopback, judged by ``openssl s_client
-starttls smtp`` / ``-starttls imap``: deploy, renew, an identical redeploy that reloads nothing,
rollback with the server's own error when its configuration test or reload fails, and bad input
(paths outside the base directory, shell strings, missing programs) refused before anything is
written.

Each daemon runs as a private instance: Postfix with ``postfix -c DIR`` (its own main.cf and
master.cf, queue and data directories, smtpd on a free loopback port), Dovecot with
``dovecot -F -c FILE`` (its own base_dir, an imap listener on a free loopback port,
``ssl = required``). Both drop privileges to their system users, so the instance lives in a
world-traversable directory under /tmp rather than pytest's private one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from acme_server import free_port
from cryptography import x509
from tls_servers import SERVER_NAME, LeafIssuer, Server, recording, require_program, runs, serial_of, write_initial

from certctl_engine.connectors.targets.base import DeploymentBundle
from certctl_engine.connectors.targets.mail import DovecotConnector, PostfixConnector
from certctl_engine.errors import DeployError, InvalidInput

# --------------------------------------------------------------------------- judging STARTTLS


def starttls_serial(port: int, protocol: str) -> int:
    """The serial of the leaf served after STARTTLS on 127.0.0.1:port, as openssl s_client sees it."""
    done = subprocess.run(
        ["openssl", "s_client", "-starttls", protocol, "-connect", f"127.0.0.1:{port}", "-servername", SERVER_NAME],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    pem = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", done.stdout, re.DOTALL)
    assert pem, f"no certificate after STARTTLS {protocol}: {done.stdout[-500:]} {done.stderr[-500:]}"
    return x509.load_pem_x509_certificate(pem.group(0).encode()).serial_number


def wait_for_starttls_serial(port: int, protocol: str, serial: int, timeout: float = 15.0) -> int:
    """STARTTLS until ``serial`` is served twice running (processes started before a reload drain first)."""
    deadline = time.monotonic() + timeout
    seen, streak = -1, 0
    while True:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            seen = starttls_serial(port, protocol)
        streak = streak + 1 if seen == serial else 0
        if streak >= 2 or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def still_serving(port: int, protocol: str, serial: int, tries: int = 3) -> bool:
    return all(starttls_serial(port, protocol) == serial for _ in range(tries))


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def ca() -> LeafIssuer:
    return LeafIssuer()


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory the daemons' unprivileged users can traverse (pytest's own is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="certctl-mail-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- Dovecot


@dataclass
class DovecotServer(Server):
    """``dovecot -F`` with a private configuration: imap only, on loopback, TLS required."""

    binary: str = "dovecot"
    doveconf: str = "doveconf"
    doveadm: str = "doveadm"

    @property
    def conf(self) -> Path:
        return self.workdir / "dovecot.conf"

    def write_conf(self) -> None:
        tls = DovecotConnector().snippet(self.target_config())
        self.conf.write_text(
            f"protocols = imap\nlisten = 127.0.0.1\nbase_dir = {self.workdir}/run\nstate_dir = {self.workdir}/state\n"
            f"instance_name = certctl-{self.port}\nlog_path = {self.log}\n{tls}"
            f"mail_location = maildir:{self.workdir}/mail/%u\n"
            "passdb {\n  driver = static\n  args = nopassword\n}\n"
            f"userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={self.workdir}/mail/%u\n}}\n"
            "service imap-login {\n"
            f"  inet_listener imap {{\n    address = 127.0.0.1\n    port = {self.port}\n  }}\n"
            "  inet_listener imaps {\n    port = 0\n  }\n}\n"
        )

    def start(self, initial: DeploymentBundle) -> None:
        write_initial(self.certs, initial)
        (self.workdir / "run").mkdir()
        (self.workdir / "state").mkdir()
        self.write_conf()
        self._spawn([self.binary, "-F", "-c", str(self.conf)])

    def target_config(self, **extra: object) -> dict[str, object]:
        return {
            "directory": str(self.certs),
            "dovecot_conf": str(self.conf),
            "doveconf_binary": self.doveconf,
            "doveadm_binary": self.doveadm,
            **extra,
        }


@pytest.fixture
def dovecot(workdir: Path, ca: LeafIssuer) -> Iterator[DovecotServer]:
    server = DovecotServer(
        workdir / "dovecot",
        binary=require_program("dovecot", "dovecot-imapd"),
        doveconf=require_program("doveconf", "dovecot-core"),
        doveadm=require_program("doveadm", "dovecot-core"),
    )
    server.workdir.mkdir()
    server.start(ca.issue())
    try:
        yield server
    finally:
        server.stop()


def test_dovecot_serves_the_deployed_certificate_then_the_renewal(dovecot: DovecotServer, ca: LeafIssuer) -> None:
    log = dovecot.workdir / "reloads.log"
    reload = recording([dovecot.doveadm, "-c", str(dovecot.conf), "reload"], log)
    config = dovecot.target_config(reload_command=reload)
    first = ca.issue()
    result = DovecotConnector().deploy(first, config)
    assert result.changed and runs(log) == 1
    assert wait_for_starttls_serial(dovecot.port, "imap", serial_of(first)) == serial_of(first)
    assert (dovecot.certs / "privkey.pem").stat().st_mode & 0o777 == 0o600

    renewal = ca.issue()
    assert DovecotConnector().deploy(renewal, config).changed and runs(log) == 2
    assert wait_for_starttls_serial(dovecot.port, "imap", serial_of(renewal)) == serial_of(renewal)

    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dovecot.certs.iterdir()}
    again = DovecotConnector().deploy(renewal, config)
    assert not again.changed and "nothing reloaded" in again.message and runs(log) == 2
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dovecot.certs.iterdir()} == before
    assert still_serving(dovecot.port, "imap", serial_of(renewal))
    assert "dovecot accepts its configuration" in DovecotConnector().check(config)


def test_dovecot_a_broken_configuration_rolls_back_with_doveconf_own_error(
    dovecot: DovecotServer, ca: LeafIssuer
) -> None:
    current = ca.issue()
    DovecotConnector().deploy(current, dovecot.target_config())
    assert wait_for_starttls_serial(dovecot.port, "imap", serial_of(current)) == serial_of(current)
    previous = _files(dovecot.certs)
    good = dovecot.conf.read_text()
    dovecot.conf.write_text(good + "certctl_bogus_setting = yes\n")
    try:
        with pytest.raises(DeployError) as caught:
            DovecotConnector().deploy(ca.issue(), dovecot.target_config())
    finally:
        dovecot.conf.write_text(good)
    message = caught.value.message
    assert "Unknown setting: certctl_bogus_setting" in message and "rolled back" in message, message
    assert _files(dovecot.certs) == previous
    assert still_serving(dovecot.port, "imap", serial_of(current))


def test_dovecot_a_failing_reload_rolls_back_with_doveadm_own_error(dovecot: DovecotServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    DovecotConnector().deploy(current, dovecot.target_config())
    # A reload is asynchronous: let it finish, or it could read the next deployment's files.
    assert wait_for_starttls_serial(dovecot.port, "imap", serial_of(current)) == serial_of(current)
    previous = _files(dovecot.certs)
    nowhere = dovecot.workdir / "nowhere"
    reload = [dovecot.doveadm, "-c", str(dovecot.conf), "-o", f"base_dir={nowhere}", "reload"]
    with pytest.raises(DeployError) as caught:
        DovecotConnector().deploy(ca.issue(), dovecot.target_config(reload_command=reload))
    message = caught.value.message
    assert str(nowhere) in message and "rolled back" in message, message
    assert _files(dovecot.certs) == previous
    assert wait_for_starttls_serial(dovecot.port, "imap", serial_of(current)) == serial_of(current)


# --------------------------------------------------------------------------- Postfix

_MASTER_CF = """\
{listen} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
proxymap  unix  - - n - - proxymap
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


@dataclass
class PostfixServer:
    """A private Postfix instance (``postfix -c DIR start``) whose smtpd offers STARTTLS on a loopback port."""

    workdir: Path
    binary: str = "postfix"
    layout: str = "separate"
    port: int = field(default_factory=free_port)

    @property
    def conf_dir(self) -> Path:
        return self.workdir / "conf"

    @property
    def certs(self) -> Path:
        return self.workdir / "certs"

    @property
    def main_cf(self) -> Path:
        return self.conf_dir / "main.cf"

    def write_conf(self) -> None:
        tls = PostfixConnector().snippet(self.target_config())
        self.main_cf.write_text(
            "compatibility_level = 3.6\n"
            f"queue_directory = {self.workdir}/queue\ndata_directory = {self.workdir}/data\n"
            "mail_owner = postfix\nsetgid_group = postdrop\n"
            "inet_interfaces = loopback-only\ninet_protocols = ipv4\n"
            "myhostname = mail.example.test\nmydestination =\n"
            f"maillog_file_prefixes = {self.workdir}\nmaillog_file = {self.workdir}/maillog\n"
            f"smtpd_tls_security_level = may\n{tls}"
        )
        (self.conf_dir / "master.cf").write_text(_MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-c", str(self.conf_dir), *args], capture_output=True, text=True, timeout=60, check=False
        )

    def start(self, initial: DeploymentBundle) -> None:
        write_initial(self.certs, initial)
        (self.certs / "postfix-chain.pem").write_text((initial.key_pem or "") + initial.fullchain_pem)
        (self.certs / "postfix-chain.pem").chmod(0o600)
        for name in ("conf", "queue", "data"):
            (self.workdir / name).mkdir()
        shutil.chown(self.workdir / "data", "postfix")
        self.write_conf()
        started = self._postfix("start")
        if started.returncode != 0:
            raise RuntimeError(f"postfix start failed: {started.stderr} {self._maillog()}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"postfix did not listen on {self.port}: {self._maillog()}")

    def _maillog(self) -> str:
        log = self.workdir / "maillog"
        return log.read_text()[-2000:] if log.exists() else ""

    def stop(self) -> None:
        pid_file = self.workdir / "queue" / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return
        self._postfix("stop")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)

    def target_config(self, **extra: object) -> dict[str, object]:
        return {
            "directory": str(self.certs),
            "layout": self.layout,
            "postfix_binary": self.binary,
            "postfix_config_dir": str(self.conf_dir),
            **extra,
        }


@pytest.fixture(params=["separate", "chain_files"])
def postfix(request: pytest.FixtureRequest, workdir: Path, ca: LeafIssuer) -> Iterator[PostfixServer]:
    if os.geteuid() != 0:
        pytest.fail("a private Postfix instance needs root (its daemons drop to the postfix user)", pytrace=False)
    server = PostfixServer(workdir / "postfix", binary=require_program("postfix", "postfix"), layout=request.param)
    server.workdir.mkdir()
    server.start(ca.issue())
    try:
        yield server
    finally:
        server.stop()


def test_postfix_serves_the_deployed_certificate_then_the_renewal(postfix: PostfixServer, ca: LeafIssuer) -> None:
    log = postfix.workdir / "reloads.log"
    config = postfix.target_config(
        reload_command=recording([postfix.binary, "-c", str(postfix.conf_dir), "reload"], log)
    )
    first = ca.issue()
    result = PostfixConnector().deploy(first, config)
    assert result.changed and runs(log) == 1
    assert wait_for_starttls_serial(postfix.port, "smtp", serial_of(first)) == serial_of(first)
    for name in result.files:
        if name.endswith(("privkey.pem", "postfix-chain.pem")):
            assert Path(name).stat().st_mode & 0o777 == 0o600

    renewal = ca.issue()
    assert PostfixConnector().deploy(renewal, config).changed and runs(log) == 2
    assert wait_for_starttls_serial(postfix.port, "smtp", serial_of(renewal)) == serial_of(renewal)

    before = _files(postfix.certs)
    again = PostfixConnector().deploy(renewal, config)
    assert not again.changed and runs(log) == 2 and _files(postfix.certs) == before
    assert still_serving(postfix.port, "smtp", serial_of(renewal))
    assert "postfix accepts its configuration" in PostfixConnector().check(config)


def test_postfix_a_broken_configuration_rolls_back_with_postfix_own_error(
    postfix: PostfixServer, ca: LeafIssuer
) -> None:
    current = ca.issue()
    PostfixConnector().deploy(current, postfix.target_config())
    assert wait_for_starttls_serial(postfix.port, "smtp", serial_of(current)) == serial_of(current)
    previous = _files(postfix.certs)
    good = postfix.main_cf.read_text()
    postfix.main_cf.write_text(good + "this line has no equals sign\n")
    try:
        with pytest.raises(DeployError) as caught:
            PostfixConnector().deploy(ca.issue(), postfix.target_config())
    finally:
        postfix.main_cf.write_text(good)
    message = caught.value.message
    assert "missing '=' after attribute name" in message and "rolled back" in message, message
    assert _files(postfix.certs) == previous
    assert still_serving(postfix.port, "smtp", serial_of(current))


def test_postfix_a_failing_reload_rolls_back_with_postfix_own_error(postfix: PostfixServer, ca: LeafIssuer) -> None:
    current = ca.issue()
    PostfixConnector().deploy(current, postfix.target_config())
    assert wait_for_starttls_serial(postfix.port, "smtp", serial_of(current)) == serial_of(current)
    previous = _files(postfix.certs)
    postfix.stop()  # a reload of a Postfix that is not running fails, in Postfix's words
    with pytest.raises(DeployError) as caught:
        PostfixConnector().deploy(ca.issue(), postfix.target_config())
    message = caught.value.message
    assert "the Postfix mail system is not running" in message and "rolled back" in message, message
    assert _files(postfix.certs) == previous


# --------------------------------------------------------------------------- bad input

_CONNECTORS = {"Postfix": PostfixConnector, "Dovecot": DovecotConnector}
_BINARY_FIELDS = {
    "Postfix": [("postfix_binary", "postfix", "postfix")],
    "Dovecot": [("doveconf_binary", "doveconf", "dovecot-core"), ("doveadm_binary", "doveadm", "dovecot-core")],
}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "certs"
    directory.mkdir()
    (tmp_path / "outside").mkdir()
    (directory / "link").symlink_to(tmp_path / "outside")
    return directory


def _nothing_written(out: Path) -> bool:
    return sorted(p.name for p in out.iterdir()) == ["link"] and not any((out.parent / "outside").iterdir())


@pytest.mark.parametrize("kind", list(_CONNECTORS))
@pytest.mark.parametrize("name", ["../escape.pem", "/etc/certctl-escape.pem", "link/escape.pem", "a/../../escape.pem"])
def test_a_file_outside_the_base_directory_is_refused(kind: str, name: str, out: Path, ca: LeafIssuer) -> None:
    with pytest.raises(InvalidInput) as caught:
        _CONNECTORS[kind]().deploy(ca.issue(), {"directory": str(out), "fullchain_file": name})
    assert caught.value.field == "fullchain_file" and str(out) in caught.value.message
    assert _nothing_written(out) and not Path("/etc/certctl-escape.pem").exists()


def test_a_postfix_chain_file_outside_the_base_directory_is_refused(out: Path, ca: LeafIssuer) -> None:
    config = {"directory": str(out), "layout": "chain_files", "chain_files_file": "../chain.pem"}
    with pytest.raises(InvalidInput) as caught:
        PostfixConnector().deploy(ca.issue(), config)
    assert caught.value.field == "chain_files_file"
    assert _nothing_written(out)


@pytest.mark.parametrize("kind", list(_CONNECTORS))
def test_a_reload_command_given_as_a_shell_string_is_refused(kind: str, out: Path, ca: LeafIssuer) -> None:
    config = {"directory": str(out), "reload_command": f"{kind.lower()} reload; touch {out}/pwned"}
    with pytest.raises(InvalidInput, match="never a shell string") as caught:
        _CONNECTORS[kind]().deploy(ca.issue(), config)
    assert caught.value.field == "reload_command"
    assert _nothing_written(out)


@pytest.mark.parametrize(
    ("kind", "binary_field", "program", "package"),
    [(kind, *entry) for kind, entries in _BINARY_FIELDS.items() for entry in entries],
)
def test_a_missing_program_is_named_with_its_package_and_nothing_is_written(
    kind: str, binary_field: str, program: str, package: str, out: Path, ca: LeafIssuer
) -> None:
    config = {"directory": str(out), binary_field: f"/nonexistent/sbin/{program}"}
    with pytest.raises(DeployError) as caught:
        _CONNECTORS[kind]().deploy(ca.issue(), config)
    message = caught.value.message
    assert f"'/nonexistent/sbin/{program}' not found" in message and f"Debian package {package}" in message, message
    assert "nothing was written" in message
    assert _nothing_written(out)


def test_metacharacters_in_a_post_deploy_command_are_only_data(dovecot: DovecotServer, ca: LeafIssuer) -> None:
    pwned = dovecot.workdir / "pwned"
    echoed = dovecot.workdir / "argv.txt"
    payloads = [p.format(p=pwned) for p in ("; touch {p}", "$(touch {p})", "`touch {p}`", "| touch {p}")]
    recorder = [sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(repr(sys.argv[2:]))", str(echoed)]
    bundle = ca.issue()
    DovecotConnector().deploy(bundle, dovecot.target_config(post_deploy_command=[*recorder, *payloads]))
    assert echoed.read_text() == repr(payloads) and not pwned.exists()
    assert wait_for_starttls_serial(dovecot.port, "imap", serial_of(bundle)) == serial_of(bundle)
