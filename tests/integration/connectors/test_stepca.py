"""step-ca issuance through the engine, against a loopback stand-in that checks step-ca's API and token rules.

step-ca cannot run here; ``fake_stepca`` verifies every one-time token as step-ca's JWK
provisioner does (with jwcrypto, independent of the signing side) and answers with real
certificates from a test CA; openssl verifies what certctl stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwcrypto.jwa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fake_stepca import UNAUTHORIZED, FakeStepCA, Provisioner, make_provisioner_key
from jwcrypto import jwe, jwk
from loopback_ca import TestCA, closed_port_url
from openssl_judge import text_of, verify_chain

from certctl_engine.connectors.issuers import StepCAConnector, StepCASettings
from certctl_engine.domain import Actor, CertificateStatus
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput, IssuerError

ACTOR = Actor("alice")
NAME = "certctl@example.com"


@pytest.fixture(scope="module")
def test_ca() -> TestCA:
    return TestCA("Step Test")


@pytest.fixture
def provisioner() -> Provisioner:
    return Provisioner(NAME, make_provisioner_key())


@pytest.fixture
def stepca(test_ca: TestCA, provisioner: Provisioner, tmp_path: Path) -> Iterator[FakeStepCA]:
    server = FakeStepCA(
        test_ca, [provisioner, Provisioner("ops", make_provisioner_key())], test_ca.server_context(tmp_path)
    )
    yield server
    server.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}) as opened:
        yield opened


def config(stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "ca_url": stepca.url,
        "root_cert_path": stepca.ca.write_root(tmp_path / "step-root.pem"),
        "provisioner_name": provisioner.name,
        "provisioner_private_key": provisioner.key.export_private(),
        **extra,
    }


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))),
        json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))),
    )


def _nothing_stored(engine: Engine, cert_id: str, sequence: int) -> None:
    assert engine.certificates.list_versions(cert_id) == []
    assert engine.certificates.get(cert_id).current_version_id is None
    assert engine.audit.latest_sequence() == sequence


def test_issue_renew_and_revoke_through_step_ca(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    engine.issuers.create("step", "StepCA", config(stepca, provisioner, tmp_path), actor=ACTOR, id="iss-step")
    assert "provisioner_private_key" in engine.issuers.get("iss-step").secret_fields  # sealed at rest
    cert_id = engine.certificates.create(
        name="api", common_name="api.example.com", sans=("www.example.com",), issuer_id="iss-step", actor=ACTOR
    ).id

    first = engine.issuance.issue(cert_id, actor=ACTOR)

    sign = next(r for r in stepca.seen if r.path == "/1.0/sign")
    assert sign.method == "POST" and sign.headers["content-type"] == "application/json"
    body = sign.json()
    assert set(body) == {"csr", "ott", "notAfter"}
    header, claims = _claims(body["ott"])
    assert header == {"alg": "ES256", "kid": provisioner.kid, "typ": "JWT"}
    assert claims["iss"] == NAME and claims["aud"] == f"{stepca.url}/1.0/sign"
    assert claims["sub"] == "api.example.com" and claims["sans"] == ["api.example.com", "www.example.com"]
    assert claims["exp"] - claims["nbf"] == 300 and claims["iat"] == claims["nbf"] and len(claims["jti"]) == 64
    assert claims["sha"] == hashlib.sha256(stepca.ca.root.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert stepca.refusals == []
    # Stored: step-ca's leaf and its intermediate; openssl accepts the chain up to the root.
    verify_chain(first.pem_chain, stepca.ca.root_pem(), tmp_path / "v1")
    assert first.pem_chain.count("BEGIN CERTIFICATE") == 2
    assert "DNS:api.example.com, DNS:www.example.com" in text_of(first.pem_chain)
    assert int(first.serial_number, 16) == stepca.signed[0].serial_number
    # The default lifetime is step-ca's own default, a day, so a stock provisioner accepts it.
    assert abs((first.not_after - first.not_before).total_seconds() - 86_460) < 120

    second = engine.issuance.renew(cert_id, actor=ACTOR)
    assert second.serial_number != first.serial_number
    assert len(stepca.used_jti) == 2  # a fresh one-time token each time

    engine.revocation.revoke(cert_id, "keyCompromise", actor=ACTOR)
    serial = str(int(second.serial_number, 16))
    assert stepca.revoked == {serial: (1, "keyCompromise")}
    revoke = [r for r in stepca.seen if r.path == "/1.0/revoke"][-1].json()
    assert revoke["passive"] is True and revoke["serial"] == serial
    _, revoke_claims = _claims(revoke["ott"])
    assert revoke_claims["sub"] == serial and revoke_claims["aud"] == f"{stepca.url}/1.0/revoke"
    assert "sans" not in revoke_claims
    assert engine.certificates.get(cert_id).status is CertificateStatus.REVOKED


def test_a_refused_revocation_records_nothing(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    engine.issuers.create("step", "StepCA", config(stepca, provisioner, tmp_path), actor=ACTOR, id="iss-step")
    cert_id = engine.certificates.create(name="a", common_name="a.example.com", issuer_id="iss-step", actor=ACTOR).id
    version = engine.issuance.issue(cert_id, actor=ACTOR)
    stepca.revoked[str(int(version.serial_number, 16))] = (0, "")  # revoked at the CA behind certctl's back
    with pytest.raises(IssuerError, match="has already been revoked") as raised:
        engine.revocation.revoke(cert_id, "superseded", actor=ACTOR)
    assert "HTTP 400" in raised.value.message
    assert engine.certificates.get(cert_id).status is not CertificateStatus.REVOKED


@pytest.fixture
def step_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    """jwcrypto caps PBES2 at 16,384 iterations; the step CLI uses 100,000, so the test lifts the cap to make one."""
    monkeypatch.setattr(jwcrypto.jwa, "default_max_pbkdf2_iterations", 100_000)


def _step_jwe(key: jwk.JWK, password: str, *, compact: bool) -> str:
    """The key encrypted as step-ca keeps it (``encryptedKey``) or as ``step crypto jwk create`` writes it."""
    protected = {
        "alg": "PBES2-HS256+A128KW",
        "enc": "A256GCM",
        "cty": "jwk+json",
        "p2c": 100_000,
        "p2s": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
    }
    token = jwe.JWE(key.export_private().encode(), protected=json.dumps(protected))
    token.add_recipient(jwk.JWK.from_password(password))
    return str(token.serialize(compact=compact))


@pytest.mark.usefixtures("step_iterations")
def test_encrypted_provisioner_keys_as_step_keeps_them(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    compact = _step_jwe(provisioner.key, "correct horse", compact=True)
    assert compact.count(".") == 4
    provisioner.encrypted_key = compact
    engine.issuers.create(
        "step enc",
        "StepCA",
        config(stepca, provisioner, tmp_path, provisioner_private_key=compact, provisioner_password="correct horse"),
        actor=ACTOR,
        id="iss-enc",
    )
    assert set(engine.issuers.get("iss-enc").secret_fields) == {"provisioner_password", "provisioner_private_key"}
    cert_id = engine.certificates.create(name="e", common_name="enc.example.com", issuer_id="iss-enc", actor=ACTOR).id
    verify_chain(engine.issuance.issue(cert_id, actor=ACTOR).pem_chain, stepca.ca.root_pem(), tmp_path / "v")

    # The JSON form in a file, read through provisioner_key_path.
    key_file = tmp_path / "provisioner.json"
    key_file.write_text(_step_jwe(provisioner.key, "pw2", compact=False))
    settings = StepCASettings.from_config(
        {**config(stepca, provisioner, tmp_path), "provisioner_private_key": None}
        | {"provisioner_key_path": str(key_file), "provisioner_password": "pw2"}
    )
    assert "matches the configured key" in StepCAConnector(settings).check()

    # A wrong password is refused when given, naming the field, and nothing is created.
    with pytest.raises(InvalidInput) as raised:
        engine.issuers.create(
            "bad",
            "StepCA",
            config(stepca, provisioner, tmp_path, provisioner_private_key=compact, provisioner_password="wrong"),
            actor=ACTOR,
        )
    assert raised.value.field == "provisioner_password" and "does not decrypt" in raised.value.message
    assert [i.id for i in engine.issuers.list()] == ["iss-enc"]
    with pytest.raises(InvalidInput, match="provisioner_password"):
        StepCASettings.from_config(config(stepca, provisioner, tmp_path, provisioner_private_key=compact)).key()


def test_a_pem_provisioner_key_signs_with_its_thumbprint_as_kid(
    stepca: FakeStepCA, test_ca: TestCA, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    public = jwk.JWK.from_pyca(key.public_key())
    stepca.provisioners.append(
        Provisioner("pem", jwk.JWK(**{**json.loads(public.export_public()), "kid": public.thumbprint()}))
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pem-pw")
    ).decode()
    connector = StepCAConnector(
        StepCASettings.from_config(
            {
                "ca_url": stepca.url,
                "root_cert_path": test_ca.write_root(tmp_path / "root.pem"),
                "provisioner_name": "pem",
                "provisioner_private_key": pem_key,
                "provisioner_password": "pem-pw",
            }
        )
    )
    assert connector.provisioner_key.kid == public.thumbprint() and connector.provisioner_key.algorithm == "ES384"
    assert "matches the configured key" in connector.check()
    token = connector.token("x.example.com", f"{stepca.url}/1.0/sign", ["x.example.com"])
    assert _claims(token)[0]["alg"] == "ES384"


def test_roots_and_root_by_fingerprint(stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path) -> None:
    connector = StepCAConnector(StepCASettings.from_config(config(stepca, provisioner, tmp_path)))
    assert connector.roots() == [stepca.ca.root]
    sha = hashlib.sha256(stepca.ca.root.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert connector.root(sha) == stepca.ca.root
    with pytest.raises(IssuerError, match="HTTP 404"):
        connector.root("00" * 32)


def test_test_issuer_says_precisely_what_is_wrong(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    good = config(stepca, provisioner, tmp_path)
    cases = {
        "ok": good,
        "name": {**good, "provisioner_name": "nobody"},
        "key": {**good, "provisioner_private_key": make_provisioner_key().export_private()},
        "tls": {k: v for k, v in good.items() if k != "root_cert_path"},
        "down": {**good, "ca_url": closed_port_url()},
        "incomplete": {"ca_url": stepca.url},
    }
    results = {}
    for label, cfg in cases.items():
        engine.issuers.create(label, "StepCA", cfg, actor=ACTOR, id=f"iss-{label}")
        results[label] = engine.issuance.test_issuer(f"iss-{label}", actor=ACTOR)
    assert results["ok"].ok, results["ok"].message
    assert f"JWK provisioner '{NAME}' (kid {provisioner.kid}) matches" in results["ok"].message
    assert not any(r.ok for label, r in results.items() if label != "ok")
    assert f"no provisioner named 'nobody' (it has: {NAME}, ops)" in results["name"].message
    assert f"is not the key of step-ca provisioner '{NAME}' (kid {provisioner.kid})" in results["key"].message
    assert "TLS to step-ca" in results["tls"].message and "root_cert_path" in results["tls"].message
    assert "certificate verify failed" in results["tls"].message
    assert results["down"].message.startswith("cannot reach step-ca at https://127.0.0.1:")
    assert results["incomplete"].message == (
        "configuration: a step-ca issuer needs provisioner_name (the name of the JWK provisioner tokens are signed for)"
    )


def test_a_refused_token_keeps_step_cas_words_and_stores_nothing(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    engine.issuers.create(
        "step", "StepCA", config(stepca, provisioner, tmp_path, provisioner_kid="not-the-kid"), actor=ACTOR, id="iss-s"
    )
    cert_id = engine.certificates.create(name="r", common_name="r.example.com", issuer_id="iss-s", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError) as raised:
        engine.issuance.issue(cert_id, actor=ACTOR)
    assert raised.value.message == f"step-ca refused signing the certificate (HTTP 401): {UNAUTHORIZED}"
    assert "provisioner_name" in (raised.value.hint or "")
    assert stepca.refusals == [f"provisioner not found or invalid audience: iss='{NAME}' kid='not-the-kid'"]
    _nothing_stored(engine, cert_id, sequence)


def test_a_lifetime_over_the_provisioners_maximum_is_refused_in_step_cas_words(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    engine.issuers.create(
        "step", "StepCA", config(stepca, provisioner, tmp_path, validity_days=90), actor=ACTOR, id="iss-long"
    )
    cert_id = engine.certificates.create(name="l", common_name="l.example.com", issuer_id="iss-long", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError) as raised:
        engine.issuance.issue(cert_id, actor=ACTOR)
    assert "(HTTP 403): The request was forbidden by the certificate authority: requested duration of" in str(
        raised.value
    )
    assert "more than the authorized maximum certificate duration of 1 day, 0:01:00" in raised.value.message
    _nothing_stored(engine, cert_id, sequence)


def test_a_certificate_for_another_key_is_not_stored(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.issuers.create("step", "StepCA", config(stepca, provisioner, tmp_path), actor=ACTOR, id="iss-step")
    cert_id = engine.certificates.create(name="k", common_name="k.example.com", issuer_id="iss-step", actor=ACTOR).id
    other = ec.generate_private_key(ec.SECP256R1())
    real_sign = stepca.ca.sign_csr

    def wrong_key(csr: x509.CertificateSigningRequest, not_after: Any) -> x509.Certificate:
        leaf = real_sign(csr, not_after)
        return stepca.ca.sign(other.public_key(), "k.example.com", [], leaf.not_valid_after_utc)

    monkeypatch.setattr(stepca.ca, "sign_csr", wrong_key)
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError, match="returned a certificate for another key"):
        engine.issuance.issue(cert_id, actor=ACTOR)
    _nothing_stored(engine, cert_id, sequence)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ca_url": "ftp://ca.example.com"}, "ca_url", "is not a https:// URL"),
        ({"root_cert_path": "/nonexistent/root.pem"}, "root_cert_path", "no file at /nonexistent/root.pem"),
        ({"provisioner_private_key": "not a key"}, "provisioner_private_key", "neither a JWK, a JWE nor a PEM"),
        ({"provisioner_private_key": '{"kty": "EC"}'}, "provisioner_private_key", "public JWK"),
        ({"provisioner_key_path": "/nonexistent/key.json"}, "provisioner_key_path", "no file at"),
        ({"validity_days": "ten"}, "validity_days", "whole number of days"),
        ({"provisioner_name": 7}, "provisioner_name", "must be text"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    engine: Engine,
    stepca: FakeStepCA,
    provisioner: Provisioner,
    tmp_path: Path,
    changes: dict[str, Any],
    field: str,
    words: str,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        engine.issuers.create("bad", "StepCA", {**config(stepca, provisioner, tmp_path), **changes}, actor=ACTOR)
    assert raised.value.field == field and words in raised.value.message
    assert engine.issuers.list() == []


def test_a_token_signed_by_another_key_under_the_right_kid_is_refused(
    engine: Engine, stepca: FakeStepCA, provisioner: Provisioner, tmp_path: Path
) -> None:
    impostor = make_provisioner_key().export_private()
    engine.issuers.create(
        "step",
        "StepCA",
        config(stepca, provisioner, tmp_path, provisioner_private_key=impostor, provisioner_kid=provisioner.kid),
        actor=ACTOR,
        id="iss-imp",
    )
    cert_id = engine.certificates.create(name="i", common_name="i.example.com", issuer_id="iss-imp", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError, match=r"\(HTTP 401\)"):
        engine.issuance.issue(cert_id, actor=ACTOR)
    assert stepca.refusals == ["jwk.authorizeToken; error parsing jwk claims: invalid signature"]
    _nothing_stored(engine, cert_id, sequence)
    # test_issuer sees it before any token is sent: the published key is not the configured one.
    check = engine.issuance.test_issuer("iss-imp", actor=ACTOR)
    assert not check.ok and "does not match the public key step-ca publishes" in check.message
