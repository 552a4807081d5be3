"""EST enrollment (RFC 7030): a device's CSR becomes a managed certificate issued under a profile.

Every enrollment is an ordinary managed certificate (named ``est-<CN>-<random>``, tagged with
the EST label and user), so it shows in the inventory, is audited, renewed and revoked like
any other. The profile's rules are checked against the CSR before anything is stored, so a
refused CSR leaves no trace but the answer. Re-enrollment renews the certificate the same
user enrolled for the same subject; RFC 7030 §4.2.2 asks that the subject and
subjectAltName stay identical, and a CSR that changes them is refused.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certctl_engine.domain import Actor, CertificateStatus, CertificateVersion, Profile
from certctl_engine.errors import CertctlError, InvalidInput, Unauthorized
from certctl_engine.pki import key_spec_of, load_certificates, load_csr
from certctl_engine.services import profile_rules
from certctl_engine.services.audit import AuditService
from certctl_engine.services.ca import CAService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.issuance import IssuanceService
from certctl_engine.services.profiles import ProfileService
from certctl_engine.store.models import CertificateModel, CertificateVersionModel

EST_NAME_PREFIX = "est-"
LABEL_TAG = "est_label"
USER_TAG = "est_user"
_MAX_CN_IN_NAME = 200


@dataclass(frozen=True, slots=True)
class ESTRoute:
    """Where an EST label's enrollments go: the issuer and, optionally, the profile that constrains them."""

    label: str
    issuer_id: str
    profile_id: str | None = None


@dataclass(frozen=True, slots=True)
class ESTEnrollment:
    certificate_id: str
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class ESTClient:
    """Who is enrolling: an HTTP basic user, or the certctl certificate a TLS client presented."""

    user: str
    certificate_id: str | None = None
    """The managed certificate the client authenticated with (client-certificate authentication)."""


@dataclass(frozen=True, slots=True)
class _Request:
    csr_pem: str
    common_name: str
    sans: tuple[str, ...]


