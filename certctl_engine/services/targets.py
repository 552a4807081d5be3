"""Deployment target configurations (where a certificate goes). Connectors arrive later."""

from __future__ import annotations

from typing import Any

from certctl_engine.domain import Actor, Target, TargetType
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services import secret_config
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.validation import optional_id, parse_enum, require_mapping, require_text
from certctl_engine.store.models import AgentModel, TargetModel

_UNSET: Any = object()


class TargetService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._sealed = secret_config.SealedConfig(ctx.secrets, "target")

    def _target(self, row: TargetModel) -> Target:
        config, secret_fields = self._sealed.view(row.id, row.config, row.secrets_encrypted)
        return Target(
            id=row.id,
            name=row.name,
            type=TargetType(row.type),
            agent_id=row.agent_id,
            config=config,
            secret_fields=secret_fields,
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _row(self, target_id: str) -> TargetModel:
        row = TargetModel.get_or_none(TargetModel.id == target_id)
        if row is None:
            raise NotFound("target", target_id, hint="list targets to see the ids")
        return row

    def _check_agent(self, agent_id: str | None) -> None:
        if agent_id and not AgentModel.get_or_none(AgentModel.id == agent_id):
            raise NotFound("agent", agent_id, hint="list agents to see the ids")

    def list(self, agent_id: str | None = None) -> list[Target]:
        query = TargetModel.select().order_by(TargetModel.name)
        if agent_id:
            query = query.where(TargetModel.agent == agent_id)
        return [self._target(r) for r in query]

    def get(self, target_id: str) -> Target:
        return self._target(self._row(target_id))

    def connector_config(self, target_id: str) -> dict[str, Any]:
        """The full configuration with secrets, for the target connector only; never for display."""
        row = self._row(target_id)
        return self._sealed.full(row.id, row.config, row.secrets_encrypted)

    def create(
        self,
        name: str,
        type: TargetType | str,
        config: dict[str, Any] | None = None,
        *,
        actor: Actor,
        agent_id: str | None = None,
        id: str | None = None,
        enabled: bool = True,
    ) -> Target:
        name = require_text(name, "name")
        target_type = parse_enum(TargetType, type, "target type", field="type")
        target_id = optional_id(id, "id") or new_id("target")
        plain, sealed, secret_fields = self._sealed.seal_new(target_id, require_mapping(config, "config"))
        with self._ctx.store.write():
            self._check_agent(agent_id)
            if TargetModel.get_or_none(TargetModel.id == target_id):
                raise Conflict(f"a target with id '{target_id}' already exists")
            if TargetModel.get_or_none((TargetModel.name == name) & (TargetModel.agent == agent_id)):
                raise Conflict(f"agent '{agent_id}' already has a target named '{name}'")
            now = self._ctx.now()
            row = TargetModel.create(
                id=target_id,
                name=name,
                type=target_type.value,
                agent=agent_id,
                config=plain,
                secrets_encrypted=sealed,
                enabled=bool(enabled),
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "create_target",
                "target",
                target_id,
                {"name": name, "type": target_type.value, "agent_id": agent_id, "secret_fields": secret_fields},
            )
        return self._target(row)

    def update(
        self,
        target_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        type: TargetType | str | None = None,
        config: dict[str, Any] | None = None,
        agent_id: str | None = _UNSET,
        enabled: bool | None = None,
    ) -> Target:
        with self._ctx.store.write():
            row = self._row(target_id)
            changed: list[str] = []
            if name is not None:
                row.name = require_text(name, "name")
                changed.append("name")
            if type is not None:
                row.type = parse_enum(TargetType, type, "target type", field="type").value
                changed.append("type")
            if agent_id is not _UNSET:
                self._check_agent(agent_id)
                row.agent = agent_id or None
                changed.append("agent_id")
            if config is not None:
                row.config, row.secrets_encrypted, _ = self._sealed.seal_new(
                    row.id, require_mapping(config, "config"), row.secrets_encrypted or ""
                )
                changed.append("config")
            if enabled is not None:
                row.enabled = bool(enabled)
                changed.append("enabled")
            if not changed:
                raise InvalidInput("nothing to update: give at least one field")
            if TargetModel.get_or_none(
                (TargetModel.name == row.name) & (TargetModel.agent == row.agent_id) & (TargetModel.id != target_id)
            ):
                raise Conflict(f"agent '{row.agent_id}' already has a target named '{row.name}'")
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "update_target", "target", target_id, {"changed": changed})
        return self._target(row)

    def delete(self, target_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            self._row(target_id)
            TargetModel.delete().where(TargetModel.id == target_id).execute()
            self._audit.record(actor, "delete_target", "target", target_id, {})
