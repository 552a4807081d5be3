"""Teams and owners: who is responsible for a certificate and who gets told."""

from __future__ import annotations

import peewee

from certctl_engine.domain import Actor, Owner, Team
from certctl_engine.errors import Conflict, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.validation import optional_id, require_email, require_text
from certctl_engine.store.models import CertificateModel, OwnerModel, TeamModel

_UNSET = object()


def _team(row: TeamModel) -> Team:
    return Team(row.id, row.name, row.description, row.created_at, row.updated_at)


def _owner(row: OwnerModel) -> Owner:
    return Owner(row.id, row.name, row.email, row.team_id, row.created_at, row.updated_at)


class OwnershipService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit

    # ------------------------------------------------------------------ teams
    def list_teams(self) -> list[Team]:
        return [_team(r) for r in TeamModel.select().order_by(TeamModel.name)]

    def get_team(self, team_id: str) -> Team:
        return _team(self._team_row(team_id))

    def _team_row(self, team_id: str) -> TeamModel:
        row = TeamModel.get_or_none(TeamModel.id == team_id)
        if row is None:
            raise NotFound("team", team_id, hint="list teams to see the ids")
        return row

    def create_team(self, name: str, description: str = "", *, actor: Actor, id: str | None = None) -> Team:
        name = require_text(name, "name")
        description = require_text(description, "description", max_length=2000, allow_empty=True)
        team_id = optional_id(id, "id") or new_id("team")
        with self._ctx.store.write():
            if TeamModel.get_or_none((TeamModel.name == name) | (TeamModel.id == team_id)):
                raise Conflict(f"a team named '{name}' (or with id '{team_id}') already exists")
            now = self._ctx.now()
            row = TeamModel.create(id=team_id, name=name, description=description, created_at=now, updated_at=now)
            self._audit.record(actor, "create_team", "team", team_id, {"name": name})
        return _team(row)

    def update_team(
        self, team_id: str, *, actor: Actor, name: str | None = None, description: str | None = None
    ) -> Team:
        with self._ctx.store.write():
            row = self._team_row(team_id)
            changes: dict[str, object] = {}
            if name is not None:
                name = require_text(name, "name")
                clash = TeamModel.get_or_none((TeamModel.name == name) & (TeamModel.id != team_id))
                if clash:
                    raise Conflict(f"a team named '{name}' already exists")
                changes["name"] = name
            if description is not None:
                changes["description"] = require_text(description, "description", max_length=2000, allow_empty=True)
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "update_team", "team", team_id, {"changed": sorted(changes)})
        return _team(row)

    def delete_team(self, team_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            self._team_row(team_id)
            owner_ids = [o.id for o in OwnerModel.select(OwnerModel.id).where(OwnerModel.team == team_id)]
            in_use = (
                CertificateModel.select()
                .where((CertificateModel.team == team_id) | (CertificateModel.owner.in_(owner_ids)))
                .count()
            )
            if in_use:
                raise Conflict(
                    f"team '{team_id}' still has {in_use} certificate(s) (directly or through its owners); "
                    "reassign them first"
                )
            TeamModel.delete().where(TeamModel.id == team_id).execute()
            self._audit.record(actor, "delete_team", "team", team_id, {"owners_removed": owner_ids})

    # ------------------------------------------------------------------ owners
    def list_owners(self, team_id: str | None = None) -> list[Owner]:
        query = OwnerModel.select().order_by(OwnerModel.name)
        if team_id:
            query = query.where(OwnerModel.team == team_id)
        return [_owner(r) for r in query]

    def get_owner(self, owner_id: str) -> Owner:
        return _owner(self._owner_row(owner_id))

    def _owner_row(self, owner_id: str) -> OwnerModel:
        row = OwnerModel.get_or_none(OwnerModel.id == owner_id)
        if row is None:
            raise NotFound("owner", owner_id, hint="list owners to see the ids")
        return row

    def create_owner(
        self, name: str, email: str = "", team_id: str | None = None, *, actor: Actor, id: str | None = None
    ) -> Owner:
        name = require_text(name, "name")
        email = require_email(email)
        owner_id = optional_id(id, "id") or new_id("owner")
        with self._ctx.store.write():
            if team_id:
                self._team_row(team_id)
            if OwnerModel.get_or_none(OwnerModel.id == owner_id):
                raise Conflict(f"an owner with id '{owner_id}' already exists")
            now = self._ctx.now()
            row = OwnerModel.create(id=owner_id, name=name, email=email, team=team_id, created_at=now, updated_at=now)
            self._audit.record(actor, "create_owner", "owner", owner_id, {"name": name, "team_id": team_id})
        return _owner(row)

    def update_owner(
        self,
        owner_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        email: str | None = None,
        team_id: str | object | None = _UNSET,
    ) -> Owner:
        with self._ctx.store.write():
            row = self._owner_row(owner_id)
            changed: list[str] = []
            if name is not None:
                row.name = require_text(name, "name")
                changed.append("name")
            if email is not None:
                row.email = require_email(email)
                changed.append("email")
            if team_id is not _UNSET:
                if team_id:
                    assert isinstance(team_id, str)
                    self._team_row(team_id)
                row.team = team_id or None
                changed.append("team_id")
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "update_owner", "owner", owner_id, {"changed": changed})
        return _owner(row)

    def delete_owner(self, owner_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            self._owner_row(owner_id)
            in_use = CertificateModel.select().where(CertificateModel.owner == owner_id).count()
            if in_use:
                raise Conflict(f"owner '{owner_id}' still owns {in_use} certificate(s); reassign them first")
            try:
                OwnerModel.delete().where(OwnerModel.id == owner_id).execute()
            except peewee.IntegrityError as exc:
                raise Conflict(f"owner '{owner_id}' is still referenced: {exc}") from None
            self._audit.record(actor, "delete_owner", "owner", owner_id, {})