class ESTService:
    def __init__(
        self,
        ctx: ServiceContext,
        audit: AuditService,
        certificates: CertificateService,
        issuance: IssuanceService,
        profiles: ProfileService,
        ca: CAService,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._certificates = certificates
        self._issuance = issuance
        self._profiles = profiles
        self._ca = ca

    def ca_certificates(self, route: ESTRoute, *, actor: Actor) -> list[x509.Certificate]:
        """The issuing CA and its chain (RFC 7030 §4.1), as clients should trust them."""
        material = self._ca.material(route.issuer_id, actor=actor)
        return [material.certificate, *material.chain]

    def enroll(self, route: ESTRoute, csr_data: bytes, *, user: str) -> ESTEnrollment:
        """Register and issue a new certificate for the CSR, if the label's profile allows it."""
        actor = _actor(user)
        request = self._checked_request(route, csr_data)
        name = f"{EST_NAME_PREFIX}{request.common_name[:_MAX_CN_IN_NAME]}-{secrets.token_hex(4)}"
        cert = self._certificates.create(
            name=name,
            common_name=request.common_name,
            sans=request.sans,
            issuer_id=route.issuer_id,
            certificate_profile_id=route.profile_id,
            environment="est",
            tags={LABEL_TAG: route.label, USER_TAG: user},
            actor=actor,
            queue_issuance=False,
        )
        try:
            version = self._issuance.issue(
                cert.id,
                actor=actor,
                csr_pem=request.csr_pem,
                on_stored=self._recorder("est_simple_enroll", route, actor),
            )
        except CertctlError:
            # The issuer refused after the profile allowed it: keep no half-enrolled certificate in use.
            self._certificates.archive(cert.id, actor=actor)
            raise
        return _enrollment(cert.id, version.pem_chain)

    def identify(self, route: ESTRoute, certificate: x509.Certificate) -> ESTClient:
        """Who a TLS client certificate speaks for (RFC 7030 §3.3.2): the current version of an
        active certificate certctl issued under this label's issuer. An EST-enrolled one speaks
        for the user who enrolled it; any other for itself (``cert:<id>``)."""
        fingerprint = certificate.fingerprint(SHA256()).hex()
        version = CertificateVersionModel.get_or_none(CertificateVersionModel.fingerprint_sha256 == fingerprint)
        if version is None:
            raise Unauthorized("the client certificate is not one certctl manages")
        cert = CertificateModel.get_by_id(version.certificate_id)
        if cert.issuer_id != route.issuer_id:
            raise Unauthorized(
                f"the client certificate was issued by '{cert.issuer_id}', not by the issuer of EST label "
                f"'{route.label or '(default)'}' ('{route.issuer_id}')"
            )
        if cert.status in (CertificateStatus.REVOKED.value, CertificateStatus.ARCHIVED.value):
            raise Unauthorized(f"the client certificate's certificate '{cert.id}' is {cert.status}")
        if cert.current_version_id != version.id:
            raise Unauthorized(
                f"the client certificate is an older version of '{cert.id}'; authenticate with its current version"
            )
        if version.not_after <= self._ctx.now():
            raise Unauthorized(f"the client certificate expired at {version.not_after:%Y-%m-%d %H:%M} UTC")
        return ESTClient((cert.tags or {}).get(USER_TAG) or f"cert:{cert.id}", cert.id)

    def reenroll(
        self, route: ESTRoute, csr_data: bytes, *, user: str, certificate_id: str | None = None
    ) -> ESTEnrollment:
        """Renew, with the CSR's (new) key, the certificate the client authenticated with
        (``certificate_id``), or else the one ``user`` enrolled for the CSR's subject."""
        actor = _actor(user)
        request = self._checked_request(route, csr_data)
        if certificate_id is not None:
            existing = self._presented(certificate_id, request)
        else:
            existing = self._enrolled(route, request, user)
        version = self._issuance.renew(
            existing.id,
            actor=actor,
            csr_pem=request.csr_pem,
            on_stored=self._recorder("est_simple_reenroll", route, actor),
        )
        return _enrollment(existing.id, version.pem_chain)

    def _recorder(self, action: str, route: ESTRoute, actor: Actor) -> Callable[[CertificateVersion], None]:
        """The EST audit event, written in the transaction that stores the new version."""

        def record(version: CertificateVersion) -> None:
            self._audit.record(
                actor,
                action,
                "certificate",
                version.certificate_id,
                {"label": route.label, "serial_number": version.serial_number},
            )

        return record

    # ------------------------------------------------------------------ helpers
    def _checked_request(self, route: ESTRoute, csr_data: bytes) -> _Request:
        """The CSR's subject and names, refused now if the label's profile would refuse it."""
        csr = load_csr(csr_data)
        common_name = _common_name(csr)
        sans = _sans(csr)
        profile: Profile | None = self._profiles.get(route.profile_id) if route.profile_id else None
        profile_rules.check_enabled(profile)
        profile_rules.check_names(profile, common_name, sans)
        profile_rules.check_key(profile, key_spec_of(csr.public_key()))  # type: ignore[arg-type]
        return _Request(csr.public_bytes(Encoding.PEM).decode(), common_name, sans)

    def _presented(self, certificate_id: str, request: _Request) -> CertificateModel:
        """The client's own certificate, renewed only for the same subject and names (RFC 7030 §4.2.2)."""
        row = CertificateModel.get_by_id(certificate_id)
        current = self._certificates.get(certificate_id)
        if request.common_name != row.common_name:
            raise InvalidInput(
                f"re-enrollment must keep the subject of the client certificate (CN={row.common_name}); "
                f"the CSR asks for CN={request.common_name}",
                field="csr",
            )
        _check_same_names(current.sans, request.sans)
        return row

    def _enrolled(self, route: ESTRoute, request: _Request, user: str) -> CertificateModel:
        rows = (
            CertificateModel.select()
            .where(
                (CertificateModel.issuer == route.issuer_id)
                & (CertificateModel.common_name == request.common_name)
                & CertificateModel.name.startswith(EST_NAME_PREFIX)
                & CertificateModel.status.not_in([CertificateStatus.REVOKED.value, CertificateStatus.ARCHIVED.value])
                & CertificateModel.current_version_id.is_null(False)
            )
            .order_by(CertificateModel.created_at.desc())
        )
        for row in rows:
            tags = row.tags or {}
            if tags.get(USER_TAG) == user and tags.get(LABEL_TAG) == route.label:
                _check_same_names(self._certificates.get(row.id).sans, request.sans)
                return row
        raise InvalidInput(
            f"nothing to re-enroll: user '{user}' has no active certificate for '{request.common_name}' "
            f"under EST label '{route.label or '(default)'}'",
            field="csr",
            hint="use simpleenroll first",
        )


def _check_same_names(current: tuple[str, ...], asked: tuple[str, ...]) -> None:
    if set(current) != set(asked):
        raise InvalidInput(
            f"re-enrollment must keep the subjectAltName of the certificate it renews "
            f"({', '.join(current) or 'none'}); the CSR asks for {', '.join(asked) or 'none'}",
            field="csr",
        )


def _actor(user: str) -> Actor:
    return Actor(f"est:{user}")


def _common_name(csr: x509.CertificateSigningRequest) -> str:
    attrs = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    if not text.strip():
        raise InvalidInput("the CSR has no subject common name (CN); EST enrollment needs one", field="csr")
    return text.strip()


def _sans(csr: x509.CertificateSigningRequest) -> tuple[str, ...]:
    """DNS names, IP addresses, email addresses and URIs of the CSR's subjectAltName, in order."""
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    values: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName | x509.RFC822Name | x509.UniformResourceIdentifier):
            values.append(name.value)
        elif isinstance(name, x509.IPAddress) and isinstance(name.value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            values.append(str(name.value))
        else:
            raise InvalidInput(
                f"the CSR's subjectAltName has a {type(name).__name__}, which certctl cannot issue", field="csr"
            )
    return tuple(dict.fromkeys(values))


def _enrollment(certificate_id: str, pem_chain: str) -> ESTEnrollment:
    certs = load_certificates(pem_chain.encode())
    return ESTEnrollment(certificate_id, certs[0], tuple(certs[1:]))
