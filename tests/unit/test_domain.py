"""Enum values are the original system's exact strings; operators and tools rely on them."""

from certctl_engine import domain
from certctl_engine.domain import CertificateStatus, JobStatus, RevocationReason


def test_certificate_statuses() -> None:
    assert [s.value for s in CertificateStatus] == [
        "Pending",
        "Active",
        "Expiring",
        "Expired",
        "RenewalInProgress",
        "Failed",
        "Revoked",
        "Archived",
    ]


def test_job_types_and_states() -> None:
    assert [t.value for t in domain.JobType] == ["Issuance", "Renewal", "Deployment", "Validation"]
    assert [s.value for s in JobStatus] == [
        "Pending",
        "AwaitingCSR",
        "AwaitingApproval",
        "Running",
        "Completed",
        "Failed",
        "Cancelled",
    ]


def test_revocation_reasons_carry_rfc5280_codes() -> None:
    assert {r.value: r.code for r in RevocationReason} == {
        "unspecified": 0,
        "keyCompromise": 1,
        "caCompromise": 2,
        "affiliationChanged": 3,
        "superseded": 4,
        "cessationOfOperation": 5,
        "certificateHold": 6,
        "privilegeWithdrawn": 9,
    }


def test_other_enums() -> None:
    assert [v.value for v in domain.VerificationStatus] == ["pending", "success", "failed", "skipped"]
    assert [v.value for v in domain.NotificationType] == [
        "ExpirationWarning",
        "RenewalSuccess",
        "RenewalFailure",
        "DeploymentSuccess",
        "DeploymentFailure",
        "PolicyViolation",
        "Revocation",
        # certctl's additions, after the original's seven
        "CertificateExpired",
        "ApprovalRequired",
        "AgentOffline",
        "Digest",
    ]
    assert [v.value for v in domain.NotificationChannel] == [
        "Email",
        "Webhook",
        "Slack",
        "Teams",
        "PagerDuty",
        "OpsGenie",
    ]
    assert [v.value for v in domain.NotificationStatus] == ["pending", "sent", "failed", "read"]
    assert [v.value for v in domain.PolicyType] == [
        "AllowedIssuers",
        "AllowedDomains",
        "RequiredMetadata",
        "AllowedEnvironments",
        "RenewalLeadTime",
    ]
    assert [v.value for v in domain.PolicySeverity] == ["Warning", "Error", "Critical"]
    assert [v.value for v in domain.DiscoveryStatus] == ["Unmanaged", "Managed", "Dismissed"]
    assert [v.value for v in domain.AgentStatus] == ["Online", "Offline", "Degraded"]
    assert [v.value for v in domain.ActorType] == ["User", "System", "Agent"]
    assert {"ACME", "GenericCA", "StepCA", "OpenSSL"} <= {v.value for v in domain.IssuerType}
    assert {"NGINX", "Apache", "HAProxy", "F5", "IIS", "Traefik", "Caddy"} <= {v.value for v in domain.TargetType}
    assert domain.DEFAULT_ALERT_THRESHOLDS_DAYS == (30, 14, 7, 0)


def test_short_lived_rule() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)

    def profile(ttl: int, allow: bool) -> domain.Profile:
        return domain.Profile("p", "p", "", (), ttl, (), (), "", allow, False, True, now, now)

    assert profile(300, True).is_short_lived
    assert not profile(300, False).is_short_lived
    assert not profile(3600, True).is_short_lived
    assert not profile(0, True).is_short_lived
