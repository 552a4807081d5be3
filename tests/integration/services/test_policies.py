"""Policy rules: Critical ones refuse with their message, the others open violations that resolve when fixed."""

from __future__ import annotations

import pytest

from certctl_engine.domain import Actor, PolicySeverity
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, InvalidInput, NotFound, PolicyViolation
from certctl_engine.store.models import AuditEventModel, CertificateModel

ALICE = Actor("alice")


@pytest.fixture
def ruled(engine: Engine) -> Engine:
    engine.issuers.create("Local", "GenericCA", {}, actor=ALICE, id="iss-local")
    engine.issuers.create("Other", "GenericCA", {}, actor=ALICE, id="iss-other")
    engine.ownership.create_team("Web", actor=ALICE, id="team-web")
    engine.ownership.create_owner("Bob", "bob@example.com", "team-web", actor=ALICE, id="o-bob")
    return engine


def _create(engine: Engine, name: str, **extra: object) -> str:
    return engine.certificates.create(
        name=name,
        common_name=str(extra.pop("cn", f"{name}.example.com")),
        issuer_id=str(extra.pop("issuer", "iss-local")),
        actor=ALICE,
        **extra,  # type: ignore[arg-type]
    ).id


def test_a_critical_rule_refuses_registration_with_its_message_and_stores_nothing(ruled: Engine) -> None:
    ruled.policies.create_rule(
        "Approved issuers", "AllowedIssuers", {"issuers": ["iss-local"]}, severity="Critical", actor=ALICE
    )
    before = CertificateModel.select().count()
    with pytest.raises(PolicyViolation, match="Approved issuers: issuer 'iss-other' is not approved") as caught:
        _create(ruled, "rogue", issuer="iss-other")
    assert caught.value.rule is not None
    assert CertificateModel.select().count() == before
    assert _create(ruled, "fine")  # an approved issuer passes


def test_a_warning_opens_a_violation_that_resolves_when_fixed(ruled: Engine) -> None:
    rule = ruled.policies.create_rule(
        "Require an owner", "RequiredMetadata", {"fields": ["owner", "tags.costcenter"]}, actor=ALICE
    )
    cert_id = _create(ruled, "orphan")
    (violation,) = ruled.policies.list_violations().items
    assert violation.certificate_id == cert_id and violation.rule_id == rule.id
    assert violation.severity is PolicySeverity.WARNING
    assert "missing required metadata: owner, tags.costcenter" in violation.message
    assert AuditEventModel.select().where(AuditEventModel.action == "policy_violation_opened").count() == 1

    ruled.certificates.update(cert_id, owner_id="o-bob", tags={"costcenter": "cc-1"}, actor=ALICE)
    scan = ruled.policies.scan(actor=ALICE)
    assert (scan.checked, scan.opened, scan.resolved) == (1, 0, 1)
    assert ruled.policies.list_violations().items == ()
    (history,) = ruled.policies.list_violations(include_resolved=True).items
    assert history.resolved_at is not None
    # A scan over a compliant inventory changes nothing.
    assert ruled.policies.scan(actor=ALICE).resolved == 0


def test_domains_environments_and_lead_time(ruled: Engine) -> None:
    ruled.policies.create_rule("Our domains", "AllowedDomains", {"domains": ["example.com", "*.corp.net"]}, actor=ALICE)
    ruled.policies.create_rule("Envs", "AllowedEnvironments", {"environments": ["production"]}, actor=ALICE)
    ruled.renewal_policies.create("Late", actor=ALICE, id="rp-late", renewal_window_days=7)
    ruled.policies.create_rule("Lead time", "RenewalLeadTime", {"min_days": 14}, actor=ALICE)
    good = _create(ruled, "good", cn="api.example.com", sans=("a.b.corp.net",), environment="production")
    bad = _create(ruled, "bad", cn="evil.example.org", sans=("x.example.com",), renewal_policy_id="rp-late")
    assert ruled.policies.list_violations(certificate_id=good).items == ()
    messages = sorted(v.message for v in ruled.policies.list_violations(certificate_id=bad).items)
    assert messages == [
        "Envs: no environment is not allowed (allowed: production)",
        "Lead time: renews 7 days ahead; the rule wants renewal at least 14 days before expiry",
        "Our domains: evil.example.org outside the allowed domains (example.com, *.corp.net)",
    ]


def test_issuance_is_held_to_rules_added_after_registration(ruled: Engine) -> None:
    first = _create(ruled, "one", issuer="iss-other")
    second = _create(ruled, "two")
    ruled.policies.create_rule(
        "Approved issuers", "AllowedIssuers", {"issuers": ["iss-local"]}, severity="Critical", actor=ALICE
    )
    with pytest.raises(PolicyViolation, match="not approved"):
        ruled.issuance.issue(first, actor=ALICE)
    result = ruled.issuance.issue_many([first, second], actor=ALICE)
    assert [f.certificate_id for f in result.failed] == [first] and "not approved" in result.failed[0].error
    assert [v.certificate_id for v in result.issued] == [second]


def test_rule_configuration_and_crud_errors_are_clear(ruled: Engine) -> None:
    for rule_type, config in (
        ("AllowedIssuers", {}),
        ("AllowedDomains", {"domains": []}),
        ("RequiredMetadata", {"fields": ["colour"]}),
        ("RenewalLeadTime", {"min_days": 0}),
    ):
        with pytest.raises(InvalidInput) as caught:
            ruled.policies.create_rule("x", rule_type, config, actor=ALICE)
        assert caught.value.field == "config", rule_type
    with pytest.raises(InvalidInput, match="policy type"):
        ruled.policies.create_rule("x", "NoSuchType", {}, actor=ALICE)
    rule = ruled.policies.create_rule("Envs", "AllowedEnvironments", {"environments": ["prod"]}, actor=ALICE)
    with pytest.raises(Conflict):
        ruled.policies.create_rule("Envs", "AllowedEnvironments", {"environments": ["prod"]}, actor=ALICE)
    updated = ruled.policies.update_rule(rule.id, severity="Error", enabled=False, actor=ALICE)
    assert updated.severity is PolicySeverity.ERROR and not updated.enabled
    _create(ruled, "anything")  # a disabled rule checks nothing
    assert ruled.policies.list_violations().items == ()
    ruled.policies.delete_rule(rule.id, actor=ALICE)
    with pytest.raises(NotFound):
        ruled.policies.get_rule(rule.id)


def test_certctls_own_certificates_are_not_held_to_inventory_rules(ruled: Engine) -> None:
    ruled.policies.create_rule(
        "Approved issuers", "AllowedIssuers", {"issuers": ["iss-local"]}, severity="Critical", actor=ALICE
    )
    ruled.policies.create_rule("Require an owner", "RequiredMetadata", {"fields": ["owner"]}, actor=ALICE)
    cert_id = _create(ruled, "svc", issuer="iss-other", tags={"certctl.internal": "engine-service"})
    ruled.issuance.issue(cert_id, actor=ALICE)
    assert ruled.policies.list_violations().items == ()
