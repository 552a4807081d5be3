"""Issuing, renewing, revoking, CRLs, exports and imports through the real ``certctl`` console script.

Every command runs in a subprocess against a throwaway SQLite store (``--db HOME/c.db`` with
``CERTCTL_HOME=HOME``), with no terminal on stdin, and what it writes is judged by the real
openssl binary. One demo store is seeded per module; each test works on a copy of its home.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DB_NAME = "c.db"
ACTOR = "tester"

OPENSSL_CNF = """\
[req]
distinguished_name = req_dn
prompt = no

[req_dn]
CN = placeholder

[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:legacy-box.example.net
subjectKeyIdentifier = hash
"""


def certctl_command() -> list[str]:
    script = shutil.which("certctl")
    if script:
        return [script]
    return [sys.executable, "-m", "certctl_engine.cli"]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTCTL_")}
    env["CERTCTL_HOME"] = str(home)
    env["CERTCTL_ACTOR"] = ACTOR
    env.update(extra)
    return env


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``certctl --db HOME/c.db ARGS`` with no terminal on stdin; ``env`` adds environment variables."""
    return subprocess.run(
        [*certctl_command(), "--db", str(home / DB_NAME), *args],
        env=cli_env(home, **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_ok(home: Path, *args: str, **env: str) -> str:
    proc = run(home, *args, **env)
    assert proc.returncode == 0, f"certctl {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def run_json(home: Path, *args: str) -> Any:
    return json.loads(run_ok(home, *args, "--json"))


def assert_one_line_error(proc: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The command failed with ``exit_code`` and said why in exactly one stderr line."""
    assert proc.returncode == exit_code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("certctl: ")
    return lines[0]


def openssl(*args: str, cwd: Path, check: bool = True) -> str:
    env = dict(os.environ, OPENSSL_CONF=str(cwd / "openssl.cnf"))
    (cwd / "openssl.cnf").write_text(OPENSSL_CNF)
    result = subprocess.run(["openssl", *args], cwd=cwd, env=env, capture_output=True, check=False)
    out = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    if check:
        assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{out}"
    return out


def versions(home: Path, cert_id: str) -> list[dict[str, Any]]:
    """The certificate's versions, newest first, as ``certs show --json`` prints them."""
    return run_json(home, "certs", "show", cert_id)["versions"]


def ca_pem(home: Path, dest: Path) -> Path:
    """Write what ``ca show --pem`` prints (the iss-local CA) to ``dest``."""
    dest.write_text(run_ok(home, "ca", "show", "--pem"))
    return dest


def crl_entries(text: str) -> dict[int, str]:
    """Serial -> the text of its entry, from ``openssl crl -text``."""
    body = text.split("Revoked Certificates:", 1)[1].split("Signature Algorithm:", 1)[0]
    blocks = body.split("Serial Number:")[1:]
    return {int(block.split()[0], 16): block for block in blocks}


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CERTCTL_HOME holding the seeded demo store c.db; tests change only copies of it."""
    home = tmp_path_factory.mktemp("cli-pki-demo")
    out = run_ok(home, "demo")
    assert "seeded the demo" in out
    return home


@pytest.fixture
def home(demo_home: Path, tmp_path: Path) -> Path:
    """A private copy of the demo home (store and secret key)."""
    copy = tmp_path / "home"
    shutil.copytree(demo_home, copy)
    return copy


# ---------------------------------------------------------------------- issue, renew


def test_issue_a_pending_certificate(home: Path, tmp_path: Path) -> None:
    assert versions(home, "mc-new-service") == []
    out = run_ok(home, "certs", "issue", "mc-new-service")
    match = re.match(r"issued mc-new-service: serial ([0-9a-f]+), valid until .* ECDSA 256 \(server-held key\)$", out)
    assert match, out
    serial = match.group(1)

    shown = run_json(home, "certs", "show", "mc-new-service")
    assert len(shown["versions"]) == 1
    version = shown["versions"][0]
    assert version["serial_number"] == serial
    assert (version["key_algorithm"], version["key_size"]) == ("ECDSA", 256)
    assert shown["certificate"]["status"] == "Active"
    assert shown["certificate"]["current_version_id"] == version["id"]

    again = run(home, "certs", "issue", "mc-new-service")
    assert "already issued" in assert_one_line_error(again, 1)
    assert len(versions(home, "mc-new-service")) == 1

    ca = ca_pem(home, tmp_path / "ca.pem")
    run_ok(home, "certs", "export", "mc-new-service", "--out", str(tmp_path / "new"))
    assert "cert.pem: OK" in openssl("verify", "-CAfile", str(ca), "new/cert.pem", cwd=tmp_path)
    text = openssl("x509", "-in", "new/cert.pem", "-noout", "-text", "-serial", cwd=tmp_path)
    assert int(re.search(r"serial=([0-9A-F]+)", text).group(1), 16) == int(serial, 16)
    assert "DNS:newsvc.example.com" in text


def test_renew_with_another_key_type(home: Path) -> None:
    before = versions(home, "mc-api-prod")
    out = run_ok(home, "certs", "renew", "mc-api-prod", "--key-type", "ecdsa-p384")
    assert out.startswith("renewed mc-api-prod: serial ")
    assert "ECDSA 384" in out
    after = versions(home, "mc-api-prod")
    assert len(after) == len(before) + 1
    newest = after[0]
    assert (newest["key_algorithm"], newest["key_size"]) == ("ECDSA", 384)
    assert newest["serial_number"] not in {v["serial_number"] for v in before}
    assert run_json(home, "certs", "show", "mc-api-prod")["certificate"]["current_version_id"] == newest["id"]


def test_renew_with_an_unknown_key_type_names_the_accepted_ones(home: Path) -> None:
    before = versions(home, "mc-api-prod")
    proc = run(home, "certs", "renew", "mc-api-prod", "--key-type", "dsa")
    line = assert_one_line_error(proc, 2)
    assert "'dsa'" in line
    for accepted in ("ecdsa-p256", "ecdsa-p384", "rsa2048", "rsa4096", "ed25519"):
        assert accepted in line
    assert proc.stdout == ""
    assert versions(home, "mc-api-prod") == before


# ---------------------------------------------------------------------- revoke, CRL, check


def test_revoke_then_crl_and_check(home: Path, tmp_path: Path) -> None:
    serial = versions(home, "mc-api-prod")[0]["serial_number"]
    out = run_ok(home, "certs", "revoke", "mc-api-prod", "--reason", "keyCompromise")
    assert out.strip() == "revoked mc-api-prod (mc-api-prod): keyCompromise"
    again = run(home, "certs", "revoke", "mc-api-prod", "--reason", "keyCompromise")
    assert "already revoked" in assert_one_line_error(again, 1)
    assert again.stdout == ""

    out = run_ok(home, "ca", "crl", "--out", str(tmp_path / "crl.der"))
    assert "crl.der (DER CRL)" in out
    text = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text", cwd=tmp_path)
    entries = crl_entries(text)
    assert int(serial, 16) in entries
    assert "Key Compromise" in entries[int(serial, 16)]  # the reason of this entry, not another one's
    ca = ca_pem(home, tmp_path / "ca.pem")
    assert "verify OK" in openssl(
        "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", str(ca), "-noout", "-verify", cwd=tmp_path
    )

    checked = run_ok(home, "ca", "check", serial)
    assert checked.startswith(f"{serial}: revoked since ")
    assert "(keyCompromise)" in checked
    good = versions(home, "mc-web-prod")[0]["serial_number"]
    assert run_ok(home, "ca", "check", good).strip() == f"{good}: good"


# ---------------------------------------------------------------------- export


def test_export_pem_files_verify(home: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "dir"
    out = run_ok(home, "certs", "export", "mc-web-prod", "--out", str(out_dir))
    assert "cert.pem, chain.pem, fullchain.pem" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["cert.pem", "chain.pem", "fullchain.pem"]
    cert, chain = (out_dir / "cert.pem").read_text(), (out_dir / "chain.pem").read_text()
    assert cert.count("BEGIN CERTIFICATE") == 1 and chain.count("BEGIN CERTIFICATE") >= 1
    assert (out_dir / "fullchain.pem").read_text() == cert + chain
    assert "PRIVATE KEY" not in (out_dir / "fullchain.pem").read_text()
    ca = ca_pem(home, tmp_path / "ca.pem")
    assert "dir/cert.pem: OK" in openssl("verify", "-CAfile", str(ca), "dir/cert.pem", cwd=tmp_path)
    subject = openssl("x509", "-in", "dir/cert.pem", "-noout", "-subject", cwd=tmp_path)
    assert "CN = www.example.com" in subject


def test_export_pkcs12_with_key(home: Path, tmp_path: Path) -> None:
    p12 = tmp_path / "x.p12"
    out = run_ok(
        home,
        "certs",
        "export",
        "mc-web-prod",
        "--format",
        "pkcs12",
        "--key",
        "--out",
        str(p12),
        "--passphrase-env",
        "P12PASS",
        P12PASS="s3cret",
    )
    assert "with private key" in out
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    info = openssl("pkcs12", "-info", "-in", "x.p12", "-passin", "pass:s3cret", "-nokeys", cwd=tmp_path)
    assert "subject=CN = www.example.com" in info
    assert "friendlyName: mc-web-prod" in info
    keys = openssl("pkcs12", "-in", "x.p12", "-passin", "pass:s3cret", "-nocerts", "-nodes", cwd=tmp_path)
    assert "-----BEGIN PRIVATE KEY-----" in keys
    wrong = openssl("pkcs12", "-info", "-in", "x.p12", "-passin", "pass:wrong", "-nokeys", cwd=tmp_path, check=False)
    assert "BEGIN CERTIFICATE" not in wrong

    events = run_json(home, "audit", "list", "--resource-id", "mc-web-prod", "--action", "export_pkcs12")["items"]
    assert events[0]["actor"] == ACTOR and events[0]["details"]["has_private_key"] is True


def test_export_key_without_a_passphrase_or_terminal_is_refused(home: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "dir"
    proc = run(home, "certs", "export", "mc-web-prod", "--key", "--out", str(out_dir))
    line = assert_one_line_error(proc, 2)
    assert "passphrase" in line
    assert proc.stdout == ""
    assert not out_dir.exists()
    # An unset variable is refused in the same way.
    proc = run(home, "certs", "export", "mc-web-prod", "--key", "--passphrase-env", "NOT_SET_ANYWHERE")
    assert "NOT_SET_ANYWHERE" in assert_one_line_error(proc, 2)


# ---------------------------------------------------------------------- import


def test_import_directory_reports_each_file(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "incoming"
    src.mkdir()
    openssl(
        "req",
        "-config",
        "openssl.cnf",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "incoming/legacy.key",
        "-out",
        "legacy-cert.pem",
        "-days",
        "200",
        "-subj",
        "/CN=legacy-box.example.net",
        "-extensions",
        "v3_leaf",
        cwd=tmp_path,
    )
    # One file with the certificate and its key; the bare .key file is not a certificate file and is skipped.
    (src / "legacy.pem").write_bytes((tmp_path / "legacy-cert.pem").read_bytes() + (src / "legacy.key").read_bytes())
    (src / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    assert run_json(home, "certs", "list", "-q", "legacy-box")["items"] == []

    proc = run(home, "certs", "import", str(src), "--issuer", "iss-local")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "1 imported, 1 failed"
    assert re.fullmatch(r"imported \S+legacy\.pem as \S+ \(Active\) with its private key", lines[0]), lines
    errors = proc.stderr.splitlines()
    assert len(errors) == 1 and "garbage.pem" in errors[0] and errors[0].startswith("certctl: ")

    listed = run_json(home, "certs", "list", "-q", "legacy-box")["items"]
    assert [c["common_name"] for c in listed] == ["legacy-box.example.net"]
    assert listed[0]["sans"] == ["legacy-box.example.net"]
    assert listed[0]["tags"] == {"source": "import"}
    assert "legacy-box.example.net" in run_ok(home, "certs", "list", "-q", "legacy-box")
    [version] = versions(home, listed[0]["id"])
    assert version["has_private_key"] is True


# ---------------------------------------------------------------------- ca init


def test_ca_init_on_the_demo_store_is_refused(home: Path) -> None:
    before = run_ok(home, "ca", "show", "--pem")
    proc = run(home, "ca", "init", "--issuer", "iss-local")
    assert "already has a CA" in assert_one_line_error(proc, 1)
    assert proc.stdout == ""
    assert run_ok(home, "ca", "show", "--pem") == before
