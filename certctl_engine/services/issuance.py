"""Issuing and renewing: keys, CSRs, profile rules, the issuer connector, the new version.

The slow parts (key generation, signing) run before the write transaction; the version, the
status change and the audit event are then stored in one transaction, so a crash leaves
either the old state or the complete new one. A server-generated key is sealed before it is
stored; a caller's CSR keeps the key out of certctl altogether.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.issuers import IssuerConnector, IssueRequest, LocalCAConnector
from certctl_engine.domain import Actor, Certificate, CertificateStatus, CertificateVersion, IssuerType, Profile
from certctl_engine.errors import Conflict, IssuerError
from certctl_engine.pki import (
    build_csr,
    certificates_to_pem,
    generate_private_key,
    key_spec_of,
    load_csr,
    private_key_to_pem,
)
from certctl_engine.pki.keys import KeySpec
from certctl_engine.services import profile_rules
from certctl_engine.services.ca import CAService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.issuers import IssuerService
from certctl_engine.services.profiles import ProfileService
from certctl_engine.store.models import CertificateModel

DEFAULT_VALIDITY_DAYS = 90
_CLOCK_SKEW = timedelta(minutes=5)
_NOT_RENEWABLE = {CertificateStatus.ARCHIVED, CertificateStatus.REVOKED}


class IssuanceService:
    def __init__(
        self,
        ctx: ServiceContext,
        certificates: CertificateService,
        issuers: IssuerService,
        profiles: ProfileService,
        ca: CAService,
    ) -> None:
        self._ctx = ctx
        self._certificates = certificates
        self._issuers = issuers
        self._profiles = profiles
        self._ca = ca

    def connector_for(self, issuer_id: str, *, actor: Actor, config: dict[str, Any] | None = None) -> IssuerConnector:
        issuer = self._issuers.get(issuer_id)
        if not issuer.enabled:
            raise IssuerError(f"issuer '{issuer_id}' is disabled; enable it or move the certificate to another issuer")
        if issuer.type is IssuerType.GENERIC_CA:
            config = config if config is not None else self._issuers.connector_config(issuer_id)
            return LocalCAConnector(
                self._ca.material(issuer_id, actor=actor),
                crl_url=config.get("crl_url"),
                ocsp_url=config.get("ocsp_url"),
            )
        raise IssuerError(
            f"issuer '{issuer_id}' is of type {issuer.type.value}, which this certctl cannot issue through yet; "
            f"use a {IssuerType.GENERIC_CA.value} (local CA) issuer"
        )

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
        cert = self._certificates.get(certificate_id)
        if cert.current_version_id is not None:
            raise Conflict(f"certificate '{certificate_id}' is already issued; renew it instead")
        return self._issue(cert, actor, key_spec, ttl_seconds, csr_pem, renewal=False, on_stored=on_stored)

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
        cert = self._certificates.get(certificate_id)
        if cert.current_version_id is None:
            raise Conflict(f"certificate '{certificate_id}' has not been issued yet; issue it first")
        return self._issue(cert, actor, key_spec, ttl_seconds, csr_pem, renewal=True, on_stored=on_stored)

    def _issue(
        self,
        cert: Certificate,
        actor: Actor,
        key_spec: KeySpec | None,
        ttl_seconds: int | None,
        csr_pem: str | bytes | None,
        *,
        renewal: bool,
        on_stored: Callable[[CertificateVersion], None] | None,
    ) -> CertificateVersion:
        if cert.status in _NOT_RENEWABLE:
            raise Conflict(
                f"certificate '{cert.id}' is {cert.status.value}; register a new certificate instead of reusing it"
            )
        profile: Profile | None = (
            self._profiles.get(cert.certificate_profile_id) if cert.certificate_profile_id else None
        )
        profile_rules.check_enabled(profile)
        names = tuple(dict.fromkeys(cert.sans))
        profile_rules.check_names(profile, cert.common_name, names)
        key_pem: bytes | None = None
        if csr_pem is not None:
            csr = load_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
            profile_rules.check_key(profile, key_spec_of(csr.public_key()))  # type: ignore[arg-type]
        else:
            spec = key_spec or profile_rules.default_key_spec(profile)
            profile_rules.check_key(profile, spec)
            key = generate_private_key(spec)
            csr = build_csr(key, cert.common_name, names)
            key_pem = private_key_to_pem(key)
        config = self._issuers.connector_config(cert.issuer_id)
        validity = int(config.get("validity_days") or DEFAULT_VALIDITY_DAYS) * 86400
        lifetime = profile_rules.ttl_seconds(profile, ttl_seconds, validity)
        now = self._ctx.now()
        connector = self.connector_for(cert.issuer_id, actor=actor, config=config)
        issued = connector.issue(
            IssueRequest(
                csr=csr,
                common_name=cert.common_name,
                sans=names,
                ekus=profile_rules.ekus(profile),
                # Short lifetimes are not backdated: a five-minute certificate must not be half spent.
                not_before=now - (_CLOCK_SKEW if lifetime >= 3600 else timedelta(0)),
                not_after=now + timedelta(seconds=lifetime),
            )
        )
        pem_chain = certificates_to_pem([issued.leaf, *issued.chain])
        csr_text = csr.public_bytes(Encoding.PEM).decode()
        with self._ctx.store.write():
            version = self._certificates.add_version(
                cert.id,
                pem_chain,
                actor=actor,
                private_key_pem=key_pem,
                csr_pem=csr_text,
                action="certificate_renewed" if renewal else "certificate_issued",
                status=CertificateStatus.ACTIVE,
            )
            if renewal:
                CertificateModel.update(last_renewal_at=now).where(CertificateModel.id == cert.id).execute()
            if on_stored is not None:
                on_stored(version)
        return version
