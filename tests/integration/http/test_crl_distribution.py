"""CRL distribution over HTTP, fetched with curl and parsed and verified by `openssl crl`.

The CRL is signed once and served until a revocation (no new CRL number per download), with
a stable ETag (304 on If-None-Match), Cache-Control, a PEM variant, 404 for what is not a
local CA; the scheduler's refresh re-signs it once half of its validity has passed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from frozen_clock import Clock
from served import serve

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.http import build_app
from certctl_engine.pki import load_certificates
from certctl_engine.scheduler import LOOPS
from certctl_engine.services.crl_publisher import CRLPublisher

ALICE = Actor("alice")


def _curl(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        ["curl", "-sS", "-D", "-", *args, "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    head, _, code = done.stdout.rpartition("\n")
    return int(code), head.lower()


def _crl_text(tmp: Path, path: Path, inform: str = "DER") -> str:
    done = subprocess.run(
        ["openssl", "crl", "-inform", inform, "-in", str(path), "-noout", "-text", "-CAfile", str(tmp / "ca.pem"),
         "-verify"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify OK" in done.stderr + done.stdout
    return done.stdout


@pytest.fixture
def served(engine: Engine, tmp_path: Path) -> Iterator[tuple[Engine, Path, str, list[str]]]:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.issuers.create("Empty", "GenericCA", {}, actor=ALICE, id="iss-empty")
    ids = []
    for name in ("a", "b"):
        cert = engine.certificates.create(
            name=name, common_name=f"{name}.example.test", issuer_id="iss-local", actor=ALICE
        )
        engine.issuance.issue(cert.id, actor=ALICE)
        ids.append(cert.id)
    (tmp_path / "ca.pem").write_text(engine.ca.info("iss-local").certificate_pem)
    with serve(build_app(engine, env={})) as url:
        yield engine, tmp_path, url, ids


def test_fetch_parse_etag_304_and_a_new_crl_only_after_a_revocation(
    served: tuple[Engine, Path, str, list[str]],
) -> None:
    engine, tmp, url, ids = served
    der = tmp / "1.crl"
    code, headers = _curl("-o", str(der), f"{url}/crl/iss-local.crl")
    assert code == 200 and "content-type: application/pkix-crl" in headers
    assert "cache-control: public, max-age=" in headers and "last-modified: " in headers
    etag = next(line[6:].strip() for line in headers.splitlines() if line.startswith("etag: "))
    text = _crl_text(tmp, der)
    assert "No Revoked Certificates." in text
    number = text.split("X509v3 CRL Number:")[1].split()[0]
    # The same bytes again: no re-signing, no new CRL number.
    code, _ = _curl("-o", str(tmp / "2.crl"), f"{url}/crl/iss-local.crl")
    assert code == 200 and (tmp / "2.crl").read_bytes() == der.read_bytes()
    code, not_modified = _curl("-o", str(tmp / "304"), "-H", f"If-None-Match: {etag}", f"{url}/crl/iss-local.crl")
    assert code == 304 and not (tmp / "304").exists() and f"etag: {etag}" in not_modified
    # A revocation makes the next download a new CRL, listing it, with the next number.
    serial = engine.revocation.serial_of(ids[0])
    engine.revocation.revoke(ids[0], "keyCompromise", actor=ALICE)
    code, _ = _curl("-o", str(tmp / "3.crl"), "-H", f"If-None-Match: {etag}", f"{url}/crl/iss-local.crl")
    assert code == 200
    text = _crl_text(tmp, tmp / "3.crl")
    assert serial.upper().lstrip("0") in text.replace(":", "").upper()
    assert "Key Compromise" in text
    assert int(text.split("X509v3 CRL Number:")[1].split()[0]) == int(number) + 1


def test_pem_variant_and_what_is_not_a_crl(served: tuple[Engine, Path, str, list[str]]) -> None:
    _engine, tmp, url, _ = served
    code, headers = _curl("-o", str(tmp / "c.pem"), f"{url}/crl/iss-local.pem")
    assert code == 200 and "content-type: application/x-pem-file" in headers
    assert (tmp / "c.pem").read_text().startswith("-----BEGIN X509 CRL-----")
    _crl_text(tmp, tmp / "c.pem", "PEM")
    _curl("-o", str(tmp / "c.der"), f"{url}/crl/iss-local.crl")
    der_text = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(tmp / "c.der"), "-outform", "PEM"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert der_text == (tmp / "c.pem").read_text()  # the same CRL in both encodings
    for path in ("/crl/no-such.crl", "/crl/iss-local.txt", "/crl/iss-local", "/crl/iss-empty.crl"):
        code, _ = _curl("-o", str(tmp / "x"), url + path)
        assert code == 404, path
    assert "no CA for issuer 'iss-empty'" in (tmp / "x").read_text()  # the last one says why, too


def test_the_scheduler_loop_re_signs_half_way_to_next_update(store_url: str, store_env: dict[str, str]) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        engine.ca.init("iss-local", actor=ALICE)
        loop = next(spec for spec in LOOPS if spec.name == "crl_refresh")
        first = loop.run(engine)
        assert loop.run(engine) == first  # nothing changed: the same CRL
        publisher = CRLPublisher(engine.context, engine.ca, engine.revocation)
        served_der = publisher.current("iss-local").der
        clock.advance(hours=11)
        assert loop.run(engine) == first
        clock.advance(hours=2)  # 13 h of 24: past the half
        second = loop.run(engine)
        assert second["iss-local"] == first["iss-local"] + 1
        fresh = CRLPublisher(engine.context, engine.ca, engine.revocation).current("iss-local")
        assert fresh.der != served_der and fresh.crl_number == second["iss-local"]
        assert fresh.this_update == clock.now
        ca = load_certificates(engine.ca.info("iss-local").certificate_pem.encode())[0]
        assert fresh.next_update > clock.now and ca.subject.rfc4514_string()


def test_cache_lifetimes_count_on_the_engines_clock(store_url: str, store_env: dict[str, str]) -> None:
    """A CRL and an OCSP answer signed on the engine's clock are cacheable for as long as that clock says,
    whatever the wall clock reads (here the engine runs two years behind it)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp
    from starlette.testclient import TestClient

    clock = Clock(datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
        cert = engine.certificates.create(name="a", common_name="a.example.test", issuer_id="iss-local", actor=ALICE)
        version = engine.issuance.issue(cert.id, actor=ALICE)
        with TestClient(build_app(engine, env={})) as client:
            crl = client.get("/crl/iss-local.crl")
            max_age = int(crl.headers["cache-control"].split("max-age=")[1].split(",")[0])
            assert crl.status_code == 200 and max_age > 0  # the wall clock would make it 0
            leaf, ca = load_certificates(version.pem_chain.encode())[:2]
            request = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, hashes.SHA1()).build()
            encoded = base64.b64encode(request.public_bytes(Encoding.DER)).decode()
            answer = client.get(f"/ocsp/iss-local/{encoded}")
            assert answer.status_code == 200
            max_age = int(answer.headers["cache-control"].split("max-age=")[1].split(",")[0])
            assert max_age > 600, answer.headers["cache-control"]
