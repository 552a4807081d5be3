"""Issuing and renewing: keys, CSRs, profile rules, the issuer connector, the new version.

The slow parts (key generation, signing) run before the write transaction; the version, the
status change and the audit event are then stored in one transaction, so a crash leaves
either the old state or the complete new one. A server-generated key is sealed before it is
stored; a caller's CSR keeps the key out of certctl altogether.

Many certificates at once (``issue_many``, ``renew_many``) share the issuer, CA and profile
look-ups and store each batch in one transaction with one audit event per certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import peewee
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.issuers import IssuedCertificate, IssuerConnector, IssueRequest, LocalCAConnector
from certctl_engine.connectors.issuers.acme import ACMEConnector, ACMESettings
from certctl_engine.domain import (
    Actor,
    BulkIssueFailure,
    BulkIssueResult,
    CertificateStatus,
    CertificateVersion,
    IssuerCheck,
    IssuerType,
    JobType,
    PolicySeverity,
    Profile,
)
from certctl_engine.errors import CertctlError, Conflict, InvalidInput, IssuerError, NotFound, PolicyViolation
from certctl_engine.pki import certificates_to_pem, generate_private_key, key_spec_of, load_csr, private_key_to_pem
from certctl_engine.pki.ca import CAMaterial
from certctl_engine.pki.keys import KeySpec
from certctl_engine.services import profile_rules
from certctl_engine.services.ca import CAService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.issuers import ConnectorSetup, IssuerService
from certctl_engine.services.jobs import JobService
from certctl_engine.services.new_version import NewVersion
from certctl_engine.services.policies import PolicyService, facts_of
from certctl_engine.services.profiles import ProfileService
from certctl_engine.store.bulk import select_in
from certctl_engine.store.fields import dump_json
from certctl_engine.store.models import CertificateModel, CertificateSANModel

DEFAULT_VALIDITY_DAYS = 90
_CLOCK_SKEW = timedelta(minutes=5)
_NOT_RENEWABLE = {CertificateStatus.ARCHIVED, CertificateStatus.REVOKED}
_SUBJECT_COLUMNS = ("id", "common_name", "status", "issuer", "certificate_profile", "current_version_id")
_STATE_COLUMNS = ("id", "status", "current_version_id")


@dataclass(frozen=True, slots=True)
class _Subject:
    """The parts of a managed certificate that issuing it reads."""

    id: str
    common_name: str
    sans: tuple[str, ...]
    status: CertificateStatus
    issuer_id: str
    profile_id: str | None
    current_version_id: str | None


@dataclass(frozen=True, slots=True)
class _Pending:
    """A request ready for its issuer, and what storing the answer needs."""

    subject_id: str
    request: IssueRequest
    spec: KeySpec
    csr_text: str
    signer: _Signer
    profile: Profile | None = None


@dataclass(frozen=True, slots=True)
class _Signer:
    """An issuer ready to sign: its connector and what every leaf of it shares."""

    connector: IssuerConnector
    validity_seconds: int
    chain: tuple[x509.Certificate, ...]
    chain_pem: str
    issuer_dn: str | None = None
    """The subject of ``chain[0]`` (the CA that signs), when the chain is known up front."""


def _load_subjects(database: peewee.Database, certificate_ids: Sequence[str]) -> dict[str, _Subject]:
    """The certificates and their SANs in two queries, whatever their number."""
    ids = list(certificate_ids)
    rows = select_in(database, CertificateModel, _SUBJECT_COLUMNS, "id", ids)
    sans: dict[str, list[str]] = {}
    for cert_id, value in select_in(database, CertificateSANModel, ("certificate", "value"), "certificate", ids):
        sans.setdefault(cert_id, []).append(value)
    return {
        cert_id: _Subject(
            id=cert_id,
            common_name=common_name,
            sans=tuple(dict.fromkeys(sans.get(cert_id, ()))),
            status=CertificateStatus(status),
            issuer_id=issuer_id,
            profile_id=profile_id,
            current_version_id=current_version_id,
        )
        for cert_id, common_name, status, issuer_id, profile_id, current_version_id in rows
    }


def _current_states(database: peewee.Database, certificate_ids: Sequence[str]) -> dict[str, _Subject]:
    """The state columns only, re-read inside the write transaction before storing."""
    rows = select_in(database, CertificateModel, _STATE_COLUMNS, "id", list(certificate_ids))
    return {
        cert_id: _Subject(cert_id, "", (), CertificateStatus(status), "", None, current)
        for cert_id, status, current in rows
    }


_ACME_ACCOUNT_FIELDS = ("account_private_key", "account_url")


class _IssuerAccount:
    """An ACME account kept in its issuer's configuration: the key sealed, the URL plain."""

    def __init__(self, issuers: IssuerService, issuer_id: str, actor: Actor) -> None:
        self._issuers = issuers
        self._issuer_id = issuer_id
        self._actor = actor

    def load(self) -> tuple[bytes, str] | None:
        config = self._issuers.connector_config(self._issuer_id)
        key, url = config.get("account_private_key"), config.get("account_url")
        return (str(key).encode(), str(url)) if key and url else None

    def save(self, key_pem: bytes, account_url: str) -> None:
        self._issuers.save_connector_state(
            self._issuer_id,
            {"account_private_key": key_pem.decode(), "account_url": account_url},
            actor=self._actor,
            action="issuer_account_registered",
        )


