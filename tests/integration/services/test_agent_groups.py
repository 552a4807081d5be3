"""Agent groups: members chosen by what agents report, manual includes and excludes, validation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certctl_engine.domain import Actor, MembershipType
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.store.models import AuditEventModel, RenewalPolicyModel

ALICE = Actor("alice")
TOKEN = "bootstrap-token-for-groups"


@pytest.fixture
def fleet(store_url: str, store_env: dict[str, str]) -> Iterator[tuple[Engine, dict[str, str]]]:
    """Four agents that reported different OS, architecture, address and version."""
    engine = Engine.open(store_url, env={**store_env, "CERTCTL_AGENT_BOOTSTRAP_TOKEN": TOKEN})
    reported = {
        "web-1": {"os": "linux", "architecture": "amd64", "ip_address": "10.0.1.17", "version": "1.4.2"},
        "web-2": {"os": "Linux", "architecture": "arm64", "ip_address": "10.0.1.200", "version": "1.5.0"},
        "db-1": {"os": "linux", "architecture": "amd64", "ip_address": "10.0.2.5", "version": "1.4.0"},
        "win-1": {"os": "windows", "architecture": "amd64", "ip_address": "10.0.1.9", "version": "1.4.2"},
    }
    ids: dict[str, str] = {}
    try:
        for name, metadata in reported.items():
            agent = engine.agents.register(name, bootstrap_token=TOKEN).agent
            engine.agents.heartbeat(agent.id, metadata)
            ids[name] = agent.id
        yield engine, ids
    finally:
        engine.close()


def _names(engine: Engine, group_id: str) -> list[tuple[str, str]]:
    return [(m.agent.name, m.reason) for m in engine.agent_groups.members(group_id)]


def test_members_are_the_agents_meeting_every_criterion(fleet: tuple[Engine, dict[str, str]]) -> None:
    engine, _ = fleet
    linux = engine.agent_groups.create("Linux", match_os="linux", actor=ALICE)
    assert _names(engine, linux.id) == [("db-1", "criteria"), ("web-1", "criteria"), ("web-2", "criteria")]
    amd64 = engine.agent_groups.create("Linux amd64", match_os="linux", match_architecture="amd64", actor=ALICE)
    assert _names(engine, amd64.id) == [("db-1", "criteria"), ("web-1", "criteria")]
    subnet = engine.agent_groups.create("DC A", match_ip_cidr="10.0.1.0/24", actor=ALICE)
    assert [n for n, _ in _names(engine, subnet.id)] == ["web-1", "web-2", "win-1"]
    old = engine.agent_groups.create("Old agents", match_version="1.4.*", actor=ALICE)
    assert [n for n, _ in _names(engine, old.id)] == ["db-1", "web-1", "win-1"]


def test_membership_follows_what_agents_report_next(fleet: tuple[Engine, dict[str, str]]) -> None:
    engine, ids = fleet
    subnet = engine.agent_groups.create("DC A", match_ip_cidr="10.0.1.0/24", actor=ALICE)
    engine.agents.heartbeat(ids["web-1"], {"ip_address": "10.0.9.1"})
    assert "web-1" not in [n for n, _ in _names(engine, subnet.id)]
    engine.agent_groups.update(subnet.id, match_ip_cidr="10.0.0.0/16", actor=ALICE)
    assert [n for n, _ in _names(engine, subnet.id)] == ["db-1", "web-1", "web-2", "win-1"]


def test_manual_includes_and_excludes_override_the_criteria(fleet: tuple[Engine, dict[str, str]]) -> None:
    engine, ids = fleet
    linux = engine.agent_groups.create("Linux", match_os="linux", actor=ALICE)
    engine.agent_groups.set_membership(linux.id, ids["db-1"], MembershipType.EXCLUDE, actor=ALICE)
    engine.agent_groups.set_membership(linux.id, ids["win-1"], "include", actor=ALICE)
    assert _names(engine, linux.id) == [("web-1", "criteria"), ("web-2", "criteria"), ("win-1", "include")]
    engine.agent_groups.set_membership(linux.id, ids["db-1"], None, actor=ALICE)
    assert "db-1" in [n for n, _ in _names(engine, linux.id)]
    with pytest.raises(NotFound, match="manual membership"):
        engine.agent_groups.set_membership(linux.id, ids["db-1"], None, actor=ALICE)
    with pytest.raises(InvalidInput, match="membership"):
        engine.agent_groups.set_membership(linux.id, ids["db-1"], "maybe", actor=ALICE)
    with pytest.raises(NotFound, match="no agent 'agent-nope'"):
        engine.agent_groups.set_membership(linux.id, "agent-nope", "include", actor=ALICE)


def test_a_group_without_criteria_has_only_its_manual_members(fleet: tuple[Engine, dict[str, str]]) -> None:
    engine, ids = fleet
    manual = engine.agent_groups.create("Hand-picked", actor=ALICE)
    assert _names(engine, manual.id) == []
    engine.agent_groups.set_membership(manual.id, ids["web-2"], "include", actor=ALICE)
    assert _names(engine, manual.id) == [("web-2", "include")]


def test_bad_input_is_refused_and_nothing_is_written(fleet: tuple[Engine, dict[str, str]]) -> None:
    engine, _ = fleet
    before = AuditEventModel.select().count()
    with pytest.raises(InvalidInput, match=r"match_ip_cidr '10\.0\.1\.0/33' is not an IP network"):
        engine.agent_groups.create("Bad", match_ip_cidr="10.0.1.0/33", actor=ALICE)
    with pytest.raises(InvalidInput, match="name"):
        engine.agent_groups.create("  ", actor=ALICE)
    group = engine.agent_groups.create("Linux", match_os="linux", actor=ALICE)
    with pytest.raises(Conflict, match="already exists"):
        engine.agent_groups.create("Linux", actor=ALICE)
    with pytest.raises(InvalidInput, match="nothing to update"):
        engine.agent_groups.update(group.id, actor=ALICE)
    with pytest.raises(InvalidInput, match="not an IP network"):
        engine.agent_groups.update(group.id, match_ip_cidr="nowhere", actor=ALICE)
    assert engine.agent_groups.get(group.id).match_ip_cidr == ""
    assert AuditEventModel.select().count() == before + 1  # only the one create
    assert engine.agent_groups.create("Net", match_ip_cidr="10.0.1.7/24", actor=ALICE).match_ip_cidr == "10.0.1.0/24"


def test_deleting_a_group_frees_the_policies_that_named_it(fleet: tuple[Engine, dict[str, str]]) -> None:
    engine, ids = fleet
    group = engine.agent_groups.create("Linux", match_os="linux", actor=ALICE)
    engine.agent_groups.set_membership(group.id, ids["win-1"], "include", actor=ALICE)
    policy = engine.renewal_policies.create("Linux fleet", agent_group_id=group.id, actor=ALICE)
    engine.agent_groups.delete(group.id, actor=ALICE)
    with pytest.raises(NotFound, match="no agent group"):
        engine.agent_groups.get(group.id)
    assert RenewalPolicyModel.get_by_id(policy.id).agent_group_id is None
    assert engine.renewal_policies.get(policy.id).agent_group_id is None
    actions = [e.action for e in AuditEventModel.select().where(AuditEventModel.resource_type == "agent_group")]
    assert actions == ["create_agent_group", "agent_group_membership_changed", "delete_agent_group"]
