"""`certctl jobs ...` and `certctl engine` as a person runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _certctl() -> list[str]:
    found = shutil.which("certctl")
    return [found] if found else [sys.executable, "-m", "certctl_engine.cli"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def run(home: Path, *args: str, actor: str = "tester") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env.update(CERTCTL_HOME=str(home), CERTCTL_ACTOR=actor)
    return subprocess.run(
        [*_certctl(), "--db", str(home / "c.db"), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_jobs_commands_on_the_demo(home: Path) -> None:
    assert run(home, "demo").returncode == 0
    listed = json.loads(run(home, "jobs", "list", "--status", "AwaitingApproval", "--json").stdout)
    assert sorted(j["id"] for j in listed["items"]) == ["job-approval-01", "job-approval-02"]
    approved = run(home, "jobs", "approve", "job-approval-01")
    assert approved.returncode == 0 and "now Pending" in approved.stdout
    # carol requested job-approval-02: she cannot approve it herself.
    own = run(home, "jobs", "approve", "job-approval-02", actor="carol@example.com")
    assert own.returncode == 1 and "cannot also approve" in own.stderr and own.stderr.count("\n") == 1
    rejected = run(home, "jobs", "reject", "job-approval-02", "--reason", "change freeze")
    assert rejected.returncode == 0
    shown = run(home, "jobs", "show", "job-approval-02")
    assert "rejected: change freeze" in shown.stdout and "Cancelled" in shown.stdout
    failed = run(home, "jobs", "show", "job-vpn-renewal")
    assert "urn:ietf:params:acme:error:rateLimited" in failed.stdout  # the CA's error, verbatim
    again = run(home, "jobs", "cancel", "job-approval-02")
    assert again.returncode == 1 and "only waiting or running jobs" in again.stderr
    assert run(home, "jobs", "list", "--status", "Done").returncode == 2


def _start_engine(home: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    """`certctl engine` on the test's store, with only the given CERTCTL_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env.update(CERTCTL_HOME=str(home), **settings)
    return subprocess.Popen(
        [*_certctl(), "--db", str(home / "c.db"), "engine", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_engine_runs_jobs_serves_metrics_over_tls_and_stops_on_sigterm(home: Path) -> None:
    assert run(home, "demo").returncode == 0
    queued = json.loads(run(home, "jobs", "create", "Renewal", "mc-partner-api", "--json").stdout)
    # mc-partner-api's issuer is the demo's ACME placeholder, which never contacts a CA: the job must fail
    # with a clear error, not hang.
    port = _free_port()
    engine = _start_engine(home, port, CERTCTL_SCHEDULER_JOB_PROCESSOR_INTERVAL="1s")
    base = f"https://127.0.0.1:{port}"
    ca = home / "tls" / "ca.crt"
    trust: ssl.SSLContext | None = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if ca.exists():
                    trust = ssl.create_default_context(cafile=str(ca))
                if trust and httpx.get(f"{base}/health", timeout=1, verify=trust).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the engine never answered /health over HTTPS")
        # The key the service uses is private to its owner; plain HTTP is not served.
        assert (home / "tls" / "server.key").stat().st_mode & 0o777 == 0o600
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        metrics = httpx.get(f"{base}/metrics", timeout=5, verify=trust).text
        assert 'certctl_certificates{status="Active"}' in metrics
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            job = json.loads(run(home, "jobs", "show", queued["id"], "--json").stdout)
            status = job["status"]
            # The first attempt fails and is retried after a backoff: its error is what we check.
            if job["attempts"] >= 1 and job["last_error"]:
                break
            time.sleep(0.5)
        assert "placeholder from the demo data" in (job["last_error"] or ""), status
        assert httpx.get(f"{base}/ready", timeout=5, verify=trust).json()["scheduler_leader"] is True
    finally:
        engine.send_signal(signal.SIGTERM)
        out, err = engine.communicate(timeout=30)
    assert engine.returncode == 0, err
    assert "stopped" in out
    assert "TLS certificate issued" in out and "serving https://" in out
    assert "Traceback" not in err
    # The service certificate is an ordinary managed certificate, kept across restarts.
    listed = json.loads(run(home, "certs", "list", "--json").stdout)
    names = [c["name"] for c in (listed["items"] if isinstance(listed, dict) else listed)]
    assert "certctl-engine-service" in names


def test_certs_create_queues_the_issuance_job_that_issue_then_fulfils(home: Path) -> None:
    assert run(home, "demo").returncode == 0
    created = run(home, "certs", "create", "--cn", "new.example.com", "--issuer", "iss-local", "--id", "cert-new")
    assert created.returncode == 0, created.stderr
    assert "queued issuance job job-" in created.stdout and "(Pending)" in created.stdout
    queued = json.loads(run(home, "jobs", "list", "--type", "Issuance", "--status", "Pending", "--json").stdout)
    (job,) = [j for j in queued["items"] if j["certificate_id"] == "cert-new"]
    issued = run(home, "certs", "issue", "cert-new")
    assert issued.returncode == 0, issued.stderr
    done = json.loads(run(home, "jobs", "show", job["id"], "--json").stdout)
    assert done["status"] == "Completed" and done["details"]["fulfilled_by"] == "direct issuance"


def test_engine_accepts_an_est_client_certificate_signed_by_its_ca(home: Path) -> None:
    """`certctl engine` with EST on: a device enrolls with a password, then re-enrolls with its certificate."""
    from certctl_engine.http.est_auth import hash_password

    assert run(home, "demo").returncode == 0
    port = _free_port()
    engine = _start_engine(
        home,
        port,
        CERTCTL_EST_ENABLED="true",
        # A profile whose leaves carry clientAuth: TLS accepts client certificates only with it.
        CERTCTL_EST_PROFILE_ID="prof-internal-mtls",
        CERTCTL_EST_USERS=f"device-1:{hash_password('s3cret', iterations=20_000)}",
    )
    base = f"https://127.0.0.1:{port}/.well-known/est"
    ca = home / "tls" / "ca.crt"

    def curl(op: str, csr: Path, *auth: str) -> tuple[str, bytes]:
        out = home / "answer.b64"
        done = subprocess.run(
            ["curl", "-sS", "--cacert", str(ca), "-o", str(out), "-w", "%{http_code}", "-H",
             "Content-Type: application/pkcs10", "--data-binary", f"@{csr}", *auth, f"{base}/{op}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout, out.read_bytes()

    def csr(name: str) -> Path:
        der = subprocess.run(
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(home / f"{name}.key"), "-subj", "/CN=device-1.internal.example.com",
             "-addext", "subjectAltName=DNS:device-1.internal.example.com", "-outform", "DER"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        path = home / f"{name}.b64"
        path.write_bytes(subprocess.run(["openssl", "base64"], input=der, capture_output=True, check=True).stdout)
        return path

    def leaf(body: bytes, name: str) -> Path:
        der = subprocess.run(["openssl", "base64", "-d"], input=body, capture_output=True, check=True).stdout
        pem = subprocess.run(
            ["openssl", "pkcs7", "-inform", "DER", "-print_certs"], input=der, capture_output=True, check=True
        ).stdout
        (home / name).write_bytes(pem)
        return home / name

    try:
        deadline = time.monotonic() + 30
        while not (home / "tls" / "est-client-cas.pem").exists() or not ca.exists():
            assert time.monotonic() < deadline and engine.poll() is None, "the engine did not start"
            time.sleep(0.2)
        time.sleep(1)
        code, body = curl("simpleenroll", csr("first"), "-u", "device-1:s3cret")
        assert code == "200", body
        first = leaf(body, "first.pem")
        code, body = curl("simplereenroll", csr("second"), "--cert", str(first), "--key", str(home / "first.key"))
        assert code == "200", body
        second = leaf(body, "second.pem")
        verify = subprocess.run(
            ["openssl", "verify", "-CAfile", str(home / "tls" / "est-client-cas.pem"), str(second)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        engine.send_signal(signal.SIGTERM)
        _, err = engine.communicate(timeout=30)
    assert engine.returncode == 0, err
    assert "Traceback" not in err
