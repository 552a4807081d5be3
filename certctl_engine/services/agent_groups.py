"""Agent groups: sets of agents chosen by what they report (OS, architecture, address, version).

A group's members are computed when asked, from the agents' latest heartbeat metadata, so
an agent that moves to another subnet or upgrades leaves and joins groups by itself.
Every non-empty criterion must match (an empty one matches anything); a group with no
criterion at all has only its manual members. Manual ``include`` rows add agents the
criteria miss and ``exclude`` rows remove agents they catch. Unlike a plain string
comparison, the address criterion is a real CIDR containment test, and the version
criterion takes shell-style patterns (``1.4.*``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from typing import Any

from certctl_engine.domain import Actor, Agent, AgentGroup, AgentGroupMember, MembershipType
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services.agents import AgentService
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.validation import optional_id, parse_enum, require_text
from certctl_engine.store.models import AgentGroupMemberModel, AgentGroupModel, AgentModel, RenewalPolicyModel

__all__ = ["AgentGroupService", "matches"]

_CRITERIA = ("match_os", "match_architecture", "match_ip_cidr", "match_version")
_UNSET: Any = object()


def _group(row: AgentGroupModel) -> AgentGroup:
    return AgentGroup(
        id=row.id,
        name=row.name,
        description=row.description,
        match_os=row.match_os,
        match_architecture=row.match_architecture,
        match_ip_cidr=row.match_ip_cidr,
        match_version=row.match_version,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _criterion(field: str, value: Any) -> str:
    """A criterion as stored: trimmed text, the CIDR in its canonical form."""
    text = require_text("" if value is None else value, field, max_length=64, allow_empty=True)
    if field == "match_ip_cidr" and text:
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise InvalidInput(
                f"match_ip_cidr '{text}' is not an IP network; write it as 10.0.1.0/24 or 2001:db8::/32",
                field="match_ip_cidr",
            ) from None
    return text


def matches(group: AgentGroup, agent: Agent) -> bool:
    """Whether ``agent`` meets every criterion ``group`` sets (False for a group without criteria)."""
    if not group.has_criteria:
        return False
    if group.match_os and group.match_os.lower() != agent.os.lower():
        return False
    if group.match_architecture and group.match_architecture.lower() != agent.architecture.lower():
        return False
    if group.match_version and not fnmatch.fnmatchcase(agent.version, group.match_version):
        return False
    if group.match_ip_cidr:
        try:
            if ipaddress.ip_address(agent.ip_address) not in ipaddress.ip_network(group.match_ip_cidr):
                return False
        except ValueError:  # no address reported yet, or another family
            return False
    return True


class AgentGroupService:
    def __init__(self, ctx: ServiceContext, audit: AuditService, agents: AgentService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._agents = agents

    def _row(self, group_id: str) -> AgentGroupModel:
        row = AgentGroupModel.get_or_none(AgentGroupModel.id == group_id)
        if row is None:
            raise NotFound("agent group", group_id, hint="list agent groups to see the ids")
        return row

    def list(self) -> list[AgentGroup]:
        return [_group(r) for r in AgentGroupModel.select().order_by(AgentGroupModel.name)]

    def get(self, group_id: str) -> AgentGroup:
        return _group(self._row(group_id))

    def create(
        self,
        name: str,
        *,
        actor: Actor,
        description: str = "",
        match_os: str = "",
        match_architecture: str = "",
        match_ip_cidr: str = "",
        match_version: str = "",
        enabled: bool = True,
        id: str | None = None,
    ) -> AgentGroup:
        name = require_text(name, "name")
        description = require_text(description, "description", max_length=2000, allow_empty=True)
        given = {"match_os": match_os, "match_architecture": match_architecture, "match_ip_cidr": match_ip_cidr}
        criteria = {f: _criterion(f, v) for f, v in {**given, "match_version": match_version}.items()}
        group_id = optional_id(id, "id") or new_id("ag")
        with self._ctx.store.write():
            if AgentGroupModel.get_or_none((AgentGroupModel.name == name) | (AgentGroupModel.id == group_id)):
                raise Conflict(f"an agent group named '{name}' (or with id '{group_id}') already exists")
            now = self._ctx.now()
            row = AgentGroupModel.create(
                id=group_id,
                name=name,
                description=description,
                enabled=bool(enabled),
                created_at=now,
                updated_at=now,
                **criteria,
            )
            self._audit.record(actor, "create_agent_group", "agent_group", group_id, {"name": name, **criteria})
        return _group(row)

    def update(
        self,
        group_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        description: str | None = None,
        match_os: str | None = None,
        match_architecture: str | None = None,
        match_ip_cidr: str | None = None,
        match_version: str | None = None,
        enabled: bool | None = None,
    ) -> AgentGroup:
        """Change the given fields; an empty string clears a criterion."""
        criteria = {
            f: _criterion(f, v)
            for f, v in (
                ("match_os", match_os),
                ("match_architecture", match_architecture),
                ("match_ip_cidr", match_ip_cidr),
                ("match_version", match_version),
            )
            if v is not None
        }
        with self._ctx.store.write():
            row = self._row(group_id)
            changed: dict[str, Any] = dict(criteria)
            if name is not None:
                changed["name"] = require_text(name, "name")
                clash = AgentGroupModel.get_or_none(
                    (AgentGroupModel.name == changed["name"]) & (AgentGroupModel.id != group_id)
                )
                if clash is not None:
                    raise Conflict(f"an agent group named '{changed['name']}' already exists: {clash.id}")
            if description is not None:
                changed["description"] = require_text(description, "description", max_length=2000, allow_empty=True)
            if enabled is not None:
                changed["enabled"] = bool(enabled)
            if not changed:
                raise InvalidInput("nothing to update: give at least one field")
            for field, value in changed.items():
                setattr(row, field, value)
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "update_agent_group", "agent_group", group_id, {"changed": sorted(changed)})
        return _group(row)

    def delete(self, group_id: str, *, actor: Actor) -> None:
        """Delete a group and its manual memberships; renewal policies that named it keep working without it."""
        with self._ctx.store.write():
            row = self._row(group_id)
            RenewalPolicyModel.update(agent_group=None).where(RenewalPolicyModel.agent_group == group_id).execute()
            row.delete_instance(recursive=False)
            self._audit.record(actor, "delete_agent_group", "agent_group", group_id, {"name": row.name})

    # ------------------------------------------------------------------ membership
    def set_membership(
        self, group_id: str, agent_id: str, membership: MembershipType | str | None, *, actor: Actor
    ) -> None:
        """Include or exclude an agent by hand; ``None`` removes the manual row (criteria decide again)."""
        kind = None if membership is None else parse_enum(MembershipType, membership, "membership", field="membership")
        with self._ctx.store.write():
            self._row(group_id)
            if not AgentModel.get_or_none(AgentModel.id == agent_id):
                raise NotFound("agent", agent_id, hint="list agents to see the ids")
            existing = AgentGroupMemberModel.get_or_none(
                (AgentGroupMemberModel.group == group_id) & (AgentGroupMemberModel.agent == agent_id)
            )
            if kind is None:
                if existing is None:
                    raise NotFound("manual membership", f"{agent_id} in {group_id}")
                existing.delete_instance()
            elif existing is None:
                AgentGroupMemberModel.create(group=group_id, agent=agent_id, membership_type=kind.value)
            else:
                AgentGroupMemberModel.update(membership_type=kind.value).where(
                    (AgentGroupMemberModel.group == group_id) & (AgentGroupMemberModel.agent == agent_id)
                ).execute()
            self._audit.record(
                actor,
                "agent_group_membership_changed",
                "agent_group",
                group_id,
                {"agent_id": agent_id, "membership": kind.value if kind else None},
            )

    def members(self, group_id: str) -> list[AgentGroupMember]:
        """The group's agents now: criteria matches and manual includes, minus manual excludes, by name."""
        group = self.get(group_id)
        manual = {
            r.agent_id: r.membership_type
            for r in AgentGroupMemberModel.select().where(AgentGroupMemberModel.group == group_id)
        }
        members: list[AgentGroupMember] = []
        for agent in self._agents.list():
            mark = manual.get(agent.id)
            if mark == MembershipType.EXCLUDE.value:
                continue
            if mark == MembershipType.INCLUDE.value:
                members.append(AgentGroupMember(agent, MembershipType.INCLUDE.value))
            elif matches(group, agent):
                members.append(AgentGroupMember(agent, "criteria"))
        return members
