"""`certctl engine` and `certctl agent` as separate processes on loopback, as they run in production.

The agent makes the key, the engine signs the agent's CSR, the agent deploys to files that
`openssl s_server` serves (restarted by the target's post-deploy command, as a real reload
would), checks what is served and the engine records the verification. The store never
holds the key. And the agent outlives the engine going away and coming back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar, cast

import httpx
import pytest
from cryptography import x509

from certctl_engine.domain import Actor, CertificateVersion, Job, JobStatus, JobType, VerificationStatus
from certctl_engine.engine import Engine
from certctl_engine.pki import fingerprint_sha256, load_certificates
from certctl_engine.store.models import JobModel

TOKEN = "e2e-bootstrap-token"
ALICE = Actor("alice")
T = TypeVar("T")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

# The reload hook a Files target runs after writing: restart `openssl s_server` on the new files and
# wait until it accepts connections. Its output goes to a log file so the hook itself returns at once.
RELOAD_HOOK = """
import os, signal, socket, subprocess, sys, time
directory, port, pidfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    os.kill(int(open(pidfile).read()), signal.SIGTERM)
    time.sleep(0.3)
except (OSError, ValueError):
    pass
log = open(os.path.join(directory, "s_server.log"), "ab")
proc = subprocess.Popen(
    ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", os.path.join(directory, "fullchain.pem"),
     "-key", os.path.join(directory, "key.pem"), "-www", "-quiet"],
    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
)
open(pidfile, "w").write(str(proc.pid))
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("s_server did not start")
"""


def _certctl() -> list[str]:
    found = shutil.which("certctl")
    return [found] if found else [sys.executable, "-m", "certctl_engine.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env.update(extra)
    return env


def _wait(what: str, probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.3) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}")


class Processes:
    """The engine and agent subprocesses of one test, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.engine: subprocess.Popen[str] | None = None
        self.agent: subprocess.Popen[str] | None = None
        self.logs: dict[str, Path] = {}

    @property
    def ca_file(self) -> Path:
        return self.home / "tls" / "ca.crt"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        log = self.home / f"{name}.log"
        self.logs[name] = log
        handle = open(log, "a")  # noqa: SIM115 - the child writes it until it stops
        return subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True)  # fmt: skip

    def start_engine(self) -> None:
        env = _clean_env(
            CERTCTL_HOME=str(self.home),
            CERTCTL_KEYGEN_MODE="agent",
            CERTCTL_AGENT_BOOTSTRAP_TOKEN=TOKEN,
            CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL="1s",
        )
        argv = [*_certctl(), "--db", str(self.home / "c.db"), "engine", "--port", str(self.port)]
        self.engine = self._spawn("engine", argv, env)

        def healthy() -> bool:
            assert self.engine is not None and self.engine.poll() is None, self.log("engine")
            if not self.ca_file.exists():
                return False
            try:
                trust = ssl.create_default_context(cafile=str(self.ca_file))
                return httpx.get(f"https://127.0.0.1:{self.port}/health", verify=trust, timeout=1).status_code == 200
            except (httpx.HTTPError, ssl.SSLError):
                return False

        _wait("the engine to answer /health over HTTPS", healthy)

    def stop(self, name: str) -> int:
        proc = getattr(self, name)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc is not None else 0
        proc.send_signal(signal.SIGTERM)
        try:
            return int(proc.wait(timeout=30))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"{name} did not stop on SIGTERM:\n{self.log(name)}")

    def start_agent(self, directory: Path, *extra: str) -> None:
        argv = [
            *_certctl(), "agent", "--server-url", f"https://127.0.0.1:{self.port}", "--ca-file", str(self.ca_file),
            "--name", "edge-1", "--dir", str(directory), "--poll-interval", "1s", "--heartbeat-interval", "1s",
            "--max-backoff", "2s", *extra,
        ]  # fmt: skip
        self.agent = self._spawn("agent", argv, _clean_env(CERTCTL_AGENT_BOOTSTRAP_TOKEN=TOKEN))

    def log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text() if path and path.exists() else ""

    def close(self) -> None:
        for name in ("agent", "engine"):
            proc = getattr(self, name)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path, _free_port())
    try:
        yield running
    finally:
        running.close()
        for name in ("engine", "agent"):  # shown by pytest when the test failed
            print(f"----- {name} log -----\n{running.log(name)}")
        pidfile = tmp_path / "served" / "s_server.pid"
        if pidfile.exists():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def _agent_id(directory: Path) -> str:
    state = directory / "agent.json"
    return str(_wait("the agent to register", lambda: state.exists() and json.loads(state.read_text())["agent_id"]))


