"""Domain values: the enums and frozen records the faces receive from the engine.

Enum values are the exact strings of the original system's Go enums, so operators and
tools that know certctl read the same words here. Nothing in this module does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")

DEFAULT_ALERT_THRESHOLDS_DAYS: tuple[int, ...] = (30, 14, 7, 0)
"""Days before expiry at which an expiration warning goes out, unless a policy says otherwise."""

SHORT_LIVED_MAX_TTL_SECONDS = 3600
"""A profile whose max TTL is under this (and allows it) issues short-lived certificates."""


class CertificateStatus(StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    EXPIRING = "Expiring"
    EXPIRED = "Expired"
    RENEWAL_IN_PROGRESS = "RenewalInProgress"
    FAILED = "Failed"
    REVOKED = "Revoked"
    ARCHIVED = "Archived"


class JobType(StrEnum):
    ISSUANCE = "Issuance"
    RENEWAL = "Renewal"
    DEPLOYMENT = "Deployment"
    VALIDATION = "Validation"


class JobStatus(StrEnum):
    PENDING = "Pending"
    AWAITING_CSR = "AwaitingCSR"
    AWAITING_APPROVAL = "AwaitingApproval"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


ACTIVE_JOB_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.PENDING, JobStatus.AWAITING_CSR, JobStatus.AWAITING_APPROVAL, JobStatus.RUNNING}
)


class VerificationStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


class RevocationReason(StrEnum):
    """RFC 5280 CRL reason codes, named as in the original system."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    CA_COMPROMISE = "caCompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    CERTIFICATE_HOLD = "certificateHold"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"

    @property
    def code(self) -> int:
        return _REVOCATION_CODES[self]


_REVOCATION_CODES: dict[RevocationReason, int] = {
    RevocationReason.UNSPECIFIED: 0,
    RevocationReason.KEY_COMPROMISE: 1,
    RevocationReason.CA_COMPROMISE: 2,
    RevocationReason.AFFILIATION_CHANGED: 3,
    RevocationReason.SUPERSEDED: 4,
    RevocationReason.CESSATION_OF_OPERATION: 5,
    RevocationReason.CERTIFICATE_HOLD: 6,
    RevocationReason.PRIVILEGE_WITHDRAWN: 9,
}


class NotificationType(StrEnum):
    EXPIRATION_WARNING = "ExpirationWarning"
    RENEWAL_SUCCESS = "RenewalSuccess"
    RENEWAL_FAILURE = "RenewalFailure"
    DEPLOYMENT_SUCCESS = "DeploymentSuccess"
    DEPLOYMENT_FAILURE = "DeploymentFailure"
    POLICY_VIOLATION = "PolicyViolation"
    REVOCATION = "Revocation"
    # Beyond the original's set: events its documentation promises.
    CERTIFICATE_EXPIRED = "CertificateExpired"
    APPROVAL_REQUIRED = "ApprovalRequired"
    AGENT_OFFLINE = "AgentOffline"
    DIGEST = "Digest"


class NotificationChannel(StrEnum):
    EMAIL = "Email"
    WEBHOOK = "Webhook"
    SLACK = "Slack"
    TEAMS = "Teams"
    PAGERDUTY = "PagerDuty"
    OPSGENIE = "OpsGenie"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    READ = "read"


class PolicyType(StrEnum):
    ALLOWED_ISSUERS = "AllowedIssuers"
    ALLOWED_DOMAINS = "AllowedDomains"
    REQUIRED_METADATA = "RequiredMetadata"
    ALLOWED_ENVIRONMENTS = "AllowedEnvironments"
    RENEWAL_LEAD_TIME = "RenewalLeadTime"


class PolicySeverity(StrEnum):
    WARNING = "Warning"
    ERROR = "Error"
    CRITICAL = "Critical"


class DiscoveryStatus(StrEnum):
    UNMANAGED = "Unmanaged"
    MANAGED = "Managed"
    DISMISSED = "Dismissed"


class KeyAlgorithm(StrEnum):
    RSA = "RSA"
    ECDSA = "ECDSA"
    ED25519 = "Ed25519"


class ExtendedKeyUsage(StrEnum):
    SERVER_AUTH = "serverAuth"
    CLIENT_AUTH = "clientAuth"
    CODE_SIGNING = "codeSigning"
    EMAIL_PROTECTION = "emailProtection"
    TIME_STAMPING = "timeStamping"
    OCSP_SIGNING = "OCSPSigning"


class IssuerType(StrEnum):
    ACME = "ACME"
    GENERIC_CA = "GenericCA"
    STEP_CA = "StepCA"
    OPENSSL = "OpenSSL"
    VAULT_PKI = "VaultPKI"


class TargetType(StrEnum):
    NGINX = "NGINX"
    APACHE = "Apache"
    HAPROXY = "HAProxy"
    F5 = "F5"
    IIS = "IIS"
    TRAEFIK = "Traefik"
    CADDY = "Caddy"
    ENVOY = "Envoy"
    POSTFIX = "Postfix"
    DOVECOT = "Dovecot"
    PKCS12 = "PKCS12"
    JAVA_KEYSTORE = "JavaKeystore"
    FILES = "Files"


