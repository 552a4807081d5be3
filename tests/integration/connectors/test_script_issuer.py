"""The script adapter through the engine: a real CA made with openssl, signing with ``openssl x509 -req``.

The sign script reads the CSR on stdin and prints the leaf and the CA on stdout; the revoke
script records the revocation in an ``openssl ca`` database and publishes a CRL, which openssl
then reads back. Failures (exit codes, timeouts, missing programs, output that is no PEM)
must keep the program's words and store nothing.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openssl_judge import OPENSSL, text_of, verify_chain

from certctl_engine.connectors.issuers import ScriptConnector, ScriptSettings
from certctl_engine.domain import Actor, CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput, IssuerError

pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="needs openssl")
ACTOR = Actor("alice")

SIGN = """#!/bin/sh
# Sign the CSR on stdin with the CA in $1; print the leaf, then the CA.
set -eu
ca_dir="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/request.csr"
printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=%s\\n' \\
  "$CERTCTL_EKUS" > "$work/ext.cnf"
if ! openssl x509 -req -in "$work/request.csr" -CA "$ca_dir/ca.pem" -CAkey "$ca_dir/ca.key" \\
    -days "$CERTCTL_VALIDITY_DAYS" -copy_extensions copy -extfile "$work/ext.cnf" \\
    -out "$work/leaf.pem" 2> "$work/err"; then
  cat "$work/err" >&2
  exit 3
fi
cat "$work/leaf.pem" "$ca_dir/ca.pem"
"""

REVOKE = """#!/bin/sh
# Revoke the certificate on stdin in the openssl ca database of $1 ($2 serial, $3 reason); publish the CRL.
set -eu
ca_dir="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/cert.pem"
echo "$2 $3 $CERTCTL_REASON_CODE" >> "$ca_dir/revocations.log"
openssl ca -config "$ca_dir/ca.cnf" -revoke "$work/cert.pem" -crl_reason "$3" 2> "$work/err" \\
  || { cat "$work/err" >&2; exit 4; }
