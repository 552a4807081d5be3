"""Certificate profiles: defaults, validation, the short-lived rule, update and delete."""

from __future__ import annotations

from typing import Any

import pytest

from certctl_engine.domain import (
    Actor,
    ExtendedKeyUsage,
    IssuerType,
    KeyAlgorithm,
    KeyAlgorithmRule,
)
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound

PROFILE_EKU_VALUES = ("serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping")


def refused(engine: Engine, error: type[Exception], call: Any) -> Any:
    before = engine.audit.latest_sequence()
    with pytest.raises(error) as info:
        call()
    assert engine.audit.latest_sequence() == before
    return info.value


def test_create_with_defaults(engine: Engine, actor: Actor) -> None:
    before = engine.audit.latest_sequence()
    profile = engine.profiles.create("Web servers", actor=actor)

    assert profile.name == "Web servers"
    assert profile.id.startswith("prof")
    assert profile.description == ""
    assert profile.allowed_key_algorithms == (
        KeyAlgorithmRule(KeyAlgorithm.ECDSA, 256),
        KeyAlgorithmRule(KeyAlgorithm.RSA, 2048),
    )
    assert profile.allowed_ekus == (ExtendedKeyUsage.SERVER_AUTH,)
    assert profile.max_ttl_seconds == 0
    assert profile.required_san_patterns == ()
    assert profile.spiffe_uri_pattern == ""
    assert (profile.allow_short_lived, profile.requires_approval, profile.enabled) == (False, False, True)
    assert profile.is_short_lived is False
    assert engine.profiles.get(profile.id) == profile

    assert engine.audit.latest_sequence() == before + 1
    event = engine.audit.list(limit=1).items[0]
    assert (event.action, event.resource_type, event.resource_id, event.actor) == (
        "create_profile",
        "profile",
        profile.id,
        actor.name,
    )
    assert event.details == {"name": "Web servers"}


