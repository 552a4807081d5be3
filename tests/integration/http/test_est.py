"""EST (RFC 7030) over HTTPS with curl as the client and openssl making CSRs and checking answers.

cacerts, simpleenroll with an `openssl req` PKCS#10, simplereenroll with a new key; every
answer opens with `openssl pkcs7 -print_certs` and verifies to the root; wrong or missing
credentials get 401, plain HTTP 403; a CSR the profile forbids gets 400 with the reason and
leaves nothing in the inventory; labels pick their own profile.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from served import serve
from starlette.testclient import TestClient

from certctl_engine.domain import Actor, CertificateFilter
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.http import build_app
from certctl_engine.http.app import est_setup
from certctl_engine.http.est import ESTConfig, client_ca_pem
from certctl_engine.http.est_auth import hash_password
from certctl_engine.service_tls import ensure_service_certificate

ALICE = Actor("alice")
PASSWORD = "correct horse"


@dataclass
class Site:
    engine: Engine
    tmp: Path
    url: str
    ca_file: Path  # trust anchor of the service's TLS certificate


def _env() -> dict[str, str]:
    return {
        "CERTCTL_EST_ENABLED": "true",
        "CERTCTL_EST_PROFILE_ID": "prof-devices",
        "CERTCTL_EST_LABELS": "iot=prof-iot",
        "CERTCTL_EST_USERS": f"device-1:{hash_password(PASSWORD, iterations=20_000)}",
    }


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Iterator[Site]:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.profiles.create(
        "devices",
        actor=ALICE,
        id="prof-devices",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 256}],
        allowed_ekus=["clientAuth"],  # TLS accepts a client certificate only with this usage
    )
    engine.profiles.create("iot", actor=ALICE, id="prof-iot", required_san_patterns=[r"\.iot\.example\.test$"])
    tls = ensure_service_certificate(engine, tmp_path / "tls", ["localhost", "127.0.0.1"])
    assert tls.ca_file is not None
    # As `certctl engine` does: TLS accepts client certificates signed by the labels' CAs.
    setup = est_setup(engine, _env())
    assert setup is not None
    client_cas = tmp_path / "est-client-cas.pem"
    client_cas.write_text(client_ca_pem(*setup))
    with serve(build_app(engine, env=_env()), tls=(tls.cert_file, tls.key_file), client_ca=client_cas) as url:
        yield Site(engine, tmp_path, url, tls.ca_file)


def _run(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(list(args), capture_output=True, input=stdin, timeout=60)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _curl(site: Site, path: str, *args: str) -> tuple[int, bytes, str]:
    out = site.tmp / "body"
    done = subprocess.run(
        ["curl", "-sS", "--cacert", str(site.ca_file), "-D", "-", "-o", str(out), "-w", "\n%{http_code}", *args,
         site.url + path],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    head, _, code = done.stdout.rpartition("\n")
    return int(code), out.read_bytes() if out.exists() else b"", head.lower()


def _csr(site: Site, name: str, cn: str, *, key: str = "ec", sans: str | None = None) -> Path:
    """A base64 DER PKCS#10 from `openssl req`, as an EST client sends it."""
    options = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else ["-newkey", "rsa:2048"]
    der = _run(
        "openssl", "req", "-new", *options, "-nodes", "-keyout", str(site.tmp / f"{name}.key"), "-subj", f"/CN={cn}",
        "-addext", f"subjectAltName={sans or 'DNS:' + cn}", "-outform", "DER",
    )  # fmt: skip
    path = site.tmp / f"{name}.b64"
    path.write_bytes(_run("openssl", "base64", stdin=der))
    return path


def _certs(site: Site, body: bytes, name: str) -> str:
    """The PEM certificates of a base64 PKCS#7 answer, via `openssl pkcs7 -print_certs`."""
    der = _run("openssl", "base64", "-d", stdin=body)
    pem = _run("openssl", "pkcs7", "-inform", "DER", "-print_certs", stdin=der).decode()
    (site.tmp / name).write_text(pem)
    return pem


def _enroll(site: Site, op: str, csr: Path, *auth: str, label: str = "") -> tuple[int, bytes, str]:
    prefix = f"/.well-known/est/{label + '/' if label else ''}"
    return _curl(site, prefix + op, "-H", "Content-Type: application/pkcs10", "--data-binary", f"@{csr}", *auth)