def _signed(engine: Engine, job_id: str, cert_id: str) -> CertificateVersion | None:
    """The certificate's current version once ``job_id`` (issuance or renewal) has completed."""
    if engine.jobs.get(job_id).status is not JobStatus.COMPLETED:
        return None
    return engine.certificates.current_version(cert_id)


def _deployment(engine: Engine, cert_id: str, version_id: str) -> Job | None:
    """The deployment job of ``version_id`` once it is completed and verified (None before)."""
    for job in engine.jobs.list(certificate_id=cert_id, type=JobType.DEPLOYMENT).items:
        if (job.details or {}).get("version_id") == version_id:
            if job.status is JobStatus.FAILED:
                pytest.fail(f"deployment failed: {job.last_error}")
            if job.status is JobStatus.COMPLETED and job.verification_status is not VerificationStatus.PENDING:
                return job
    return None


def test_agent_keygen_renewal_deploys_and_verifies_with_the_key_never_leaving_the_agent(
    procs: Processes, tmp_path: Path
) -> None:
    procs.start_engine()
    agent_dir, served = tmp_path / "agent", tmp_path / "served"
    served.mkdir()
    procs.start_agent(agent_dir, "--discovery-dirs", str(tmp_path / "tls"))
    agent_id = _agent_id(agent_dir)
    hook = tmp_path / "reload.py"
    hook.write_text(RELOAD_HOOK)
    tls_port = _free_port()
    config = {
        "directory": str(served),
        "cert_file": "cert.pem",
        "fullchain_file": "fullchain.pem",
        "key_file": "key.pem",
        "post_deploy_command": [sys.executable, str(hook), str(served), str(tls_port), str(served / "s_server.pid")],
        "host": "127.0.0.1",
        "port": tls_port,
        "verify_delay_seconds": 0,
    }
    env = {"CERTCTL_HOME": str(tmp_path), "CERTCTL_KEYGEN_MODE": "agent"}
    with Engine.open(str(tmp_path / "c.db"), env=env) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        engine.targets.create("edge files", "Files", config, agent_id=agent_id, actor=ALICE, id="tgt-edge")
        cert_id = engine.certificates.create(
            name="edge", common_name="edge.example.com", sans=("edge.example.com", "localhost"),
            issuer_id="iss-local", target_ids=["tgt-edge"], actor=ALICE,
        ).id  # fmt: skip
        issuance = engine.jobs.active_for(cert_id, JobType.ISSUANCE)
        first = _wait("the first version from the agent's CSR", lambda: _signed(engine, issuance.id, cert_id))
        first_deploy = _wait("the first deployment, verified", lambda: _deployment(engine, cert_id, first.id))
        assert first_deploy.verification_status is VerificationStatus.SUCCESS, procs.log("agent")

        # The renewal: AwaitingCSR -> CSR from the agent -> signed -> deployed -> verified.
        renewal = engine.jobs.create(JobType.RENEWAL, cert_id, actor=ALICE)
        _wait(
            "the renewal job to wait for the agent's CSR or finish",
            lambda: JobModel.get_by_id(renewal.id).status in (JobStatus.AWAITING_CSR.value, JobStatus.COMPLETED.value),
            every=0.1,
        )  # fmt: skip
        second = _wait("the renewed version", lambda: _signed(engine, renewal.id, cert_id))
        assert second.id != first.id
        deployed = _wait("the renewed deployment, verified", lambda: _deployment(engine, cert_id, second.id))
        row = JobModel.get_by_id(deployed.id)
        assert row.verification_status == VerificationStatus.SUCCESS.value, row.verification_error
        assert row.verification_fingerprint == second.fingerprint_sha256
        assert deployed.agent_id == agent_id

        # The store holds no private key for any version of this certificate.
        versions = cast("list[CertificateVersion]", engine.certificates.list_versions(cert_id))
        assert len(versions) == 2
        for version in versions:
            assert not version.has_private_key and engine.certificates.private_key_pem(version.id) is None
        # Filesystem discovery: the engine's own TLS files, found by the agent and accepted by the engine.
        discovered = {Path(d.source_path).name for d in engine.discovery.list(agent_id=agent_id).items}
        assert {"server.crt", "ca.crt"} <= discovered and "server.key" not in discovered
        verified = engine.audit.list(actor=agent_id, action="job_verification_success", resource_id=deployed.id)
        assert len(verified.items) == 1  # recorded with the agent as the actor
        assert engine.audit.verify().ok
    # The agent's key: 0600 in its 0700 key directory, the same one the target got, not in the store.
    key_file = agent_dir / "keys" / f"{cert_id}.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (agent_dir / "keys").stat().st_mode & 0o777 == 0o700
    assert not (agent_dir / "keys" / f"{cert_id}.pending.key").exists()
    assert (served / "key.pem").read_bytes() == key_file.read_bytes()
    assert (served / "key.pem").stat().st_mode & 0o777 == 0o600
    key_body = b"".join(key_file.read_bytes().splitlines()[1:-1])
    for db_file in tmp_path.glob("c.db*"):
        assert key_body[:40] not in db_file.read_bytes()
    # The agent's state file (its API key) is private too.
    assert (agent_dir / "agent.json").stat().st_mode & 0o777 == 0o600
    # The files hold the renewed certificate, made for the agent's key.
    served_leaf = load_certificates((served / "cert.pem").read_bytes())[0]
    assert fingerprint_sha256(served_leaf) == second.fingerprint_sha256
    sans = served_leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["edge.example.com", "localhost"]
    assert procs.stop("agent") == 0
    assert "certctl agent: stopped" in procs.log("agent")
    assert "Traceback" not in procs.log("agent") and "Traceback" not in procs.log("engine")


