"""The pydantic models every tool returns: they become each tool's ``outputSchema``.

They mirror the engine's domain records (built from them with ``from_attributes``) and
never carry a private key in clear or a secret: issuer configurations arrive from the
engine already redacted, and an exported key is only ever the caller-encrypted PEM.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from certctl_engine.domain import (
    ActorType,
    CertificateStatus,
    ExtendedKeyUsage,
    IssuerType,
    KeyAlgorithm,
    RevocationReason,
)


class Out(BaseModel):
    """Base of every output model: built from engine domain values by attribute."""

    model_config = ConfigDict(from_attributes=True)


class Outcome(StrEnum):
    """What a destructive tool did."""

    DONE = "done"
    DRY_RUN = "dry_run"
    CANCELLED = "cancelled"


class FieldChange(Out):
    field: str = Field(description="The field that changes.")
    before: Any = Field(description="Its value now.")
    after: Any = Field(description="Its value after the change.")


# ----------------------------------------------------------------------------- certificates


class CertificateOut(Out):
    id: str
    name: str
    common_name: str
    sans: list[str] = Field(description="Subject alternative names.")
    environment: str
    owner_id: str | None
    team_id: str | None
    issuer_id: str
    renewal_policy_id: str
    certificate_profile_id: str | None
    status: CertificateStatus
    expires_at: datetime | None = Field(description="UTC expiry of the current version; null if never issued.")
    tags: dict[str, str]
    target_ids: list[str]
    current_version_id: str | None
    last_renewal_at: datetime | None
    last_deployment_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: RevocationReason | None
    created_at: datetime
    updated_at: datetime


class CertificatePage(Out):
    items: list[CertificateOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; null on the last page.")
    total: int | None = Field(default=None, description="Rows matching the filters (only when asked for).")


class VersionOut(Out):
    """One issued certificate (a version of a managed certificate), without its PEM."""

    id: str
    certificate_id: str
    serial_number: str = Field(description="Hexadecimal serial number.")
    fingerprint_sha256: str
    subject_cn: str
    issuer_dn: str
    not_before: datetime
    not_after: datetime
    key_algorithm: KeyAlgorithm | None
    key_size: int = Field(description="Key size in bits.")
    has_private_key: bool = Field(description="Whether certctl holds (sealed) the private key of this version.")
    created_at: datetime


class CertificateDetail(Out):
    certificate: CertificateOut
    current_version: VersionOut | None
    days_until_expiry: float | None = Field(description="Days from now to expiry (negative once expired).")


class VersionList(Out):
    certificate_id: str
    items: list[VersionOut] = Field(description="Newest first.")


class IssueResult(Out):
    certificate: CertificateOut
    version: VersionOut


class CertificateChange(Out):
    """Result of a destructive certificate operation (revoke, archive)."""

    outcome: Outcome
    message: str
    certificate: CertificateOut = Field(description="The certificate as it is after the call.")
    changes: list[FieldChange] = Field(description="What changed (done) or would change (dry_run).")


class ExportResult(Out):
    certificate_id: str
    certificate_pem: str = Field(description="The leaf certificate.")
    chain_pem: str = Field(description="The issuing chain, nearest issuer first.")
    full_chain_pem: str = Field(description="Leaf followed by the chain (nginx style).")
    encrypted_private_key_pem: str | None = Field(
        description="PKCS#8 private key encrypted with the caller's passphrase; only when asked for."
    )


class ImportedCertificate(Out):
    certificate: CertificateOut
    had_private_key: bool


class ImportResult(Out):
    imported: list[ImportedCertificate]


# ----------------------------------------------------------------------------- pki


class CRLResult(Out):
    issuer_id: str
    crl_number: int
    entry_count: int = Field(description="Revoked serials listed on the CRL.")
    this_update: datetime
    next_update: datetime | None
    der_base64: str = Field(description="The DER CRL, base64-encoded.")
    pem: str


class OCSPResult(Out):
    issuer_id: str
    serial_number: str
    status: str = Field(description="good, revoked or unknown.")
    revoked_at: datetime | None
    reason: RevocationReason | None
    certificate_id: str | None


# ----------------------------------------------------------------------------- configuration


class IssuerCheckOut(Out):
    issuer_id: str
    ok: bool
    message: str


class IssuerOut(Out):
    id: str
    name: str
    type: IssuerType
    config: dict[str, Any] = Field(description="Configuration; secret fields are shown redacted.")
    secret_fields: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class IssuerList(Out):
    items: list[IssuerOut]
    next_cursor: str | None


class KeyAlgorithmRuleOut(Out):
    algorithm: KeyAlgorithm
    min_size: int = Field(description="Minimum key size in bits.")


class ProfileOut(Out):
    id: str
    name: str
    description: str
    allowed_key_algorithms: list[KeyAlgorithmRuleOut]
    max_ttl_seconds: int = Field(description="Longest lifetime allowed, in seconds (0 = the issuer's default).")
    allowed_ekus: list[ExtendedKeyUsage]
    required_san_patterns: list[str]
    spiffe_uri_pattern: str
    allow_short_lived: bool
    requires_approval: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ProfileList(Out):
    items: list[ProfileOut]
    next_cursor: str | None


class TeamOut(Out):
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class TeamList(Out):
    items: list[TeamOut]
    next_cursor: str | None


class OwnerOut(Out):
    id: str
    name: str
    email: str
    team_id: str | None
    created_at: datetime
    updated_at: datetime


class OwnerList(Out):
    items: list[OwnerOut]
    next_cursor: str | None


class RenewalPolicyOut(Out):
    id: str
    name: str
    renewal_window_days: int
    auto_renew: bool
    max_retries: int
    retry_interval_minutes: int
    alert_thresholds_days: list[int]
    certificate_profile_id: str | None
    agent_group_id: str | None
    created_at: datetime
    updated_at: datetime


class RenewalPolicyList(Out):
    items: list[RenewalPolicyOut]
    next_cursor: str | None


class DeleteResult(Out):
    """Result of a delete: done, a dry run, or cancelled by the person asked."""

    outcome: Outcome
    message: str
    resource_type: str
    resource_id: str
    deleted: dict[str, Any] | None = Field(description="The object that was (or would be) deleted.")


# ----------------------------------------------------------------------------- audit


class AuditEventOut(Out):
    id: str
    sequence: int
    actor: str
    actor_type: ActorType
    action: str
    resource_type: str
    resource_id: str
    details: dict[str, Any]
    timestamp: datetime
    previous_hash: str
    hash: str


class AuditPage(Out):
    items: list[AuditEventOut] = Field(description="Newest first.")
    next_cursor: str | None


class AuditVerificationOut(Out):
    ok: bool
    events_checked: int
    first_broken_sequence: int | None
    first_broken_event_id: str | None
    problem: str | None


# ----------------------------------------------------------------------------- stats


class ExpiryBucketsOut(Out):
    expired: int = Field(description="Live certificates already past expiry.")
    days_0_7: int
    days_8_30: int
    days_31_90: int


class InventoryStatsOut(Out):
    total: int
    by_status: dict[str, int]
    expiry: ExpiryBucketsOut
    by_issuer: dict[str, int]
    computed_at: datetime


class AgentCountsOut(Out):
    online: int
    offline: int
    degraded: int


class DashboardOut(Out):
    inventory: InventoryStatsOut
    agents: AgentCountsOut
    pending_jobs: int
    awaiting_approval: int
    failed_jobs_30d: int
    completed_jobs_30d: int
    open_violations: int
    audit_sequence: int = Field(description="Newest audit sequence number; changes whenever anything changes.")


class StatusCounts(Out):
    counts: dict[str, int] = Field(description="Certificates per status (every status, zeros included).")
    total: int


class DayCountOut(Out):
    day: str = Field(description="UTC day, YYYY-MM-DD.")
    count: int


class ExpirationTimeline(Out):
    days: int
    points: list[DayCountOut] = Field(description="Days with at least one live certificate expiring.")
    total: int


class HealthOut(Out):
    ok: bool
    store: str = Field(description="Where the store is (no password).")
    schema_version: int | None
    audit_sequence: int
    read_only: bool
    toolsets: list[str]
    server_time: datetime


# ---------------------------------------------------------------------- alerts: notifications, policies, discovery
class NotificationOut(Out):
    id: str
    type: str
    channel: str
    channel_id: str | None
    certificate_id: str | None
    recipient: str
    subject: str
    message: str
    severity: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


class NotificationList(Out):
    items: list[NotificationOut]
    next_cursor: str | None


class PolicyRuleOut(Out):
    id: str
    name: str
    type: str
    config: dict[str, Any]
    severity: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


class PolicyRuleList(Out):
    items: list[PolicyRuleOut]


class PolicyViolationOut(Out):
    id: str
    certificate_id: str
    rule_id: str
    message: str
    severity: str
    created_at: datetime
    resolved_at: datetime | None


class PolicyViolationList(Out):
    items: list[PolicyViolationOut]
    next_cursor: str | None


class DiscoveryOut(Out):
    id: str
    fingerprint_sha256: str
    common_name: str
    sans: list[str]
    serial_number: str
    issuer_dn: str
    not_after: datetime | None
    key_algorithm: str
    key_size: int
    is_ca: bool
    source_path: str
    source_format: str
    agent_id: str | None
    managed_certificate_id: str | None
    status: str
    first_seen_at: datetime
    last_seen_at: datetime


class DiscoveryList(Out):
    items: list[DiscoveryOut]
    next_cursor: str | None


class ScanTargetOut(Out):
    id: str
    name: str
    cidrs: list[str]
    ports: list[int]
    sni_names: list[str]
    allow_reserved: bool
    enabled: bool
    scan_interval_hours: int
    timeout_ms: int
    last_scan_at: datetime | None
    last_scan_certs_found: int | None


class ScanTargetList(Out):
    items: list[ScanTargetOut]


class ScanResultOut(Out):
    id: str
    certificates_found: int
    certificates_new: int
    errors_count: int
    scan_duration_ms: int
    errors: list[str]
