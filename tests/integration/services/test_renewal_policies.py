"""Renewal policies: defaults, normalised thresholds, ranges, the default policy, deletion."""

from __future__ import annotations

from typing import Any

import pytest

from certctl_engine.domain import Actor, IssuerType
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.services.renewal_policies import DEFAULT_POLICY_ID


def refused(engine: Engine, error: type[Exception], call: Any) -> Any:
    before = engine.audit.latest_sequence()
    with pytest.raises(error) as info:
        call()
    assert engine.audit.latest_sequence() == before
    return info.value


def test_create_with_defaults_and_audit(engine: Engine, actor: Actor) -> None:
    before = engine.audit.latest_sequence()
    policy = engine.renewal_policies.create("Standard", actor=actor)

    assert policy.name == "Standard"
    assert policy.id.startswith("rp")
    assert policy.renewal_window_days == 30
    assert policy.auto_renew is True
    assert policy.max_retries == 3
    assert policy.retry_interval_minutes == 60
    assert policy.alert_thresholds_days == (30, 14, 7, 0)
    assert policy.effective_alert_thresholds == (30, 14, 7, 0)
    assert (policy.certificate_profile_id, policy.agent_group_id) == (None, None)
    assert engine.renewal_policies.get(policy.id) == policy

    assert engine.audit.latest_sequence() == before + 1
    event = engine.audit.list(limit=1).items[0]
    assert (event.action, event.resource_type, event.resource_id, event.actor, event.details) == (
        "create_renewal_policy",
        "renewal_policy",
        policy.id,
        actor.name,
        {"name": "Standard"},
    )


def test_create_with_every_field(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    policy = engine.renewal_policies.create(
        "Short",
        actor=actor,
        id="rp-short",
        renewal_window_days=7,
        auto_renew=False,
        max_retries=0,
        retry_interval_minutes=0,
        alert_thresholds_days=[3, 1],
        certificate_profile_id=profile.id,
    )
    assert policy.id == "rp-short"
    assert (policy.renewal_window_days, policy.auto_renew, policy.max_retries, policy.retry_interval_minutes) == (
        7,
        False,
        0,
        0,
    )
    assert policy.alert_thresholds_days == (3, 1)
    assert policy.certificate_profile_id == profile.id
    assert engine.renewal_policies.get("rp-short") == policy


def test_thresholds_are_deduplicated_and_sorted_descending(engine: Engine, actor: Actor) -> None:
    cases: list[tuple[Any, tuple[int, ...]]] = [
        ([7, 30, 7, 0, 14, 30], (30, 14, 7, 0)),
        ((1, 60, 365, 0), (365, 60, 1, 0)),
        ([5], (5,)),
    ]
    for n, (given, stored) in enumerate(cases):
        policy = engine.renewal_policies.create(f"p{n}", actor=actor, alert_thresholds_days=given)
        assert policy.alert_thresholds_days == stored, given
        assert engine.renewal_policies.get(policy.id).alert_thresholds_days == stored


def test_empty_thresholds_fall_back_to_the_defaults(engine: Engine, actor: Actor) -> None:
    policy = engine.renewal_policies.create("p", actor=actor, alert_thresholds_days=[])
    assert policy.alert_thresholds_days == ()
    assert policy.effective_alert_thresholds == (30, 14, 7, 0)


BAD_THRESHOLDS: list[tuple[Any, str, str]] = [
    ([30, -1], "alert_thresholds_days", "alert_thresholds_days must be at least 0, got -1"),
    ([366], "alert_thresholds_days", "alert_thresholds_days must be at most 365, got 366"),
    (["7"], "alert_thresholds_days", "alert_thresholds_days must be a whole number, got '7'"),
    ([1.5], "alert_thresholds_days", "alert_thresholds_days must be a whole number, got 1.5"),
    ("30,14", "alert_thresholds_days", "alert_thresholds_days must be a list of days"),
]


def test_bad_thresholds_are_refused(engine: Engine, actor: Actor) -> None:
    for thresholds, field, message in BAD_THRESHOLDS:
        err = refused(
            engine,
            InvalidInput,
            lambda thresholds=thresholds: engine.renewal_policies.create(
                "p", actor=actor, alert_thresholds_days=thresholds
            ),
        )
        assert (err.field, err.message) == (field, message)
    assert engine.renewal_policies.list() == []


def test_window_out_of_range_is_refused(engine: Engine, actor: Actor) -> None:
    for window, message in ((0, "at least 1, got 0"), (400, "at most 365, got 400")):
        err = refused(
            engine,
            InvalidInput,
            lambda window=window: engine.renewal_policies.create("p", actor=actor, renewal_window_days=window),
        )
        assert err.field == "renewal_window_days"
        assert err.message == f"renewal_window_days must be {message}"
    assert engine.renewal_policies.list() == []


def test_window_bounds_are_accepted(engine: Engine, actor: Actor) -> None:
    for window in (1, 365):
        policy = engine.renewal_policies.create(f"p{window}", actor=actor, renewal_window_days=window)
        assert policy.renewal_window_days == window


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"max_retries": -1}, "max_retries"),
    ({"max_retries": 101}, "max_retries"),
    ({"retry_interval_minutes": -1}, "retry_interval_minutes"),
    ({"retry_interval_minutes": 10_081}, "retry_interval_minutes"),
    ({"renewal_window_days": "30"}, "renewal_window_days"),
    ({"renewal_window_days": True}, "renewal_window_days"),
    ({"name": ""}, "name"),
    ({"id": "bad id"}, "id"),
]


