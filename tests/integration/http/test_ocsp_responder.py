"""The OCSP responder over HTTP, judged by `openssl ocsp` and curl as the clients.

Statuses good → revoked (with reason and time) → and unknown for a serial never issued; the
nonce echoed; a delegated responder certificate (OCSPSigning, no-check) that openssl
accepts; garbage answered with malformedRequest; GET with RFC 5019 caching headers; answers
cached and dropped on revocation; the responder rotated before it expires.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from frozen_clock import Clock
from served import serve

from certctl_engine.domain import Actor, RevocationReason
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.http import build_app
from certctl_engine.pki import load_certificates
from certctl_engine.services.ocsp_responder import OCSPResponderService
from certctl_engine.services.ocsp_signers import OCSPSignerService
from certctl_engine.store.models import CertificateAuthorityModel

ALICE = Actor("alice")


def _run(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def pki(engine: Engine, tmp_path: Path) -> Iterator[tuple[Engine, Path, str, str]]:
    """A local CA issuer with one issued leaf, its PEM files, and the responder served on loopback."""
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.issuers.create("Empty", "GenericCA", {}, actor=ALICE, id="iss-empty")  # no CA yet
    cert = engine.certificates.create(
        name="www", common_name="www.example.test", sans=["www.example.test"], issuer_id="iss-local", actor=ALICE
    )
    version = engine.issuance.issue(cert.id, actor=ALICE)
    (tmp_path / "ca.pem").write_text(engine.ca.info("iss-local").certificate_pem)
    (tmp_path / "leaf.pem").write_text(
        version.pem_chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    with serve(build_app(engine, env={})) as url:
        yield engine, tmp_path, url, cert.id


def _ocsp(tmp: Path, url: str, *extra: str) -> str:
    return _run(
        "openssl", "ocsp", "-issuer", str(tmp / "ca.pem"), "-url", url, "-CAfile", str(tmp / "ca.pem"), *extra
    )  # fmt: skip


def test_good_then_revoked_with_reason_and_the_nonce_echoed(pki: tuple[Engine, Path, str, str]) -> None:
    engine, tmp, url, cert_id = pki
    out = _ocsp(tmp, f"{url}/ocsp/iss-local", "-cert", str(tmp / "leaf.pem"), "-resp_text")
    assert "Response verify OK" in out
    assert f"{tmp / 'leaf.pem'}: good" in out
    assert "OCSP Nonce" in out and "WARNING: no nonce" not in out
    # Signed by the delegated responder, not the CA, and openssl took it because of the EKU.
    assert "OCSP Signing" in out and "OCSP No Check" in out
    assert "Responder Id: " in out
    engine.revocation.revoke(cert_id, "keyCompromise", actor=ALICE)
    out = _ocsp(tmp, f"{url}/ocsp/iss-local", "-cert", str(tmp / "leaf.pem"))
    assert f"{tmp / 'leaf.pem'}: revoked" in out
    assert "Reason: keyCompromise" in out and "Revocation Time:" in out
    assert "Response verify OK" in out


def test_a_nonce_gets_a_fresh_signature_over_the_cached_status_on_the_fast_path(
    pki: tuple[Engine, Path, str, str],
) -> None:
    engine, tmp, url, cert_id = pki
    leaf = load_certificates((tmp / "leaf.pem").read_bytes())[0]
    ca = load_certificates((tmp / "ca.pem").read_bytes())[0]

    def asked(nonce: bytes) -> bytes:
        builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, hashes.SHA1())
        return builder.add_extension(x509.OCSPNonce(nonce), critical=False).build().public_bytes(Encoding.DER)

    assert engine.ocsp.fast_answer("iss-local", asked(b"first-nonce-0001")) is None  # nothing cached yet
    engine.ocsp.answer("iss-local", asked(b"first-nonce-0001"))
    fast = engine.ocsp.fast_answer("iss-local", asked(b"other-nonce-0002"))
    assert fast is not None and fast.has_nonce
    response = ocsp.load_der_ocsp_response(fast.der)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"other-nonce-0002"
    # openssl, asking with its own nonce, verifies what the fast path signs.
    out = _ocsp(tmp, f"{url}/ocsp/iss-local", "-cert", str(tmp / "leaf.pem"))
    assert "Response verify OK" in out and ": good" in out and "WARNING: no nonce" not in out
    # A revocation drops the cached status: no fast answer repeats the old one.
    engine.revocation.revoke(cert_id, "superseded", actor=ALICE)
    assert engine.ocsp.fast_answer("iss-local", asked(b"after-revocation")) is None
    out = _ocsp(tmp, f"{url}/ocsp/iss-local", "-cert", str(tmp / "leaf.pem"))
    assert ": revoked" in out and "Reason: superseded" in out


def test_unknown_serial_and_a_foreign_or_missing_issuer(pki: tuple[Engine, Path, str, str]) -> None:
    _engine, tmp, url, _ = pki
    out = _ocsp(tmp, f"{url}/ocsp/iss-local", "-serial", "0x1234abcd")
    assert "0x1234abcd: unknown" in out
    for issuer in ("iss-empty", "no-such-issuer"):
        done = subprocess.run(
            ["openssl", "ocsp", "-issuer", str(tmp / "ca.pem"), "-cert", str(tmp / "leaf.pem"), "-url",
             f"{url}/ocsp/{issuer}", "-CAfile", str(tmp / "ca.pem")],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "unauthorized (6)" in done.stdout + done.stderr
    # Asking never created a CA for the empty issuer.
    assert CertificateAuthorityModel.get_or_none(CertificateAuthorityModel.issuer == "iss-empty") is None


def _response_status(tmp: Path, der: bytes) -> str:
    """What `openssl ocsp` says about a response (it exits 1 on an unsuccessful status, and says which)."""
    (tmp / "resp.der").write_bytes(der)
    done = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp / "resp.der"), "-resp_text", "-noverify"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_garbage_is_answered_with_malformed_request_never_an_error_page(pki: tuple[Engine, Path, str, str]) -> None:
    _engine, tmp, url, _ = pki
    (tmp / "garbage").write_bytes(b"\x30\x03\x02\x01\x05 this is not an OCSP request")
    cases = [
        ["-X", "POST", "-H", "Content-Type: application/ocsp-request", "--data-binary", f"@{tmp / 'garbage'}",
         f"{url}/ocsp/iss-local"],
        ["-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", "hello", f"{url}/ocsp/iss-local"],
        [f"{url}/ocsp/iss-local/not*base64!"],
        [f"{url}/ocsp/iss-local/" + base64.b64encode(b"\x00" * 40).decode()],
    ]  # fmt: skip
    for case in cases:
        done = subprocess.run(
            ["curl", "-sS", "-o", str(tmp / "out.der"), "-w", "%{http_code} %{content_type}", *case],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.stdout == "200 application/ocsp-response", (case, done.stdout, done.stderr)
        assert "Responder Error: malformedrequest (1)" in _response_status(tmp, (tmp / "out.der").read_bytes())


def test_get_with_caching_headers_and_cached_answers_dropped_on_revocation(
    pki: tuple[Engine, Path, str, str],
) -> None:
    engine, tmp, url, cert_id = pki
    _run("openssl", "ocsp", "-issuer", str(tmp / "ca.pem"), "-cert", str(tmp / "leaf.pem"), "-no_nonce",
         "-reqout", str(tmp / "req.der"))  # fmt: skip
    encoded = quote(base64.b64encode((tmp / "req.der").read_bytes()).decode(), safe="")

    def get() -> tuple[bytes, str]:
        done = subprocess.run(
            ["curl", "-sS", "-D", "-", "-o", str(tmp / "got.der"), f"{url}/ocsp/iss-local/{encoded}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return (tmp / "got.der").read_bytes(), done.stdout.lower()

    first, headers = get()
    assert "cache-control: max-age=" in headers and "public" in headers
    assert "etag: " in headers and "expires: " in headers and "last-modified: " in headers
    max_age = int(headers.split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= 3600
    check = _run("openssl", "ocsp", "-respin", str(tmp / "got.der"), "-issuer", str(tmp / "ca.pem"), "-cert",
                 str(tmp / "leaf.pem"), "-CAfile", str(tmp / "ca.pem"))  # fmt: skip
    assert "Response verify OK" in check and ": good" in check
    second, _ = get()
    assert second == first  # the cached answer, not a new signature
    engine.revocation.revoke(cert_id, "superseded", actor=ALICE)
    third, _ = get()
    assert third != first
    check = _run("openssl", "ocsp", "-respin", str(tmp / "got.der"), "-issuer", str(tmp / "ca.pem"), "-cert",
                 str(tmp / "leaf.pem"), "-CAfile", str(tmp / "ca.pem"))  # fmt: skip
    assert ": revoked" in check and "Reason: superseded" in check


def test_responder_certificate_is_kept_then_rotated_before_it_expires(
    store_url: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        cert = engine.certificates.create(name="a", common_name="a.example.test", issuer_id="iss-local", actor=ALICE)
        leaf = load_certificates(engine.issuance.issue(cert.id, actor=ALICE).pem_chain.encode())[0]
        ca = load_certificates(engine.ca.info("iss-local").certificate_pem.encode())[0]
        request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, leaf.signature_hash_algorithm).build()  # type: ignore[arg-type]
        der = request.public_bytes(Encoding.DER)

        def responder() -> x509.Certificate:
            service = OCSPResponderService(engine.context, engine.ca, OCSPSignerService(engine.context, engine.audit))
            answer = ocsp.load_der_ocsp_response(service.answer("iss-local", der).der)
            assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
            signer = answer.certificates[0]
            signer.verify_directly_issued_by(ca)
            assert (
                ExtendedKeyUsageOID.OCSP_SIGNING
                in signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            )
            assert answer.next_update_utc is not None and answer.next_update_utc <= signer.not_valid_after_utc
            return signer

        first = responder()
        assert responder().serial_number == first.serial_number  # kept in the store, not re-minted
        clock.advance(days=15)
        assert responder().serial_number == first.serial_number
        clock.advance(days=6)  # 21 of 30 days gone: under a third left
        rotated = responder()
        assert rotated.serial_number != first.serial_number
        assert rotated.not_valid_after_utc - clock.now > timedelta(days=29)
        actions = [e.action for e in engine.audit.list(resource_id="iss-local", limit=100).items]
        assert actions.count("ocsp_responder_issued") == 1 and actions.count("ocsp_responder_rotated") == 1


def test_a_public_url_puts_this_service_in_issued_certificates(engine: Engine, tmp_path: Path) -> None:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.issuers.create("Own", "GenericCA", {"crl_url": "http://crl.corp.test/own.crl"}, actor=ALICE, id="iss-own")
    with serve(lambda base: build_app(engine, env={"CERTCTL_PUBLIC_URL": base + "/"})) as url:
        cert = engine.certificates.create(name="p", common_name="p.example.test", issuer_id="iss-local", actor=ALICE)
        chain = engine.issuance.issue(cert.id, actor=ALICE).pem_chain
        (tmp_path / "leaf.pem").write_text(chain)
        (tmp_path / "ca.pem").write_text(engine.ca.info("iss-local").certificate_pem)
        text = _run("openssl", "x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-text")
        assert f"URI:{url}/crl/iss-local.crl" in text
        assert f"OCSP - URI:{url}/ocsp/iss-local" in text
        # A relying party follows the certificate's own URLs.
        ocsp_uri = _run("openssl", "x509", "-in", str(tmp_path / "leaf.pem"), "-noout", "-ocsp_uri").strip()
        assert f"{tmp_path / 'leaf.pem'}: good" in _ocsp(tmp_path, ocsp_uri, "-cert", str(tmp_path / "leaf.pem"))
        subprocess.run(["curl", "-sSf", "-o", str(tmp_path / "dp.crl"), f"{url}/crl/iss-local.crl"], check=True)
        _run("openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "dp.crl"), "-noout", "-CAfile",
             str(tmp_path / "ca.pem"), "-verify")  # fmt: skip
    # URLs set by hand stay; filled ones follow a new base URL.
    assert engine.issuers.connector_config("iss-own")["crl_url"] == "http://crl.corp.test/own.crl"
    assert engine.issuers.connector_config("iss-own")["ocsp_url"] == f"{url}/ocsp/iss-own"
    build_app(engine, env={"CERTCTL_PUBLIC_URL": "https://pki.example.test"})
    assert engine.issuers.connector_config("iss-local")["crl_url"] == "https://pki.example.test/crl/iss-local.crl"
    assert engine.issuers.connector_config("iss-own")["crl_url"] == "http://crl.corp.test/own.crl"
    with pytest.raises(InvalidInput, match="must be an http"):
        build_app(engine, env={"CERTCTL_PUBLIC_URL": "pki.example.test"})


def test_the_status_look_up_answers_good_revoked_unknown_and_short_lived_good(engine: Engine) -> None:
    """The one look-up behind the responder, `certctl ca check` and MCP check_ocsp."""
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.issuers.create("Other", "GenericCA", {}, actor=ALICE, id="iss-other")
    engine.profiles.create("short", actor=ALICE, id="prof-short", max_ttl_seconds=600, allow_short_lived=True)
    ids = {}
    for name, profile in (("plain", None), ("gone", None), ("brief", "prof-short")):
        cert = engine.certificates.create(
            name=name,
            common_name=f"{name}.example.test",
            issuer_id="iss-local",
            certificate_profile_id=profile,
            actor=ALICE,
        )
        engine.issuance.issue(cert.id, actor=ALICE)
        ids[name] = cert.id
    engine.revocation.revoke(ids["gone"], "cessationOfOperation", actor=ALICE)
    engine.revocation.revoke(ids["brief"], "keyCompromise", actor=ALICE)
    serial = {name: engine.revocation.serial_of(cert_id) for name, cert_id in ids.items()}
    expected = {"plain": "good", "gone": "revoked", "brief": "good"}  # short-lived: expiry is its revocation
    for name, status in expected.items():
        found = engine.revocation.check("iss-local", serial[name])
        assert (found.status, found.certificate_id) == (status, ids[name]), name
        assert engine.revocation.check("iss-other", serial[name]).status == "unknown"  # not that issuer's
    assert engine.revocation.check("iss-local", "abc123").status == "unknown"
    gone = engine.revocation.check("iss-local", "0x" + serial["gone"].upper())  # prefix and case are accepted
    assert gone.reason is RevocationReason.CESSATION_OF_OPERATION and gone.revoked_at is not None
    assert gone.revoked_at in {r.revoked_at for r in engine.revocation.list_revocations("iss-local")}


def test_a_revocation_by_another_process_on_the_store_reaches_the_responder(
    pki: tuple[Engine, Path, str, str], store_url: str, store_env: dict[str, str]
) -> None:
    _engine, tmp, url, cert_id = pki
    assert ": good" in _ocsp(tmp, f"{url}/ocsp/iss-local", "-cert", str(tmp / "leaf.pem"), "-no_nonce")
    # Another process on the same store (a TUI, the CLI) revokes: no in-process hook tells this one.
    script = (
        "import sys, json; from certctl_engine.engine import Engine; from certctl_engine.domain import Actor\n"
        "with Engine.open(sys.argv[1], env=json.loads(sys.argv[2])) as e:\n"
        "    e.revocation.revoke(sys.argv[3], 'affiliationChanged', actor=Actor('bob'))\n"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run(
        [sys.executable, "-c", script, store_url, json.dumps(store_env), cert_id], check=True, cwd=root, timeout=60
    )
    deadline = time.monotonic() + 10
    while True:
        out = _ocsp(tmp, f"{url}/ocsp/iss-local", "-cert", str(tmp / "leaf.pem"), "-no_nonce")
        if ": revoked" in out or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert ": revoked" in out and "Reason: affiliationChanged" in out
    assert time.monotonic() < deadline
