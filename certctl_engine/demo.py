"""The demo dataset: a small organisation's certificates with six months of history.

It mirrors the original system's seed (teams, owners, renewal policies, issuers, agents,
targets, profiles, agent groups, scan targets, discoveries, violations, notifications,
approval jobs), grown to 32 certificates covering every status. Every certificate is real:
signed by a demo CA, parseable by openssl. Keys and serials come from a fixed seed and
ECDSA signatures are deterministic, so with a fixed clock the dataset is identical on
every run (which keeps dashboard snapshots stable); all dates are relative to the engine's
clock, so the data always looks current.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from certctl_engine.domain import (
    Actor,
    ActorType,
    AgentStatus,
    CertificateStatus,
    DiscoveryStatus,
    ExtendedKeyUsage,
    IssuerType,
    JobStatus,
    JobType,
    NotificationChannel,
    NotificationStatus,
    NotificationType,
    PolicySeverity,
    PolicyType,
    RevocationReason,
    TargetType,
    VerificationStatus,
)
from certctl_engine.errors import Conflict
from certctl_engine.pki import build_leaf, build_self_signed_ca, certificate_to_pem, inspect_certificate
from certctl_engine.pki.keys import private_key_to_pem
from certctl_engine.services import secret_config
from certctl_engine.store.migrations import search_text_for
from certctl_engine.store.models import (
    ALL_MODELS,
    NOT_ISSUED,
    AgentGroupMemberModel,
    AgentGroupModel,
    AgentModel,
    AuditEventModel,
    CertificateAuthorityModel,
    CertificateModel,
    CertificateSANModel,
    CertificateTargetModel,
    CertificateVersionModel,
    DiscoveredCertificateModel,
    DiscoveryScanModel,
    IssuerModel,
    JobModel,
    NetworkScanTargetModel,
    NotificationModel,
    OwnerModel,
    PolicyRuleModel,
    PolicyViolationModel,
    ProfileModel,
    RenewalPolicyModel,
    RevocationModel,
    StoreMetaModel,
    TargetModel,
    TeamModel,
)

if TYPE_CHECKING:
    from certctl_engine.engine import Engine

DEMO_SEED = 20260328
DEMO_MARKER_KEY = "demo_dataset"
HISTORY_DAYS = 180
DEMO_ACTOR = Actor("certctl-demo", ActorType.SYSTEM)
_SECP256R1_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True, slots=True)
class DemoResult:
    seeded: bool
    message: str
    certificates: int = 0
    versions: int = 0
    jobs: int = 0
    audit_events: int = 0


@dataclass(frozen=True, slots=True)
class _DemoCert:
    id: str
    cn: str
    status: CertificateStatus
    days_left: float
    owner: str
    profile: str | None = "prof-standard-tls"
    policy: str = "rp-standard"
    env: str = "production"
    issuer: str = "iss-local"
    sans: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


TEAMS = [
    ("t-platform", "Platform Engineering", "Shared infrastructure, ingress and the service mesh"),
    ("t-security", "Security Operations", "PKI, secrets and incident response"),
    ("t-payments", "Payments", "Checkout, billing and payment gateways"),
    ("t-frontend", "Frontend", "Public websites and the customer dashboard"),
    ("t-data", "Data Engineering", "Pipelines, warehouses and analytics"),
]
OWNERS = [
    ("o-alice", "Alice Chen", "alice@example.com", "t-platform"),
    ("o-bob", "Bob Martinez", "bob@example.com", "t-security"),
    ("o-carol", "Carol Williams", "carol@example.com", "t-payments"),
    ("o-dave", "Dave Kim", "dave@example.com", "t-frontend"),
    ("o-eve", "Eve Johnson", "eve@example.com", "t-data"),
]
PROFILES: list[dict[str, Any]] = [
    dict(
        id="prof-standard-tls",
        name="Standard TLS",
        description="Public-facing TLS servers",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 256}, {"algorithm": "RSA", "min_size": 2048}],
        max_ttl_seconds=90 * 86400,
        allowed_ekus=["serverAuth"],
    ),
    dict(
        id="prof-internal-mtls",
        name="Internal mTLS",
        description="Service-to-service mutual TLS",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 256}],
        max_ttl_seconds=30 * 86400,
        allowed_ekus=["serverAuth", "clientAuth"],
        required_san_patterns=[r".*\.internal\.example\.com$"],
    ),
    dict(
        id="prof-short-lived",
        name="Short-lived workload",
        description="Five-minute workload identities",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 256}],
        max_ttl_seconds=300,
        allowed_ekus=["clientAuth", "serverAuth"],
        spiffe_uri_pattern="spiffe://example.com/workload/*",
        allow_short_lived=True,
    ),
    dict(
        id="prof-high-security",
        name="High security",
        description="Admin and payment endpoints",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 384}, {"algorithm": "RSA", "min_size": 4096}],
        max_ttl_seconds=47 * 86400,
        allowed_ekus=["serverAuth"],
        requires_approval=True,
    ),
    dict(
        id="prof-smime",
        name="S/MIME email",
        description="Signed and encrypted email",
        allowed_key_algorithms=[{"algorithm": "ECDSA", "min_size": 256}, {"algorithm": "RSA", "min_size": 2048}],
        max_ttl_seconds=365 * 86400,
        allowed_ekus=["emailProtection", "clientAuth"],
    ),
]
RENEWAL_POLICIES: list[dict[str, Any]] = [
    dict(
        id="rp-standard",
        name="Standard",
        renewal_window_days=30,
        auto_renew=True,
        max_retries=3,
        retry_interval_minutes=60,
        alert_thresholds_days=[30, 14, 7, 0],
    ),
    dict(
        id="rp-urgent",
        name="Urgent",
        renewal_window_days=14,
        auto_renew=True,
        max_retries=5,
        retry_interval_minutes=30,
        alert_thresholds_days=[14, 7, 3, 0],
    ),
    dict(
        id="rp-manual",
        name="Manual approval",
        renewal_window_days=30,
        auto_renew=False,
        max_retries=0,
        retry_interval_minutes=0,
        alert_thresholds_days=[30, 14, 7, 0],
    ),
]
ISSUERS: list[dict[str, Any]] = [
    dict(
        id="iss-local",
        name="Local Dev CA",
        type=IssuerType.GENERIC_CA,
        enabled=True,
        config={"ca_common_name": "certctl Demo CA", "validity_days": 90},
    ),
    dict(
        id="iss-acme-le",
        name="Let's Encrypt Staging",
        type=IssuerType.ACME,
        enabled=True,
        config={
            "directory_url": "https://acme-staging-v02.api.letsencrypt.org/directory",
            "email": "pki@example.com",
            "challenge_type": "http-01",
            "http_port": 80,
            # The demo's example.com names cannot be validated; the engine will not contact the CA.
            "demo_placeholder": True,
        },
    ),
    dict(
        id="iss-stepca",
        name="step-ca (lab)",
        type=IssuerType.STEP_CA,
        enabled=False,
        config={
            "ca_url": "https://ca.lab.example.com:9000",
            "provisioner_name": "certctl",
            "provisioner_password": "demo-provisioner-password",
        },
    ),
    dict(
        id="iss-vault",
        name="Vault PKI (corp)",
        type=IssuerType.VAULT_PKI,
        enabled=False,
        config={
            "address": "https://vault.example.com:8200",
            "mount": "pki",
            "role": "web",
            "token": "demo-vault-token",
        },
    ),
]
AGENTS = [
    ("ag-web-prod", "web-prod-01", AgentStatus.ONLINE, "linux", "amd64", "10.0.1.10", 0.5),
    ("ag-web-staging", "web-stg-01", AgentStatus.ONLINE, "linux", "amd64", "10.0.2.10", 1.0),
    ("ag-lb-prod", "lb-prod-01", AgentStatus.ONLINE, "linux", "amd64", "10.0.1.20", 0.7),
    ("ag-iis-prod", "iis-prod-01", AgentStatus.OFFLINE, "windows", "amd64", "10.0.1.30", 180.0),
    ("ag-data-prod", "data-prod-01", AgentStatus.ONLINE, "linux", "arm64", "10.0.3.10", 1.2),
]
TARGETS: list[dict[str, Any]] = [
    dict(
        id="tgt-nginx-prod",
        name="nginx production",
        type=TargetType.NGINX,
        agent="ag-web-prod",
        config={
            "directory": "/etc/nginx/tls",
            "fullchain_file": "fullchain.pem",
            "key_file": "privkey.pem",
            "host": "www.example.com",
            "port": 443,
        },
    ),
    dict(
        id="tgt-nginx-staging",
        name="nginx staging",
        type=TargetType.NGINX,
        agent="ag-web-staging",
        config={"directory": "/etc/nginx/tls", "fullchain_file": "fullchain.pem", "key_file": "privkey.pem"},
    ),
    dict(
        id="tgt-f5-prod",
        name="F5 load balancer",
        type=TargetType.F5,
        agent="ag-lb-prod",
        config={
            "host": "f5.example.com",
            "port": 443,
            "username": "certctl",
            "password": "demo-f5-password",
            "partition": "Common",
            "ssl_profile": "clientssl-example",
        },
    ),
    dict(
        id="tgt-iis-prod",
        name="IIS production",
        type=TargetType.IIS,
        agent="ag-iis-prod",
        config={
            "hostname": "iis-prod-01",
            "site_name": "Default Web Site",
            "cert_store": "My",
            "binding_info": "*:443:",
        },
    ),
    dict(
        id="tgt-nginx-data",
        name="nginx data",
        type=TargetType.NGINX,
        agent="ag-data-prod",
        config={"directory": "/etc/nginx/tls", "fullchain_file": "fullchain.pem", "key_file": "privkey.pem"},
    ),
]
AGENT_GROUPS: list[dict[str, Any]] = [
    dict(id="ag-linux-prod", name="Linux production", description="All Linux agents", match_os="linux"),
    dict(
        id="ag-linux-amd64",
        name="Linux amd64",
        description="Linux on x86-64",
        match_os="linux",
        match_architecture="amd64",
    ),
    dict(id="ag-windows", name="Windows", description="Windows servers", match_os="windows"),
    dict(id="ag-datacenter-a", name="Datacenter A", description="Agents in 10.0.1.0/24", match_ip_cidr="10.0.1.0/24"),
    dict(id="ag-manual", name="Hand-picked", description="Manually managed membership"),
]
SCAN_TARGETS: list[dict[str, Any]] = [
    dict(id="nst-dc1-web", name="DC1 web tier", cidrs=["10.0.1.0/24"], ports=[443, 8443]),
    dict(id="nst-dc2-apps", name="DC2 applications", cidrs=["10.0.2.0/24", "10.0.3.0/24"], ports=[443]),
    dict(
        id="nst-dmz",
        name="DMZ",
        cidrs=["192.168.100.0/24"],
        ports=[443, 8443, 9443],
        scan_interval_hours=12,
        timeout_ms=3000,
    ),
]
_S, _A = CertificateStatus, ("tgt-nginx-prod",)
CERTIFICATES: list[_DemoCert] = [
    _DemoCert("mc-api-prod", "api.example.com", _S.ACTIVE, 75, "o-alice", targets=("tgt-nginx-prod", "tgt-f5-prod")),
    _DemoCert(
        "mc-web-prod",
        "www.example.com",
        _S.ACTIVE,
        60,
        "o-dave",
        sans=("example.com",),
        targets=("tgt-nginx-prod", "tgt-f5-prod"),
    ),
    _DemoCert(
        "mc-pay-prod",
        "pay.example.com",
        _S.ACTIVE,
        45,
        "o-carol",
        profile="prof-high-security",
        policy="rp-urgent",
        targets=("tgt-f5-prod", "tgt-iis-prod"),
    ),
    _DemoCert("mc-dash-prod", "dashboard.example.com", _S.ACTIVE, 82, "o-dave", targets=_A),
    _DemoCert("mc-data-prod", "data.example.com", _S.ACTIVE, 55, "o-eve", targets=("tgt-nginx-data",)),
    _DemoCert(
        "mc-api-stg", "api.staging.example.com", _S.ACTIVE, 65, "o-alice", env="staging", targets=("tgt-nginx-staging",)
    ),
    _DemoCert(
        "mc-web-stg", "www.staging.example.com", _S.ACTIVE, 70, "o-dave", env="staging", targets=("tgt-nginx-staging",)
    ),
    _DemoCert(
        "mc-wildcard-prod",
        "*.example.com",
        _S.ACTIVE,
        50,
        "o-alice",
        sans=("example.com",),
        targets=("tgt-nginx-prod", "tgt-f5-prod", "tgt-nginx-data"),
    ),
    _DemoCert(
        "mc-auth-prod",
        "auth.example.com",
        _S.EXPIRING,
        12,
        "o-bob",
        policy="rp-urgent",
        targets=("tgt-nginx-prod", "tgt-iis-prod"),
    ),
    _DemoCert("mc-cdn-prod", "cdn.example.com", _S.EXPIRING, 8, "o-dave", targets=("tgt-f5-prod",)),
    _DemoCert("mc-mail-prod", "mail.example.com", _S.EXPIRING, 5, "o-bob", sans=("smtp.example.com",), targets=_A),
    _DemoCert("mc-legacy-prod", "legacy.example.com", _S.EXPIRED, -3, "o-alice", targets=("tgt-iis-prod",)),
    _DemoCert("mc-old-api", "old-api.example.com", _S.EXPIRED, -15, "o-carol", policy="rp-manual"),
    _DemoCert(
        "mc-grafana-prod", "grafana.example.com", _S.RENEWAL_IN_PROGRESS, 3, "o-eve", targets=("tgt-nginx-data",)
    ),
    _DemoCert("mc-vpn-prod", "vpn.example.com", _S.FAILED, 1, "o-bob", issuer="iss-acme-le", targets=("tgt-f5-prod",)),
    _DemoCert(
        "mc-ldap-internal",
        "ldap.internal.example.com",
        _S.ACTIVE,
        21.5,
        "o-bob",
        profile="prof-internal-mtls",
        policy="rp-urgent",
    ),
    _DemoCert(
        "mc-kafka-internal",
        "kafka.internal.example.com",
        _S.ACTIVE,
        26,
        "o-eve",
        profile="prof-internal-mtls",
        policy="rp-urgent",
        targets=("tgt-nginx-data",),
    ),
    _DemoCert("mc-shop-prod", "shop.example.com", _S.ACTIVE, 88, "o-carol", targets=_A),
    _DemoCert("mc-status-prod", "status.example.com", _S.ACTIVE, 35, "o-alice"),
    _DemoCert("mc-docs-prod", "docs.example.com", _S.ACTIVE, 62, "o-dave", targets=_A),
    _DemoCert(
        "mc-admin-prod", "admin.example.com", _S.ACTIVE, 40, "o-bob", profile="prof-high-security", policy="rp-manual"
    ),
    _DemoCert(
        "mc-smime-alice",
        "Alice Chen",
        _S.ACTIVE,
        300,
        "o-alice",
        profile="prof-smime",
        sans=("alice@example.com",),
        env="corporate",
    ),
    _DemoCert(
        "mc-smime-security",
        "Security Team",
        _S.EXPIRING,
        20,
        "o-bob",
        profile="prof-smime",
        sans=("security@example.com",),
        env="corporate",
    ),
    _DemoCert(
        "mc-workload-payments",
        "payments-worker",
        _S.ACTIVE,
        3 / 1440,
        "o-carol",
        profile="prof-short-lived",
        sans=("spiffe://example.com/workload/payments",),
    ),
    _DemoCert(
        "mc-workload-billing",
        "billing-worker",
        _S.EXPIRED,
        -2 / 1440,
        "o-carol",
        profile="prof-short-lived",
        sans=("spiffe://example.com/workload/billing",),
    ),
    _DemoCert(
        "mc-search-stg",
        "search.staging.example.com",
        _S.EXPIRING,
        25,
        "o-eve",
        env="staging",
        targets=("tgt-nginx-staging",),
    ),
    _DemoCert("mc-metrics-dev", "metrics.dev.example.com", _S.ACTIVE, 70, "o-eve", env="development"),
    _DemoCert("mc-old-portal", "portal-old.example.com", _S.REVOKED, 40, "o-dave"),
    _DemoCert("mc-intranet-legacy", "intranet.example.com", _S.REVOKED, 20, "o-alice", env="corporate"),
    _DemoCert("mc-printer-mgmt", "printer.example.com", _S.ARCHIVED, 30, "o-eve", env="corporate"),
    _DemoCert("mc-new-service", "newsvc.example.com", _S.PENDING, 0, "o-alice", targets=_A),
    _DemoCert(
        "mc-partner-api",
        "partner-api.example.com",
        _S.FAILED,
        2,
        "o-carol",
        issuer="iss-acme-le",
        tags={"partner": "acme-corp"},
    ),
]
_LIFETIMES = {
    "prof-standard-tls": 90.0,
    "prof-internal-mtls": 30.0,
    "prof-short-lived": 5 / 1440,
    "prof-high-security": 47.0,
    "prof-smime": 365.0,
    None: 90.0,
}
_EKUS = {
    "prof-internal-mtls": (ExtendedKeyUsage.SERVER_AUTH, ExtendedKeyUsage.CLIENT_AUTH),
    "prof-short-lived": (ExtendedKeyUsage.CLIENT_AUTH, ExtendedKeyUsage.SERVER_AUTH),
    "prof-smime": (ExtendedKeyUsage.EMAIL_PROTECTION, ExtendedKeyUsage.CLIENT_AUTH),
}
_TEAM_OF_OWNER = {o[0]: o[3] for o in OWNERS}


class _Builder:
    """Collects rows and audit events, then writes them in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.now = engine.now()
        self.rng = random.Random(DEMO_SEED)
        self.rows: dict[type, list[dict[str, Any]]] = {}
        self.events: list[tuple[datetime, int, str, str, str, str, str, dict[str, Any]]] = []
        self._counter = 0

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def add(self, model: type, **values: Any) -> None:
        self.rows.setdefault(model, []).append(values)

    def event(
        self,
        when: datetime,
        actor: str,
        action: str,
        resource_type: str,
        resource_id: str,
        details: dict[str, Any] | None = None,
        actor_type: ActorType = ActorType.SYSTEM,
    ) -> None:
        self._counter += 1
        self.events.append(
            (when, self._counter, actor, str(actor_type), action, resource_type, resource_id, details or {})
        )

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-demo-{self.rng.getrandbits(40):010x}"

    def ec_key(self) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(self.rng.randrange(1, _SECP256R1_ORDER), ec.SECP256R1())

    def serial(self) -> int:
        return self.rng.getrandbits(127) | 1