def test_cacerts_enroll_reenroll_and_verify_to_the_root(site: Site) -> None:
    code, body, headers = _curl(site, "/.well-known/est/cacerts")
    assert code == 200 and "content-type: application/pkcs7-mime" in headers
    assert "content-transfer-encoding: base64" in headers
    assert max(len(line) for line in body.splitlines()) <= 76
    root = _certs(site, body, "root.pem")
    assert root.count("BEGIN CERTIFICATE") == 1 and "certctl Local CA" in root

    csr = _csr(site, "dev1", "dev1.example.test")
    code, body, headers = _enroll(site, "simpleenroll", csr, "-u", f"device-1:{PASSWORD}")
    assert code == 200, body
    assert "smime-type=certs-only" in headers
    leaf = _certs(site, body, "leaf.pem")
    assert "subject=CN = dev1.example.test" in leaf
    verify = _run("openssl", "verify", "-CAfile", str(site.tmp / "root.pem"), str(site.tmp / "leaf.pem")).decode()
    assert verify.strip().endswith(": OK")
    # The certificate holds the client's key, which never left the client.
    leaf_key = _run("openssl", "x509", "-in", str(site.tmp / "leaf.pem"), "-noout", "-pubkey")
    client_key = _run("openssl", "pkey", "-in", str(site.tmp / "dev1.key"), "-pubout")
    assert leaf_key == client_key
    enrolled = site.engine.certificates.list(CertificateFilter(query="dev1.example.test")).items
    assert len(enrolled) == 1 and enrolled[0].tags["est_user"] == "device-1"

    renewal_csr = _csr(site, "dev1b", "dev1.example.test")
    code, body, _ = _enroll(site, "simplereenroll", renewal_csr, "-u", f"device-1:{PASSWORD}")
    assert code == 200, body
    _certs(site, body, "leaf2.pem")
    assert _run("openssl", "verify", "-CAfile", str(site.tmp / "root.pem"), str(site.tmp / "leaf2.pem")).strip()
    new_key = _run("openssl", "x509", "-in", str(site.tmp / "leaf2.pem"), "-noout", "-pubkey")
    assert new_key == _run("openssl", "pkey", "-in", str(site.tmp / "dev1b.key"), "-pubout") != leaf_key
    # Renewed in place: one managed certificate, two versions.
    assert len(site.engine.certificates.list_versions(enrolled[0].id)) == 2

    # Re-enrollment must keep the names, and needs something to renew.
    changed = _csr(site, "dev1c", "dev1.example.test", sans="DNS:dev1.example.test,DNS:other.example.test")
    code, body, _ = _enroll(site, "simplereenroll", changed, "-u", f"device-1:{PASSWORD}")
    assert code == 400 and b"must keep the subjectAltName" in body
    code, body, _ = _enroll(site, "simplereenroll", _csr(site, "new", "new.example.test"), "-u", f"device-1:{PASSWORD}")
    assert code == 400 and b"nothing to re-enroll" in body

    code, body, _ = _curl(site, "/.well-known/est/csrattrs")
    assert code == 204 and body == b""


