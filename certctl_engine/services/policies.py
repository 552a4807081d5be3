"""Policy rules and their violations: the inventory's rule types, enforced and tracked.

A rule is checked when a certificate is registered, issued or renewed, and over the whole
inventory on a schedule. A Critical rule refuses the operation with the rule's own
message; Warning and Error rules record a violation, which stays open until the
certificate complies and is then resolved (never deleted: the history of who broke what,
and for how long, is part of the audit). Opening and resolving are audited, and opened
violations become alerts through the notification service.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certctl_engine.domain import (
    Actor,
    CertificateStatus,
    Page,
    PolicyRule,
    PolicyScan,
    PolicySeverity,
    PolicyType,
    PolicyViolationRecord,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.paging import check_limit, decode_cursor, encode_cursor
from certctl_engine.services.validation import optional_id, parse_enum, require_mapping, require_text
from certctl_engine.store.models import (
    CertificateModel,
    CertificateSANModel,
    PolicyRuleModel,
    PolicyViolationModel,
    RenewalPolicyModel,
)

INTERNAL_TAG = "certctl.internal"
_METADATA_FIELDS = ("owner", "team", "environment", "renewal_policy", "profile")
_SCAN_BATCH = 500
_NOT_CHECKED = (CertificateStatus.ARCHIVED.value, CertificateStatus.REVOKED.value)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the rules look at, for a certificate that exists or is about to."""

    id: str
    common_name: str
    sans: tuple[str, ...]
    issuer_id: str
    owner_id: str | None
    team_id: str | None
    environment: str
    tags: dict[str, str]
    renewal_policy_id: str | None
    profile_id: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    rule_name: str
    severity: PolicySeverity
    message: str


