"""Inspecting stored versions and diffing two of them."""

from __future__ import annotations

import pytest

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.errors import NotFound
from certctl_engine.pki.keys import KeySpec


@pytest.fixture
def issued(engine: Engine, actor: Actor) -> tuple[Engine, str]:
    engine.issuers.create("Local CA", "GenericCA", {}, actor=actor, id="iss-local")
    engine.profiles.create("mTLS", actor=actor, id="prof-mtls", allowed_ekus=["serverAuth", "clientAuth"])
    cert = engine.certificates.create(
        name="api",
        common_name="api.example.com",
        sans=("10.0.0.7",),
        issuer_id="iss-local",
        certificate_profile_id="prof-mtls",
        actor=actor,
    )
    return engine, cert.id


def test_inspect_shows_usages_key_and_chain(issued: tuple[Engine, str], actor: Actor) -> None:
    engine, cert_id = issued
    version = engine.issuance.issue(cert_id, actor=actor)
    seen = engine.inspection.inspect_version(version.id)
    assert seen.leaf.ekus == ("serverAuth", "clientAuth")
    assert "digitalSignature" in seen.leaf.key_usage
    assert seen.leaf.dns_names == ("api.example.com",) and seen.leaf.ip_addresses == ("10.0.0.7",)
    assert seen.leaf.fingerprint_sha256 == version.fingerprint_sha256
    assert len(seen.chain) == 1 and seen.chain[0].is_ca and seen.chain[0].self_signed
    assert seen.leaf.authority_key_id == seen.chain[0].subject_key_id
    with pytest.raises(NotFound):
        engine.inspection.inspect_version("certver-nope")


def test_diff_names_what_changed_and_leaves_identity_out(issued: tuple[Engine, str], actor: Actor) -> None:
    engine, cert_id = issued
    first = engine.issuance.issue(cert_id, actor=actor)
    second = engine.issuance.renew(cert_id, actor=actor, key_spec=KeySpec.parse("rsa-3072"))
    inspection = engine.inspection
    changes = {c.field: c for c in inspection.diff_versions(first.id, second.id)}
    assert changes["key_algorithm"].before == "ECDSA" and changes["key_algorithm"].after == "RSA"
    assert changes["key_size"].before == "256" and changes["key_size"].after == "3072"
    assert "keyEncipherment" in changes["key_usage"].after  # RSA TLS keys get it, EC keys do not
    assert "serial_hex" not in changes and "fingerprint_sha256" not in changes
    assert "issuer_dn" not in changes and "chain" not in changes and "ekus" not in changes
    with_identity = {c.field for c in inspection.diff_versions(first.id, second.id, include_identity=True)}
    assert {"serial_hex", "fingerprint_sha256"} <= with_identity
    assert inspection.diff_versions(first.id, first.id) == []