def test_other_bad_values_are_refused(engine: Engine, actor: Actor) -> None:
    for kwargs, field in BAD_VALUES:
        args = {"name": "p", **kwargs}
        err = refused(engine, InvalidInput, lambda args=args: engine.renewal_policies.create(actor=actor, **args))
        assert err.field == field, kwargs
    assert engine.renewal_policies.list() == []


def test_unknown_references_are_not_found(engine: Engine, actor: Actor) -> None:
    err = refused(
        engine, NotFound, lambda: engine.renewal_policies.create("p", actor=actor, certificate_profile_id="prof-nope")
    )
    assert (err.resource, err.identifier) == ("profile", "prof-nope")
    err = refused(engine, NotFound, lambda: engine.renewal_policies.create("p", actor=actor, agent_group_id="ag-nope"))
    assert (err.resource, err.identifier) == ("agent group", "ag-nope")


def test_duplicate_name_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.renewal_policies.create("Standard", actor=actor)
    err = refused(engine, Conflict, lambda: engine.renewal_policies.create("Standard", actor=actor))
    assert "'Standard'" in str(err)


def test_update_changes_fields_and_audits(engine: Engine, actor: Actor) -> None:
    policy = engine.renewal_policies.create("Standard", actor=actor)
    profile = engine.profiles.create("Web", actor=actor)
    before = engine.audit.latest_sequence()

    updated = engine.renewal_policies.update(
        policy.id,
        actor=actor,
        name="Relaxed",
        renewal_window_days=60,
        auto_renew=False,
        max_retries=5,
        retry_interval_minutes=15,
        alert_thresholds_days=[1, 60, 1],
        certificate_profile_id=profile.id,
    )

    assert updated.id == policy.id
    assert (updated.name, updated.renewal_window_days, updated.auto_renew) == ("Relaxed", 60, False)
    assert (updated.max_retries, updated.retry_interval_minutes) == (5, 15)
    assert updated.alert_thresholds_days == (60, 1)
    assert updated.certificate_profile_id == profile.id
    assert updated.created_at == policy.created_at
    assert engine.renewal_policies.get(policy.id) == updated

    assert engine.audit.latest_sequence() == before + 1
    event = engine.audit.list(limit=1).items[0]
    assert (event.action, event.resource_id) == ("update_renewal_policy", policy.id)
    assert event.details == {
        "changed": [
            "alert_thresholds_days",
            "auto_renew",
            "certificate_profile_id",
            "max_retries",
            "name",
            "renewal_window_days",
            "retry_interval_minutes",
        ]
    }

    cleared = engine.renewal_policies.update(policy.id, actor=actor, certificate_profile_id=None)
    assert cleared.certificate_profile_id is None


def test_update_refusals_change_nothing(engine: Engine, actor: Actor) -> None:
    policy = engine.renewal_policies.create("Standard", actor=actor)
    engine.renewal_policies.create("Other", actor=actor)
    cases: list[tuple[type[Exception], dict[str, Any]]] = [
        (InvalidInput, {"renewal_window_days": 0}),
        (InvalidInput, {"renewal_window_days": 400}),
        (InvalidInput, {"alert_thresholds_days": [-3]}),
        (InvalidInput, {"colour": "blue"}),
        (NotFound, {"certificate_profile_id": "prof-nope"}),
        (Conflict, {"name": "Other"}),
    ]
    for error, changes in cases:
        refused(
            engine, error, lambda changes=changes: engine.renewal_policies.update(policy.id, actor=actor, **changes)
        )
        assert engine.renewal_policies.get(policy.id) == policy, changes


