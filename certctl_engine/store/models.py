"""Peewee models: one class per table of the inventory.

Models are bound to ``database_proxy``; a process holds one open store at a time. Only
``certctl_engine.store`` and ``certctl_engine.services`` use these classes: faces get
domain values.

``managed_certificates.expires_at`` is never NULL: a certificate that has no issued
version yet carries ``NOT_ISSUED`` (the far future), so keyset pagination and expiry range
queries walk one plain index on every back end. Services map it back to ``None``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import peewee

from certctl_engine.store.fields import JSONTextField, UTCDateTimeField

database_proxy = peewee.DatabaseProxy()

NOT_ISSUED = datetime(9999, 12, 31, tzinfo=UTC)
"""Sentinel ``expires_at`` of a certificate that has no issued version yet."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class StoreMetaModel(BaseModel):
    """Key/value facts about the store itself (schema version, secret-key check)."""

    key = peewee.CharField(primary_key=True, max_length=64)
    value = peewee.TextField()

    class Meta:
        table_name = "certctl_meta"


class TeamModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    description = peewee.TextField(default="")
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "teams"


class OwnerModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(max_length=255)
    email = peewee.CharField(max_length=320, default="")
    team = peewee.ForeignKeyField(TeamModel, null=True, on_delete="CASCADE", column_name="team_id")
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "owners"


class ProfileModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    description = peewee.TextField(default="")
    allowed_key_algorithms = JSONTextField(default=list)
    max_ttl_seconds = peewee.BigIntegerField(default=0)
    allowed_ekus = JSONTextField(default=list)
    required_san_patterns = JSONTextField(default=list)
    spiffe_uri_pattern = peewee.TextField(default="")
    allow_short_lived = peewee.BooleanField(default=False)
    requires_approval = peewee.BooleanField(default=False)
    enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "certificate_profiles"


class AgentModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    hostname = peewee.CharField(max_length=255, default="")
    status = peewee.CharField(max_length=32, index=True)
    last_heartbeat_at = UTCDateTimeField(null=True)
    registered_at = UTCDateTimeField(default=utcnow)
    api_key_hash = peewee.CharField(max_length=64, null=True, index=True)
    os = peewee.CharField(max_length=64, default="")
    architecture = peewee.CharField(max_length=64, default="")
    ip_address = peewee.CharField(max_length=64, default="")
    version = peewee.CharField(max_length=64, default="")

    class Meta:
        table_name = "agents"


class AgentGroupModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    description = peewee.TextField(default="")
    match_os = peewee.CharField(max_length=64, default="")
    match_architecture = peewee.CharField(max_length=64, default="")
    match_ip_cidr = peewee.CharField(max_length=64, default="")
    match_version = peewee.CharField(max_length=64, default="")
    enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "agent_groups"


class AgentGroupMemberModel(BaseModel):
    group = peewee.ForeignKeyField(AgentGroupModel, on_delete="CASCADE", column_name="agent_group_id")
    agent = peewee.ForeignKeyField(AgentModel, on_delete="CASCADE", column_name="agent_id")
    membership_type = peewee.CharField(max_length=16, default="include")

    class Meta:
        table_name = "agent_group_members"
        primary_key = peewee.CompositeKey("group", "agent")


class RenewalPolicyModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    renewal_window_days = peewee.IntegerField(default=30)
    auto_renew = peewee.BooleanField(default=True)
    max_retries = peewee.IntegerField(default=3)
    retry_interval_minutes = peewee.IntegerField(default=60)
    alert_thresholds_days = JSONTextField(default=lambda: [30, 14, 7, 0])
    certificate_profile = peewee.ForeignKeyField(
        ProfileModel, null=True, on_delete="SET NULL", column_name="certificate_profile_id"
    )
    agent_group = peewee.ForeignKeyField(AgentGroupModel, null=True, on_delete="SET NULL", column_name="agent_group_id")
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "renewal_policies"


class IssuerModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    type = peewee.CharField(max_length=32)
    config = JSONTextField(default=dict)
    secrets_encrypted = peewee.TextField(null=True)
    enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "issuers"


class TargetModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(max_length=255)
    type = peewee.CharField(max_length=32)
    agent = peewee.ForeignKeyField(AgentModel, null=True, on_delete="CASCADE", column_name="agent_id")
    config = JSONTextField(default=dict)
    secrets_encrypted = peewee.TextField(null=True)
    enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "deployment_targets"
        indexes = ((("agent", "name"), True),)


class CertificateModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    common_name = peewee.CharField(max_length=255)
    environment = peewee.CharField(max_length=64, default="")
    owner = peewee.ForeignKeyField(OwnerModel, null=True, on_delete="RESTRICT", column_name="owner_id")
    team = peewee.ForeignKeyField(TeamModel, null=True, on_delete="CASCADE", column_name="team_id")
    issuer = peewee.ForeignKeyField(IssuerModel, on_delete="RESTRICT", column_name="issuer_id")
    renewal_policy = peewee.ForeignKeyField(RenewalPolicyModel, on_delete="RESTRICT", column_name="renewal_policy_id")
    certificate_profile = peewee.ForeignKeyField(
        ProfileModel, null=True, on_delete="SET NULL", column_name="certificate_profile_id"
    )
    status = peewee.CharField(max_length=32)
    expires_at = UTCDateTimeField(default=lambda: NOT_ISSUED)
    tags = JSONTextField(default=dict)
    current_version_id = peewee.CharField(max_length=64, null=True)
    last_renewal_at = UTCDateTimeField(null=True)
    last_deployment_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)
    revocation_reason = peewee.CharField(max_length=32, null=True)
    search_text = peewee.TextField(default="")
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "managed_certificates"
        indexes = (
            (("expires_at", "id"), False),
            (("status", "expires_at", "id"), False),
            (("owner", "expires_at", "id"), False),
            (("team", "expires_at", "id"), False),
            (("issuer", "expires_at", "id"), False),
            (("certificate_profile", "expires_at", "id"), False),
            (("common_name", "id"), False),
            (("status", "id"), False),
            (("created_at", "id"), False),
            (("updated_at", "id"), False),
        )


class RenewalInfoModel(BaseModel):
    """What the certificate's ACME CA says about renewing its current version (ARI, RFC 9773).

    Kept per certificate for one version: once the certificate has a newer current version
    the row is stale and is fetched again. ``renew_at`` is the moment chosen in the CA's
    suggested window; the renewal check renews when it or the policy window comes first.
    """

    certificate = peewee.ForeignKeyField(
        CertificateModel, primary_key=True, on_delete="CASCADE", column_name="certificate_id"
    )
    version_id = peewee.CharField(max_length=64)
    window_start = UTCDateTimeField()
    window_end = UTCDateTimeField()
    renew_at = UTCDateTimeField(index=True)
    next_check_at = UTCDateTimeField(index=True)
    explanation_url = peewee.TextField(default="")
    checked_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "renewal_info"


class CertificateCountModel(BaseModel):
    """How many certificates have each (status, issuer) pair: the dashboard's totals.

    Maintained by triggers on ``managed_certificates`` (``store.counters``), never by
    service code, so it is exact after every write on every path. ``issuer_id`` is a plain
    column: rows at zero may outlive a deleted issuer and are ignored by readers.
    """

    status = peewee.CharField(max_length=32)
    issuer_id = peewee.CharField(max_length=64)
    total = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "certificate_counts"
        primary_key = peewee.CompositeKey("status", "issuer_id")


class CertificateSANModel(BaseModel):
    certificate = peewee.ForeignKeyField(CertificateModel, on_delete="CASCADE", column_name="certificate_id")
    value = peewee.CharField(max_length=512, index=True)

    class Meta:
        table_name = "certificate_sans"
        primary_key = peewee.CompositeKey("certificate", "value")


