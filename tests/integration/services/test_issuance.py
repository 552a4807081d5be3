"""Issuing, renewing, revoking and exporting through the engine, judged by the real openssl binary."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from certctl_engine.domain import Actor, CertificateStatus, RevocationReason
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, PolicyViolation
from certctl_engine.pki import build_csr, generate_private_key, load_certificates
from certctl_engine.pki.keys import KeySpec, private_key_to_pem
from certctl_engine.store.models import CertificateVersionModel, RevocationModel


def openssl(*args: str, cwd: Path, input: bytes | None = None) -> str:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, input=input, check=False)
    out = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{out}"
    return out


@pytest.fixture
def pki(engine: Engine, actor: Actor) -> Engine:
    engine.issuers.create(
        "Local CA",
        "GenericCA",
        {
            "validity_days": 60,
            "crl_url": "http://pki.example.com/crl/iss-local.crl",
            "ocsp_url": "http://pki.example.com/ocsp/iss-local",
        },
        actor=actor,
        id="iss-local",
    )
    engine.profiles.create(
        "Standard", actor=actor, id="prof-tls", max_ttl_seconds=90 * 86400, allowed_ekus=["serverAuth", "clientAuth"]
    )
    engine.profiles.create(
        "High",
        actor=actor,
        id="prof-high",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 384}],
        max_ttl_seconds=47 * 86400,
    )
    engine.profiles.create("S/MIME", actor=actor, id="prof-smime", allowed_ekus=["emailProtection"])
    engine.profiles.create(
        "Short", actor=actor, id="prof-short", max_ttl_seconds=300, allow_short_lived=True, allowed_ekus=["clientAuth"]
    )
    return engine


@pytest.fixture
def register(pki: Engine, actor: Actor) -> Callable[..., str]:
    def make(name: str, cn: str, sans: tuple[str, ...] = (), profile: str | None = "prof-tls") -> str:
        return pki.certificates.create(
            name=name, common_name=cn, sans=sans, issuer_id="iss-local", certificate_profile_id=profile, actor=actor
        ).id

    return make


def _write_chain(engine: Engine, cert_id: str, tmp_path: Path) -> None:
    version = engine.certificates.current_version(cert_id)
    assert version is not None
    certs = version.pem_chain.split("-----END CERTIFICATE-----")
    leaf = certs[0] + "-----END CERTIFICATE-----\n"
    (tmp_path / "leaf.pem").write_text(leaf)
    (tmp_path / "root.pem").write_text(engine.ca.info("iss-local").certificate_pem)


def test_issued_leaf_verifies_and_shows_what_was_asked(pki: Engine, register, actor: Actor, tmp_path: Path) -> None:
    cert_id = register("api", "api.example.com", ("www.example.com", "10.0.0.5"))
    version = pki.issuance.issue(cert_id, actor=actor)
    assert version.has_private_key and version.key_algorithm.value == "ECDSA" and version.key_size == 256
    _write_chain(pki, cert_id, tmp_path)
    assert "leaf.pem: OK" in openssl("verify", "-CAfile", "root.pem", "leaf.pem", cwd=tmp_path)
    text = openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=tmp_path)
    for expected in (
        "DNS:api.example.com",
        "DNS:www.example.com",
        "IP Address:10.0.0.5",
        "TLS Web Server Authentication",
        "TLS Web Client Authentication",
        "Digital Signature",
        "URI:http://pki.example.com/crl/iss-local.crl",
        "OCSP - URI:http://pki.example.com/ocsp/iss-local",
    ):
        assert expected in text
    cert = pki.certificates.get(cert_id)
    assert cert.status is CertificateStatus.ACTIVE and cert.current_version_id == version.id
    # The default lifetime is the issuer's 60 days, within the profile's 90.
    assert 59 <= (version.not_after - version.not_before).days <= 60
    assert pki.audit.list(resource_id=cert_id).items[0].action == "certificate_issued"


def test_smime_certificate_carries_email_protection(pki: Engine, register, actor: Actor, tmp_path: Path) -> None:
    cert_id = register("alice-mail", "Alice Chen", ("alice@example.com",), profile="prof-smime")
    pki.issuance.issue(cert_id, actor=actor)
    _write_chain(pki, cert_id, tmp_path)
    text = openssl("x509", "-in", "leaf.pem", "-noout", "-text", cwd=tmp_path)
    assert "E-mail Protection" in text and "email:alice@example.com" in text
    assert "Non Repudiation" in text


def test_issue_from_a_csr_keeps_the_key_outside(pki: Engine, register, actor: Actor, tmp_path: Path) -> None:
    cert_id = register("edge", "edge.example.com")
    key = generate_private_key(KeySpec.parse("rsa2048"))
    csr = build_csr(key, "edge.example.com", ["edge.example.com"])
    from cryptography.hazmat.primitives.serialization import Encoding

    version = pki.issuance.issue(cert_id, actor=actor, csr_pem=csr.public_bytes(Encoding.PEM))
    assert not version.has_private_key
    assert version.key_algorithm.value == "RSA" and version.key_size == 2048
    leaf = load_certificates(version.pem_chain.encode())[0]
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    with pytest.raises(Conflict, match="holds no private key"):
        pki.exchange.export_pem(cert_id, actor=actor, include_key=True, passphrase=b"x")


def test_renewal_adds_a_version_and_keeps_history(pki: Engine, register, actor: Actor) -> None:
    cert_id = register("api", "api.example.com")
    first = pki.issuance.issue(cert_id, actor=actor)
    second = pki.issuance.renew(cert_id, actor=actor, key_spec=KeySpec.parse("ecdsa-p384"))
    assert [v.id for v in pki.certificates.list_versions(cert_id)] == [second.id, first.id]
    assert second.serial_number != first.serial_number and second.key_size == 384
    cert = pki.certificates.get(cert_id)
    assert cert.current_version_id == second.id and cert.last_renewal_at is not None
    with pytest.raises(Conflict, match="already issued"):
        pki.issuance.issue(cert_id, actor=actor)


@pytest.mark.parametrize(
    ("profile", "kwargs", "error", "words"),
    [
        ("prof-high", {"key_spec": KeySpec.parse("ecdsa-p256")}, PolicyViolation, "not allowed by profile 'High'"),
        ("prof-high", {"ttl_seconds": 48 * 86400}, PolicyViolation, "exceeds the 4060800s maximum"),
        ("prof-tls", {"csr_pem": b"garbage"}, InvalidInput, "not a certificate signing request"),
    ],
)
def test_refusals_leave_nothing_behind(
    pki: Engine, register, actor: Actor, profile: str, kwargs: dict, error: type, words: str
) -> None:
    cert_id = register("x", "x.example.com", profile=profile)
    before = pki.audit.latest_sequence()
    with pytest.raises(error) as info:
        pki.issuance.issue(cert_id, actor=actor, **kwargs)
    assert words in str(info.value)
    assert CertificateVersionModel.select().count() == 0
    assert pki.certificates.get(cert_id).status is CertificateStatus.PENDING
    # Only the CA's own creation (on first use) may have been recorded.
    assert {e.action for e in pki.audit.list().items if e.sequence > before} <= {"ca_created"}


def test_email_san_without_email_protection_is_a_policy_violation(pki: Engine, register, actor: Actor) -> None:
    cert_id = register("mail", "mail.example.com", ("ops@example.com",))
    with pytest.raises(PolicyViolation, match="emailProtection") as info:
        pki.issuance.issue(cert_id, actor=actor)
    assert info.value.rule == "allowed_ekus"
    assert CertificateVersionModel.select().count() == 0


def test_broken_csr_signature_is_refused(pki: Engine, register, actor: Actor) -> None:
    cert_id = register("edge", "edge.example.com")
    from cryptography.hazmat.primitives.serialization import Encoding

    der = bytearray(build_csr(generate_private_key(), "edge.example.com", []).public_bytes(Encoding.DER))
    der[-5] ^= 0xFF
    with pytest.raises(InvalidInput, match="signature"):
        pki.issuance.issue(cert_id, actor=actor, csr_pem=bytes(der))
    assert CertificateVersionModel.select().count() == 0


def test_revoke_once_then_crl_and_ocsp(pki: Engine, register, actor: Actor, tmp_path: Path) -> None:
    cert_id = register("api", "api.example.com")
    version = pki.issuance.issue(cert_id, actor=actor)
    revoked = pki.revocation.revoke(cert_id, RevocationReason.KEY_COMPROMISE, actor=actor)
    assert revoked.status is CertificateStatus.REVOKED and revoked.revocation_reason is RevocationReason.KEY_COMPROMISE
    with pytest.raises(Conflict, match="already revoked"):
        pki.revocation.revoke(cert_id, "superseded", actor=actor)
    assert RevocationModel.select().count() == 1
    with pytest.raises(InvalidInput, match="unknown revocation reason 'lost'"):
        pki.revocation.revoke(cert_id, "lost", actor=actor)
    (tmp_path / "first.crl").write_bytes(pki.revocation.crl("iss-local", actor=actor))
    (tmp_path / "crl.der").write_bytes(pki.revocation.crl("iss-local", actor=actor))
    _write_chain(pki, cert_id, tmp_path)
    text = openssl("crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text", cwd=tmp_path)
    assert version.serial_number.upper() in text.replace(":", "").upper()
    assert "Key Compromise" in text
    assert "X509v3 CRL Number" in text and "\n                2\n" in text  # the second CRL is number 2
    assert "verify OK" in openssl(
        "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "root.pem", "-noout", "-verify", cwd=tmp_path
    )
    check = pki.revocation.check("iss-local", version.serial_number)
    assert (check.status, check.reason) == ("revoked", RevocationReason.KEY_COMPROMISE)
    assert pki.revocation.check("iss-local", "abcdef").status == "unknown"


def test_ocsp_responses_verify_with_openssl(pki: Engine, register, actor: Actor, tmp_path: Path) -> None:
    good_id = register("good", "good.example.com")
    bad_id = register("bad", "bad.example.com")
    for cert_id in (good_id, bad_id):
        pki.issuance.issue(cert_id, actor=actor)
    pki.revocation.revoke(bad_id, RevocationReason.SUPERSEDED, actor=actor)
    (tmp_path / "root.pem").write_text(pki.ca.info("iss-local").certificate_pem)
    for cert_id, expected in ((good_id, "good"), (bad_id, "revoked")):
        version = pki.certificates.current_version(cert_id)
        assert version is not None
        (tmp_path / "leaf.pem").write_text(
            version.pem_chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        )
        openssl("ocsp", "-issuer", "root.pem", "-cert", "leaf.pem", "-reqout", "req.der", cwd=tmp_path)
        (tmp_path / "resp.der").write_bytes(
            pki.revocation.ocsp_response("iss-local", (tmp_path / "req.der").read_bytes())
        )
        # The status, checked against the certificate (openssl then builds its own request, so no nonce) ...
        out = openssl(
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "root.pem",
            "-cert",
            "leaf.pem",
            "-no_nonce",
            "-CAfile",
            "root.pem",
            "-resp_text",
            cwd=tmp_path,
        )
        assert "Response verify OK" in out
        assert f"leaf.pem: {expected}" in out
        # ... and the signature and echoed nonce, checked against the request we sent.
        out = openssl(
            "ocsp",
            "-respin",
            "resp.der",
            "-reqin",
            "req.der",
            "-CAfile",
            "root.pem",
            "-verify_other",
            "root.pem",
            cwd=tmp_path,
        )
        assert "Response verify OK" in out


def test_short_lived_certificates_stay_off_the_crl_and_expire(pki: Engine, register, actor: Actor) -> None:
    from datetime import timedelta

    cert_id = register("worker", "worker", ("spiffe://example.com/workload/w",), profile="prof-short")
    version = pki.issuance.issue(cert_id, actor=actor)
    assert (version.not_after - version.not_before) == timedelta(seconds=300)
    pki.revocation.revoke(cert_id, RevocationReason.KEY_COMPROMISE, actor=actor)
    from certctl_engine.pki.crl import load_crl

    crl = load_crl(pki.revocation.crl("iss-local", actor=actor))
    assert len(crl) == 0
    assert pki.revocation.check("iss-local", version.serial_number).status == "good"


def test_short_lived_expiry_marks_only_short_lived(store_url: str, store_env: dict[str, str], actor: Actor) -> None:
    from datetime import UTC, datetime, timedelta

    clock = [datetime.now(UTC)]
    with Engine.open(store_url, env=store_env, clock=lambda: clock[0]) as engine:
        engine.issuers.create("Local", "GenericCA", actor=actor, id="iss-local")
        engine.profiles.create(
            "Short",
            actor=actor,
            id="prof-short",
            max_ttl_seconds=300,
            allow_short_lived=True,
            allowed_ekus=["clientAuth"],
        )
        short = engine.certificates.create(
            name="w", common_name="w", issuer_id="iss-local", certificate_profile_id="prof-short", actor=actor
        ).id
        normal = engine.certificates.create(
            name="n", common_name="n.example.com", issuer_id="iss-local", actor=actor
        ).id
        engine.issuance.issue(short, actor=actor)
        engine.issuance.issue(normal, actor=actor, ttl_seconds=120)
        assert engine.lifecycle.expire_short_lived() == []
        clock[0] += timedelta(minutes=6)
        assert engine.lifecycle.expire_short_lived() == [short]
        assert engine.certificates.get(short).status is CertificateStatus.EXPIRED
        assert engine.certificates.get(normal).status is CertificateStatus.ACTIVE
        assert engine.audit.list(action="short_lived_cert_expired").items[0].resource_id == short


def test_exports_open_with_openssl(pki: Engine, register, actor: Actor, tmp_path: Path) -> None:
    cert_id = register("api", "api.example.com")
    pki.issuance.issue(cert_id, actor=actor)
    (tmp_path / "out.p12").write_bytes(pki.exchange.export_pkcs12(cert_id, b"s3cret", actor=actor, include_key=True))
    info = openssl("pkcs12", "-info", "-in", "out.p12", "-passin", "pass:s3cret", "-nokeys", cwd=tmp_path)
    assert "CN = api.example.com" in info
    bundle = pki.exchange.export_pem(cert_id, actor=actor, include_key=True, passphrase=b"pw")
    assert bundle.private_key is not None and "ENCRYPTED PRIVATE KEY" in bundle.private_key
    with pytest.raises(InvalidInput, match="passphrase"):
        pki.exchange.export_pem(cert_id, actor=actor, include_key=True)
    plain = pki.exchange.export_pem(cert_id, actor=actor)
    assert plain.private_key is None and plain.full_chain.count("BEGIN CERTIFICATE") == 2
    events = pki.audit.list(resource_id=cert_id).items
    assert [e.action for e in events[:3]] == ["export_pem", "export_pem", "export_pkcs12"]
    assert events[0].details["has_private_key"] is False and events[1].details["key_encrypted"] is True


def test_import_bundle_with_key(pki: Engine, actor: Actor, tmp_path: Path) -> None:
    key = generate_private_key()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Other CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    (tmp_path / "leaf.key").write_bytes(private_key_to_pem(key))
    openssl("req", "-new", "-key", "leaf.key", "-subj", "/CN=legacy.example.com", "-out", "leaf.csr", cwd=tmp_path)
    (tmp_path / "ext").write_text("subjectAltName=DNS:legacy.example.com\nbasicConstraints=CA:FALSE\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "20",
        "-extfile",
        "ext",
        "-out",
        "leaf.pem",
        cwd=tmp_path,
    )
    bundle = (tmp_path / "leaf.pem").read_bytes() + (tmp_path / "ca.pem").read_bytes()
    items = pki.exchange.import_pem(
        bundle, actor=actor, issuer_id="iss-local", key_pem=(tmp_path / "leaf.key").read_bytes()
    )
    assert len(items) == 1 and items[0].had_private_key
    cert = items[0].certificate
    assert cert.common_name == "legacy.example.com" and cert.status is CertificateStatus.EXPIRING
    versions = pki.certificates.list_versions(cert.id)
    assert len(versions) == 1 and versions[0].pem_chain.count("BEGIN CERTIFICATE") == 2
    with pytest.raises(Conflict, match="already managed"):
        pki.exchange.import_pem(bundle, actor=actor, issuer_id="iss-local")
    other = generate_private_key()
    with pytest.raises(InvalidInput, match="belongs to none"):
        pki.exchange.import_pem(
            (tmp_path / "leaf.pem").read_bytes(), actor=actor, issuer_id="iss-local", key_pem=private_key_to_pem(other)
        )
    with pytest.raises(InvalidInput, match="only CA certificates"):
        pki.exchange.import_pem((tmp_path / "ca.pem").read_bytes(), actor=actor, issuer_id="iss-local")
    assert pki.certificates.count() == 1


def test_leaves_never_outlive_the_ca_and_an_expired_ca_cannot_sign(
    store_url: str, store_env: dict[str, str], actor: Actor
) -> None:
    from datetime import UTC, datetime, timedelta

    from certctl_engine.errors import IssuerError

    clock = [datetime.now(UTC)]
    with Engine.open(store_url, env=store_env, clock=lambda: clock[0]) as engine:
        engine.issuers.create("Local", "GenericCA", {"validity_days": 90}, actor=actor, id="iss-local")
        engine.ca.init("iss-local", actor=actor, validity_days=30)
        ca_end = engine.ca.info("iss-local").not_after
        first = engine.certificates.create(name="a", common_name="a.example.com", issuer_id="iss-local", actor=actor)
        version = engine.issuance.issue(first.id, actor=actor)
        assert version.not_after == ca_end  # capped at the CA's own end, not 90 days out
        clock[0] += timedelta(days=31)
        second = engine.certificates.create(name="b", common_name="b.example.com", issuer_id="iss-local", actor=actor)
        with pytest.raises(IssuerError, match="cannot sign"):
            engine.issuance.issue(second.id, actor=actor)
        assert engine.certificates.current_version(second.id) is None