class AgentStatus(StrEnum):
    ONLINE = "Online"
    OFFLINE = "Offline"
    DEGRADED = "Degraded"


class ActorType(StrEnum):
    USER = "User"
    SYSTEM = "System"
    AGENT = "Agent"


class MembershipType(StrEnum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class CertificateSortField(StrEnum):
    """Columns the inventory can be sorted by (each backed by an index)."""

    NAME = "name"
    COMMON_NAME = "common_name"
    EXPIRES_AT = "expires_at"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    STATUS = "status"
    ISSUER = "issuer"
    """By the issuer's name, then expiry."""
    OWNER = "owner"
    """By the owner's name (certificates without one last), then expiry."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs a change; written into every audit event."""

    name: str
    type: ActorType = ActorType.USER

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, ActorType.SYSTEM)


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """Agents chosen by criteria (all non-empty ones must match) plus manual includes, minus excludes."""

    id: str
    name: str
    description: str
    match_os: str
    match_architecture: str
    match_ip_cidr: str
    match_version: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @property
    def has_criteria(self) -> bool:
        return any((self.match_os, self.match_architecture, self.match_ip_cidr, self.match_version))


@dataclass(frozen=True, slots=True)
class AgentGroupMember:
    """An agent in a group and why: ``criteria`` (dynamic match) or ``include`` (manual)."""

    agent: Agent
    reason: str


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    name: str
    email: str
    team_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class KeyAlgorithmRule:
    """One allowed key algorithm of a profile with its minimum size in bits."""

    algorithm: KeyAlgorithm
    min_size: int


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str
    description: str
    allowed_key_algorithms: tuple[KeyAlgorithmRule, ...]
    max_ttl_seconds: int
    allowed_ekus: tuple[ExtendedKeyUsage, ...]
    required_san_patterns: tuple[str, ...]
    spiffe_uri_pattern: str
    allow_short_lived: bool
    requires_approval: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_short_lived(self) -> bool:
        return self.allow_short_lived and 0 < self.max_ttl_seconds < SHORT_LIVED_MAX_TTL_SECONDS


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    id: str
    name: str
    renewal_window_days: int
    auto_renew: bool
    max_retries: int
    retry_interval_minutes: int
    alert_thresholds_days: tuple[int, ...]
    certificate_profile_id: str | None
    agent_group_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def effective_alert_thresholds(self) -> tuple[int, ...]:
        return self.alert_thresholds_days or DEFAULT_ALERT_THRESHOLDS_DAYS


@dataclass(frozen=True, slots=True)
class Issuer:
    """An issuer's configuration; secret fields are shown redacted."""

    id: str
    name: str
    type: IssuerType
    config: dict[str, Any]
    secret_fields: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Target:
    """A deployment target's configuration; secret fields are shown redacted."""

    id: str
    name: str
    type: TargetType
    agent_id: str | None
    config: dict[str, Any]
    secret_fields: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    hostname: str
    status: AgentStatus
    last_heartbeat_at: datetime | None
    registered_at: datetime
    os: str
    architecture: str
    ip_address: str
    version: str


@dataclass(frozen=True, slots=True)
class Certificate:
    """A managed certificate as the inventory shows it."""

    id: str
    name: str
    common_name: str
    sans: tuple[str, ...]
    environment: str
    owner_id: str | None
    team_id: str | None
    issuer_id: str
    renewal_policy_id: str
    certificate_profile_id: str | None
    status: CertificateStatus
    expires_at: datetime | None
    tags: dict[str, str]
    target_ids: tuple[str, ...]
    current_version_id: str | None
    last_renewal_at: datetime | None
    last_deployment_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: RevocationReason | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CertificateVersion:
    """One issued certificate of a managed certificate; the PEM chain is leaf first."""

    id: str
    certificate_id: str
    serial_number: str
    fingerprint_sha256: str
    subject_cn: str
    issuer_dn: str
    not_before: datetime
    not_after: datetime
    key_algorithm: KeyAlgorithm | None
    key_size: int
    pem_chain: str
    csr_pem: str
    has_private_key: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CertificateFilter:
    """What to show of the inventory. Empty fields do not filter."""

    statuses: tuple[CertificateStatus, ...] = ()
    issuer_id: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    profile_id: str | None = None
    environment: str | None = None
    expiring_within_days: int | None = None
    expiring_after_days: int | None = None
    """With ``expiring_within_days``, a range: more than this many days left (e.g. 8-30 is 7 and 30)."""
    query: str | None = None
    include_archived: bool = False


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with the opaque cursor of the next page (None at the end)."""

    items: tuple[T, ...]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
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


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """Result of walking the audit chain."""

    ok: bool
    events_checked: int
    first_broken_sequence: int | None = None
    first_broken_event_id: str | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ExpiryBuckets:
    expired: int
    days_0_7: int
    days_8_30: int
    days_31_90: int


@dataclass(frozen=True, slots=True)
class InventoryStats:
    total: int
    by_status: dict[str, int]
    expiry: ExpiryBuckets
    by_issuer: dict[str, int]
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    type: JobType
    certificate_id: str
    target_id: str | None
    agent_id: str | None
    status: JobStatus
    attempts: int
    max_attempts: int
    last_error: str | None
    scheduled_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    requested_by: str
    verification_status: VerificationStatus = VerificationStatus.PENDING
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CAInfo:
    """A local CA as faces see it: never the key."""

    issuer_id: str
    mode: str  # "self-signed" | "sub-ca"
    subject: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    key_algorithm: KeyAlgorithm
    key_size: int
    chain_length: int
    crl_number: int
    certificate_pem: str
    chain_pem: str


@dataclass(frozen=True, slots=True)
class Revocation:
    certificate_id: str
    serial_number: str
    reason: RevocationReason
    revoked_by: str
    revoked_at: datetime
    issuer_id: str


@dataclass(frozen=True, slots=True)
class OCSPCheck:
    """What the OCSP responder says about one serial of one issuer."""

    issuer_id: str
    serial_number: str
    status: str  # "good" | "revoked" | "unknown"
    revoked_at: datetime | None = None
    reason: RevocationReason | None = None
    certificate_id: str | None = None


@dataclass(frozen=True, slots=True)
class DayCount:
    day: str  # YYYY-MM-DD (UTC)
    count: int


@dataclass(frozen=True, slots=True)
class JobTrendPoint:
    day: str
    completed: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        total = self.completed + self.failed
        return self.completed / total if total else None


@dataclass(frozen=True, slots=True)
class AgentCounts:
    online: int
    offline: int
    degraded: int

    @property
    def total(self) -> int:
        return self.online + self.offline + self.degraded


@dataclass(frozen=True, slots=True)
class DashboardSummary:
    """Everything the dashboard's header panels show, computed in one read."""

    inventory: InventoryStats
    agents: AgentCounts
    pending_jobs: int
    awaiting_approval: int
    failed_jobs_30d: int
    completed_jobs_30d: int
    open_violations: int
    audit_sequence: int


