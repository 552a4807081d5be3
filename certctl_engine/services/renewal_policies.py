"""Renewal policies: when to renew, whether automatically, how often to retry, when to warn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from certctl_engine.domain import DEFAULT_ALERT_THRESHOLDS_DAYS, Actor, RenewalPolicy
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.validation import optional_id, require_int, require_text
from certctl_engine.store.models import (
    AgentGroupModel,
    CertificateModel,
    ProfileModel,
    RenewalPolicyModel,
)

DEFAULT_POLICY_ID = "rp-default"


def _policy(row: RenewalPolicyModel) -> RenewalPolicy:
    return RenewalPolicy(
        id=row.id,
        name=row.name,
        renewal_window_days=row.renewal_window_days,
        auto_renew=row.auto_renew,
        max_retries=row.max_retries,
        retry_interval_minutes=row.retry_interval_minutes,
        alert_thresholds_days=tuple(row.alert_thresholds_days or ()),
        certificate_profile_id=row.certificate_profile_id,
        agent_group_id=row.agent_group_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _thresholds(value: Any) -> list[int]:
    if value is None:
        return list(DEFAULT_ALERT_THRESHOLDS_DAYS)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("alert_thresholds_days must be a list of days", field="alert_thresholds_days")
    days = {require_int(v, "alert_thresholds_days", minimum=0, maximum=365) for v in value}
    return sorted(days, reverse=True)


class RenewalPolicyService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit

    def list(self) -> list[RenewalPolicy]:
        return [_policy(r) for r in RenewalPolicyModel.select().order_by(RenewalPolicyModel.name)]

    def get(self, policy_id: str) -> RenewalPolicy:
        return _policy(self._row(policy_id))

    def _row(self, policy_id: str) -> RenewalPolicyModel:
        row = RenewalPolicyModel.get_or_none(RenewalPolicyModel.id == policy_id)
        if row is None:
            raise NotFound("renewal policy", policy_id, hint="list renewal policies to see the ids")
        return row

    def ensure_default(self, *, actor: Actor) -> RenewalPolicy:
        """The built-in policy (30 days, automatic, 3 retries) used when none is named."""
        row = RenewalPolicyModel.get_or_none(RenewalPolicyModel.id == DEFAULT_POLICY_ID)
        if row is not None:
            return _policy(row)
        return self.create("Default", actor=actor, id=DEFAULT_POLICY_ID)

    def _check_refs(self, profile_id: str | None, group_id: str | None) -> None:
        if profile_id and not ProfileModel.get_or_none(ProfileModel.id == profile_id):
            raise NotFound("profile", profile_id)
        if group_id and not AgentGroupModel.get_or_none(AgentGroupModel.id == group_id):
            raise NotFound("agent group", group_id)

    def create(
        self,
        name: str,
        *,
        actor: Actor,
        id: str | None = None,
        renewal_window_days: int = 30,
        auto_renew: bool = True,
        max_retries: int = 3,
        retry_interval_minutes: int = 60,
        alert_thresholds_days: Sequence[int] | None = None,
        certificate_profile_id: str | None = None,
        agent_group_id: str | None = None,
    ) -> RenewalPolicy:
        values = {
            "name": require_text(name, "name"),
            "renewal_window_days": require_int(renewal_window_days, "renewal_window_days", minimum=1, maximum=365),
            "auto_renew": bool(auto_renew),
            "max_retries": require_int(max_retries, "max_retries", minimum=0, maximum=100),
            "retry_interval_minutes": require_int(
                retry_interval_minutes, "retry_interval_minutes", minimum=0, maximum=10_080
            ),
            "alert_thresholds_days": _thresholds(alert_thresholds_days),
        }
        policy_id = optional_id(id, "id") or new_id("rp")
        with self._ctx.store.write():
            self._check_refs(certificate_profile_id, agent_group_id)
            if RenewalPolicyModel.get_or_none(
                (RenewalPolicyModel.name == values["name"]) | (RenewalPolicyModel.id == policy_id)
            ):
                raise Conflict(f"a renewal policy named '{values['name']}' (or with id '{policy_id}') already exists")
            now = self._ctx.now()
            row = RenewalPolicyModel.create(
                id=policy_id,
                certificate_profile=certificate_profile_id,
                agent_group=agent_group_id,
                created_at=now,
                updated_at=now,
                **values,
            )
            self._audit.record(actor, "create_renewal_policy", "renewal_policy", policy_id, {"name": values["name"]})
        return _policy(row)

    def update(self, policy_id: str, *, actor: Actor, **changes: Any) -> RenewalPolicy:
        checks = {
            "name": lambda v: require_text(v, "name"),
            "renewal_window_days": lambda v: require_int(v, "renewal_window_days", minimum=1, maximum=365),
            "auto_renew": bool,
            "max_retries": lambda v: require_int(v, "max_retries", minimum=0, maximum=100),
            "retry_interval_minutes": lambda v: require_int(v, "retry_interval_minutes", minimum=0, maximum=10_080),
            "alert_thresholds_days": _thresholds,
        }
        refs = {"certificate_profile_id": "certificate_profile", "agent_group_id": "agent_group"}
        unknown = set(changes) - set(checks) - set(refs)
        if unknown:
            raise InvalidInput(f"unknown renewal policy field(s): {', '.join(sorted(unknown))}")
        with self._ctx.store.write():
            row = self._row(policy_id)
            for key, check in checks.items():
                if key in changes:
                    setattr(row, key, check(changes[key]))
            self._check_refs(changes.get("certificate_profile_id"), changes.get("agent_group_id"))
            for key, attr in refs.items():
                if key in changes:
                    setattr(row, attr, changes[key] or None)
            if "name" in changes and RenewalPolicyModel.get_or_none(
                (RenewalPolicyModel.name == row.name) & (RenewalPolicyModel.id != policy_id)
            ):
                raise Conflict(f"a renewal policy named '{row.name}' already exists")
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(
                actor, "update_renewal_policy", "renewal_policy", policy_id, {"changed": sorted(changes)}
            )
        return _policy(row)

    def delete(self, policy_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            self._row(policy_id)
            used = CertificateModel.select().where(CertificateModel.renewal_policy == policy_id).count()
            if used:
                raise Conflict(f"renewal policy '{policy_id}' is used by {used} certificate(s); move them first")
            RenewalPolicyModel.delete().where(RenewalPolicyModel.id == policy_id).execute()
            self._audit.record(actor, "delete_renewal_policy", "renewal_policy", policy_id, {})