openssl ca -config "$ca_dir/ca.cnf" -gencrl -out "$ca_dir/crl.pem" 2> "$work/err" || { cat "$work/err" >&2; exit 5; }
"""

CA_CNF = """[ ca ]
default_ca = test
[ test ]
dir = {dir}
database = $dir/index.txt
certificate = $dir/ca.pem
private_key = $dir/ca.key
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_crl_days = 1
policy = anything
[ anything ]
commonName = optional
"""


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    """A CA made with openssl, with an ``openssl ca`` database for revocations."""
    directory = tmp_path / "ca"
    directory.mkdir()
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "365", "-subj", "/CN=Script Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    (directory / "index.txt").write_text("")
    (directory / "crlnumber").write_text("01\n")
    (directory / "ca.cnf").write_text(CA_CNF.format(dir=directory))
    return directory


def _script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def scripts(tmp_path: Path) -> tuple[str, str]:
    return _script(tmp_path / "sign.sh", SIGN), _script(tmp_path / "revoke.sh", REVOKE)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}) as opened:
        yield opened


def _issuer(engine: Engine, issuer_id: str, config: dict[str, Any]) -> str:
    return engine.issuers.create(issuer_id, "OpenSSL", config, actor=ACTOR, id=issuer_id).id


def _nothing_stored(engine: Engine, cert_id: str, sequence: int) -> None:
    assert engine.certificates.list_versions(cert_id) == []
    assert engine.certificates.get(cert_id).current_version_id is None
    assert engine.audit.latest_sequence() == sequence


def test_issue_renew_and_revoke_with_openssl(
    engine: Engine, ca_dir: Path, scripts: tuple[str, str], tmp_path: Path
) -> None:
    sign, revoke = scripts
    _issuer(engine, "iss-osl", {"sign_script": [sign, str(ca_dir)], "revoke_script": [revoke, str(ca_dir)]})
    ok = engine.issuance.test_issuer("iss-osl", actor=ACTOR)
    assert ok.ok and ok.message == (
        f"sign_script {sign} is executable; revoke_script {revoke} is executable; timeout 30s"
    )
    cert_id = engine.certificates.create(
        name="mail", common_name="mail.example.com", sans=("smtp.example.com",), issuer_id="iss-osl", actor=ACTOR
    ).id

    first = engine.issuance.issue(cert_id, actor=ACTOR)

    root = (ca_dir / "ca.pem").read_text()
    verify_chain(first.pem_chain, root, tmp_path / "v1")
    text = text_of(first.pem_chain)
    assert "DNS:mail.example.com, DNS:smtp.example.com" in text  # the CSR's names, copied by openssl
    assert "X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n" in text  # CERTCTL_EKUS
    assert abs((first.not_after - datetime.now(UTC)).days - 90) <= 1  # CERTCTL_VALIDITY_DAYS
    assert first.has_private_key  # the engine made the key; the script only saw the CSR

    second = engine.issuance.renew(cert_id, actor=ACTOR)
    assert second.serial_number != first.serial_number

    engine.revocation.revoke(cert_id, "keyCompromise", actor=ACTOR)
    assert engine.certificates.get(cert_id).status is CertificateStatus.REVOKED
    assert (ca_dir / "revocations.log").read_text() == f"{second.serial_number} keyCompromise 1\n"
    crl = subprocess.run(
        [OPENSSL, "crl", "-in", str(ca_dir / "crl.pem"), "-noout", "-text"], capture_output=True, text=True, check=True
    ).stdout
    listed = {int(serial, 16) for serial in re.findall(r"Serial Number: ([0-9A-F]+)", crl)}  # openssl pads to bytes
    assert int(second.serial_number, 16) in listed and "Key Compromise" in crl


def test_a_callers_csr_is_signed_as_given(
    engine: Engine, ca_dir: Path, scripts: tuple[str, str], tmp_path: Path
) -> None:
    _issuer(engine, "iss-osl", {"sign_script": [scripts[0], str(ca_dir)], "validity_days": 7})
    cert_id = engine.certificates.create(name="c", common_name="csr.example.com", issuer_id="iss-osl", actor=ACTOR).id
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "k.pem",
        "-subj", "/CN=csr.example.com", "-addext", "subjectAltName=DNS:csr.example.com", "-out", "r.csr",
        cwd=tmp_path,
    )  # fmt: skip
    version = engine.issuance.issue(cert_id, actor=ACTOR, csr_pem=(tmp_path / "r.csr").read_text())
    assert not version.has_private_key
    assert abs((version.not_after - datetime.now(UTC)).days - 7) <= 1


def test_a_failing_script_keeps_its_exit_code_and_stderr(
    engine: Engine, ca_dir: Path, scripts: tuple[str, str]
) -> None:
    (ca_dir / "ca.key").write_text("broken\n")
    _issuer(engine, "iss-osl", {"sign_script": [scripts[0], str(ca_dir)]})
    cert_id = engine.certificates.create(name="f", common_name="f.example.com", issuer_id="iss-osl", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError) as raised:
        engine.issuance.issue(cert_id, actor=ACTOR)
    assert raised.value.message.startswith(f"sign_script '{scripts[0]}' exited with 3: ")
    assert "key" in raised.value.message.lower()  # openssl's own complaint about the CA key, verbatim
    _nothing_stored(engine, cert_id, sequence)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (
            ["sh", "-c", "cat > /dev/null; echo hello"],
            "exited 0 but printed no PEM certificate on stdout; it printed: 'hello'",
        ),
        (
            [
                "sh",
                "-c",
                "cat > /dev/null; printf -- '-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n'",
            ],
            "printed a PEM certificate that cannot be read",
        ),
        (["sh", "-c", "echo boom >&2; exit 7"], "exited with 7: boom"),
        (["sh", "-c", "kill -9 $$"], "was killed by signal 9"),
        (["/nonexistent/sign-it"], "sign_script: program '/nonexistent/sign-it' not found"),
        (["certctl-no-such-signer"], "sign_script: program 'certctl-no-such-signer' not found on PATH"),
    ],
)
def test_bad_programs_and_bad_output_store_nothing(engine: Engine, command: list[str], words: str) -> None:
    _issuer(engine, "iss-bad", {"sign_script": command})
    cert_id = engine.certificates.create(name="b", common_name="b.example.com", issuer_id="iss-bad", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError) as raised:
        engine.issuance.issue(cert_id, actor=ACTOR)
    assert words in raised.value.message
    _nothing_stored(engine, cert_id, sequence)


def test_a_certificate_for_another_key_is_refused(engine: Engine, ca_dir: Path) -> None:
    _issuer(engine, "iss-ca", {"sign_script": ["sh", "-c", f"cat > /dev/null; cat {ca_dir}/ca.pem"]})
    cert_id = engine.certificates.create(name="w", common_name="w.example.com", issuer_id="iss-ca", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError, match="returned a certificate for another key"):
        engine.issuance.issue(cert_id, actor=ACTOR)
    _nothing_stored(engine, cert_id, sequence)


def _running(argv: list[str]) -> bool:
    """Whether a process with exactly this command line is alive (read from /proc)."""
    wanted = "\0".join(argv).encode() + b"\0"
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == wanted:
                return True
        except OSError:
            continue
    return False


def test_a_script_that_hangs_is_killed_with_its_children(engine: Engine, tmp_path: Path) -> None:
    marker = tmp_path / "late"
    # sh forks sleep (it is not the last command), so killing sh alone would leave sleep holding the pipes.
    _issuer(engine, "iss-slow", {"sign_script": ["sh", "-c", f"sleep 31.7; touch {marker}"], "timeout_seconds": 1})
    cert_id = engine.certificates.create(name="s", common_name="s.example.com", issuer_id="iss-slow", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    started = time.monotonic()
    with pytest.raises(IssuerError) as raised:
        engine.issuance.issue(cert_id, actor=ACTOR)
    assert time.monotonic() - started < 4
    assert raised.value.message == "sign_script 'sh' did not finish within 1s and was killed"
    _nothing_stored(engine, cert_id, sequence)
    time.sleep(0.2)
    assert not _running(["sleep", "31.7"]) and not marker.exists()


def test_revocation_needs_a_revoke_script_and_a_failing_one_records_nothing(
    engine: Engine, ca_dir: Path, scripts: tuple[str, str]
) -> None:
    _issuer(engine, "iss-norev", {"sign_script": [scripts[0], str(ca_dir)]})
    _issuer(
        engine,
        "iss-badrev",
        {"sign_script": [scripts[0], str(ca_dir)], "revoke_script": ["sh", "-c", "echo no >&2; exit 2"]},
    )
    for issuer_id, words in (
        ("iss-norev", "has no revoke_script, so the CA cannot be told"),
        ("iss-badrev", "revoke_script 'sh' exited with 2: no"),
    ):
        cert_id = engine.certificates.create(
            name=issuer_id, common_name=f"{issuer_id}.example.com", issuer_id=issuer_id, actor=ACTOR
        ).id
        engine.issuance.issue(cert_id, actor=ACTOR)
        with pytest.raises(IssuerError, match=words):
            engine.revocation.revoke(cert_id, "superseded", actor=ACTOR)
        assert engine.certificates.get(cert_id).status is CertificateStatus.ACTIVE
    assert engine.revocation.list_revocations() == []
    assert "no revoke_script" in engine.issuance.test_issuer("iss-norev", actor=ACTOR).message


def test_test_issuer_names_a_missing_or_unusable_program(engine: Engine, tmp_path: Path) -> None:
    plain = tmp_path / "not-executable.sh"
    plain.write_text("#!/bin/sh\n")
    cases = {
        "missing": ({}, "configuration: a script (OpenSSL) issuer needs sign_script"),
        "absent": ({"sign_script": ["/nonexistent/sign"]}, "sign_script: program '/nonexistent/sign' not found"),
        "plain": ({"sign_script": [str(plain)]}, f"sign_script: program '{plain}' is not executable"),
        "revoke": (
            {"sign_script": ["sh"], "revoke_script": ["certctl-no-revoker"]},
            "revoke_script: program 'certctl-no-revoker' not found on PATH",
        ),
    }
    for label, (config, words) in cases.items():
        _issuer(engine, f"iss-{label}", config)
        result = engine.issuance.test_issuer(f"iss-{label}", actor=ACTOR)
        assert not result.ok and result.message.startswith(words), result.message


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"sign_script": "openssl x509 -req"}, "sign_script", "a list of arguments"),
        ({"sign_script": [""]}, "sign_script", "names no program"),
        ({"sign_script": ["sh"], "revoke_script": "revoke.sh 1"}, "revoke_script", "not a shell string"),
        ({"sign_script": ["sh"], "timeout_seconds": 0}, "timeout_seconds", "at least 0.1"),
        ({"sign_script": ["sh"], "validity_days": 0}, "validity_days", "from 1 to 36500"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    engine: Engine, config: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        engine.issuers.create("bad", "OpenSSL", config, actor=ACTOR)
    assert raised.value.field == field and words in raised.value.message
    assert engine.issuers.list() == []


def test_the_connector_passes_the_request_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a script can rely on: the names, usages and lifetime, beside the CSR on stdin."""
    from datetime import timedelta

    from certctl_engine.connectors.issuers import IssueRequest
    from certctl_engine.domain import ExtendedKeyUsage
    from certctl_engine.pki import generate_private_key

    monkeypatch.setenv("CERTCTL_SECRET_KEY", "never-for-scripts")
    monkeypatch.setenv("CERTCTL_DATABASE_URL", "postgresql://u:pw@db/certctl")
    monkeypatch.setenv("SCRIPT_SETTING", "kept")
    dump = tmp_path / "env.txt"
    connector = ScriptConnector(
        ScriptSettings.from_config(
            {
                "sign_script": [
                    "sh",
                    "-c",
                    f"env | grep -e ^CERTCTL_ -e ^SCRIPT_ | sort > {dump}; cat > /dev/null; exit 1",
                ]
            }
        )
    )
    key = generate_private_key()
    now = datetime.now(UTC).replace(microsecond=0)
    request = IssueRequest(
        key.public_key(),  # type: ignore[arg-type]
        "env.example.com",
        ("env.example.com", "alt.example.com"),
        (ExtendedKeyUsage.SERVER_AUTH,),
        now,
        now + timedelta(days=2, hours=1),
        private_key=key,
    )
    with pytest.raises(IssuerError, match="exited with 1"):
        connector.issue(request)
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines())
    assert env["CERTCTL_COMMON_NAME"] == "env.example.com"
    assert env["CERTCTL_SANS"] == "env.example.com,alt.example.com"
    assert env["CERTCTL_EKUS"] == "serverAuth"
    assert env["CERTCTL_NOT_BEFORE"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert env["CERTCTL_VALIDITY_DAYS"] == "3"
    assert abs(int(env["CERTCTL_VALIDITY_SECONDS"]) - (2 * 86400 + 3600)) < 5
    assert env["SCRIPT_SETTING"] == "kept"  # the host environment passes through, certctl's own settings do not
    assert "CERTCTL_SECRET_KEY" not in env and "CERTCTL_DATABASE_URL" not in env