@dataclass(frozen=True, slots=True)
class BulkIssueFailure:
    """A certificate a bulk issuance or renewal left alone, and why, in the engine's words."""

    certificate_id: str
    error: str


@dataclass(frozen=True, slots=True)
class BulkIssueResult:
    """The outcome of issuing or renewing many certificates: one failure never stops the others."""

    issued: tuple[CertificateVersion, ...]
    failed: tuple[BulkIssueFailure, ...]


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """The outcome of testing a deployment target: its configuration, the server's own check, what it serves."""

    target_id: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class IssuerCheck:
    """The outcome of testing an issuer's connection: what works, or precisely what does not."""

    issuer_id: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class NotificationChannelInfo:
    """A configured alert channel as faces see it: secrets shown only as field names."""

    id: str
    name: str
    type: NotificationChannel
    config: dict[str, Any]
    secret_fields: tuple[str, ...]
    team_id: str | None
    events: tuple[NotificationType, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert on one channel, with its delivery state."""

    id: str
    type: NotificationType
    channel: NotificationChannel
    channel_id: str | None
    certificate_id: str | None
    recipient: str
    subject: str
    message: str
    severity: str
    status: NotificationStatus
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """A rule every managed certificate is held to; Critical rules refuse, the others record."""

    id: str
    name: str
    type: PolicyType
    config: dict[str, Any]
    severity: PolicySeverity
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PolicyViolationRecord:
    """A certificate breaking a rule, from when it was found until it was fixed (``resolved_at``)."""

    id: str
    certificate_id: str
    rule_id: str
    message: str
    severity: PolicySeverity
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class PolicyScan:
    """What one pass of the rules over the inventory found."""

    checked: int
    opened: int
    resolved: int


@dataclass(frozen=True, slots=True)
class DiscoveredCertificate:
    """A certificate found on a host or a listener, whether or not certctl manages it."""

    id: str
    fingerprint_sha256: str
    common_name: str
    sans: tuple[str, ...]
    serial_number: str
    issuer_dn: str
    subject_dn: str
    not_before: datetime | None
    not_after: datetime | None
    key_algorithm: str
    key_size: int
    is_ca: bool
    source_path: str
    source_format: str
    agent_id: str | None
    managed_certificate_id: str | None
    status: DiscoveryStatus
    first_seen_at: datetime
    last_seen_at: datetime
    dismissed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DiscoveryScanResult:
    """One scan's report as stored: where it looked, what it found, what was new."""

    id: str
    agent_id: str | None
    directories: tuple[str, ...]
    certificates_found: int
    certificates_new: int
    errors_count: int
    scan_duration_ms: int
    started_at: datetime
    completed_at: datetime | None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkScanTarget:
    """Address ranges and ports certctl probes for TLS listeners, on a schedule or on demand."""

    id: str
    name: str
    cidrs: tuple[str, ...]
    ports: tuple[int, ...]
    sni_names: tuple[str, ...]
    allow_reserved: bool
    enabled: bool
    scan_interval_hours: int
    timeout_ms: int
    last_scan_at: datetime | None
    last_scan_duration_ms: int | None
    last_scan_certs_found: int | None
    created_at: datetime
    updated_at: datetime
