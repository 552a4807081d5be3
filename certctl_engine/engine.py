"""The Engine: the one object every face holds.

It opens the store, brings its schema up to date, loads the secret key and wires the
services together. Faces call services through it and get domain values back; they never
see the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType

from certctl_engine.errors import IntegrityError, StoreError
from certctl_engine.secretbox import SecretBox
from certctl_engine.services.agent_groups import AgentGroupService
from certctl_engine.services.agents import AgentService
from certctl_engine.services.audit import AuditService
from certctl_engine.services.ca import CAService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext, system_clock
from certctl_engine.services.crl_publisher import CRLPublisher
from certctl_engine.services.deployments import DeploymentService
from certctl_engine.services.discovery import DiscoveryService
from certctl_engine.services.exchange import ExchangeService
from certctl_engine.services.inspection import InspectionService
from certctl_engine.services.issuance import IssuanceService
from certctl_engine.services.issuers import IssuerService
from certctl_engine.services.jobs import JobService
from certctl_engine.services.leases import LeaseService
from certctl_engine.services.lifecycle import LifecycleService
from certctl_engine.services.notifications import NotificationService
from certctl_engine.services.ocsp_responder import OCSPResponderService
from certctl_engine.services.ocsp_signers import OCSPSignerService
from certctl_engine.services.ownership import OwnershipService
from certctl_engine.services.policies import PolicyService
from certctl_engine.services.profiles import ProfileService
from certctl_engine.services.renewal import RenewalService
from certctl_engine.services.renewal_info import RenewalInfoService
from certctl_engine.services.renewal_policies import RenewalPolicyService
from certctl_engine.services.revocation import RevocationService
from certctl_engine.services.stats import StatsService
from certctl_engine.services.targets import TargetService
from certctl_engine.store import Store, StoreLocation, UpgradeReport, resolve_location
from certctl_engine.store.models import StoreMetaModel

_SECRET_CHECK_KEY = "secret_key_check"
_SECRET_CHECK_TEXT = b"certctl secret key check"


class Engine:
    """An open certctl installation: store, secret key, clock and services."""

    def __init__(
        self,
        store: Store,
        secrets: SecretBox,
        clock: Callable[[], datetime] = system_clock,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.context = ServiceContext(store=store, secrets=secrets, clock=clock)
        self.audit = AuditService(self.context)
        self.ownership = OwnershipService(self.context, self.audit)
        self.profiles = ProfileService(self.context, self.audit)
        self.renewal_policies = RenewalPolicyService(self.context, self.audit)
        self.issuers = IssuerService(self.context, self.audit)
        self.targets = TargetService(self.context, self.audit)
        self.jobs = JobService(self.context, self.audit)
        self.certificates = CertificateService(self.context, self.audit, self.renewal_policies, self.jobs)
        self.stats = StatsService(self.context)
        self.ca = CAService(self.context, self.audit, self.issuers)
        self.issuance = IssuanceService(
            self.context, self.certificates, self.issuers, self.profiles, self.ca, self.jobs
        )
        self.revocation = RevocationService(
            self.context, self.audit, self.certificates, self.ca, self.issuance.connector_for
        )
        self.crl_publisher = CRLPublisher(self.context, self.ca, self.revocation)
        self.ocsp = OCSPResponderService(self.context, self.ca, OCSPSignerService(self.context, self.audit))
        self.revocation.on_revoked(self.ocsp.invalidate)
        self.exchange = ExchangeService(self.context, self.audit, self.certificates)
        self.inspection = InspectionService(self.certificates)
        self.lifecycle = LifecycleService(self.context, self.audit)
        self.notifications = NotificationService(self.context, self.audit)
        self.policies = PolicyService(self.context, self.audit)
        self.discovery = DiscoveryService(self.context, self.audit, self.exchange)
        self.certificates.use_rules(self.policies)
        self.issuance.use_rules(self.policies)
        self.deployments = DeploymentService(self.context, self.audit, self.jobs, self.certificates, self.targets)
        self.issuance.on_versions_stored(lambda versions, by: self.deployments.queue_for_versions(versions, actor=by))
        self.renewal_info = RenewalInfoService(self.context, self.certificates, self.issuance)
        self.renewal = RenewalService(
            self.context,
            self.audit,
            self.jobs,
            self.issuance,
            keygen_mode=((env or {}).get("CERTCTL_KEYGEN_MODE") or "server").lower(),
            renewal_info=self.renewal_info,
        )
        self.leases = LeaseService(self.context)
        self.agents = AgentService(
            self.context,
            self.audit,
            self.jobs,
            self.certificates,
            self.issuance,
            self.deployments,
            self.discovery,
            bootstrap_token=(env or {}).get("CERTCTL_AGENT_BOOTSTRAP_TOKEN"),
        )
        self.agent_groups = AgentGroupService(self.context, self.audit, self.agents)

    @classmethod
    def open(
        cls,
        url_or_path: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = system_clock,
        upgrade: bool = True,
    ) -> Engine:
        """Open (creating if needed) the store at ``url_or_path``, ``$CERTCTL_DATABASE_URL`` or the default."""
        env = os.environ if env is None else env
        location = resolve_location(url_or_path, env)
        store = Store.open(location, upgrade=upgrade)
        try:
            secrets = SecretBox.for_store(location.data_dir, env)
            _check_secret_key(store, secrets)
        except BaseException:
            store.close()
            raise
        try:
            return cls(store, secrets, clock, env)
        except BaseException:  # a bad setting (e.g. CERTCTL_KEYGEN_MODE) must not leave the store open
            store.close()
            raise

    @property
    def location(self) -> StoreLocation:
        return self.store.location

    @property
    def upgrade_report(self) -> UpgradeReport | None:
        return self.store.upgrade_report

    def now(self) -> datetime:
        return self.context.now()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_secret_key(store: Store, secrets: SecretBox) -> None:
    """Refuse to run with a key that cannot read this store's secrets, before anything is written."""
    with store.write():
        row = StoreMetaModel.get_or_none(StoreMetaModel.key == _SECRET_CHECK_KEY)
        if row is None:
            StoreMetaModel.create(key=_SECRET_CHECK_KEY, value=secrets.encrypt(_SECRET_CHECK_TEXT, "store"))
            return
    try:
        ok = secrets.decrypt(row.value, "store") == _SECRET_CHECK_TEXT
    except IntegrityError:
        ok = False
    if not ok:
        raise StoreError(
            f"the secret key ({secrets.source}) is not the one this store's secrets were written with; "
            "set CERTCTL_SECRET_KEY to the original key or restore the original key file"
        )