def test_update_unknown_field_is_named(engine: Engine, actor: Actor) -> None:
    policy = engine.renewal_policies.create("Standard", actor=actor)
    err = refused(engine, InvalidInput, lambda: engine.renewal_policies.update(policy.id, actor=actor, colour="x"))
    assert err.message == "unknown renewal policy field(s): colour"


def test_update_unknown_policy_is_not_found(engine: Engine, actor: Actor) -> None:
    err = refused(engine, NotFound, lambda: engine.renewal_policies.update("rp-nope", actor=actor, max_retries=1))
    assert (err.resource, err.identifier) == ("renewal policy", "rp-nope")


def test_ensure_default_creates_rp_default_once(engine: Engine, actor: Actor) -> None:
    before = engine.audit.latest_sequence()
    first = engine.renewal_policies.ensure_default(actor=actor)
    second = engine.renewal_policies.ensure_default(actor=actor)

    assert first.id == DEFAULT_POLICY_ID == "rp-default"
    assert first.name == "Default"
    assert (first.renewal_window_days, first.auto_renew, first.max_retries) == (30, True, 3)
    assert first.alert_thresholds_days == (30, 14, 7, 0)
    assert second == first
    assert [p.id for p in engine.renewal_policies.list()] == ["rp-default"]
    assert engine.audit.latest_sequence() == before + 1
    assert engine.audit.list(limit=1).items[0].action == "create_renewal_policy"


def test_certificate_without_policy_gets_the_default(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("CA", IssuerType.GENERIC_CA, actor=actor)
    a = engine.certificates.create(name="a", common_name="a.example.com", issuer_id=issuer.id, actor=actor)
    b = engine.certificates.create(name="b", common_name="b.example.com", issuer_id=issuer.id, actor=actor)
    assert a.renewal_policy_id == b.renewal_policy_id == "rp-default"
    assert [p.id for p in engine.renewal_policies.list()] == ["rp-default"]


def test_list_is_sorted_by_name(engine: Engine, actor: Actor) -> None:
    for name in ("weekly", "daily", "monthly"):
        engine.renewal_policies.create(name, actor=actor)
    assert [p.name for p in engine.renewal_policies.list()] == ["daily", "monthly", "weekly"]


def test_delete_removes_it_and_audits(engine: Engine, actor: Actor) -> None:
    policy = engine.renewal_policies.create("Standard", actor=actor)
    before = engine.audit.latest_sequence()
    engine.renewal_policies.delete(policy.id, actor=actor)

    assert engine.audit.latest_sequence() == before + 1
    event = engine.audit.list(limit=1).items[0]
    assert (event.action, event.resource_type, event.resource_id) == (
        "delete_renewal_policy",
        "renewal_policy",
        policy.id,
    )
    with pytest.raises(NotFound):
        engine.renewal_policies.get(policy.id)


def test_delete_policy_in_use_is_a_conflict(engine: Engine, actor: Actor) -> None:
    policy = engine.renewal_policies.create("Standard", actor=actor)
    issuer = engine.issuers.create("CA", IssuerType.GENERIC_CA, actor=actor)
    engine.certificates.create(
        name="web", common_name="web.example.com", issuer_id=issuer.id, actor=actor, renewal_policy_id=policy.id
    )

    err = refused(engine, Conflict, lambda: engine.renewal_policies.delete(policy.id, actor=actor))

    assert str(err) == f"renewal policy '{policy.id}' is used by 1 certificate(s); move them first"
    assert engine.renewal_policies.get(policy.id) == policy


def test_delete_default_policy_in_use_is_a_conflict(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("CA", IssuerType.GENERIC_CA, actor=actor)
    engine.certificates.create(name="web", common_name="web.example.com", issuer_id=issuer.id, actor=actor)
    refused(engine, Conflict, lambda: engine.renewal_policies.delete(DEFAULT_POLICY_ID, actor=actor))
    assert engine.renewal_policies.get(DEFAULT_POLICY_ID).id == DEFAULT_POLICY_ID


def test_delete_unknown_policy_is_not_found(engine: Engine, actor: Actor) -> None:
    refused(engine, NotFound, lambda: engine.renewal_policies.delete("rp-nope", actor=actor))


def test_deleting_the_profile_unlinks_the_policy(engine: Engine, actor: Actor) -> None:
    profile = engine.profiles.create("Web", actor=actor)
    policy = engine.renewal_policies.create("Standard", actor=actor, certificate_profile_id=profile.id)
    engine.profiles.delete(profile.id, actor=actor)
    assert engine.renewal_policies.get(policy.id).certificate_profile_id is None