def test_agent_waits_out_the_engine_being_down_and_resumes(procs: Processes, tmp_path: Path) -> None:
    procs.start_engine()  # once, so the store and the CA file the agent trusts exist
    assert procs.stop("engine") == 0
    agent_dir = tmp_path / "agent"
    procs.start_agent(agent_dir)
    time.sleep(6)  # several retries with backoff (1s, 2s, 2s ...)
    assert procs.agent is not None and procs.agent.poll() is None, procs.log("agent")
    assert not (agent_dir / "agent.json").exists()
    assert procs.log("agent").count("engine unavailable") == 1  # once per outage, not per attempt

    procs.start_engine()
    agent_id = _agent_id(agent_dir)
    env = {"CERTCTL_HOME": str(tmp_path)}

    def heartbeat_after(moment: float) -> bool:
        with Engine.open(str(tmp_path / "c.db"), env=env) as engine:
            beat = engine.agents.get(agent_id).last_heartbeat_at
        return beat is not None and beat.timestamp() > moment

    _wait("a heartbeat", lambda: heartbeat_after(time.time() - 1))
    assert procs.log("agent").count("engine reachable again") == 1

    assert procs.stop("engine") == 0  # a second outage, while registered
    time.sleep(5)
    assert procs.agent.poll() is None, procs.log("agent")
    assert procs.log("agent").count("engine unavailable") == 2
    restarted = time.time()
    procs.start_engine()
    _wait("a heartbeat after the restart", lambda: heartbeat_after(restarted))
    _wait("the recovery log line", lambda: procs.log("agent").count("engine reachable again") == 2)
    assert procs.stop("agent") == 0
    assert "Traceback" not in procs.log("agent")


def test_the_agent_command_says_what_is_missing_and_stops_promptly_on_sigterm(tmp_path: Path) -> None:
    argv = [*_certctl(), "agent", "--dir", str(tmp_path / "agent"), "--server-url", f"http://127.0.0.1:{_free_port()}"]
    missing = subprocess.run(argv, env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"certctl: this agent is not registered yet ({tmp_path / 'agent' / 'agent.json'} does not exist): "
        "give --bootstrap-token or set CERTCTL_AGENT_BOOTSTRAP_TOKEN"
    ]
    # Nobody listens there: the agent backs off; SIGTERM ends it at once, cleanly, even mid-backoff.
    waiting = subprocess.Popen([*argv, "--bootstrap-token", TOKEN], env=_clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(3)
        assert waiting.poll() is None
        waiting.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        out, err = waiting.communicate(timeout=20)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 0 and time.monotonic() - stopped_at < 5
    assert "certctl agent: stopped" in out and err.count("engine unavailable") == 1 and "Traceback" not in err