class IssuanceService:
    def __init__(
        self,
        ctx: ServiceContext,
        certificates: CertificateService,
        issuers: IssuerService,
        profiles: ProfileService,
        ca: CAService,
        jobs: JobService,
    ) -> None:
        self._ctx = ctx
        self._jobs = jobs
        self._certificates = certificates
        self._issuers = issuers
        self._profiles = profiles
        self._ca = ca
        # Signing contexts per issuer, reused while the CA material and URLs stay the same.
        self._signers: dict[str, tuple[CAMaterial, str | None, str | None, _Signer]] = {}
        self._stored_listeners: list[Callable[[Sequence[CertificateVersion], Actor], None]] = []
        self._acme: dict[str, tuple[str, _Signer]] = {}
        self._rules: PolicyService | None = None

    def use_rules(self, rules: PolicyService) -> None:
        """Hold issuance and renewal to the policy rules: Critical ones refuse, the others are recorded."""
        self._rules = rules

    def _check_rules(self, certificate_ids: Sequence[str], actor: Actor) -> dict[str, PolicyViolation]:
        """The certificates a Critical rule refuses, with why; other findings are recorded as violations."""
        if self._rules is None or not certificate_ids:
            return {}
        rules = self._rules.enabled_rules()
        if not rules:
            return {}
        rows = list(CertificateModel.select().where(CertificateModel.id.in_(list(certificate_ids))))
        sans: dict[str, list[str]] = {}
        for cert_id, value in select_in(
            self._ctx.store.database,
            CertificateSANModel,
            ("certificate", "value"),
            "certificate",
            list(certificate_ids),
        ):
            sans.setdefault(cert_id, []).append(value)
        refused: dict[str, PolicyViolation] = {}
        for row in rows:
            found = self._rules.findings(facts_of(row, sans.get(row.id, ())), rules)
            critical = [f for f in found if f.severity is PolicySeverity.CRITICAL]
            if critical:
                refused[row.id] = PolicyViolation(
                    f"policy rule {critical[0].message}",
                    rule=critical[0].rule_id,
                    field="policy_rule",
                    hint="change the certificate or the rule",
                )
            self._rules.record(row.id, found, actor=actor)
        return refused

    def on_versions_stored(self, listener: Callable[[Sequence[CertificateVersion], Actor], None]) -> None:
        """Call ``listener`` with every batch of new versions, inside the transaction that stores them."""
        self._stored_listeners.append(listener)

    def test_issuer(self, issuer_id: str, *, actor: Actor) -> IssuerCheck:
        """Reach the issuer's CA with its current configuration; never raises for the CA's own failures."""
        try:
            message = self.connector_for(issuer_id, actor=actor).check()
        except IssuerError as exc:
            return IssuerCheck(issuer_id, False, exc.message)
        except InvalidInput as exc:
            return IssuerCheck(issuer_id, False, f"configuration: {exc.message}")
        return IssuerCheck(issuer_id, True, message)

    def connector_for(self, issuer_id: str, *, actor: Actor) -> IssuerConnector:
        """The connector that issues through ``issuer_id``; refuses disabled and unsupported issuers."""
        return self._signer(self._issuers.connector_setup(issuer_id), actor).connector

    def _signer(self, setup: ConnectorSetup, actor: Actor) -> _Signer:
        if not setup.enabled:
            raise IssuerError(
                f"issuer '{setup.issuer_id}' is disabled; enable it or move the certificate to another issuer"
            )
        if setup.config.get("demo_placeholder"):
            raise IssuerError(
                f"issuer '{setup.issuer_id}' is a placeholder from the demo data; certctl does not contact its CA. "
                "Give the issuer a real configuration (without demo_placeholder) to issue through it"
            )
        if setup.type in (IssuerType.STEP_CA, IssuerType.VAULT_PKI, IssuerType.OPENSSL):
            return self._external_signer(setup)
        validity = int(setup.config.get("validity_days") or DEFAULT_VALIDITY_DAYS) * 86400
        if setup.type is IssuerType.ACME:
            return self._acme_signer(setup, validity, actor)
        if setup.type is not IssuerType.GENERIC_CA:
            raise IssuerError(
                f"issuer '{setup.issuer_id}' is of type {setup.type.value}, which this certctl cannot issue through"
            )
        material = self._ca.material(setup.issuer_id, actor=actor)
        crl_url, ocsp_url = setup.config.get("crl_url") or None, setup.config.get("ocsp_url") or None
        cached = self._signers.get(setup.issuer_id)
        if cached is not None and cached[0] is material and cached[1:3] == (crl_url, ocsp_url):
            signer = cached[3]
        else:
            signer = _Signer(
                connector=LocalCAConnector(material, crl_url=crl_url, ocsp_url=ocsp_url, now=self._ctx.now),
                validity_seconds=0,
                chain=(material.certificate, *material.chain),
                chain_pem=certificates_to_pem([material.certificate, *material.chain]),
                issuer_dn=material.certificate.subject.rfc4514_string(),
            )
            self._signers[setup.issuer_id] = (material, crl_url, ocsp_url, signer)
        if signer.validity_seconds != validity:
            signer = _Signer(signer.connector, validity, signer.chain, signer.chain_pem, signer.issuer_dn)
        return signer

    def _external_signer(self, setup: ConnectorSetup) -> _Signer:
        """A step-ca, Vault PKI or script issuer's connector, from its configuration as it is now.

        These connectors keep nothing between calls (each call opens its own connection or
        starts its own process), so none is cached and a changed configuration applies at once.
        A missing or malformed setting is refused here, naming the field.
        """
        from certctl_engine.connectors.issuers.script import ScriptConnector, ScriptSettings
        from certctl_engine.connectors.issuers.stepca import StepCAConnector, StepCASettings
        from certctl_engine.connectors.issuers.vault import VaultPKIConnector, VaultSettings

        connector: IssuerConnector
        if setup.type is IssuerType.STEP_CA:
            step = StepCASettings.from_config(setup.config)
            connector, validity = StepCAConnector(step), step.validity_seconds
        elif setup.type is IssuerType.VAULT_PKI:
            vault = VaultSettings.from_config(setup.config)
            connector, validity = VaultPKIConnector(vault), (vault.validity_days or DEFAULT_VALIDITY_DAYS) * 86400
        else:
            script = ScriptSettings.from_config(setup.config)
            connector, validity = ScriptConnector(script), (script.validity_days or DEFAULT_VALIDITY_DAYS) * 86400
        return _Signer(connector=connector, validity_seconds=validity, chain=(), chain_pem="")

    def _acme_signer(self, setup: ConnectorSetup, validity: int, actor: Actor) -> _Signer:
        """An ACME issuer's connector, kept while its configuration is unchanged (the account is reused)."""
        fingerprint = dump_json({k: v for k, v in setup.config.items() if k not in _ACME_ACCOUNT_FIELDS})
        cached = self._acme.get(setup.issuer_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        connector = ACMEConnector(
            ACMESettings.from_config(setup.config), _IssuerAccount(self._issuers, setup.issuer_id, actor)
        )
        signer = _Signer(connector=connector, validity_seconds=validity, chain=(), chain_pem="")
        self._acme[setup.issuer_id] = (fingerprint, signer)
        return signer

    # ------------------------------------------------------------------ one certificate
    def issue(
        self,
        certificate_id: str,
        *,
        actor: Actor,
        key_spec: KeySpec | None = None,
        ttl_seconds: int | None = None,
        csr_pem: str | bytes | None = None,
        on_stored: Callable[[CertificateVersion], None] | None = None,
    ) -> CertificateVersion:
        """First issuance of a registered certificate.

        ``on_stored`` runs inside the transaction that stores the version (a job completes
        there, so a crash never leaves a version without its finished job, or the reverse).
        """
        return self._one(certificate_id, actor, key_spec, ttl_seconds, csr_pem, renewal=False, on_stored=on_stored)

    def renew(
        self,
        certificate_id: str,
        *,
        actor: Actor,
        key_spec: KeySpec | None = None,
        ttl_seconds: int | None = None,
        csr_pem: str | bytes | None = None,
        on_stored: Callable[[CertificateVersion], None] | None = None,
    ) -> CertificateVersion:
        """A new version with a new key; the previous versions stay in the history."""
        return self._one(certificate_id, actor, key_spec, ttl_seconds, csr_pem, renewal=True, on_stored=on_stored)

    def _one(
        self,
        certificate_id: str,
        actor: Actor,
        key_spec: KeySpec | None,
        ttl_seconds: int | None,
        csr_pem: str | bytes | None,
        *,
        renewal: bool,
        on_stored: Callable[[CertificateVersion], None] | None,
    ) -> CertificateVersion:
        subject = _load_subjects(self._ctx.store.database, [certificate_id]).get(certificate_id)
        if subject is None:
            raise NotFound("certificate", certificate_id, hint="list certificates to find its id")
        _check_state(subject, renewal=renewal)
        if not renewal and on_stored is None:
            _check_not_awaiting_approval(
                certificate_id, self._jobs.awaiting_approval([certificate_id], JobType.ISSUANCE)
            )
        refused = self._check_rules([certificate_id], actor)
        if certificate_id in refused:
            raise refused[certificate_id]
        profile = self._profiles.get(subject.profile_id) if subject.profile_id else None
        signer = self._signer(self._issuers.connector_setup(subject.issuer_id), actor)
        new = self._sign(subject, profile, signer, key_spec, ttl_seconds, csr_pem)
        with self._ctx.store.write():
            _check_state(_current_states(self._ctx.store.database, [certificate_id])[certificate_id], renewal=renewal)
            version = self._store([new], actor, renewal=renewal)[0]
            if on_stored is not None:
                on_stored(version)
            elif not renewal:
                self._jobs.fulfil_issuance({certificate_id: version.id}, actor=actor)
        return version

    # ------------------------------------------------------------------ many certificates
    def issue_many(
        self,
        certificate_ids: Iterable[str],
        *,
        actor: Actor,
        key_spec: KeySpec | None = None,
        ttl_seconds: int | None = None,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> BulkIssueResult:
        """First issuance of many registered certificates, each with a key made here.

        Certificates that cannot be issued (not found, already issued, refused by their
        profile or issuer) are reported in ``failed`` and the rest go on. Each batch is one
        transaction; ``progress(done, total)`` is called after each.
        """
        return self._many(certificate_ids, actor, key_spec, ttl_seconds, batch_size, progress, renewal=False)

    def renew_many(
        self,
        certificate_ids: Iterable[str],
        *,
        actor: Actor,
        key_spec: KeySpec | None = None,
        ttl_seconds: int | None = None,
        batch_size: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> BulkIssueResult:
        """Renew many issued certificates with new keys; failures are reported, not raised."""
        return self._many(certificate_ids, actor, key_spec, ttl_seconds, batch_size, progress, renewal=True)

    def _many(
        self,
        certificate_ids: Iterable[str],
        actor: Actor,
        key_spec: KeySpec | None,
        ttl_seconds: int | None,
        batch_size: int,
        progress: Callable[[int, int], None] | None,
        *,
        renewal: bool,
    ) -> BulkIssueResult:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        ids = list(dict.fromkeys(certificate_ids))
        issued: list[CertificateVersion] = []
        failed: list[BulkIssueFailure] = []
        profiles: dict[str, Profile] = {}
        signers: dict[str, _Signer | CertctlError] = {}
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            subjects = _load_subjects(self._ctx.store.database, batch)
            waiting = {} if renewal else self._jobs.awaiting_approval(list(subjects), JobType.ISSUANCE)
            refused = self._check_rules(list(subjects), actor)
            pending: list[_Pending] = []
            ready: list[NewVersion] = []
            for cert_id in batch:
                try:
                    subject = subjects.get(cert_id)
                    if subject is None:
                        raise NotFound("certificate", cert_id, hint="list certificates to find its id")
                    _check_state(subject, renewal=renewal)
                    _check_not_awaiting_approval(cert_id, waiting)
                    if cert_id in refused:
                        raise refused[cert_id]
                    profile = None
                    if subject.profile_id:
                        if subject.profile_id not in profiles:
                            profiles[subject.profile_id] = self._profiles.get(subject.profile_id)
                        profile = profiles[subject.profile_id]
                    signer = signers.get(subject.issuer_id)
                    if signer is None:
                        try:
                            signer = self._signer(self._issuers.connector_setup(subject.issuer_id), actor)
                        except CertctlError as exc:
                            signer = exc
                        signers[subject.issuer_id] = signer
                    if isinstance(signer, CertctlError):
                        raise signer
                    pending.append(self._prepare(subject, profile, signer, key_spec, ttl_seconds, None))
                except CertctlError as exc:
                    failed.append(BulkIssueFailure(cert_id, exc.message))
            for item, outcome in self._issue_all(pending):
                if isinstance(outcome, CertctlError):
                    failed.append(BulkIssueFailure(item.subject_id, outcome.message))
                else:
                    try:
                        ready.append(self._finish(item, outcome))
                    except CertctlError as exc:
                        failed.append(BulkIssueFailure(item.subject_id, exc.message))
            if ready:
                with self._ctx.store.write():
                    current = _current_states(self._ctx.store.database, [n.certificate_id for n in ready])
                    storable: list[NewVersion] = []
                    for new in ready:
                        try:
                            _check_state(current[new.certificate_id], renewal=renewal)
                            storable.append(new)
                        except (CertctlError, KeyError) as exc:
                            message = exc.message if isinstance(exc, CertctlError) else "deleted meanwhile"
                            failed.append(BulkIssueFailure(new.certificate_id, message))
                    stored = self._store(storable, actor, renewal=renewal)
                    if not renewal:
                        self._jobs.fulfil_issuance({v.certificate_id: v.id for v in stored}, actor=actor)
                    issued.extend(stored)
            if progress is not None:
                progress(min(start + batch_size, len(ids)), len(ids))
        return BulkIssueResult(issued=tuple(issued), failed=tuple(failed))

    # ------------------------------------------------------------------ shared steps
    def _sign(
        self,
        subject: _Subject,
        profile: Profile | None,
        signer: _Signer,
        key_spec: KeySpec | None,
        ttl_seconds: int | None,
        csr_pem: str | bytes | None,
    ) -> NewVersion:
        """Check the profile, make the key (or take the CSR's) and have the issuer sign."""
        item = self._prepare(subject, profile, signer, key_spec, ttl_seconds, csr_pem)
        return self._finish(item, signer.connector.issue(item.request))

    def _prepare(
        self,
        subject: _Subject,
        profile: Profile | None,
        signer: _Signer,
        key_spec: KeySpec | None,
        ttl_seconds: int | None,
        csr_pem: str | bytes | None,
    ) -> _Pending:
        """Everything before the CA: the profile's rules, the key (or the caller's CSR), the request."""
        profile_rules.check_enabled(profile)
        profile_rules.check_names(profile, subject.common_name, subject.sans)
        csr_text = ""
        if csr_pem is not None:
            csr = load_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
            public_key = csr.public_key()
            spec = key_spec_of(public_key)  # type: ignore[arg-type]
            profile_rules.check_key(profile, spec)
            csr_text = csr.public_bytes(Encoding.PEM).decode()
            private_key = None
        else:
            csr = None
            spec = key_spec or profile_rules.default_key_spec(profile)
            profile_rules.check_key(profile, spec)
            private_key = generate_private_key(spec)
            public_key = private_key.public_key()
        lifetime = profile_rules.ttl_seconds(profile, ttl_seconds, signer.validity_seconds)
        now = self._ctx.now()
        request = IssueRequest(
            public_key=public_key,  # type: ignore[arg-type]
            common_name=subject.common_name,
            sans=subject.sans,
            ekus=profile_rules.ekus(profile),
            # Short lifetimes are not backdated: a five-minute certificate must not be half spent.
            not_before=now - (_CLOCK_SKEW if lifetime >= 3600 else timedelta(0)),
            not_after=now + timedelta(seconds=lifetime),
            csr=csr,
            private_key=private_key,
        )
        return _Pending(subject.id, request, spec, csr_text, signer, profile)

    def _issue_all(self, items: Sequence[_Pending]) -> list[tuple[_Pending, IssuedCertificate | CertctlError]]:
        """Have each issuer sign its requests: all at once where the connector can (ACME orders run
        side by side), one by one otherwise; one refusal never stops the others."""
        outcomes: list[tuple[_Pending, IssuedCertificate | CertctlError]] = []
        groups: dict[int, list[_Pending]] = {}
        for item in items:
            groups.setdefault(id(item.signer.connector), []).append(item)
        for group in groups.values():
            connector = group[0].signer.connector
            batch = getattr(connector, "issue_many", None)
            if batch is not None and len(group) > 1:
                outcomes.extend(zip(group, batch([item.request for item in group]), strict=True))
                continue
            for item in group:
                try:
                    outcomes.append((item, connector.issue(item.request)))
                except CertctlError as exc:
                    outcomes.append((item, exc))
        return outcomes

    def _finish(self, item: _Pending, issued: IssuedCertificate) -> NewVersion:
        """The new version from the CA's answer; a key made here (or by the CA) is serialised to be sealed."""
        key, spec = item.request.private_key, item.spec
        if issued.private_key is not None:  # the CA made the key (Vault's issue): the profile must allow it
            key, spec = issued.private_key, key_spec_of(issued.private_key.public_key())  # type: ignore[arg-type]
            profile_rules.check_key(item.profile, spec)
        known_chain = issued.chain == item.signer.chain
        return NewVersion.from_certificate(
            item.subject_id,
            issued.leaf,
            item.signer.chain_pem if known_chain else certificates_to_pem(issued.chain),
            key_spec=spec,
            csr_pem=item.csr_text,
            private_key_pem=private_key_to_pem(key) if key is not None else None,
            issuer_dn=item.signer.issuer_dn if known_chain else None,
        )

    def _store(self, versions: Sequence[NewVersion], actor: Actor, *, renewal: bool) -> list[CertificateVersion]:
        stored = self._certificates.store_versions(
            versions,
            actor=actor,
            action="certificate_renewed" if renewal else "certificate_issued",
            status=CertificateStatus.ACTIVE,
            renewal=renewal,
        )
        for listener in self._stored_listeners:
            listener(stored, actor)
        return stored


def _check_not_awaiting_approval(certificate_id: str, waiting: dict[str, str]) -> None:
    """Issuing directly must not step round a job that waits for someone's approval."""
    if certificate_id in waiting:
        raise Conflict(
            f"certificate '{certificate_id}' waits for approval of its issuance job '{waiting[certificate_id]}'; "
            "another person approves it (jobs approve), then the job issues it"
        )


def _check_state(subject: _Subject, *, renewal: bool) -> None:
    if subject.status in _NOT_RENEWABLE:
        raise Conflict(
            f"certificate '{subject.id}' is {subject.status.value}; register a new certificate instead of reusing it"
        )
    if renewal and subject.current_version_id is None:
        raise Conflict(f"certificate '{subject.id}' has not been issued yet; issue it first")
    if not renewal and subject.current_version_id is not None:
        raise Conflict(f"certificate '{subject.id}' is already issued; renew it instead")
