"""Teams and owners: CRUD, refusals, cascades and the audit trail, on both back ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from certctl_engine.domain import Actor, ActorType, AuditEvent, IssuerType
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound


def audited(engine: Engine, change: Callable[[], Any]) -> tuple[Any, AuditEvent]:
    """Run ``change`` and return its result and the one audit event it appended."""
    before = engine.audit.latest_sequence()
    result = change()
    assert engine.audit.latest_sequence() == before + 1, "a successful change appends exactly one audit event"
    page = engine.audit.list(limit=1)
    event = page.items[0]
    assert event.sequence == before + 1
    return result, event


def refused(engine: Engine, error: type[Exception], change: Callable[[], Any], match: str | None = None) -> Any:
    """Run ``change``, expect ``error``, and check that nothing was audited."""
    before = engine.audit.latest_sequence()
    with pytest.raises(error, match=match) as info:
        change()
    assert engine.audit.latest_sequence() == before, "a refused change appends no audit event"
    return info.value


def make_issuer(engine: Engine, actor: Actor) -> str:
    return engine.issuers.create("Test CA", IssuerType.GENERIC_CA, {}, actor=actor).id


# --------------------------------------------------------------------------- teams


def test_create_team_returns_it_and_audits(engine: Engine, actor: Actor) -> None:
    team, event = audited(
        engine, lambda: engine.ownership.create_team("  Platform  ", "Runs the platform", actor=actor)
    )

    assert team.name == "Platform"  # surrounding spaces are trimmed
    assert team.description == "Runs the platform"
    assert team.id.startswith("team")
    assert team.created_at == team.updated_at
    assert engine.ownership.get_team(team.id) == team
    assert (event.action, event.resource_type, event.resource_id) == ("create_team", "team", team.id)
    assert (event.actor, event.actor_type) == ("alice@example.com", ActorType.USER)
    assert event.details == {"name": "Platform"}


def test_create_team_with_explicit_id(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Security", actor=actor, id="team-sec")
    assert team.id == "team-sec"
    assert team.description == ""


def test_list_teams_is_sorted_by_name(engine: Engine, actor: Actor) -> None:
    for name in ("Web", "Database", "Platform"):
        engine.ownership.create_team(name, actor=actor)
    assert [t.name for t in engine.ownership.list_teams()] == ["Database", "Platform", "Web"]


def test_duplicate_team_name_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.ownership.create_team("Platform", actor=actor)
    err = refused(engine, Conflict, lambda: engine.ownership.create_team(" Platform", actor=actor))
    assert "Platform" in str(err)
    assert [t.name for t in engine.ownership.list_teams()] == ["Platform"]


def test_duplicate_team_id_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.ownership.create_team("Platform", actor=actor, id="team-x")
    err = refused(engine, Conflict, lambda: engine.ownership.create_team("Other", actor=actor, id="team-x"))
    assert "team-x" in str(err)


BAD_TEAM_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "a" * 256}, "name"),
    ({"name": "bad\x07name"}, "name"),
    ({"name": 42}, "name"),
    ({"name": "ok", "description": "d" * 2001}, "description"),
    ({"name": "ok", "id": "has space"}, "id"),
]


def test_create_team_rejects_bad_input(engine: Engine, actor: Actor) -> None:
    for kwargs, field in BAD_TEAM_INPUT:
        err = refused(engine, InvalidInput, lambda kwargs=kwargs: engine.ownership.create_team(actor=actor, **kwargs))
        assert err.field == field, kwargs
        assert field in err.message, kwargs
    assert engine.ownership.list_teams() == []


def test_get_unknown_team_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound) as info:
        engine.ownership.get_team("team-nope")
    assert info.value.resource == "team"
    assert info.value.identifier == "team-nope"
    assert "team-nope" in str(info.value)


def test_update_team_changes_fields_and_audits(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", "old", actor=actor)
    bob = Actor("bob@example.com")
    updated, event = audited(
        engine, lambda: engine.ownership.update_team(team.id, actor=bob, name="Platform Eng", description="new")
    )

    assert (updated.id, updated.name, updated.description) == (team.id, "Platform Eng", "new")
    assert updated.created_at == team.created_at
    assert updated.updated_at >= team.updated_at
    assert engine.ownership.get_team(team.id) == updated
    assert (event.action, event.resource_id, event.actor) == ("update_team", team.id, "bob@example.com")
    assert event.details == {"changed": ["description", "name"]}


def test_update_team_keeps_its_own_name(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    updated = engine.ownership.update_team(team.id, actor=actor, name="Platform")
    assert updated.name == "Platform"


def test_update_team_to_a_taken_name_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.ownership.create_team("Platform", actor=actor)
    web = engine.ownership.create_team("Web", actor=actor)
    err = refused(engine, Conflict, lambda: engine.ownership.update_team(web.id, actor=actor, name="Platform"))
    assert "Platform" in str(err)
    assert engine.ownership.get_team(web.id).name == "Web"


def test_update_unknown_team_is_not_found(engine: Engine, actor: Actor) -> None:
    refused(engine, NotFound, lambda: engine.ownership.update_team("team-nope", actor=actor, name="X"))


def test_delete_unused_team_removes_it_and_its_owners(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    other = engine.ownership.create_team("Web", actor=actor)
    o1 = engine.ownership.create_owner("Ann", "ann@example.com", team.id, actor=actor)
    o2 = engine.ownership.create_owner("Ben", "ben@example.com", team.id, actor=actor)
    keep = engine.ownership.create_owner("Cid", "cid@example.com", other.id, actor=actor)
    loner = engine.ownership.create_owner("Dee", "dee@example.com", actor=actor)

    _, event = audited(engine, lambda: engine.ownership.delete_team(team.id, actor=actor))

    assert (event.action, event.resource_type, event.resource_id) == ("delete_team", "team", team.id)
    assert sorted(event.details["owners_removed"]) == sorted([o1.id, o2.id])
    with pytest.raises(NotFound):
        engine.ownership.get_team(team.id)
    for gone in (o1, o2):
        with pytest.raises(NotFound):
            engine.ownership.get_owner(gone.id)
    assert {o.id for o in engine.ownership.list_owners()} == {keep.id, loner.id}
    assert [t.id for t in engine.ownership.list_teams()] == [other.id]


def test_delete_team_with_a_certificate_is_a_conflict(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    owner = engine.ownership.create_owner("Ann", "ann@example.com", team.id, actor=actor)
    engine.certificates.create(
        name="web", common_name="web.example.com", issuer_id=make_issuer(engine, actor), actor=actor, team_id=team.id
    )

    err = refused(engine, Conflict, lambda: engine.ownership.delete_team(team.id, actor=actor))

    assert team.id in str(err)
    assert "1 certificate" in str(err)
    assert engine.ownership.get_team(team.id) == team
    assert engine.ownership.get_owner(owner.id) == owner


def test_delete_team_whose_owner_owns_a_certificate_is_a_conflict(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    other = engine.ownership.create_team("Web", actor=actor)
    owner = engine.ownership.create_owner("Ann", "ann@example.com", team.id, actor=actor)
    # The certificate belongs to the other team but is owned by a member of ``team``.
    engine.certificates.create(
        name="web",
        common_name="web.example.com",
        issuer_id=make_issuer(engine, actor),
        actor=actor,
        owner_id=owner.id,
        team_id=other.id,
    )

    err = refused(engine, Conflict, lambda: engine.ownership.delete_team(team.id, actor=actor))

    assert "through its owners" in str(err)
    assert engine.ownership.get_team(team.id) == team
    assert engine.ownership.get_owner(owner.id) == owner


def test_delete_unknown_team_is_not_found(engine: Engine, actor: Actor) -> None:
    refused(engine, NotFound, lambda: engine.ownership.delete_team("team-nope", actor=actor))


# --------------------------------------------------------------------------- owners


def test_create_owner_returns_it_and_audits(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    owner, event = audited(
        engine, lambda: engine.ownership.create_owner(" Ann Lee ", " ann@example.com ", team.id, actor=actor)
    )

    assert (owner.name, owner.email, owner.team_id) == ("Ann Lee", "ann@example.com", team.id)
    assert owner.id.startswith("owner")
    assert engine.ownership.get_owner(owner.id) == owner
    assert (event.action, event.resource_type, event.resource_id) == ("create_owner", "owner", owner.id)
    assert event.actor == "alice@example.com"
    assert event.details == {"name": "Ann Lee", "team_id": team.id}


def test_create_owner_without_team_or_email(engine: Engine, actor: Actor) -> None:
    owner = engine.ownership.create_owner("Ann", actor=actor, id="owner-ann")
    assert (owner.id, owner.email, owner.team_id) == ("owner-ann", "", None)


def test_create_owner_with_unknown_team_is_not_found(engine: Engine, actor: Actor) -> None:
    err = refused(
        engine, NotFound, lambda: engine.ownership.create_owner("Ann", "ann@example.com", "team-nope", actor=actor)
    )
    assert (err.resource, err.identifier) == ("team", "team-nope")
    assert engine.ownership.list_owners() == []


def test_create_owner_with_duplicate_id_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.ownership.create_owner("Ann", actor=actor, id="owner-1")
    err = refused(engine, Conflict, lambda: engine.ownership.create_owner("Ben", actor=actor, id="owner-1"))
    assert "owner-1" in str(err)
    assert engine.ownership.get_owner("owner-1").name == "Ann"


def test_create_owner_with_bad_email_is_invalid(engine: Engine, actor: Actor) -> None:
    for email in ("not-an-email", "ann@example", "ann @example.com", "@example.com", "a@b@c.com", " x@y "):
        err = refused(
            engine, InvalidInput, lambda email=email: engine.ownership.create_owner("Ann", email, actor=actor)
        )
        assert err.field == "email", email
        assert err.message == f"email '{email.strip()}' is not an email address"
    assert engine.ownership.list_owners() == []


def test_list_owners_sorted_and_filtered_by_team(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    engine.ownership.create_owner("Zed", team_id=team.id, actor=actor)
    engine.ownership.create_owner("Amy", team_id=team.id, actor=actor)
    engine.ownership.create_owner("Bob", actor=actor)
    assert [o.name for o in engine.ownership.list_owners()] == ["Amy", "Bob", "Zed"]
    assert [o.name for o in engine.ownership.list_owners(team.id)] == ["Amy", "Zed"]


def test_update_owner_changes_fields_and_audits(engine: Engine, actor: Actor) -> None:
    t1 = engine.ownership.create_team("Platform", actor=actor)
    t2 = engine.ownership.create_team("Web", actor=actor)
    owner = engine.ownership.create_owner("Ann", "ann@example.com", t1.id, actor=actor)

    updated, event = audited(
        engine,
        lambda: engine.ownership.update_owner(
            owner.id, actor=actor, name="Ann Lee", email="ann.lee@example.com", team_id=t2.id
        ),
    )

    assert (updated.name, updated.email, updated.team_id) == ("Ann Lee", "ann.lee@example.com", t2.id)
    assert engine.ownership.get_owner(owner.id) == updated
    assert (event.action, event.resource_id) == ("update_owner", owner.id)
    assert event.details == {"changed": ["name", "email", "team_id"]}


def test_update_owner_leaves_team_alone_unless_given(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    owner = engine.ownership.create_owner("Ann", team_id=team.id, actor=actor)

    renamed = engine.ownership.update_owner(owner.id, actor=actor, name="Annie")
    assert renamed.team_id == team.id

    detached = engine.ownership.update_owner(owner.id, actor=actor, team_id=None)
    assert detached.team_id is None
    assert engine.ownership.get_owner(owner.id).team_id is None


def test_update_owner_with_unknown_team_is_not_found(engine: Engine, actor: Actor) -> None:
    owner = engine.ownership.create_owner("Ann", actor=actor)
    err = refused(engine, NotFound, lambda: engine.ownership.update_owner(owner.id, actor=actor, team_id="team-nope"))
    assert err.identifier == "team-nope"
    assert engine.ownership.get_owner(owner.id) == owner


def test_update_owner_with_bad_email_is_invalid(engine: Engine, actor: Actor) -> None:
    owner = engine.ownership.create_owner("Ann", "ann@example.com", actor=actor)
    err = refused(engine, InvalidInput, lambda: engine.ownership.update_owner(owner.id, actor=actor, email="nope"))
    assert err.field == "email"
    assert "nope" in err.message
    assert engine.ownership.get_owner(owner.id).email == "ann@example.com"


def test_update_unknown_owner_is_not_found(engine: Engine, actor: Actor) -> None:
    err = refused(engine, NotFound, lambda: engine.ownership.update_owner("owner-nope", actor=actor, name="X"))
    assert (err.resource, err.identifier) == ("owner", "owner-nope")


def test_delete_owner_removes_it_and_audits(engine: Engine, actor: Actor) -> None:
    owner = engine.ownership.create_owner("Ann", actor=actor)
    _, event = audited(engine, lambda: engine.ownership.delete_owner(owner.id, actor=actor))
    assert (event.action, event.resource_type, event.resource_id, event.details) == (
        "delete_owner",
        "owner",
        owner.id,
        {},
    )
    with pytest.raises(NotFound):
        engine.ownership.get_owner(owner.id)


def test_delete_owner_of_a_certificate_is_a_conflict(engine: Engine, actor: Actor) -> None:
    team = engine.ownership.create_team("Platform", actor=actor)
    owner = engine.ownership.create_owner("Ann", "ann@example.com", team.id, actor=actor)
    cert = engine.certificates.create(
        name="web",
        common_name="web.example.com",
        issuer_id=make_issuer(engine, actor),
        actor=actor,
        owner_id=owner.id,
        team_id=team.id,
    )

    err = refused(engine, Conflict, lambda: engine.ownership.delete_owner(owner.id, actor=actor))

    assert str(err) == f"owner '{owner.id}' still owns 1 certificate(s); reassign them first"
    assert engine.ownership.get_owner(owner.id) == owner
    assert engine.certificates.get(cert.id).owner_id == owner.id


def test_delete_unknown_owner_is_not_found(engine: Engine, actor: Actor) -> None:
    refused(engine, NotFound, lambda: engine.ownership.delete_owner("owner-nope", actor=actor))


def test_every_mutation_is_audited_in_order_with_its_actor(engine: Engine) -> None:
    alice, bot = Actor("alice@example.com"), Actor.system("sync-bot")
    team = engine.ownership.create_team("Platform", actor=alice)
    engine.ownership.update_team(team.id, actor=bot, description="x")
    owner = engine.ownership.create_owner("Ann", team_id=team.id, actor=bot)
    engine.ownership.update_owner(owner.id, actor=alice, name="Annie")
    engine.ownership.delete_owner(owner.id, actor=alice)
    engine.ownership.delete_team(team.id, actor=bot)

    events = list(reversed(engine.audit.list(limit=100).items))
    assert [(e.sequence, e.action, e.actor, e.actor_type) for e in events] == [
        (1, "create_team", "alice@example.com", ActorType.USER),
        (2, "update_team", "sync-bot", ActorType.SYSTEM),
        (3, "create_owner", "sync-bot", ActorType.SYSTEM),
        (4, "update_owner", "alice@example.com", ActorType.USER),
        (5, "delete_owner", "alice@example.com", ActorType.USER),
        (6, "delete_team", "sync-bot", ActorType.SYSTEM),
    ]
    assert engine.audit.verify().ok
