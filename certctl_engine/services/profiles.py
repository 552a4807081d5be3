"""Certificate profiles: the crypto and usage rules a certificate must be issued under."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import peewee

from certctl_engine.domain import (
    SHORT_LIVED_MAX_TTL_SECONDS,
    Actor,
    ExtendedKeyUsage,
    KeyAlgorithm,
    KeyAlgorithmRule,
    Profile,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.validation import optional_id, parse_enum, require_int, require_text
from certctl_engine.store.models import CertificateModel, ProfileModel

DEFAULT_KEY_ALGORITHMS = (KeyAlgorithmRule(KeyAlgorithm.ECDSA, 256), KeyAlgorithmRule(KeyAlgorithm.RSA, 2048))
DEFAULT_EKUS = (ExtendedKeyUsage.SERVER_AUTH,)
_MIN_SIZES = {KeyAlgorithm.RSA: 2048, KeyAlgorithm.ECDSA: 256, KeyAlgorithm.ED25519: 0}
PROFILE_EKUS = tuple(e for e in ExtendedKeyUsage if e is not ExtendedKeyUsage.OCSP_SIGNING)


def short_lived_profile() -> peewee.Expression:
    """SQL for ``Profile.is_short_lived`` on a joined (possibly absent) profile row."""
    return (
        ProfileModel.id.is_null(False)
        & (ProfileModel.allow_short_lived == True)  # noqa: E712 - SQL comparison
        & (ProfileModel.max_ttl_seconds > 0)
        & (ProfileModel.max_ttl_seconds < SHORT_LIVED_MAX_TTL_SECONDS)
    )


def _profile(row: ProfileModel) -> Profile:
    return Profile(
        id=row.id,
        name=row.name,
        description=row.description,
        allowed_key_algorithms=tuple(
            KeyAlgorithmRule(KeyAlgorithm(r["algorithm"]), int(r["min_size"])) for r in row.allowed_key_algorithms
        ),
        max_ttl_seconds=row.max_ttl_seconds,
        allowed_ekus=tuple(ExtendedKeyUsage(e) for e in row.allowed_ekus),
        required_san_patterns=tuple(row.required_san_patterns),
        spiffe_uri_pattern=row.spiffe_uri_pattern,
        allow_short_lived=row.allow_short_lived,
        requires_approval=row.requires_approval,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _key_rules(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return [{"algorithm": r.algorithm.value, "min_size": r.min_size} for r in DEFAULT_KEY_ALGORITHMS]
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise InvalidInput("allowed_key_algorithms must be a non-empty list", field="allowed_key_algorithms")
    rules: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, KeyAlgorithmRule):
            algorithm, size = item.algorithm, item.min_size
        elif isinstance(item, dict):
            algorithm = parse_enum(KeyAlgorithm, item.get("algorithm"), "key algorithm", field="allowed_key_algorithms")
            size = require_int(item.get("min_size", _MIN_SIZES[algorithm]), "min_size", minimum=0)
        else:
            raise InvalidInput("each allowed key algorithm is {algorithm, min_size}", field="allowed_key_algorithms")
        if size < _MIN_SIZES[algorithm]:
            raise InvalidInput(
                f"{algorithm.value} minimum size must be at least {_MIN_SIZES[algorithm]} bits, got {size}",
                field="allowed_key_algorithms",
            )
        rules.append({"algorithm": algorithm.value, "min_size": size})
    return rules


def _ekus(value: Any) -> list[str]:
    if value is None:
        return [e.value for e in DEFAULT_EKUS]
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidInput("allowed_ekus must be a non-empty list", field="allowed_ekus")
    result: list[str] = []
    for item in value:
        if item == ExtendedKeyUsage.OCSP_SIGNING.value or item is ExtendedKeyUsage.OCSP_SIGNING:
            raise InvalidInput("extended key usage 'OCSPSigning' cannot be put in a profile", field="allowed_ekus")
        eku = parse_enum(ExtendedKeyUsage, item, "extended key usage", field="allowed_ekus", allowed=PROFILE_EKUS)
        if eku.value not in result:
            result.append(eku.value)
    return result


def _patterns(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput("required_san_patterns must be a list of regular expressions", field="required_san_patterns")
    for pattern in value:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise InvalidInput(
                f"required SAN pattern {pattern!r} is not a valid regular expression: {exc}",
                field="required_san_patterns",
            ) from None
    return list(value)


def _check_ttl(max_ttl_seconds: int, allow_short_lived: bool) -> None:
    require_int(max_ttl_seconds, "max_ttl_seconds", minimum=0)
    if allow_short_lived and not (0 < max_ttl_seconds < SHORT_LIVED_MAX_TTL_SECONDS):
        raise InvalidInput(
            f"allow_short_lived needs max_ttl_seconds between 1 and {SHORT_LIVED_MAX_TTL_SECONDS - 1}, "
            f"got {max_ttl_seconds}",
            field="max_ttl_seconds",
        )


class ProfileService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit

    def list(self) -> list[Profile]:
        return [_profile(r) for r in ProfileModel.select().order_by(ProfileModel.name)]

    def get(self, profile_id: str) -> Profile:
        return _profile(self._row(profile_id))

    def _row(self, profile_id: str) -> ProfileModel:
        row = ProfileModel.get_or_none(ProfileModel.id == profile_id)
        if row is None:
            raise NotFound("profile", profile_id, hint="list profiles to see the ids")
        return row

    def create(
        self,
        name: str,
        *,
        actor: Actor,
        id: str | None = None,
        description: str = "",
        allowed_key_algorithms: Sequence[Any] | None = None,
        max_ttl_seconds: int = 0,
        allowed_ekus: Sequence[Any] | None = None,
        required_san_patterns: Sequence[str] | None = None,
        spiffe_uri_pattern: str = "",
        allow_short_lived: bool = False,
        requires_approval: bool = False,
        enabled: bool = True,
    ) -> Profile:
        name = require_text(name, "name")
        _check_ttl(max_ttl_seconds, allow_short_lived)
        values = {
            "name": name,
            "description": require_text(description, "description", max_length=2000, allow_empty=True),
            "allowed_key_algorithms": _key_rules(allowed_key_algorithms),
            "max_ttl_seconds": max_ttl_seconds,
            "allowed_ekus": _ekus(allowed_ekus),
            "required_san_patterns": _patterns(required_san_patterns),
            "spiffe_uri_pattern": require_text(
                spiffe_uri_pattern, "spiffe_uri_pattern", max_length=512, allow_empty=True
            ),
            "allow_short_lived": bool(allow_short_lived),
            "requires_approval": bool(requires_approval),
            "enabled": bool(enabled),
        }
        profile_id = optional_id(id, "id") or new_id("prof")
        with self._ctx.store.write():
            if ProfileModel.get_or_none((ProfileModel.name == name) | (ProfileModel.id == profile_id)):
                raise Conflict(f"a profile named '{name}' (or with id '{profile_id}') already exists")
            now = self._ctx.now()
            row = ProfileModel.create(id=profile_id, created_at=now, updated_at=now, **values)
            self._audit.record(actor, "create_profile", "profile", profile_id, {"name": name})
        return _profile(row)

    def update(self, profile_id: str, *, actor: Actor, **changes: Any) -> Profile:
        allowed = {
            "name",
            "description",
            "allowed_key_algorithms",
            "max_ttl_seconds",
            "allowed_ekus",
            "required_san_patterns",
            "spiffe_uri_pattern",
            "allow_short_lived",
            "requires_approval",
            "enabled",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(f"unknown profile field(s): {', '.join(sorted(unknown))}")
        with self._ctx.store.write():
            row = self._row(profile_id)
            if "name" in changes:
                name = require_text(changes["name"], "name")
                if ProfileModel.get_or_none((ProfileModel.name == name) & (ProfileModel.id != profile_id)):
                    raise Conflict(f"a profile named '{name}' already exists")
                row.name = name
            if "description" in changes:
                row.description = require_text(changes["description"], "description", max_length=2000, allow_empty=True)
            if "allowed_key_algorithms" in changes:
                row.allowed_key_algorithms = _key_rules(changes["allowed_key_algorithms"])
            if "allowed_ekus" in changes:
                row.allowed_ekus = _ekus(changes["allowed_ekus"])
            if "required_san_patterns" in changes:
                row.required_san_patterns = _patterns(changes["required_san_patterns"])
            if "spiffe_uri_pattern" in changes:
                row.spiffe_uri_pattern = require_text(
                    changes["spiffe_uri_pattern"], "spiffe_uri_pattern", max_length=512, allow_empty=True
                )
            for flag in ("allow_short_lived", "requires_approval", "enabled"):
                if flag in changes:
                    setattr(row, flag, bool(changes[flag]))
            if "max_ttl_seconds" in changes:
                row.max_ttl_seconds = changes["max_ttl_seconds"]
            _check_ttl(row.max_ttl_seconds, row.allow_short_lived)
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "update_profile", "profile", profile_id, {"changed": sorted(changes)})
        return _profile(row)

    def delete(self, profile_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            self._row(profile_id)
            used = CertificateModel.select().where(CertificateModel.certificate_profile == profile_id).count()
            ProfileModel.delete().where(ProfileModel.id == profile_id).execute()
            self._audit.record(actor, "delete_profile", "profile", profile_id, {"certificates_unlinked": used})
