"""Vault PKI issuance through the engine, against a loopback stand-in that checks Vault's documented API.

Vault cannot run here; ``fake_vault`` checks paths, the token and namespace headers and the
JSON bodies, answers in Vault's envelope (and its ``{"errors": [...]}`` shape) with real
certificates from a test CA; openssl verifies what certctl stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fake_vault import FakeVault, Role, vault_serial
from loopback_ca import TestCA, closed_port_url
from openssl_judge import text_of, verify_chain

from certctl_engine.connectors.issuers import VaultPKIConnector, VaultSettings
from certctl_engine.domain import Actor, CertificateStatus, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput, IssuerError

ACTOR = Actor("alice")
TOKEN = "hvs.certctl-good-token"


@pytest.fixture(scope="module")
def test_ca() -> TestCA:
    return TestCA("Vault Test")


@pytest.fixture
def vault(test_ca: TestCA, tmp_path: Path) -> Iterator[FakeVault]:
    server = FakeVault(
        test_ca,
        test_ca.server_context(tmp_path),
        roles={"web": Role(["example.com"]), "internal": Role(["corp.internal"])},
        tokens={TOKEN: ["*"], "hvs.read-only": []},
        namespace="team-a",
    )
    yield server
    server.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}) as opened:
        yield opened


def config(vault: FakeVault, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "address": vault.url,
        "role": "web",
        "token": TOKEN,
        "namespace": "team-a",
        "ca_bundle": vault.ca.write_root(tmp_path / "vault-root.pem"),
        **extra,
    }


def _nothing_stored(engine: Engine, cert_id: str, sequence: int) -> None:
    assert engine.certificates.list_versions(cert_id) == []
    assert engine.certificates.get(cert_id).current_version_id is None
    assert engine.audit.latest_sequence() == sequence


def test_sign_renew_and_revoke_through_vault(engine: Engine, vault: FakeVault, tmp_path: Path) -> None:
    engine.issuers.create("vault", "VaultPKI", config(vault, tmp_path), actor=ACTOR, id="iss-vault")
    assert engine.issuers.get("iss-vault").secret_fields == ("token",)  # sealed at rest, never shown
    cert_id = engine.certificates.create(
        name="shop",
        common_name="shop.example.com",
        sans=("cdn.example.com", "10.0.0.7"),
        issuer_id="iss-vault",
        actor=ACTOR,
    ).id

    first = engine.issuance.issue(cert_id, actor=ACTOR)

    sign = next(r for r in vault.seen if r.path == "/v1/pki/sign/web")
    assert sign.method == "POST"
    assert sign.headers["x-vault-token"] == TOKEN and sign.headers["x-vault-namespace"] == "team-a"
    body = sign.json()
    assert set(body) == {"csr", "common_name", "alt_names", "ip_sans", "ttl", "format"}
    assert body["common_name"] == "shop.example.com" and body["alt_names"] == "cdn.example.com"
    assert body["ip_sans"] == "10.0.0.7" and body["format"] == "pem"
    assert body["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert body["ttl"].endswith("s") and abs(int(body["ttl"][:-1]) - 90 * 86400) < 60  # the 90-day default
    # Vault capped the lifetime at the role's 30-day max_ttl (with a warning); certctl stores what it got.
    assert abs((first.not_after - datetime.now(UTC)).total_seconds() - 30 * 86400) < 120
    verify_chain(first.pem_chain, vault.ca.root_pem(), tmp_path / "v1")
    assert "IP Address:10.0.0.7" in text_of(first.pem_chain)
    assert vault_serial(int(first.serial_number, 16)) in vault.issued

    second = engine.issuance.renew(cert_id, actor=ACTOR)
    assert second.serial_number != first.serial_number

    engine.revocation.revoke(cert_id, "cessationOfOperation", actor=ACTOR)
    revoke = [r for r in vault.seen if r.path == "/v1/pki/revoke"][-1]
    assert revoke.json() == {"serial_number": vault_serial(int(second.serial_number, 16))}
    assert revoke.headers["x-vault-token"] == TOKEN
    assert vault.revoked == [vault_serial(int(second.serial_number, 16))]
    assert engine.certificates.get(cert_id).status is CertificateStatus.REVOKED


def test_issue_with_a_vault_made_key_and_the_ca_chain(vault: FakeVault, tmp_path: Path) -> None:
    connector = VaultPKIConnector(VaultSettings.from_config(config(vault, tmp_path)))
    assert "unsealed" in connector.check()
    issued, key = connector.issue_with_vault_key("app.example.com", ("api.example.com",), 3600)
    assert issued.leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == (
        key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    body = next(r for r in vault.seen if r.path == "/v1/pki/issue/web").json()
    assert body == {
        "common_name": "app.example.com",
        "alt_names": "api.example.com",
        "ttl": "3600s",
        "format": "pem",
        "private_key_format": "pkcs8",
    }
    assert connector.ca_chain() == [vault.ca.intermediate, vault.ca.root]
    chain_request = next(r for r in vault.seen if r.path == "/v1/pki/ca_chain")
    assert "x-vault-token" not in chain_request.headers  # the chain is public; the token is not sent
    assert chain_request.headers["x-vault-namespace"] == "team-a"
    health = next(r for r in vault.seen if r.path.startswith("/v1/sys/health"))
    assert "x-vault-namespace" not in health.headers and "x-vault-token" not in health.headers


def test_test_issuer_says_precisely_what_is_wrong(engine: Engine, vault: FakeVault, tmp_path: Path) -> None:
    good = config(vault, tmp_path)
    cases = {
        "ok": good,
        "token": {**good, "token": "hvs.revoked"},
        "role": {**good, "role": "nope"},
        "policy": {**good, "token": "hvs.read-only"},
        "tls": {k: v for k, v in good.items() if k != "ca_bundle"},
        "down": {**good, "address": closed_port_url()},
        "incomplete": {"address": vault.url, "token": TOKEN},
    }
    results = {}
    for label, cfg in cases.items():
        engine.issuers.create(label, "VaultPKI", cfg, actor=ACTOR, id=f"iss-{label}")
        results[label] = engine.issuance.test_issuer(f"iss-{label}", actor=ACTOR)
    assert results["ok"].ok, results["ok"].message
    assert results["ok"].message == (
        f"Vault 1.17.2 at {vault.url} unsealed; token 'token-certctl' valid (expires in 3600s); role 'web' "
        "signable on mount 'pki', CA chain of 2 certificate(s)"
    )
    assert not any(r.ok for label, r in results.items() if label != "ok")
    assert results["token"].message == (
        "Vault refused looking up the token (HTTP 403): permission denied; "
        "the token is invalid, expired, or has no policy allowing 'auth/token/lookup-self'"
    )
    assert results["role"].message == (
        "Vault has no role 'nope' on PKI mount 'pki' (HTTP 404); set role to an existing role"
    )
    assert "may not sign at 'pki/sign/web' (capabilities: deny)" in results["policy"].message
    assert "TLS to Vault" in results["tls"].message and "certificate verify failed" in results["tls"].message
    assert "ca_bundle" in results["tls"].message
    assert results["down"].message.startswith("cannot reach Vault at https://127.0.0.1:")
    assert results["incomplete"].message == (
        "configuration: a Vault PKI issuer needs role (the PKI role certificates are signed under)"
    )

    vault.sealed = True
    sealed = engine.issuance.test_issuer("iss-ok", actor=ACTOR)
    assert not sealed.ok
    assert sealed.message == f"Vault is sealed: unseal it (Vault at {vault.url} answered sys/health with HTTP 503)"


def test_vaults_errors_are_kept_verbatim_and_nothing_is_stored(
    engine: Engine, vault: FakeVault, tmp_path: Path
) -> None:
    engine.issuers.create("vault", "VaultPKI", config(vault, tmp_path), actor=ACTOR, id="iss-vault")
    engine.issuers.create("wrong role", "VaultPKI", config(vault, tmp_path, role="nope"), actor=ACTOR, id="iss-nope")
    evil = engine.certificates.create(name="evil", common_name="evil.org", issuer_id="iss-vault", actor=ACTOR).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(IssuerError) as raised:
        engine.issuance.issue(evil, actor=ACTOR)
    assert raised.value.message == (
        "Vault refused signing the certificate (HTTP 400): common name evil.org not allowed by this role"
    )
    _nothing_stored(engine, evil, sequence)

    # Through the job runner: the job fails with Vault's words, and another certificate still issues.
    bad = engine.certificates.create(  # its job comes below, with a single attempt
        name="bad", common_name="bad.example.com", issuer_id="iss-nope", actor=ACTOR, queue_issuance=False
    ).id
    good = engine.certificates.create(
        name="good", common_name="good.example.com", issuer_id="iss-vault", actor=ACTOR
    ).id
    bad_job = engine.jobs.create(JobType.ISSUANCE, bad, actor=ACTOR, max_attempts=1)
    good_job = engine.jobs.active_for(good, JobType.ISSUANCE)
    engine.renewal.process_due()
    failed = engine.jobs.get(bad_job.id)
    assert failed.status is JobStatus.FAILED
    assert "Vault refused signing the certificate (HTTP 400): unknown role: nope" in (failed.last_error or "")
    assert engine.certificates.list_versions(bad) == []
    assert engine.jobs.get(good_job.id).status is JobStatus.COMPLETED


def test_a_bad_token_on_revoke_records_nothing(engine: Engine, vault: FakeVault, tmp_path: Path) -> None:
    engine.issuers.create("vault", "VaultPKI", config(vault, tmp_path), actor=ACTOR, id="iss-vault")
    cert_id = engine.certificates.create(name="a", common_name="a.example.com", issuer_id="iss-vault", actor=ACTOR).id
    engine.issuance.issue(cert_id, actor=ACTOR)
    del vault.tokens[TOKEN]  # the token was revoked in Vault meanwhile
    with pytest.raises(IssuerError, match=r"^Vault refused revoking serial [0-9a-f:]+ \(HTTP 403\): permission denied"):
        engine.revocation.revoke(cert_id, "keyCompromise", actor=ACTOR)
    assert engine.certificates.get(cert_id).status is CertificateStatus.ACTIVE
    assert engine.revocation.list_revocations() == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"address": "ftp://vault.example.com"}, "address", "is not a https:// or http:// URL"),
        ({"mount": "pki?x=1"}, "mount", "is not a Vault path segment"),
        ({"role": "../sys"}, "role", "is not a Vault path segment"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle", "no file at /nonexistent/ca.pem"),
        ({"timeout_seconds": -1}, "timeout_seconds", "number of seconds"),
        ({"token": ["a"]}, "token", "must be text"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    engine: Engine, vault: FakeVault, tmp_path: Path, changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        engine.issuers.create("bad", "VaultPKI", {**config(vault, tmp_path), **changes}, actor=ACTOR)
    assert raised.value.field == field and words in raised.value.message
    assert engine.issuers.list() == []


def test_a_ca_bundle_without_certificates_is_refused(engine: Engine, vault: FakeVault, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(InvalidInput) as raised:
        engine.issuers.create("bad", "VaultPKI", config(vault, tmp_path, ca_bundle=str(junk)), actor=ACTOR)
    assert raised.value.field == "ca_bundle" and "holds no usable PEM certificate" in raised.value.message


def test_key_source_vault_issues_through_the_engine_with_the_key_vault_made(
    engine: Engine, vault: FakeVault, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from certctl_engine.errors import PolicyViolation

    engine.issuers.create("vault", "VaultPKI", config(vault, tmp_path, key_source="vault"), actor=ACTOR, id="iss-v")
    cert_id = engine.certificates.create(
        name="app", common_name="app.example.com", sans=("api.example.com",), issuer_id="iss-v", actor=ACTOR
    ).id
    version = engine.issuance.issue(cert_id, actor=ACTOR)
    paths = [r.path for r in vault.seen if r.method == "POST"]
    assert "/v1/pki/issue/web" in paths and "/v1/pki/sign/web" not in paths
    key = load_pem_private_key(engine.certificates.private_key_pem(version.id) or b"", None)
    leaf_key = text_of(version.pem_chain)  # openssl reads the stored chain
    assert "Public Key Algorithm: id-ecPublicKey" in leaf_key
    assert key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == (
        x509_leaf(version.pem_chain).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    assert (version.key_algorithm.value, version.key_size) == ("ECDSA", 256)
    verify_chain(version.pem_chain, vault.ca.root_pem(), tmp_path / "vault-made")

    # A profile that forbids the key Vault makes refuses the certificate, and nothing is stored.
    engine.profiles.create(
        "rsa only", actor=ACTOR, id="prof-rsa", allowed_key_algorithms=[{"algorithm": "RSA", "min_size": 2048}]
    )
    other = engine.certificates.create(
        name="rsa", common_name="rsa.example.com", issuer_id="iss-v", certificate_profile_id="prof-rsa", actor=ACTOR
    ).id
    sequence = engine.audit.latest_sequence()
    with pytest.raises(PolicyViolation, match="ECDSA"):
        engine.issuance.issue(other, actor=ACTOR, key_spec=None)
    _nothing_stored(engine, other, sequence)
    with pytest.raises(InvalidInput, match="key_source 'hsm'"):
        engine.issuers.create("bad", "VaultPKI", config(vault, tmp_path, key_source="hsm"), actor=ACTOR)


def x509_leaf(pem_chain: str):  # type: ignore[no-untyped-def]
    from cryptography import x509

    return x509.load_pem_x509_certificates(pem_chain.encode())[0]