def _has_demo(engine: Engine) -> bool:
    return StoreMetaModel.get_or_none(StoreMetaModel.key == DEMO_MARKER_KEY) is not None


def _erase_everything() -> None:
    for model in reversed(ALL_MODELS):
        if model is StoreMetaModel:
            continue
        model.delete().execute()


def seed_demo(engine: Engine, *, reset: bool = False, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Seed the demo into an empty store (or, with ``reset``, erase a demo store and seed again)."""
    say = progress or (lambda _msg: None)
    with engine.store.write():
        has_demo = _has_demo(engine)
        existing = CertificateModel.select().count()
        if has_demo and not reset:
            message = (
                f"demo data already present ({existing} certificates) in {engine.location.describe()}; "
                "use 'certctl demo --reset' to seed it again"
            )
            say(message)
            return DemoResult(False, message, certificates=existing)
        if existing and not has_demo:
            raise Conflict(
                f"the store {engine.location.describe()} already holds {existing} certificate(s) that are not "
                "demo data; seed the demo into an empty store (e.g. certctl --db demo.db demo)"
            )
        if reset and has_demo:
            say("erasing the previous demo data (the whole demo store, audit trail included)")
            _erase_everything()
            StoreMetaModel.delete().where(StoreMetaModel.key == DEMO_MARKER_KEY).execute()
    say("building the demo CA and 32 certificates with 180 days of history")
    builder = _Builder(engine)
    _build(builder)
    say("writing the demo dataset")
    with engine.store.write():
        if _has_demo(engine):  # another process seeded meanwhile
            return DemoResult(False, "demo data was seeded by another process")
        for model in ALL_MODELS:
            rows = builder.rows.get(model)
            # insert_many takes its columns from the first row, so rows are grouped by the
            # fields they set: a field given only on later rows would otherwise be dropped.
            groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in rows or ():
                groups.setdefault(tuple(sorted(row)), []).append(row)
            for group in groups.values():
                for start in range(0, len(group), 200):
                    model.insert_many(group[start : start + 200]).execute()
        for when, _n, actor, actor_type, action, rtype, rid, details in sorted(builder.events, key=lambda e: e[:2]):
            engine.audit.record(Actor(actor, ActorType(actor_type)), action, rtype, rid, details, timestamp=when)
        engine.audit.record(
            DEMO_ACTOR,
            "demo_seeded",
            "store",
            engine.location.describe(),
            {"certificates": len(CERTIFICATES), "seed": DEMO_SEED},
        )
        StoreMetaModel.create(key=DEMO_MARKER_KEY, value=str(DEMO_SEED))
    if engine.store.is_sqlite:
        engine.store.analyze()
    result = DemoResult(
        True,
        f"seeded the demo into {engine.location.describe()}",
        certificates=len(builder.rows.get(CertificateModel, [])),
        versions=len(builder.rows.get(CertificateVersionModel, [])),
        jobs=len(builder.rows.get(JobModel, [])),
        audit_events=AuditEventModel.select().count(),
    )
    say(
        f"{result.message}: {result.certificates} certificates, {result.versions} versions, "
        f"{result.jobs} jobs, {result.audit_events} audit events"
    )
    return result


# ---------------------------------------------------------------------------- building


def _build(b: _Builder) -> None:
    setup = b.ago(HISTORY_DAYS + 5)
    admin = "bob@example.com"
    for team_id, name, description in TEAMS:
        b.add(TeamModel, id=team_id, name=name, description=description, created_at=setup, updated_at=setup)
        b.event(setup, admin, "create_team", "team", team_id, {"name": name}, ActorType.USER)
    for owner_id, name, email, team_id in OWNERS:
        b.add(OwnerModel, id=owner_id, name=name, email=email, team=team_id, created_at=setup, updated_at=setup)
        b.event(setup, admin, "create_owner", "owner", owner_id, {"name": name, "team_id": team_id}, ActorType.USER)
    for profile in PROFILES:
        b.add(ProfileModel, created_at=setup, updated_at=setup, **profile)
        b.event(setup, admin, "create_profile", "profile", profile["id"], {"name": profile["name"]}, ActorType.USER)
    for policy in RENEWAL_POLICIES:
        b.add(RenewalPolicyModel, created_at=setup, updated_at=setup, **policy)
        b.event(
            setup,
            admin,
            "create_renewal_policy",
            "renewal_policy",
            policy["id"],
            {"name": policy["name"]},
            ActorType.USER,
        )
    for issuer in ISSUERS:
        plain, sealed, secret_fields = secret_config.SealedConfig(b.engine.context.secrets, "issuer").seal_new(
            issuer["id"], issuer["config"]
        )
        b.add(
            IssuerModel,
            id=issuer["id"],
            name=issuer["name"],
            type=issuer["type"].value,
            config=plain,
            secrets_encrypted=sealed,
            enabled=issuer["enabled"],
            created_at=setup,
            updated_at=setup,
        )
        b.event(
            setup,
            admin,
            "create_issuer",
            "issuer",
            issuer["id"],
            {"name": issuer["name"], "type": issuer["type"].value, "secret_fields": secret_fields},
            ActorType.USER,
        )
    _agents(b, setup)
    for target in TARGETS:
        plain, sealed, _ = secret_config.SealedConfig(b.engine.context.secrets, "target").seal_new(
            target["id"], target["config"]
        )
        b.add(
            TargetModel,
            id=target["id"],
            name=target["name"],
            type=target["type"].value,
            agent=target["agent"],
            config=plain,
            secrets_encrypted=sealed,
            enabled=True,
            created_at=setup,
            updated_at=setup,
        )
        b.event(
            setup,
            admin,
            "create_target",
            "target",
            target["id"],
            {"name": target["name"], "type": target["type"].value, "agent_id": target["agent"]},
            ActorType.USER,
        )
    ca_key = b.ec_key()
    ca_cert = build_self_signed_ca(
        ca_key,
        "certctl Demo CA",
        not_before=b.ago(400),
        not_after=b.ago(400) + timedelta(days=3650),
        organization="Example Corp",
        deterministic=True,
    )
    ca_pem = certificate_to_pem(ca_cert)
    # The demo CA is iss-local's CA: renewals, CRLs and OCSP on demo data chain to it.
    b.add(
        CertificateAuthorityModel,
        issuer="iss-local",
        mode="self-signed",
        certificate_pem=ca_pem,
        chain_pem="",
        key_encrypted=b.engine.context.secrets.encrypt(private_key_to_pem(ca_key), "ca:iss-local"),
        fingerprint_sha256=inspect_certificate(ca_cert).fingerprint_sha256,
        not_after=ca_cert.not_valid_after_utc,
        crl_number=0,
        created_at=setup,
        updated_at=setup,
    )
    versions: dict[str, list[dict[str, Any]]] = {}
    for spec in CERTIFICATES:
        versions[spec.id] = _certificate(b, spec, ca_cert, ca_key, ca_pem, setup)
    _current_jobs(b, versions)
    _policies(b, setup)
    _notifications(b)
    _discovery(b, ca_cert, ca_key, versions)
    for scan in SCAN_TARGETS:
        b.add(
            NetworkScanTargetModel,
            created_at=setup,
            updated_at=setup,
            last_scan_at=b.ago(0.2),
            last_scan_duration_ms=b.rng.randint(4000, 20000),
            last_scan_certs_found=b.rng.randint(1, 6),
            **scan,
        )
        b.event(
            setup,
            admin,
            "network_scan_target_created",
            "network_scan_target",
            scan["id"],
            {"name": scan["name"]},
            ActorType.USER,
        )


def _agents(b: _Builder, setup: datetime) -> None:
    for agent_id, hostname, status, os_name, arch, ip, hours_since in AGENTS:
        b.add(
            AgentModel,
            id=agent_id,
            name=agent_id,
            hostname=hostname,
            status=status.value,
            last_heartbeat_at=b.now - timedelta(minutes=hours_since) if hours_since < 60 else b.ago(hours_since / 1440),
            registered_at=setup,
            os=os_name,
            architecture=arch,
            ip_address=ip,
            version="1.0.0",
            api_key_hash=None,
        )
        b.event(setup, "bob@example.com", "agent_registered", "agent", agent_id, {"hostname": hostname}, ActorType.USER)
    b.add(
        AgentModel,
        id="server-scanner",
        name="Network Scanner (Server-Side)",
        hostname="certctl",
        status=AgentStatus.ONLINE.value,
        last_heartbeat_at=b.now,
        registered_at=setup,
        os="linux",
        architecture="amd64",
        ip_address="127.0.0.1",
        version="1.0.0",
    )
    for group in AGENT_GROUPS:
        b.add(AgentGroupModel, created_at=setup, updated_at=setup, **group)
    for agent in ("ag-web-prod", "ag-lb-prod"):
        b.add(AgentGroupMemberModel, group="ag-manual", agent=agent, membership_type="include")
    b.add(AgentGroupMemberModel, group="ag-manual", agent="ag-iis-prod", membership_type="exclude")


def _certificate(
    b: _Builder,
    spec: _DemoCert,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_pem: str,
    setup: datetime,
) -> list[dict[str, Any]]:
    team = _TEAM_OF_OWNER[spec.owner]
    lifetime = _LIFETIMES[spec.profile]
    created = setup + timedelta(days=b.rng.uniform(0, 3)) if lifetime > 1 else b.now - timedelta(minutes=10)
    sans = tuple(dict.fromkeys(([spec.cn] if "." in spec.cn else []) + list(spec.sans)))
    cert_versions: list[dict[str, Any]] = []
    if spec.status is not CertificateStatus.PENDING:
        # Walk back from the current version, one renewal every (lifetime - window) days.
        not_after = b.now + timedelta(days=spec.days_left)
        periods: list[tuple[datetime, datetime]] = []
        step = timedelta(days=lifetime * 2 / 3)
        start = not_after - timedelta(days=lifetime)
        while True:
            periods.append((start, start + timedelta(days=lifetime)))
            start -= step
            if lifetime < 1 or len(periods) >= 4 or start < created:
                break
        for index, (nb, na) in enumerate(reversed(periods)):
            key = b.ec_key()
            leaf = build_leaf(
                issuer_cert=ca_cert,
                issuer_key=ca_key,
                public_key=key.public_key(),
                common_name=spec.cn,
                sans=sans,
                not_before=nb,
                not_after=na,
                ekus=_EKUS.get(spec.profile, (ExtendedKeyUsage.SERVER_AUTH,)),
                serial=b.serial(),
                deterministic=True,
            )
            info = inspect_certificate(leaf)
            version_id = f"certver-{spec.id[3:]}-{index + 1}"
            current = index == len(periods) - 1
            sealed = (
                b.engine.context.secrets.encrypt(private_key_to_pem(key), f"certver:{version_id}") if current else None
            )
            row = dict(
                id=version_id,
                certificate=spec.id,
                serial_number=info.serial_hex,
                fingerprint_sha256=info.fingerprint_sha256,
                subject_cn=info.subject_cn,
                issuer_dn=info.issuer_dn,
                not_before=info.not_before,
                not_after=info.not_after,
                key_algorithm=info.key_algorithm.value,
                key_size=info.key_size,
                pem_chain=certificate_to_pem(leaf) + ca_pem,
                csr_pem="",
                private_key_encrypted=sealed,
                created_at=max(nb, created),
            )
            b.add(CertificateVersionModel, **row)
            cert_versions.append(row)
    current = cert_versions[-1] if cert_versions else None
    last_deploy = None
    for index, version in enumerate(cert_versions):
        _history_for_version(b, spec, version, renewal=index > 0)
        if spec.targets:
            last_deploy = version["created_at"] + timedelta(minutes=5)
    revoked_at = None
    reason = None
    if spec.status is CertificateStatus.REVOKED and current is not None:
        reason = RevocationReason.KEY_COMPROMISE if spec.id == "mc-old-portal" else RevocationReason.SUPERSEDED
        revoked_at = b.ago(9 if reason is RevocationReason.KEY_COMPROMISE else 33)
        b.add(
            RevocationModel,
            id=b.next_id("rev"),
            certificate=spec.id,
            serial_number=current["serial_number"],
            reason=reason.value,
            revoked_by="bob@example.com",
            revoked_at=revoked_at,
            issuer=spec.issuer,
            issuer_notified=True,
            created_at=revoked_at,
        )
        b.event(
            revoked_at,
            "bob@example.com",
            "certificate_revoked",
            "certificate",
            spec.id,
            {"reason": reason.value, "serial_number": current["serial_number"]},
            ActorType.USER,
        )
    updated = current["created_at"] if current else created
    if spec.status is CertificateStatus.ARCHIVED:
        updated = b.ago(12)
        b.event(
            updated,
            "eve@example.com",
            "certificate_archived",
            "certificate",
            spec.id,
            {"previous_status": "Active"},
            ActorType.USER,
        )
    b.add(
        CertificateModel,
        id=spec.id,
        name=spec.id,
        common_name=spec.cn,
        environment=spec.env,
        owner=spec.owner,
        team=team,
        issuer=spec.issuer,
        renewal_policy=spec.policy,
        certificate_profile=spec.profile,
        status=spec.status.value,
        expires_at=current["not_after"] if current else NOT_ISSUED,
        tags=spec.tags,
        current_version_id=current["id"] if current else None,
        last_renewal_at=current["created_at"] if current and len(cert_versions) > 1 else None,
        last_deployment_at=last_deploy,
        revoked_at=revoked_at,
        revocation_reason=reason.value if reason else None,
        search_text=search_text_for(spec.id, spec.cn, sans),
        created_at=created,
        updated_at=updated,
    )
    for san in sans:
        b.add(CertificateSANModel, certificate=spec.id, value=san.lower() if "://" not in san else san)
    for target in spec.targets:
        b.add(CertificateTargetModel, certificate=spec.id, target=target)
    b.event(
        created,
        "alice@example.com",
        "certificate_created",
        "certificate",
        spec.id,
        {"name": spec.id, "common_name": spec.cn, "sans": list(sans), "issuer_id": spec.issuer},
        ActorType.USER,
    )
    return cert_versions


def _history_for_version(b: _Builder, spec: _DemoCert, version: dict[str, Any], *, renewal: bool) -> None:
    issued = version["created_at"]
    job_type = JobType.RENEWAL if renewal else JobType.ISSUANCE
    job_id = b.next_id("job")
    b.add(
        JobModel,
        id=job_id,
        type=job_type.value,
        certificate=spec.id,
        status=JobStatus.COMPLETED.value,
        attempts=1,
        max_attempts=3,
        scheduled_at=issued - timedelta(minutes=2),
        started_at=issued - timedelta(minutes=1),
        completed_at=issued,
        created_at=issued - timedelta(minutes=2),
        updated_at=issued,
        requested_by="system" if renewal else "alice@example.com",
    )
    action = "renewal_job_completed" if renewal else "certificate_issued"
    b.event(
        issued,
        "system",
        action,
        "certificate",
        spec.id,
        {"job_id": job_id, "version_id": version["id"], "serial_number": version["serial_number"]},
    )
    for target in spec.targets:
        deployed = issued + timedelta(minutes=5)
        agent = next(t["agent"] for t in TARGETS if t["id"] == target)
        failed = target == "tgt-iis-prod" and b.rng.random() < 0.5
        dep_id = b.next_id("job")
        b.add(
            JobModel,
            id=dep_id,
            type=JobType.DEPLOYMENT.value,
            certificate=spec.id,
            target=target,
            agent=agent,
            status=(JobStatus.FAILED if failed else JobStatus.COMPLETED).value,
            attempts=3 if failed else 1,
            max_attempts=3,
            scheduled_at=issued,
            started_at=issued + timedelta(minutes=1),
            completed_at=deployed,
            created_at=issued,
            updated_at=deployed,
            last_error=(
                "deployment to IIS site 'Default Web Site' failed: agent ag-iis-prod did not answer "
                "within 300s (last heartbeat 3h ago)"
            )
            if failed
            else None,
            verification_status=(VerificationStatus.SKIPPED if failed else VerificationStatus.SUCCESS).value,
            verified_at=None if failed else deployed + timedelta(seconds=3),
            verification_fingerprint=None if failed else version["fingerprint_sha256"],
        )
        b.event(
            deployed,
            agent,
            "deployment_job_failed" if failed else "deployment_job_completed",
            "job",
            dep_id,
            {"certificate_id": spec.id, "target_id": target},
            ActorType.AGENT,
        )
    # Expiration warnings that went out before this version replaced the previous one.
    if renewal:
        b.event(
            issued - timedelta(days=1),
            "system",
            "expiration_alert_sent",
            "certificate",
            spec.id,
            {"threshold_days": 30},
        )


def _current_jobs(b: _Builder, versions: dict[str, list[dict[str, Any]]]) -> None:
    def job(job_id: str, cert: str, job_type: JobType, status: JobStatus, **extra: Any) -> None:
        created = extra.pop("created", b.ago(0.5))
        b.add(
            JobModel,
            id=job_id,
            type=job_type.value,
            certificate=cert,
            status=status.value,
            scheduled_at=created,
            created_at=created,
            updated_at=created,
            **extra,
        )
        b.event(
            created,
            "system",
            "renewal_job_created" if job_type is JobType.RENEWAL else "job_created",
            "job",
            job_id,
            {"certificate_id": cert, "status": status.value},
        )

    job(
        "job-approval-01",
        "mc-auth-prod",
        JobType.RENEWAL,
        JobStatus.AWAITING_APPROVAL,
        created=b.ago(1.5),
        requested_by="system",
        details={"reason": "profile prof-high-security requires approval"},
    )
    job(
        "job-approval-02",
        "mc-admin-prod",
        JobType.RENEWAL,
        JobStatus.AWAITING_APPROVAL,
        created=b.ago(0.8),
        requested_by="carol@example.com",
        details={"reason": "renewal policy rp-manual does not auto-renew"},
    )
    job(
        "job-grafana-renewal",
        "mc-grafana-prod",
        JobType.RENEWAL,
        JobStatus.RUNNING,
        created=b.ago(0.02),
        started_at=b.ago(0.01),
        attempts=1,
    )
    job(
        "job-cdn-csr",
        "mc-cdn-prod",
        JobType.RENEWAL,
        JobStatus.AWAITING_CSR,
        created=b.ago(0.1),
        agent="ag-lb-prod",
        started_at=b.ago(0.09),
        attempts=1,
    )
    job(
        "job-mail-deploy",
        "mc-mail-prod",
        JobType.DEPLOYMENT,
        JobStatus.PENDING,
        created=b.ago(0.01),
        target="tgt-nginx-prod",
        agent="ag-web-prod",
    )
    job(
        "job-new-issuance",
        "mc-new-service",
        JobType.ISSUANCE,
        JobStatus.PENDING,
        created=b.ago(0.005),
        requested_by="alice@example.com",
    )
    acme_error = (
        "urn:ietf:params:acme:error:rateLimited: Error creating new order :: too many failed authorizations "
        "recently: see https://letsencrypt.org/docs/failed-validation-limit/"
    )
    job(
        "job-vpn-renewal",
        "mc-vpn-prod",
        JobType.RENEWAL,
        JobStatus.FAILED,
        created=b.ago(2),
        attempts=3,
        started_at=b.ago(2),
        completed_at=b.ago(1.9),
        last_error=acme_error,
    )
    b.event(
        b.ago(1.9),
        "system",
        "renewal_job_failed",
        "job",
        "job-vpn-renewal",
        {"certificate_id": "mc-vpn-prod", "error": acme_error},
    )
    partner_error = (
        "urn:ietf:params:acme:error:unauthorized: Invalid response from "
        "http://partner-api.example.com/.well-known/acme-challenge/x3Yk: 404"
    )
    job(
        "job-partner-issuance",
        "mc-partner-api",
        JobType.ISSUANCE,
        JobStatus.FAILED,
        created=b.ago(3),
        attempts=3,
        started_at=b.ago(3),
        completed_at=b.ago(2.9),
        last_error=partner_error,
    )
    b.event(
        b.ago(2.9),
        "system",
        "renewal_job_failed",
        "job",
        "job-partner-issuance",
        {"certificate_id": "mc-partner-api", "error": partner_error},
    )
    job(
        "job-legacy-cancelled",
        "mc-legacy-prod",
        JobType.RENEWAL,
        JobStatus.CANCELLED,
        created=b.ago(20),
        completed_at=b.ago(19),
        last_error="rejected: legacy.example.com is being decommissioned",
        requested_by="system",
    )


def _policies(b: _Builder, setup: datetime) -> None:
    rules = [
        (
            "pr-require-owner",
            "Require an owner",
            PolicyType.REQUIRED_METADATA,
            {"fields": ["owner", "team"]},
            PolicySeverity.ERROR,
        ),
        (
            "pr-allowed-environments",
            "Allowed environments",
            PolicyType.ALLOWED_ENVIRONMENTS,
            {"environments": ["production", "staging", "development"]},
            PolicySeverity.WARNING,
        ),
        (
            "pr-allowed-issuers",
            "Approved issuers",
            PolicyType.ALLOWED_ISSUERS,
            {"issuers": ["iss-local", "iss-acme-le"]},
            PolicySeverity.ERROR,
        ),
        (
            "pr-renewal-lead-time",
            "Renew at least 14 days ahead",
            PolicyType.RENEWAL_LEAD_TIME,
            {"min_days": 14},
            PolicySeverity.WARNING,
        ),
    ]
    for rule_id, name, rule_type, config, severity in rules:
        b.add(
            PolicyRuleModel,
            id=rule_id,
            name=name,
            type=rule_type.value,
            config=config,
            severity=severity.value,
            enabled=True,
            created_at=setup,
            updated_at=setup,
        )
        b.event(setup, "bob@example.com", "policy_rule_created", "policy_rule", rule_id, {"name": name}, ActorType.USER)
    violations = [
        ("mc-smime-alice", "pr-allowed-environments", "environment 'corporate' is not allowed", PolicySeverity.WARNING),
        (
            "mc-mail-prod",
            "pr-renewal-lead-time",
            "expires in 5 days, inside the 14-day lead time",
            PolicySeverity.WARNING,
        ),
        (
            "mc-cdn-prod",
            "pr-renewal-lead-time",
            "expires in 8 days, inside the 14-day lead time",
            PolicySeverity.WARNING,
        ),
        (
            "mc-intranet-legacy",
            "pr-allowed-environments",
            "environment 'corporate' is not allowed",
            PolicySeverity.WARNING,
        ),
    ]
    for cert, rule, message, severity in violations:
        when = b.ago(b.rng.uniform(1, 10))
        vid = b.next_id("violation")
        b.add(
            PolicyViolationModel,
            id=vid,
            certificate=cert,
            rule=rule,
            message=message,
            severity=severity.value,
            created_at=when,
        )
        b.event(when, "system", "policy_violation_detected", "certificate", cert, {"rule_id": rule, "message": message})


def _notifications(b: _Builder) -> None:
    items = [
        (
            NotificationType.EXPIRATION_WARNING,
            "mc-mail-prod",
            NotificationChannel.EMAIL,
            "bob@example.com",
            "mail.example.com expires in 5 days [threshold:7]",
            NotificationStatus.SENT,
            2,
        ),
        (
            NotificationType.EXPIRATION_WARNING,
            "mc-cdn-prod",
            NotificationChannel.EMAIL,
            "dave@example.com",
            "cdn.example.com expires in 8 days [threshold:14]",
            NotificationStatus.READ,
            6,
        ),
        (
            NotificationType.EXPIRATION_WARNING,
            "mc-auth-prod",
            NotificationChannel.SLACK,
            "#pki-alerts",
            "auth.example.com expires in 12 days [threshold:14]",
            NotificationStatus.PENDING,
            0.01,
        ),
        (
            NotificationType.RENEWAL_FAILURE,
            "mc-vpn-prod",
            NotificationChannel.EMAIL,
            "bob@example.com",
            "Renewal of vpn.example.com failed after 3 attempts: rate limited by the ACME server",
            NotificationStatus.SENT,
            1.9,
        ),
        (
            NotificationType.DEPLOYMENT_FAILURE,
            "mc-pay-prod",
            NotificationChannel.PAGERDUTY,
            "payments-oncall",
            "Deployment of pay.example.com to tgt-iis-prod failed",
            NotificationStatus.FAILED,
            4,
        ),
        (
            NotificationType.REVOCATION,
            "mc-old-portal",
            NotificationChannel.WEBHOOK,
            "https://hooks.example.com/certctl",
            "portal-old.example.com revoked (keyCompromise)",
            NotificationStatus.SENT,
            9,
        ),
        (
            NotificationType.RENEWAL_SUCCESS,
            "mc-api-prod",
            NotificationChannel.EMAIL,
            "alice@example.com",
            "api.example.com renewed; new certificate valid for 90 days",
            NotificationStatus.READ,
            15,
        ),
        (
            NotificationType.POLICY_VIOLATION,
            "mc-smime-alice",
            NotificationChannel.TEAMS,
            "Security Operations",
            "Policy 'Allowed environments' violated by mc-smime-alice",
            NotificationStatus.SENT,
            7,
        ),
    ]
    for ntype, cert, channel, recipient, message, status, days in items:
        when = b.ago(days)
        b.add(
            NotificationModel,
            id=b.next_id("notif"),
            type=ntype.value,
            certificate=cert,
            channel=channel.value,
            recipient=recipient,
            message=message,
            status=status.value,
            sent_at=when if status in (NotificationStatus.SENT, NotificationStatus.READ) else None,
            error="PagerDuty returned 400: invalid routing key" if status is NotificationStatus.FAILED else None,
            created_at=when,
        )


def _discovery(
    b: _Builder,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    versions: dict[str, list[dict[str, Any]]],
) -> None:
    scans = [
        ("dscan-demo-web", "ag-web-prod", ["/etc/ssl", "/etc/nginx"], 2),
        ("dscan-demo-data", "ag-data-prod", ["/etc/pki"], 1),
        ("dscan-demo-network", "server-scanner", ["10.0.1.0/24:443,8443", "192.168.100.0/24:443"], 0.2),
    ]
    for scan_id, agent, dirs, days in scans:
        started = b.ago(days)
        b.add(
            DiscoveryScanModel,
            id=scan_id,
            agent=agent,
            directories=dirs,
            certificates_found=3,
            certificates_new=2,
            errors_count=1 if agent == "ag-data-prod" else 0,
            scan_duration_ms=b.rng.randint(300, 9000),
            started_at=started,
            completed_at=started + timedelta(seconds=9),
        )
        b.event(
            started + timedelta(seconds=9),
            agent,
            "discovery_scan_completed",
            "discovery_scan",
            scan_id,
            {"directories": dirs},
            ActorType.AGENT,
        )

    def found(
        scan: str,
        agent: str,
        path: str,
        fmt: str,
        status: DiscoveryStatus,
        cert: x509.Certificate,
        managed: str | None = None,
    ) -> None:
        info = inspect_certificate(cert)
        when = b.ago(b.rng.uniform(0.2, 2))
        b.add(
            DiscoveredCertificateModel,
            id=b.next_id("dcert"),
            fingerprint_sha256=info.fingerprint_sha256,
            common_name=info.subject_cn,
            sans=list(info.dns_names),
            serial_number=info.serial_hex,
            issuer_dn=info.issuer_dn,
            subject_dn=info.subject_dn,
            not_before=info.not_before,
            not_after=info.not_after,
            key_algorithm=info.key_algorithm.value,
            key_size=info.key_size,
            is_ca=info.is_ca,
            pem_data=certificate_to_pem(cert),
            source_path=path,
            source_format=fmt,
            agent=agent,
            discovery_scan=scan,
            managed_certificate=managed,
            status=status.value,
            first_seen_at=when,
            last_seen_at=when,
            dismissed_at=when if status is DiscoveryStatus.DISMISSED else None,
            created_at=when,
            updated_at=when,
        )

    def foreign(cn: str, days_left: float, lifetime: float = 365, key: Any = None) -> x509.Certificate:
        key = key or b.ec_key()
        return build_leaf(
            issuer_cert=ca_cert,
            issuer_key=ca_key,
            public_key=key.public_key(),
            common_name=cn,
            sans=[cn],
            not_before=b.now + timedelta(days=days_left - lifetime),
            not_after=b.now + timedelta(days=days_left),
            serial=b.serial(),
            deterministic=True,
        )

    unmanaged = DiscoveryStatus.UNMANAGED
    found(
        "dscan-demo-web",
        "ag-web-prod",
        "/etc/ssl/certs/jenkins.pem",
        "PEM",
        unmanaged,
        foreign("jenkins.example.com", 140),
    )
    found(
        "dscan-demo-web",
        "ag-web-prod",
        "/etc/nginx/tls/old-shop.crt",
        "PEM",
        unmanaged,
        foreign("old-shop.example.com", -40),
    )
    found(
        "dscan-demo-data",
        "ag-data-prod",
        "/etc/pki/tls/certs/airflow.der",
        "DER",
        unmanaged,
        foreign("airflow.example.com", 200),
    )
    for cert_id, agent, path in (
        ("mc-web-prod", "ag-web-prod", "/etc/nginx/tls/cert.pem"),
        ("mc-data-prod", "ag-data-prod", "/etc/nginx/tls/cert.pem"),
    ):
        pem = versions[cert_id][-1]["pem_chain"]
        leaf = x509.load_pem_x509_certificates(pem.encode())[0]
        found(
            "dscan-demo-web" if agent == "ag-web-prod" else "dscan-demo-data",
            agent,
            path,
            "PEM",
            DiscoveryStatus.MANAGED,
            leaf,
            managed=cert_id,
        )
    found(
        "dscan-demo-web",
        "ag-web-prod",
        "/etc/ssl/certs/snakeoil.pem",
        "PEM",
        DiscoveryStatus.DISMISSED,
        foreign("localhost.localdomain", 3000, lifetime=3650),
    )
    found(
        "dscan-demo-network",
        "server-scanner",
        "10.0.1.15:443",
        "network",
        unmanaged,
        foreign("intranet-wiki.example.com", 45),
    )
    found(
        "dscan-demo-network",
        "server-scanner",
        "10.0.1.16:8443",
        "network",
        unmanaged,
        foreign("grafana-old.example.com", -90),
    )
    printer_key = load_pem_private_key(_PRINTER_KEY_PEM.encode(), None)
    assert isinstance(printer_key, rsa.RSAPrivateKey)
    found(
        "dscan-demo-network",
        "server-scanner",
        "192.168.100.23:443",
        "network",
        unmanaged,
        _weak_printer_cert(printer_key, b),
    )


# The fake printer's RSA-1024 key, fixed so the demo is the same on every run (RSA keys cannot be
# derived from a seed the way the demo's ECDSA keys are). It protects nothing: a made-up device's
# weak key, there for discovery to flag.
_PRINTER_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIICeAIBADANBgkqhkiG9w0BAQEFAASCAmIwggJeAgEAAoGBAOAM5Tz4mcpwaWeX
5vtx3qVvElPhKAPrfokMdhgCXMAvOern7DvJ3W7njturyWjLAb1YoaO0CRwIfKrc
XdJwAVI7Nl4lYB3T8mWpvU2w5SxgRFA4B/VGvJfrNIkltWxpg8fyh3X8Tj2sS91Q
mxRKBEpZcPGunmWlZAjWK4j5qhTlAgMBAAECgYEAiJf0Djb189CSwmB+pt9mQO+1
ecP0VGd3LnCVcs/F4jkok0kv4ceRI3MyykQyN5xEhD6L1TUGtLuL3dMZtBkrA+WY
dQad7s2HC0fPur14SN73c5OBHM4wVsToskn2Hyw9vaDWwfrNDyKtn3hek+iXICFO
DHBdw0Miu9JjstPdv6UCQQD+tJ1HdXR/lkk0LbYgeefC02zwO44pfBWeWMF+VulS
+4xf4q1R+J1XmfQmkyvEDZwSGsrVo5qIjD56DZnvDHl7AkEA4TBlp0Nv4SpkeIO6
kMCFKNwYnUXJDYwH8LAWfyYE00NweTK8mNYNgufBisRAt6oB7AhdDMY0lrou2ymA
9+ptHwJAZLOWJ2WJzNPnV2jnRAnOltmujYCOYVp81aEzxzangzaPNm3RpsILu1HU
FNhFCntzBDlxjmvjsi74mJr+DGQ7NwJBANr4Q7Csy6rInR/u/8hn3FQKCUlNJZ6t
rr7li0qiPojsB/9iTa/UXRkQoMt94Gx3vRy2WTzlsxdp/cwRBJ6N7wMCQQCAwNNQ
3tVQbPmZK9grCRhDZ2vpqueVhgz0xa09xMQHQQ/t6Z1tn002oFisnruDTtHf2zF4
17NyyUS9fSEFSi78
-----END PRIVATE KEY-----
"""


def _weak_printer_cert(key: rsa.RSAPrivateKey, b: _Builder) -> x509.Certificate:
    """A self-signed RSA-1024 certificate, as old printers serve: exactly what discovery should flag."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "HP LaserJet MFP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hewlett-Packard"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(b.serial())
        .not_valid_before(b.ago(3650))
        .not_valid_after(b.ago(30))
        .sign(key, hashes.SHA256())
    )