class CertificateTargetModel(BaseModel):
    certificate = peewee.ForeignKeyField(CertificateModel, on_delete="CASCADE", column_name="certificate_id")
    target = peewee.ForeignKeyField(TargetModel, on_delete="CASCADE", column_name="target_id")

    class Meta:
        table_name = "certificate_target_mappings"
        primary_key = peewee.CompositeKey("certificate", "target")


class CertificateVersionModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    certificate = peewee.ForeignKeyField(CertificateModel, on_delete="CASCADE", column_name="certificate_id")
    serial_number = peewee.CharField(max_length=64, index=True)
    fingerprint_sha256 = peewee.CharField(max_length=64, unique=True)
    subject_cn = peewee.CharField(max_length=255, default="")
    issuer_dn = peewee.TextField(default="")
    not_before = UTCDateTimeField()
    not_after = UTCDateTimeField(index=True)
    key_algorithm = peewee.CharField(max_length=16, null=True)
    key_size = peewee.IntegerField(default=0)
    pem_chain = peewee.TextField()
    csr_pem = peewee.TextField(default="")
    private_key_encrypted = peewee.TextField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "certificate_versions"
        indexes = ((("certificate", "created_at"), False),)


class JobModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    type = peewee.CharField(max_length=32)
    certificate = peewee.ForeignKeyField(CertificateModel, on_delete="CASCADE", column_name="certificate_id")
    target = peewee.ForeignKeyField(TargetModel, null=True, on_delete="SET NULL", column_name="target_id")
    agent = peewee.ForeignKeyField(AgentModel, null=True, on_delete="SET NULL", column_name="agent_id")
    status = peewee.CharField(max_length=32)
    attempts = peewee.IntegerField(default=0)
    max_attempts = peewee.IntegerField(default=3)
    last_error = peewee.TextField(null=True)
    deployment_result = JSONTextField(null=True)
    details = JSONTextField(default=dict)
    requested_by = peewee.CharField(max_length=255, default="system")
    scheduled_at = UTCDateTimeField(default=utcnow)
    started_at = UTCDateTimeField(null=True)
    completed_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    verification_status = peewee.CharField(max_length=16, default="pending")
    verified_at = UTCDateTimeField(null=True)
    verification_error = peewee.TextField(null=True)
    verification_fingerprint = peewee.CharField(max_length=64, null=True)

    class Meta:
        table_name = "jobs"
        indexes = (
            (("status", "scheduled_at"), False),
            (("certificate", "type", "status"), False),
            (("created_at",), False),
            # Schema v5: the dashboard's "failed/completed in the last 30 days" reads index entries only.
            (("completed_at", "status"), False),
        )


class PolicyRuleModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    type = peewee.CharField(max_length=32)
    config = JSONTextField(default=dict)
    severity = peewee.CharField(max_length=16, default="Warning")
    enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "policy_rules"


class PolicyViolationModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    certificate = peewee.ForeignKeyField(CertificateModel, on_delete="CASCADE", column_name="certificate_id")
    rule = peewee.ForeignKeyField(PolicyRuleModel, on_delete="CASCADE", column_name="rule_id")
    message = peewee.TextField()
    severity = peewee.CharField(max_length=16)
    resolved_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "policy_violations"
        # Schema v5: open violations (resolved_at IS NULL) are counted from the index alone.
        indexes = ((("resolved_at",), False),)