def test_create_with_every_field(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create(
        "mTLS clients",
        actor=actor,
        id="prof-mtls",
        description="client certs",
        allowed_key_algorithms=[
            {"algorithm": "rsa", "min_size": 4096},
            KeyAlgorithmRule(KeyAlgorithm.ED25519, 0),
            {"algorithm": "ECDSA"},
        ],
        max_ttl_seconds=86400,
        allowed_ekus=["clientAuth", "serverAuth", "clientAuth"],
        required_san_patterns=[r"^[a-z0-9-]+\.internal\.example\.com$"],
        spiffe_uri_pattern="spiffe://example.com/*",
        requires_approval=True,
        enabled=False,
    )
    assert profile.id == "prof-mtls"
    assert profile.allowed_key_algorithms == (
        KeyAlgorithmRule(KeyAlgorithm.RSA, 4096),
        KeyAlgorithmRule(KeyAlgorithm.ED25519, 0),
        KeyAlgorithmRule(KeyAlgorithm.ECDSA, 256),  # the minimum is the default when not given
    )
    assert profile.allowed_ekus == (ExtendedKeyUsage.CLIENT_AUTH, ExtendedKeyUsage.SERVER_AUTH)  # deduplicated
    assert profile.required_san_patterns == (r"^[a-z0-9-]+\.internal\.example\.com$",)
    assert profile.max_ttl_seconds == 86400
    assert (profile.requires_approval, profile.enabled) == (True, False)
    assert engine.profiles.get("prof-mtls") == profile


def test_duplicate_name_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.profiles.create("Web", actor=actor)
    err = refused(engine, Conflict, lambda: engine.profiles.create("Web", actor=actor))
    assert "'Web'" in str(err)


BAD_KEY_RULES: list[tuple[Any, str]] = [
    ([{"algorithm": "RSA", "min_size": 1024}], "RSA minimum size must be at least 2048 bits, got 1024"),
    ([{"algorithm": "ECDSA", "min_size": 128}], "ECDSA minimum size must be at least 256 bits, got 128"),
    ([KeyAlgorithmRule(KeyAlgorithm.RSA, 2047)], "RSA minimum size must be at least 2048 bits, got 2047"),
    ([], "allowed_key_algorithms must be a non-empty list"),
    ("RSA", "allowed_key_algorithms must be a non-empty list"),
    (["RSA"], "each allowed key algorithm is {algorithm, min_size}"),
]


def test_key_algorithm_rules_are_checked(engine: Engine, actor: Actor) -> None:
    for algorithms, message in BAD_KEY_RULES:
        err = refused(
            engine,
            InvalidInput,
            lambda algorithms=algorithms: engine.profiles.create("p", actor=actor, allowed_key_algorithms=algorithms),
        )
        assert err.message == message
        assert err.field == "allowed_key_algorithms"
    assert engine.profiles.list() == []


def test_unknown_key_algorithm_lists_the_allowed_ones(engine: Engine, actor: Actor) -> None:
    err = refused(
        engine,
        InvalidInput,
        lambda: engine.profiles.create("p", actor=actor, allowed_key_algorithms=[{"algorithm": "DSA"}]),
    )
    assert err.message == "unknown key algorithm 'DSA'; expected one of: RSA, ECDSA, Ed25519"


def test_unknown_eku_lists_the_allowed_ones(engine: Engine, actor: Actor) -> None:
    err = refused(engine, InvalidInput, lambda: engine.profiles.create("p", actor=actor, allowed_ekus=["anyEKU"]))
    assert "'anyEKU'" in err.message
    for allowed in PROFILE_EKU_VALUES:
        assert allowed in err.message


def test_unknown_eku_message_offers_only_ekus_a_profile_accepts(engine: Engine, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as info:
        engine.profiles.create("p", actor=actor, allowed_ekus=["anyEKU"])
    assert "OCSPSigning" not in info.value.message


def test_ocsp_signing_cannot_be_put_in_a_profile(engine: Engine, actor: Actor) -> None:
    err = refused(engine, InvalidInput, lambda: engine.profiles.create("p", actor=actor, allowed_ekus=["OCSPSigning"]))
    assert err.message == "extended key usage 'OCSPSigning' cannot be put in a profile"
    assert err.field == "allowed_ekus"


def test_ekus_must_be_a_non_empty_list(engine: Engine, actor: Actor) -> None:
    for ekus in ([], "serverAuth"):
        err = refused(
            engine, InvalidInput, lambda ekus=ekus: engine.profiles.create("p", actor=actor, allowed_ekus=ekus)
        )
        assert (err.field, err.message) == ("allowed_ekus", "allowed_ekus must be a non-empty list")


def test_allow_short_lived_needs_a_ttl_under_an_hour(engine: Engine, actor: Actor) -> None:
    for ttl in (0, 3600, 7200):
        err = refused(
            engine,
            InvalidInput,
            lambda ttl=ttl: engine.profiles.create("p", actor=actor, allow_short_lived=True, max_ttl_seconds=ttl),
        )
        assert err.field == "max_ttl_seconds"
        assert err.message == f"allow_short_lived needs max_ttl_seconds between 1 and 3599, got {ttl}"
    assert engine.profiles.list() == []


def test_max_ttl_must_be_a_non_negative_whole_number(engine: Engine, actor: Actor) -> None:
    for ttl in (-1, "300", 1.5, True):
        err = refused(
            engine, InvalidInput, lambda ttl=ttl: engine.profiles.create("p", actor=actor, max_ttl_seconds=ttl)
        )
        assert err.field == "max_ttl_seconds", ttl


def test_invalid_san_regex_is_rejected(engine: Engine, actor: Actor) -> None:
    err = refused(
        engine,
        InvalidInput,
        lambda: engine.profiles.create("p", actor=actor, required_san_patterns=[r"^ok\.example\.com$", "(unclosed"]),
    )
    assert err.field == "required_san_patterns"
    assert "'(unclosed'" in err.message
    assert "not a valid regular expression" in err.message


def test_san_patterns_must_be_a_list(engine: Engine, actor: Actor) -> None:
    err = refused(
        engine, InvalidInput, lambda: engine.profiles.create("p", actor=actor, required_san_patterns=r".*\.com")
    )
    assert err.field == "required_san_patterns"


def test_is_short_lived(engine: Engine, actor: Actor) -> None:
    cases = [(True, 300, True), (True, 1, True), (True, 3599, True), (False, 300, False), (False, 0, False)]
    for n, (allow, ttl, short) in enumerate(cases):
        profile = engine.profiles.create(f"p{n}", actor=actor, allow_short_lived=allow, max_ttl_seconds=ttl)
        assert (profile.allow_short_lived, profile.max_ttl_seconds) == (allow, ttl)
        assert profile.is_short_lived is short, (allow, ttl)
        assert engine.profiles.get(profile.id).is_short_lived is short


def test_update_changes_fields_and_audits(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    before = engine.audit.latest_sequence()

    updated = engine.profiles.update(
        profile.id,
        actor=actor,
        name="Web v2",
        description="tighter",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 384}],
        allowed_ekus=["serverAuth", "clientAuth"],
        required_san_patterns=[r"\.example\.com$"],
        spiffe_uri_pattern="spiffe://example.com/web",
        requires_approval=True,
        enabled=False,
        max_ttl_seconds=90 * 86400,
    )

    assert updated.id == profile.id
    assert updated.name == "Web v2"
    assert updated.description == "tighter"
    assert updated.allowed_key_algorithms == (KeyAlgorithmRule(KeyAlgorithm.ECDSA, 384),)
    assert updated.allowed_ekus == (ExtendedKeyUsage.SERVER_AUTH, ExtendedKeyUsage.CLIENT_AUTH)
    assert updated.required_san_patterns == (r"\.example\.com$",)
    assert updated.spiffe_uri_pattern == "spiffe://example.com/web"
    assert (updated.requires_approval, updated.enabled, updated.max_ttl_seconds) == (True, False, 7776000)
    assert updated.created_at == profile.created_at
    assert engine.profiles.get(profile.id) == updated

    assert engine.audit.latest_sequence() == before + 1
    event = engine.audit.list(limit=1).items[0]
    assert (event.action, event.resource_id) == ("update_profile", profile.id)
    assert event.details == {
        "changed": [
            "allowed_ekus",
            "allowed_key_algorithms",
            "description",
            "enabled",
            "max_ttl_seconds",
            "name",
            "required_san_patterns",
            "requires_approval",
            "spiffe_uri_pattern",
        ]
    }


def test_update_rechecks_the_short_lived_rule(engine: Engine, actor: Actor) -> None:
    short = engine.profiles.create("short", actor=actor, allow_short_lived=True, max_ttl_seconds=300)
    plain = engine.profiles.create("plain", actor=actor)

    # Raising the TTL of a short-lived profile past the limit is refused, nothing changes.
    err = refused(engine, InvalidInput, lambda: engine.profiles.update(short.id, actor=actor, max_ttl_seconds=7200))
    assert err.field == "max_ttl_seconds"
    assert engine.profiles.get(short.id) == short

    # Allowing short-lived certificates on a profile whose TTL is 0 is refused too.
    refused(engine, InvalidInput, lambda: engine.profiles.update(plain.id, actor=actor, allow_short_lived=True))
    assert engine.profiles.get(plain.id) == plain

    # Both together, consistently, is fine.
    updated = engine.profiles.update(plain.id, actor=actor, allow_short_lived=True, max_ttl_seconds=600)
    assert updated.is_short_lived is True

    # And turning the flag off lifts the limit.
    relaxed = engine.profiles.update(short.id, actor=actor, allow_short_lived=False, max_ttl_seconds=7200)
    assert (relaxed.is_short_lived, relaxed.max_ttl_seconds) == (False, 7200)


def test_update_rejects_bad_values_without_changing_anything(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    engine.profiles.create("Other", actor=actor)
    cases: list[tuple[type[Exception], dict[str, Any]]] = [
        (InvalidInput, {"allowed_key_algorithms": [{"algorithm": "RSA", "min_size": 1024}]}),
        (InvalidInput, {"allowed_ekus": ["bogus"]}),
        (InvalidInput, {"required_san_patterns": ["["]}),
        (InvalidInput, {"max_ttl_seconds": -5}),
        (InvalidInput, {"colour": "blue"}),
        (Conflict, {"name": "Other"}),
    ]
    for error, changes in cases:
        refused(engine, error, lambda changes=changes: engine.profiles.update(profile.id, actor=actor, **changes))
        assert engine.profiles.get(profile.id) == profile, changes


def test_update_unknown_field_is_named(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    err = refused(engine, InvalidInput, lambda: engine.profiles.update(profile.id, actor=actor, colour="blue"))
    assert err.message == "unknown profile field(s): colour"


def test_update_unknown_profile_is_not_found(engine: Engine, actor: Actor) -> None:
    err = refused(engine, NotFound, lambda: engine.profiles.update("prof-nope", actor=actor, name="x"))
    assert (err.resource, err.identifier) == ("profile", "prof-nope")


def test_list_is_sorted_by_name(engine: Engine, actor: Actor) -> None:
    for name in ("web", "api", "mail"):
        engine.profiles.create(name, actor=actor)
    assert [p.name for p in engine.profiles.list()] == ["api", "mail", "web"]


def test_delete_removes_it_and_audits(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    before = engine.audit.latest_sequence()
    engine.profiles.delete(profile.id, actor=actor)

    assert engine.audit.latest_sequence() == before + 1
    event = engine.audit.list(limit=1).items[0]
    assert (event.action, event.resource_id, event.details) == (
        "delete_profile",
        profile.id,
        {"certificates_unlinked": 0},
    )
    with pytest.raises(NotFound):
        engine.profiles.get(profile.id)
    assert engine.profiles.list() == []


def test_delete_unlinks_certificates(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    issuer = engine.issuers.create("CA", IssuerType.GENERIC_CA, actor=actor)
    cert = engine.certificates.create(
        name="web",
        common_name="web.example.com",
        issuer_id=issuer.id,
        actor=actor,
        certificate_profile_id=profile.id,
    )
    assert cert.certificate_profile_id == profile.id

    engine.profiles.delete(profile.id, actor=actor)

    assert engine.certificates.get(cert.id).certificate_profile_id is None
    assert engine.audit.list(limit=1).items[0].details == {"certificates_unlinked": 1}


def test_delete_unknown_profile_is_not_found(engine: Engine, actor: Actor) -> None:
    refused(engine, NotFound, lambda: engine.profiles.delete("prof-nope", actor=actor))