def test_a_client_certificate_enrolls_as_its_user_and_reenrolls_itself(site: Site) -> None:
    code, body, _ = _enroll(site, "simpleenroll", _csr(site, "dev3", "dev3.example.test"), "-u", f"device-1:{PASSWORD}")
    assert code == 200, body
    _certs(site, body, "dev3.pem")
    first = ("--cert", str(site.tmp / "dev3.pem"), "--key", str(site.tmp / "dev3.key"))
    (cert,) = site.engine.certificates.list(CertificateFilter(query="dev3.example.test")).items

    # No password: the certificate itself authenticates, and simplereenroll renews that very one.
    code, body, _ = _enroll(site, "simplereenroll", _csr(site, "dev3b", "dev3.example.test"), *first)
    assert code == 200, body
    _certs(site, body, "dev3b.pem")
    assert len(site.engine.certificates.list_versions(cert.id)) == 2
    (event,) = site.engine.audit.list(action="est_simple_reenroll", resource_id=cert.id).items
    assert event.actor == "est:device-1"
    second = ("--cert", str(site.tmp / "dev3b.pem"), "--key", str(site.tmp / "dev3b.key"))

    # The superseded version no longer speaks for anyone; the current one enrolls as its user.
    code, body, _ = _enroll(site, "simpleenroll", _csr(site, "x", "x.example.test"), *first)
    assert code == 401 and b"older version" in body
    code, body, _ = _enroll(site, "simpleenroll", _csr(site, "dev4", "dev4.example.test"), *second)
    assert code == 200, body
    (dev4,) = site.engine.certificates.list(CertificateFilter(query="dev4.example.test")).items
    assert dev4.tags["est_user"] == "device-1"
    # Re-enrolling with a client certificate keeps its subject.
    code, body, _ = _enroll(site, "simplereenroll", _csr(site, "dev3c", "other.example.test"), *second)
    assert code == 400 and b"must keep the subject of the client certificate (CN=dev3.example.test)" in body

    # Revoked, it is refused with the reason; a certificate from a CA certctl does not know fails TLS.
    site.engine.revocation.revoke(cert.id, "keyCompromise", actor=ALICE)
    code, body, _ = _enroll(site, "simpleenroll", _csr(site, "dev5", "dev5.example.test"), *second)
    assert code == 401 and f"'{cert.id}' is Revoked".encode() in body
    _run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", "/CN=stranger", "-keyout", str(site.tmp / "stranger.key"), "-out", str(site.tmp / "stranger.pem"),
    )  # fmt: skip
    stranger = subprocess.run(
        ["curl", "-sS", "--cacert", str(site.ca_file), "--cert", str(site.tmp / "stranger.pem"), "--key",
         str(site.tmp / "stranger.key"), "-o", "/dev/null", "-w", "%{http_code}", "-H",
         "Content-Type: application/pkcs10", "--data-binary", f"@{_csr(site, 's', 's.example.test')}",
         site.url + "/.well-known/est/simpleenroll"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert stranger.returncode != 0 and stranger.stdout in ("", "000"), stranger
    assert site.engine.certificates.list(CertificateFilter(query="s.example.test")).items == ()


def test_wrong_or_missing_credentials_are_401_and_plain_http_403(site: Site) -> None:
    csr = _csr(site, "dev2", "dev2.example.test")
    for auth in (["-u", "device-1:wrong"], ["-u", f"nobody:{PASSWORD}"], []):
        code, body, headers = _enroll(site, "simpleenroll", csr, *auth)
        assert code == 401, (auth, body)
        assert 'www-authenticate: basic realm="certctl est"' in headers
    assert site.engine.certificates.list(CertificateFilter(query="dev2.example.test")).items == ()
    app = build_app(site.engine, env=_env())
    with TestClient(app, base_url="http://certctl") as client:
        plain = client.post("/.well-known/est/simpleenroll", content=csr.read_bytes(), auth=("device-1", PASSWORD))
        assert plain.status_code == 403 and "HTTPS" in plain.text


def test_a_csr_the_profile_forbids_is_400_with_the_reason_and_leaves_nothing(site: Site) -> None:
    before = site.engine.certificates.count()
    rsa = _csr(site, "rsa", "rsa.example.test", key="rsa")
    code, body, _ = _enroll(site, "simpleenroll", rsa, "-u", f"device-1:{PASSWORD}")
    assert code == 400
    assert b"key type RSA 2048 is not allowed by profile 'devices' (allowed: ECDSA" in body
    # The iot label has its own profile: names must be under .iot.example.test.
    outside = _csr(site, "cam", "cam.example.test")
    code, body, _ = _enroll(site, "simpleenroll", outside, "-u", f"device-1:{PASSWORD}", label="iot")
    assert code == 400 and b"does not match the name patterns of profile 'iot'" in body
    inside = _csr(site, "cam2", "cam.iot.example.test")
    code, body, _ = _enroll(site, "simpleenroll", inside, "-u", f"device-1:{PASSWORD}", label="iot")
    assert code == 200, body
    code, body, _ = _enroll(site, "simpleenroll", _csr(site, "x", "x.example.test"), "-u", f"device-1:{PASSWORD}",
                            label="nope")  # fmt: skip
    assert code == 404 and b"no EST label 'nope'" in body
    (site.tmp / "junk.b64").write_bytes(b"bm90IGEgQ1NS\n")
    code, body, _ = _enroll(site, "simpleenroll", site.tmp / "junk.b64", "-u", f"device-1:{PASSWORD}")
    assert code == 400 and b"not a certificate signing request" in body
    assert site.engine.certificates.count() == before + 1  # only the allowed one


def test_est_is_off_unless_enabled_and_bad_settings_are_refused(engine: Engine) -> None:
    with TestClient(build_app(engine, env={})) as client:
        assert client.get("/.well-known/est/cacerts").status_code == 404
    with pytest.raises(InvalidInput, match="names no user and client certificates are off"):
        ESTConfig.from_env({"CERTCTL_EST_ENABLED": "yes", "CERTCTL_EST_CLIENT_CERTS": "false"})
    with pytest.raises(InvalidInput, match="CERTCTL_EST_CLIENT_CERTS must be true or false, not 'maybe'"):
        ESTConfig.from_env({"CERTCTL_EST_ENABLED": "yes", "CERTCTL_EST_CLIENT_CERTS": "maybe"})
    only_certificates = ESTConfig.from_env({"CERTCTL_EST_ENABLED": "yes"})  # no users: client certificates only
    assert only_certificates is not None and only_certificates.client_certificates and not len(only_certificates.users)
    with pytest.raises(InvalidInput, match="user:hash"):
        ESTConfig.from_env({"CERTCTL_EST_ENABLED": "1", "CERTCTL_EST_USERS": "alice"})
    with pytest.raises(InvalidInput, match="password hash must read"):
        ESTConfig.from_env({"CERTCTL_EST_ENABLED": "1", "CERTCTL_EST_USERS": "alice:plaintext"})
    with pytest.raises(InvalidInput, match="not an EST operation name"):
        ESTConfig.from_env({**_env(), "CERTCTL_EST_LABELS": "cacerts=prof-x"})
