"""Issuer configurations: which CA, how to reach it, and the secrets to do so (sealed at rest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certctl_engine.domain import Actor, Issuer, IssuerType
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services import secret_config
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.validation import optional_id, parse_enum, require_mapping, require_text
from certctl_engine.store.models import CertificateModel, IssuerModel


def check_connector_config(issuer_type: IssuerType, config: dict[str, Any], now: Any) -> None:
    """Refuse a configuration that cannot work, when it is given rather than at first use.

    For step-ca, Vault PKI and script issuers every field given is checked here; a required
    field still missing is named when the issuer is tested or first used, so an issuer can be
    saved before all its settings are known.
    """
    if issuer_type is IssuerType.ACME:
        from certctl_engine.connectors.issuers.acme import ACMESettings

        ACMESettings.from_config(config)
    if issuer_type is IssuerType.STEP_CA:
        from certctl_engine.connectors.issuers.stepca import StepCASettings

        step = StepCASettings.from_config(config, complete=False)
        if step.provisioner_key_text:
            step.key()  # a key that cannot be read or decrypted is refused when it is given
    if issuer_type is IssuerType.VAULT_PKI:
        from certctl_engine.connectors.issuers.vault import VaultSettings

        VaultSettings.from_config(config, complete=False)
    if issuer_type is IssuerType.OPENSSL:
        from certctl_engine.connectors.issuers.script import ScriptSettings

        ScriptSettings.from_config(config, complete=False)
    if issuer_type is IssuerType.GENERIC_CA:
        from certctl_engine.pki.ca import load_ca
        from certctl_engine.services.ca import read_ca_files

        files = read_ca_files(config)
        if files is not None:
            load_ca(*files, now=now)
        validity = config.get("validity_days", 90)
        if isinstance(validity, bool) or not isinstance(validity, int) or not 1 <= validity <= 36_500:
            raise InvalidInput(
                f"validity_days must be a whole number of days from 1 to 36500, got {validity!r}", field="config"
            )


@dataclass(frozen=True, slots=True)
class ConnectorSetup:
    """What issuing through an issuer needs of it; the configuration holds its secrets."""

    issuer_id: str
    type: IssuerType
    enabled: bool
    config: dict[str, Any] = field(repr=False)


class IssuerService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._sealed = secret_config.SealedConfig(ctx.secrets, "issuer")

    def _issuer(self, row: IssuerModel) -> Issuer:
        config, secret_fields = self._sealed.view(row.id, row.config, row.secrets_encrypted)
        return Issuer(
            id=row.id,
            name=row.name,
            type=IssuerType(row.type),
            config=config,
            secret_fields=secret_fields,
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _row(self, issuer_id: str) -> IssuerModel:
        row = IssuerModel.get_or_none(IssuerModel.id == issuer_id)
        if row is None:
            raise NotFound("issuer", issuer_id, hint="list issuers to see the ids")
        return row

    def list(self) -> list[Issuer]:
        return [self._issuer(r) for r in IssuerModel.select().order_by(IssuerModel.name)]

    def get(self, issuer_id: str) -> Issuer:
        return self._issuer(self._row(issuer_id))

    def connector_config(self, issuer_id: str) -> dict[str, Any]:
        """The full configuration with secrets, for the issuer connector only; never for display."""
        return self.connector_config_of(self._row(issuer_id))

    def connector_config_of(self, row: IssuerModel) -> dict[str, Any]:
        return self._sealed.full(row.id, row.config, row.secrets_encrypted)

    def connector_setup(self, issuer_id: str) -> ConnectorSetup:
        """Type, state and full configuration from one read, for issuing through the issuer."""
        row = self._row(issuer_id)
        return ConnectorSetup(
            issuer_id=row.id,
            type=IssuerType(row.type),
            enabled=bool(row.enabled),
            config=self.connector_config_of(row),
        )

    def save_connector_state(self, issuer_id: str, values: dict[str, Any], *, actor: Actor, action: str) -> None:
        """Merge what a connector must keep (an ACME account) into the issuer's configuration.

        Secret-named fields are sealed like any other; the audit event names the fields, never
        their values.
        """
        with self._ctx.store.write():
            row = self._row(issuer_id)
            config = {**self.connector_config_of(row), **values}
            row.config, row.secrets_encrypted, _ = self._sealed.seal_new(row.id, config)
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, action, "issuer", issuer_id, {"fields": sorted(values)})

    def create(
        self,
        name: str,
        type: IssuerType | str,
        config: dict[str, Any] | None = None,
        *,
        actor: Actor,
        id: str | None = None,
        enabled: bool = True,
    ) -> Issuer:
        name = require_text(name, "name")
        issuer_type = parse_enum(IssuerType, type, "issuer type", field="type")
        issuer_id = optional_id(id, "id") or new_id("issuer")
        config = require_mapping(config, "config")
        check_connector_config(issuer_type, config, self._ctx.now())
        plain, sealed, secret_fields = self._sealed.seal_new(issuer_id, config)
        with self._ctx.store.write():
            if IssuerModel.get_or_none((IssuerModel.name == name) | (IssuerModel.id == issuer_id)):
                raise Conflict(f"an issuer named '{name}' (or with id '{issuer_id}') already exists")
            now = self._ctx.now()
            row = IssuerModel.create(
                id=issuer_id,
                name=name,
                type=issuer_type.value,
                config=plain,
                secrets_encrypted=sealed,
                enabled=bool(enabled),
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "create_issuer",
                "issuer",
                issuer_id,
                {"name": name, "type": issuer_type.value, "secret_fields": secret_fields},
            )
        return self._issuer(row)

    def update(
        self,
        issuer_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        type: IssuerType | str | None = None,
        config: dict[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> Issuer:
        with self._ctx.store.write():
            row = self._row(issuer_id)
            changed: list[str] = []
            if name is not None:
                name = require_text(name, "name")
                if IssuerModel.get_or_none((IssuerModel.name == name) & (IssuerModel.id != issuer_id)):
                    raise Conflict(f"an issuer named '{name}' already exists")
                row.name = name
                changed.append("name")
            if type is not None:
                row.type = parse_enum(IssuerType, type, "issuer type", field="type").value
                changed.append("type")
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
            check_connector_config(IssuerType(row.type), self.connector_config_of(row), self._ctx.now())
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "update_issuer", "issuer", issuer_id, {"changed": changed})
        return self._issuer(row)

    def delete(self, issuer_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            self._row(issuer_id)
            used = CertificateModel.select().where(CertificateModel.issuer == issuer_id).count()
            if used:
                raise Conflict(f"issuer '{issuer_id}' still issues {used} certificate(s); move or archive them first")
            IssuerModel.delete().where(IssuerModel.id == issuer_id).execute()
            self._audit.record(actor, "delete_issuer", "issuer", issuer_id, {})
