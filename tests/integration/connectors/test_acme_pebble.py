"""ACME issuance against a real ACME server (pebble) on loopback: HTTP-01, DNS-01, wildcard, renew, revoke, EAB."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from acme_server import Pebble, free_port, missing_binaries

from certctl_engine.domain import Actor, CertificateStatus, JobStatus, JobType
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput, IssuerError

pytestmark = pytest.mark.skipif(
    bool(missing_binaries()) and not os.environ.get("CI"),
    reason=f"needs {', '.join(missing_binaries())} (Debian packages pebble, openssl)",
)
ACTOR = Actor("alice")


@pytest.fixture
def acme(pebble: Pebble, tmp_path: Path) -> Iterator[Engine]:
    with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}) as engine:
        base = {"directory_url": pebble.directory_url, "ca_bundle": pebble.ca_bundle, "email": "pki@example.com"}
        engine.issuers.create(
            "pebble http", "ACME", {**base, "http_address": f"127.0.0.1:{pebble.http_port}"}, actor=ACTOR, id="iss-http"
        )
        engine.issuers.create(
            "pebble dns",
            "ACME",
            {
                **base,
                "challenge_type": "dns-01",
                "dns_present_command": pebble.set_txt_command(),
                "dns_cleanup_command": pebble.clear_txt_command(),
                "dns_propagation_seconds": 0,
            },
            actor=ACTOR,
            id="iss-dns",
        )
        yield engine


def _register(engine: Engine, name: str, cn: str, issuer: str, sans: tuple[str, ...] = ()) -> str:
    return engine.certificates.create(name=name, common_name=cn, sans=sans, issuer_id=issuer, actor=ACTOR).id


def _verify(pebble: Pebble, pem_chain: str, tmp_path: Path) -> None:
    """openssl, as an independent judge, accepts the chain up to the root pebble publishes."""
    (tmp_path / "root.pem").write_text(pebble.root_pem())
    marker = "-----END CERTIFICATE-----\n"
    leaf, _, rest = pem_chain.partition(marker)
    (tmp_path / "leaf.pem").write_text(leaf + marker)
    (tmp_path / "chain.pem").write_text(rest)
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_http01_issue_renew_and_revoke(acme: Engine, pebble: Pebble, tmp_path: Path) -> None:
    cert_id = _register(acme, "web", "web.example.com", "iss-http", ("www.example.com",))
    first = acme.issuance.issue(cert_id, actor=ACTOR)
    _verify(pebble, first.pem_chain, tmp_path)
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=first.pem_chain, capture_output=True, text=True
    ).stdout
    assert "DNS:web.example.com" in text and "DNS:www.example.com" in text
    # The account was registered once and kept, sealed, on the issuer.
    issuer = acme.issuers.get("iss-http")
    assert "account_private_key" in issuer.secret_fields and issuer.config["account_url"].startswith("https://")

    second = acme.issuance.renew(cert_id, actor=ACTOR)
    assert second.serial_number != first.serial_number
    assert acme.issuers.get("iss-http").config["account_url"] == issuer.config["account_url"]  # account reused

    acme.revocation.revoke(cert_id, "keyCompromise", actor=ACTOR)
    assert acme.certificates.get(cert_id).status is CertificateStatus.REVOKED
    assert pebble.certificate_status(second.serial_number)["Status"] == "Revoked"


def test_dns01_and_a_wildcard(acme: Engine, pebble: Pebble, tmp_path: Path) -> None:
    cert_id = _register(acme, "wild", "*.apps.example.com", "iss-dns", ("apps.example.com",))
    version = acme.issuance.issue(cert_id, actor=ACTOR)
    _verify(pebble, version.pem_chain, tmp_path)
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"], input=version.pem_chain, capture_output=True, text=True
    ).stdout
    assert "DNS:*.apps.example.com" in text


def test_a_wildcard_over_http01_is_refused_with_the_fix(acme: Engine) -> None:
    cert_id = _register(acme, "wild-http", "*.web.example.com", "iss-http")
    with pytest.raises(IssuerError, match="dns-01"):
        acme.issuance.issue(cert_id, actor=ACTOR)


def test_a_failing_challenge_fails_the_job_with_the_cas_words_and_others_still_issue(
    acme: Engine, pebble: Pebble
) -> None:
    # A DNS hook that succeeds but sets nothing: pebble finds no TXT record and says so.
    acme.issuers.create(
        "pebble dns broken",
        "ACME",
        {
            "directory_url": pebble.directory_url,
            "ca_bundle": pebble.ca_bundle,
            "challenge_type": "dns-01",
            "dns_present_command": ["true"],
            "dns_propagation_seconds": 0,
            "timeout_seconds": 30,
        },
        actor=ACTOR,
        id="iss-broken",
    )
    bad = acme.certificates.create(  # its job comes below, with a single attempt
        name="bad", common_name="bad.example.com", issuer_id="iss-broken", actor=ACTOR, queue_issuance=False
    ).id
    good = _register(acme, "good", "good.example.com", "iss-http")
    bad_job = acme.jobs.create(JobType.ISSUANCE, bad, actor=ACTOR, max_attempts=1)
    good_job = acme.jobs.active_for(good, JobType.ISSUANCE)
    acme.renewal.process_due()
    failed = acme.jobs.get(bad_job.id)
    assert failed.status is JobStatus.FAILED
    assert "urn:ietf:params:acme:error" in (failed.last_error or "")  # pebble's problem type, verbatim
    assert "bad.example.com" in (failed.last_error or "")
    assert acme.jobs.get(good_job.id).status is JobStatus.COMPLETED


def test_configuration_errors_are_named_at_creation(acme: Engine) -> None:
    for config, field in (
        ({}, "directory_url"),
        ({"directory_url": "https://x/dir", "challenge_type": "tls-alpn-01"}, "challenge_type"),
        ({"directory_url": "https://x/dir", "challenge_type": "dns-01"}, "dns_present_command"),
        ({"directory_url": "https://x/dir", "dns_present_command": "set-txt.sh $DOMAIN"}, "dns_present_command"),
        ({"directory_url": "https://x/dir", "eab_kid": "kid-1"}, "eab_kid"),
        ({"directory_url": "https://x/dir", "http_address": "nowhere"}, "http_address"),
    ):
        with pytest.raises(InvalidInput) as caught:
            acme.issuers.create("bad", "ACME", config, actor=ACTOR)
        assert caught.value.field == field, config


def test_eab_account_with_pebbles_example_keys(tmp_path: Path) -> None:
    if missing_binaries():
        pytest.fail(f"pebble is required here: missing {', '.join(missing_binaries())}")
    server = Pebble(tmp_path / "pebble-eab", http_port=free_port(), eab=True).start()
    try:
        with Engine.open(str(tmp_path / "c.db"), env={"CERTCTL_HOME": str(tmp_path)}) as engine:
            base = {
                "directory_url": server.directory_url,
                "ca_bundle": server.ca_bundle,
                "http_address": f"127.0.0.1:{server.http_port}",
            }
            engine.issuers.create("no eab", "ACME", base, actor=ACTOR, id="iss-noeab")
            engine.issuers.create(
                "eab",
                "ACME",
                {
                    **base,
                    "eab_kid": "kid-1",
                    "eab_hmac": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
                },
                actor=ACTOR,
                id="iss-eab",
            )
            refused = _register(engine, "a", "a.example.com", "iss-noeab")
            with pytest.raises(IssuerError, match="external account binding"):
                engine.issuance.issue(refused, actor=ACTOR)
            bound = _register(engine, "b", "b.example.com", "iss-eab")
            version = engine.issuance.issue(bound, actor=ACTOR)
            _verify(server, version.pem_chain, tmp_path)
    finally:
        server.stop()


def test_test_issuer_reaches_the_ca_or_says_what_is_wrong(acme: Engine, pebble: Pebble) -> None:
    ok = acme.issuance.test_issuer("iss-http", actor=ACTOR)
    assert ok.ok and pebble.directory_url in ok.message
    acme.issuers.create(
        "unreachable", "ACME", {"directory_url": f"https://127.0.0.1:{free_port()}/dir"}, actor=ACTOR, id="iss-down"
    )
    down = acme.issuance.test_issuer("iss-down", actor=ACTOR)
    assert not down.ok and "cannot reach" in down.message
    acme.issuers.create("untrusted", "ACME", {"directory_url": pebble.directory_url}, actor=ACTOR, id="iss-tls")
    untrusted = acme.issuance.test_issuer("iss-tls", actor=ACTOR)
    assert not untrusted.ok and "ca_bundle" in untrusted.message
    acme.issuers.create("Local", "GenericCA", {}, actor=ACTOR, id="iss-local")
    local = acme.issuance.test_issuer("iss-local", actor=ACTOR)
    assert local.ok and "can sign until" in local.message


def test_many_orders_side_by_side_and_one_refusal_stops_nothing(acme: Engine, pebble: Pebble, tmp_path: Path) -> None:
    ids = [_register(acme, f"bulk-{i}", f"bulk-{i}.example.com", "iss-http") for i in range(4)]
    wildcard = _register(acme, "bulk-wild", "*.bulk.example.com", "iss-http")
    result = acme.issuance.issue_many([*ids, wildcard], actor=ACTOR)
    assert [f.certificate_id for f in result.failed] == [wildcard]
    assert "dns-01" in result.failed[0].error
    assert sorted(v.certificate_id for v in result.issued) == sorted(ids)
    for version in result.issued:
        _verify(pebble, version.pem_chain, tmp_path)
        assert version.subject_cn == acme.certificates.get(version.certificate_id).common_name