class NotificationChannelModel(BaseModel):
    """Where alerts go: one configured channel (secrets sealed), optionally one team's own."""

    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    type = peewee.CharField(max_length=32)
    config = JSONTextField(default=dict)
    secrets_encrypted = peewee.TextField(null=True)
    team = peewee.ForeignKeyField(TeamModel, null=True, on_delete="SET NULL", column_name="team_id")
    events = JSONTextField(default=list)  # notification types routed here; empty = all
    enabled = peewee.BooleanField(default=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "notification_channels"


class NotificationModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    type = peewee.CharField(max_length=32)
    certificate = peewee.ForeignKeyField(
        CertificateModel, null=True, on_delete="SET NULL", column_name="certificate_id"
    )
    channel = peewee.CharField(max_length=32)
    recipient = peewee.CharField(max_length=512, default="")
    message = peewee.TextField()
    status = peewee.CharField(max_length=16, default="pending")
    error = peewee.TextField(null=True)
    sent_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    # Schema v4: delivery through configured channels, with retries and de-duplication.
    channel_ref = peewee.ForeignKeyField(
        NotificationChannelModel, null=True, on_delete="CASCADE", column_name="channel_id"
    )
    subject = peewee.TextField(default="")
    severity = peewee.CharField(max_length=16, default="warning")
    dedup_key = peewee.CharField(max_length=255, null=True)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(null=True)
    details = JSONTextField(default=dict)

    class Meta:
        table_name = "notification_events"
        indexes = (
            (("status", "created_at"), False),
            (("dedup_key", "channel_ref"), True),
            (("status", "next_attempt_at"), False),
        )


class DiscoveryScanModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    agent = peewee.ForeignKeyField(AgentModel, null=True, on_delete="SET NULL", column_name="agent_id")
    directories = JSONTextField(default=list)
    certificates_found = peewee.IntegerField(default=0)
    certificates_new = peewee.IntegerField(default=0)
    errors_count = peewee.IntegerField(default=0)
    scan_duration_ms = peewee.IntegerField(default=0)
    started_at = UTCDateTimeField(default=utcnow)
    completed_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "discovery_scans"


class DiscoveredCertificateModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    fingerprint_sha256 = peewee.CharField(max_length=64)
    common_name = peewee.CharField(max_length=255, default="")
    sans = JSONTextField(default=list)
    serial_number = peewee.CharField(max_length=64, default="")
    issuer_dn = peewee.TextField(default="")
    subject_dn = peewee.TextField(default="")
    not_before = UTCDateTimeField(null=True)
    not_after = UTCDateTimeField(null=True)
    key_algorithm = peewee.CharField(max_length=16, default="")
    key_size = peewee.IntegerField(default=0)
    is_ca = peewee.BooleanField(default=False)
    pem_data = peewee.TextField(default="")
    source_path = peewee.CharField(max_length=1024, default="")
    source_format = peewee.CharField(max_length=16, default="PEM")
    agent = peewee.ForeignKeyField(AgentModel, null=True, on_delete="CASCADE", column_name="agent_id")
    discovery_scan = peewee.ForeignKeyField(
        DiscoveryScanModel, null=True, on_delete="SET NULL", column_name="discovery_scan_id"
    )
    managed_certificate = peewee.ForeignKeyField(
        CertificateModel, null=True, on_delete="SET NULL", column_name="managed_certificate_id"
    )
    status = peewee.CharField(max_length=16, default="Unmanaged", index=True)
    first_seen_at = UTCDateTimeField(default=utcnow)
    last_seen_at = UTCDateTimeField(default=utcnow)
    dismissed_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "discovered_certificates"
        indexes = ((("fingerprint_sha256", "agent", "source_path"), True),)


class NetworkScanTargetModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    cidrs = JSONTextField(default=list)
    ports = JSONTextField(default=lambda: [443])
    sni_names = JSONTextField(default=list)
    allow_reserved = peewee.BooleanField(default=False)
    enabled = peewee.BooleanField(default=True)
    scan_interval_hours = peewee.IntegerField(default=6)
    timeout_ms = peewee.IntegerField(default=5000)
    last_scan_at = UTCDateTimeField(null=True)
    last_scan_duration_ms = peewee.IntegerField(null=True)
    last_scan_certs_found = peewee.IntegerField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "network_scan_targets"


class RevocationModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    certificate = peewee.ForeignKeyField(CertificateModel, on_delete="CASCADE", column_name="certificate_id")
    serial_number = peewee.CharField(max_length=64, unique=True)
    reason = peewee.CharField(max_length=32, default="unspecified")
    revoked_by = peewee.CharField(max_length=255)
    revoked_at = UTCDateTimeField(default=utcnow)
    issuer = peewee.ForeignKeyField(IssuerModel, on_delete="RESTRICT", column_name="issuer_id")
    issuer_notified = peewee.BooleanField(default=False)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "certificate_revocations"
        indexes = ((("issuer", "revoked_at"), False),)


class VerificationResultModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    job = peewee.ForeignKeyField(JobModel, on_delete="CASCADE", column_name="job_id")
    target = peewee.ForeignKeyField(TargetModel, null=True, on_delete="SET NULL", column_name="target_id")
    expected_fingerprint = peewee.CharField(max_length=64)
    actual_fingerprint = peewee.CharField(max_length=64, default="")
    verified = peewee.BooleanField(default=False)
    verified_at = UTCDateTimeField(default=utcnow)
    error = peewee.TextField(null=True)

    class Meta:
        table_name = "verification_results"


class ApiKeyModel(BaseModel):
    """API keys are stored as SHA-256 hashes only; the plaintext is shown once at creation."""

    id = peewee.CharField(primary_key=True, max_length=64)
    name = peewee.CharField(unique=True, max_length=255)
    key_hash = peewee.CharField(max_length=64, unique=True)
    actor = peewee.CharField(max_length=255)
    agent = peewee.ForeignKeyField(AgentModel, null=True, on_delete="CASCADE", column_name="agent_id")
    created_at = UTCDateTimeField(default=utcnow)
    last_used_at = UTCDateTimeField(null=True)
    revoked_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class AuditEventModel(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=64)
    sequence = peewee.BigIntegerField(unique=True)
    actor = peewee.CharField(max_length=255)
    actor_type = peewee.CharField(max_length=16)
    action = peewee.CharField(max_length=64, index=True)
    resource_type = peewee.CharField(max_length=64)
    resource_id = peewee.CharField(max_length=1024)
    details = peewee.TextField(default="{}")
    timestamp = UTCDateTimeField(index=True)
    previous_hash = peewee.CharField(max_length=64)
    hash = peewee.CharField(max_length=64)

    class Meta:
        table_name = "audit_events"
        indexes = ((("resource_type", "resource_id"), False), (("actor",), False))


class CertificateAuthorityModel(BaseModel):
    """The key material of a local CA issuer (self-signed root or sub-CA); the key is sealed."""

    issuer = peewee.ForeignKeyField(IssuerModel, primary_key=True, on_delete="CASCADE", column_name="issuer_id")
    mode = peewee.CharField(max_length=16)
    certificate_pem = peewee.TextField()
    chain_pem = peewee.TextField(default="")
    key_encrypted = peewee.TextField()
    fingerprint_sha256 = peewee.CharField(max_length=64)
    not_after = UTCDateTimeField()
    crl_number = peewee.BigIntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "certificate_authorities"


class LeaseModel(BaseModel):
    """A named lease (e.g. the scheduler's) held by one engine until it expires."""

    name = peewee.CharField(primary_key=True, max_length=64)
    holder = peewee.CharField(max_length=255)
    acquired_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()

    class Meta:
        table_name = "leases"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    StoreMetaModel,
    TeamModel,
    OwnerModel,
    ProfileModel,
    AgentModel,
    AgentGroupModel,
    AgentGroupMemberModel,
    RenewalPolicyModel,
    IssuerModel,
    TargetModel,
    CertificateModel,
    CertificateCountModel,
    RenewalInfoModel,
    CertificateSANModel,
    CertificateTargetModel,
    CertificateVersionModel,
    JobModel,
    PolicyRuleModel,
    PolicyViolationModel,
    NotificationChannelModel,
    NotificationModel,
    DiscoveryScanModel,
    DiscoveredCertificateModel,
    NetworkScanTargetModel,
    RevocationModel,
    VerificationResultModel,
    ApiKeyModel,
    AuditEventModel,
    LeaseModel,
    CertificateAuthorityModel,
)