def _rule(row: PolicyRuleModel) -> PolicyRule:
    return PolicyRule(
        id=row.id,
        name=row.name,
        type=PolicyType(row.type),
        config=dict(row.config or {}),
        severity=PolicySeverity(row.severity),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _violation(row: PolicyViolationModel) -> PolicyViolationRecord:
    return PolicyViolationRecord(
        id=row.id,
        certificate_id=row.certificate_id,
        rule_id=row.rule_id,
        message=row.message,
        severity=PolicySeverity(row.severity),
        created_at=row.created_at,
        resolved_at=row.resolved_at,
    )


def _text_list(config: dict[str, Any], key: str, rule_type: PolicyType) -> list[str]:
    value = config.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput(f"a {rule_type.value} rule needs '{key}', a non-empty list of names", field="config")
    return [v.strip() for v in value]


def check_rule_config(rule_type: PolicyType, config: dict[str, Any]) -> dict[str, Any]:
    """The rule's configuration, checked for its type; each refusal names what is wrong."""
    if rule_type is PolicyType.ALLOWED_ISSUERS:
        return {"issuers": _text_list(config, "issuers", rule_type)}
    if rule_type is PolicyType.ALLOWED_DOMAINS:
        return {"domains": [d.lower().lstrip(".") for d in _text_list(config, "domains", rule_type)]}
    if rule_type is PolicyType.ALLOWED_ENVIRONMENTS:
        return {"environments": _text_list(config, "environments", rule_type)}
    if rule_type is PolicyType.REQUIRED_METADATA:
        fields = _text_list(config, "fields", rule_type)
        unknown = [f for f in fields if f not in _METADATA_FIELDS and not f.startswith("tags.")]
        if unknown:
            raise InvalidInput(
                f"unknown metadata field(s) {', '.join(unknown)}; use {', '.join(_METADATA_FIELDS)} or tags.<key>",
                field="config",
            )
        return {"fields": fields}
    days = config.get("min_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise InvalidInput("a RenewalLeadTime rule needs 'min_days', a whole number from 1 to 365", field="config")
    return {"min_days": days}


def _domain_allowed(name: str, domains: Sequence[str]) -> bool:
    host = name.lower().removeprefix("*.")
    for domain in domains:
        if "*" in domain or "?" in domain:
            if fnmatch.fnmatchcase(host, domain):
                return True
        elif host == domain or host.endswith("." + domain):
            return True
    return False


def evaluate(rule: PolicyRule, facts: CertificateFacts, renewal_window_days: int | None) -> str | None:
    """Why ``facts`` break ``rule``, or None when they comply."""
    config = rule.config
    if rule.type is PolicyType.ALLOWED_ISSUERS:
        if facts.issuer_id not in config.get("issuers", ()):
            return f"issuer '{facts.issuer_id}' is not approved (approved: {', '.join(config.get('issuers', ()))})"
    elif rule.type is PolicyType.ALLOWED_DOMAINS:
        names = [n for n in (facts.common_name, *facts.sans) if n and "@" not in n and not n[:1].isdigit()]
        outside = [n for n in names if not _domain_allowed(n, config.get("domains", ()))]
        if outside:
            return f"{', '.join(outside)} outside the allowed domains ({', '.join(config.get('domains', ()))})"
    elif rule.type is PolicyType.ALLOWED_ENVIRONMENTS:
        allowed = config.get("environments", ())
        if facts.environment not in allowed:
            shown = f"environment '{facts.environment}'" if facts.environment else "no environment"
            return f"{shown} is not allowed (allowed: {', '.join(allowed)})"
    elif rule.type is PolicyType.REQUIRED_METADATA:
        present = {
            "owner": facts.owner_id,
            "team": facts.team_id,
            "environment": facts.environment,
            "renewal_policy": facts.renewal_policy_id,
            "profile": facts.profile_id,
        }
        missing = [
            f
            for f in config.get("fields", ())
            if not (facts.tags.get(f[5:]) if f.startswith("tags.") else present.get(f))
        ]
        if missing:
            return f"missing required metadata: {', '.join(missing)}"
    elif rule.type is PolicyType.RENEWAL_LEAD_TIME:
        wanted = int(config.get("min_days", 0))
        if renewal_window_days is None or renewal_window_days < wanted:
            have = "no renewal policy" if renewal_window_days is None else f"renews {renewal_window_days} days ahead"
            return f"{have}; the rule wants renewal at least {wanted} days before expiry"
    return None


class PolicyService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit

    # ------------------------------------------------------------------ rules
    def _row(self, rule_id: str) -> PolicyRuleModel:
        row = PolicyRuleModel.get_or_none(PolicyRuleModel.id == rule_id)
        if row is None:
            raise NotFound("policy rule", rule_id, hint="list policy rules to see the ids")
        return row

    def list_rules(self) -> list[PolicyRule]:
        return [_rule(r) for r in PolicyRuleModel.select().order_by(PolicyRuleModel.name)]

    def get_rule(self, rule_id: str) -> PolicyRule:
        return _rule(self._row(rule_id))

    def create_rule(
        self,
        name: str,
        type: PolicyType | str,
        config: dict[str, Any],
        *,
        actor: Actor,
        severity: PolicySeverity | str = PolicySeverity.WARNING,
        enabled: bool = True,
        id: str | None = None,
    ) -> PolicyRule:
        name = require_text(name, "name")
        rule_type = parse_enum(PolicyType, type, "policy type", field="type")
        level = parse_enum(PolicySeverity, severity, "policy severity", field="severity")
        checked = check_rule_config(rule_type, require_mapping(config, "config"))
        rule_id = optional_id(id, "id") or new_id("rule")
        with self._ctx.store.write():
            if PolicyRuleModel.get_or_none((PolicyRuleModel.name == name) | (PolicyRuleModel.id == rule_id)):
                raise Conflict(f"a policy rule named '{name}' (or with id '{rule_id}') already exists")
            now = self._ctx.now()
            row = PolicyRuleModel.create(
                id=rule_id,
                name=name,
                type=rule_type.value,
                config=checked,
                severity=level.value,
                enabled=bool(enabled),
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "policy_rule_created",
                "policy_rule",
                rule_id,
                {"name": name, "type": rule_type.value, "severity": level.value, "config": checked},
            )
        return _rule(row)

    def update_rule(
        self,
        rule_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        severity: PolicySeverity | str | None = None,
        enabled: bool | None = None,
    ) -> PolicyRule:
        with self._ctx.store.write():
            row = self._row(rule_id)
            changed: dict[str, Any] = {}
            if name is not None:
                name = require_text(name, "name")
                if PolicyRuleModel.get_or_none((PolicyRuleModel.name == name) & (PolicyRuleModel.id != rule_id)):
                    raise Conflict(f"a policy rule named '{name}' already exists")
                changed["name"] = row.name = name
            if config is not None:
                changed["config"] = row.config = check_rule_config(
                    PolicyType(row.type), require_mapping(config, "config")
                )
            if severity is not None:
                changed["severity"] = row.severity = parse_enum(
                    PolicySeverity, severity, "policy severity", field="severity"
                ).value
            if enabled is not None:
                changed["enabled"] = row.enabled = bool(enabled)
            if not changed:
                raise InvalidInput("nothing to update: give name, config, severity or enabled")
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "policy_rule_updated", "policy_rule", row.id, changed)
        return _rule(row)

    def delete_rule(self, rule_id: str, *, actor: Actor) -> None:
        """The rule and its violations go (the audit keeps the history)."""
        with self._ctx.store.write():
            row = self._row(rule_id)
            PolicyRuleModel.delete().where(PolicyRuleModel.id == row.id).execute()
            self._audit.record(actor, "policy_rule_deleted", "policy_rule", row.id, {"name": row.name})

    # ------------------------------------------------------------------ checking
    def enabled_rules(self) -> list[PolicyRule]:
        return [_rule(r) for r in PolicyRuleModel.select().where(PolicyRuleModel.enabled == True)]  # noqa: E712

    def findings(self, facts: CertificateFacts, rules: Iterable[PolicyRule] | None = None) -> list[Finding]:
        if facts.tags.get(INTERNAL_TAG):  # certctl's own certificates (its service identity) are not inventory
            return []
        window = None
        if facts.renewal_policy_id:
            window = (
                RenewalPolicyModel.select(RenewalPolicyModel.renewal_window_days)
                .where(RenewalPolicyModel.id == facts.renewal_policy_id)
                .scalar()
            )
        found: list[Finding] = []
        for rule in self.enabled_rules() if rules is None else rules:
            reason = evaluate(rule, facts, window)
            if reason is not None:
                found.append(Finding(rule.id, rule.name, rule.severity, f"{rule.name}: {reason}"))
        return found

    def enforce(self, facts: CertificateFacts) -> list[Finding]:
        """Refuse when a Critical rule is broken; return the other findings to be recorded."""
        found = self.findings(facts)
        for finding in found:
            if finding.severity is PolicySeverity.CRITICAL:
                raise PolicyViolation(
                    f"policy rule {finding.message}",
                    rule=finding.rule_id,
                    field="policy_rule",
                    hint="change the certificate or the rule",
                )
        return found

    def record(self, certificate_id: str, found: Sequence[Finding], *, actor: Actor) -> tuple[int, int]:
        """Open violations for new findings, resolve the open ones that no longer apply: (opened, resolved)."""
        now = self._ctx.now()
        opened = resolved = 0
        with self._ctx.store.write():
            open_rows = {
                r.rule_id: r
                for r in PolicyViolationModel.select().where(
                    (PolicyViolationModel.certificate == certificate_id) & PolicyViolationModel.resolved_at.is_null()
                )
            }
            current = {f.rule_id: f for f in found}
            for rule_id, finding in current.items():
                row = open_rows.get(rule_id)
                if row is not None:
                    if row.message != finding.message:
                        row.message = finding.message
                        row.save()
                    continue
                violation_id = new_id("violation")
                PolicyViolationModel.create(
                    id=violation_id,
                    certificate=certificate_id,
                    rule=rule_id,
                    message=finding.message,
                    severity=finding.severity.value,
                    created_at=now,
                )
                self._audit.record(
                    actor,
                    "policy_violation_opened",
                    "policy_violation",
                    violation_id,
                    {
                        "certificate_id": certificate_id,
                        "rule_id": rule_id,
                        "rule": finding.rule_name,
                        "severity": finding.severity.value,
                        "message": finding.message,
                    },
                )
                opened += 1
            for rule_id, row in open_rows.items():
                if rule_id not in current:
                    row.resolved_at = now
                    row.save()
                    self._audit.record(
                        actor,
                        "policy_violation_resolved",
                        "policy_violation",
                        row.id,
                        {"certificate_id": certificate_id, "rule_id": rule_id},
                    )
                    resolved += 1
        return opened, resolved

    def scan(self, *, actor: Actor) -> PolicyScan:
        """Every live certificate against every enabled rule, in batches; the scheduler's policy loop."""
        rules = self.enabled_rules()
        checked = opened = resolved = 0
        last = ""
        while True:
            rows = list(
                CertificateModel.select()
                .where((CertificateModel.id > last) & CertificateModel.status.not_in(_NOT_CHECKED))
                .order_by(CertificateModel.id)
                .limit(_SCAN_BATCH)
            )
            if not rows:
                break
            sans: dict[str, list[str]] = {}
            for cert_id, value in (
                CertificateSANModel.select(CertificateSANModel.certificate, CertificateSANModel.value)
                .where(CertificateSANModel.certificate.in_([r.id for r in rows]))
                .tuples()
            ):
                sans.setdefault(cert_id, []).append(value)
            with_open = {
                v
                for (v,) in PolicyViolationModel.select(PolicyViolationModel.certificate)
                .where(
                    PolicyViolationModel.certificate.in_([r.id for r in rows])
                    & PolicyViolationModel.resolved_at.is_null()
                )
                .tuples()
            }
            for row in rows:
                found = self.findings(facts_of(row, sans.get(row.id, ())), rules)
                if found or row.id in with_open:
                    o, r = self.record(row.id, found, actor=actor)
                    opened += o
                    resolved += r
                checked += 1
            last = rows[-1].id
        return PolicyScan(checked, opened, resolved)

    # ------------------------------------------------------------------ reading
    def list_violations(
        self,
        *,
        rule_id: str | None = None,
        certificate_id: str | None = None,
        include_resolved: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[PolicyViolationRecord]:
        size = check_limit(limit)
        query = PolicyViolationModel.select()
        if rule_id:
            self._row(rule_id)
            query = query.where(PolicyViolationModel.rule == rule_id)
        if certificate_id:
            query = query.where(PolicyViolationModel.certificate == certificate_id)
        if not include_resolved:
            query = query.where(PolicyViolationModel.resolved_at.is_null())
        if cursor:
            position = decode_cursor("violations", cursor)
            at = datetime.fromisoformat(position["t"])
            query = query.where(
                (PolicyViolationModel.created_at < at)
                | ((PolicyViolationModel.created_at == at) & (PolicyViolationModel.id < position["i"]))
            )
        rows = list(
            query.order_by(PolicyViolationModel.created_at.desc(), PolicyViolationModel.id.desc()).limit(size + 1)
        )
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = (
            encode_cursor("violations", {"t": rows[-1].created_at.isoformat(), "i": rows[-1].id})
            if more and rows
            else None
        )
        return Page(tuple(_violation(r) for r in rows), next_cursor)

    def count_open(self) -> int:
        return PolicyViolationModel.select().where(PolicyViolationModel.resolved_at.is_null()).count()


def facts_of(row: CertificateModel, sans: Iterable[str]) -> CertificateFacts:
    return CertificateFacts(
        id=row.id,
        common_name=row.common_name,
        sans=tuple(sans),
        issuer_id=row.issuer_id,
        owner_id=row.owner_id,
        team_id=row.team_id,
        environment=row.environment or "",
        tags=dict(row.tags or {}),
        renewal_policy_id=row.renewal_policy_id,
        profile_id=row.certificate_profile_id,
    )
