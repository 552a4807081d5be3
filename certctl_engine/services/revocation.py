"""Revocation, and what the CA publishes about it: CRLs and OCSP answers.

Revoking is one transaction: the revocation row (unique by serial), the certificate's new
status and the audit event. Short-lived certificates (profile TTL under an hour) never go
on a CRL and OCSP always calls them good: their expiry is their revocation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import peewee

from certctl_engine.connectors.issuers import IssuerConnector
from certctl_engine.domain import (
    Actor,
    Certificate,
    CertificateStatus,
    IssuerType,
    OCSPCheck,
    Revocation,
    RevocationReason,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.faults import crash_point
from certctl_engine.ids import new_id
from certctl_engine.pki import load_certificates
from certctl_engine.pki.crl import RevokedEntry, build_crl, crl_to_der
from certctl_engine.pki.ocsp import (
    OCSPStatus,
    build_ocsp_error,
    build_ocsp_response,
    issuer_matches,
    parse_ocsp_request,
)
from certctl_engine.services.audit import AuditService
from certctl_engine.services.ca import CAService
from certctl_engine.services.certificates import CertificateService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.ocsp_status import StatusLookup
from certctl_engine.services.profiles import short_lived_profile
from certctl_engine.services.validation import parse_enum
from certctl_engine.store.models import (
    CertificateModel,
    CertificateVersionModel,
    IssuerModel,
    ProfileModel,
    RevocationModel,
)

CRL_VALIDITY = timedelta(hours=24)
OCSP_VALIDITY = timedelta(hours=1)


def _serial_hex(value: str) -> str:
    text = value.strip().lower().replace(":", "")
    if text.startswith("0x"):
        text = text[2:]
    if not text or len(text) > 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInput(f"serial '{value}' is not a hexadecimal serial number", field="serial")
    return format(int(text, 16), "x")


_NOT_REVOCABLE = {CertificateStatus.REVOKED.value, CertificateStatus.ARCHIVED.value}


class RevocationService:
    def __init__(
        self,
        ctx: ServiceContext,
        audit: AuditService,
        certificates: CertificateService,
        ca: CAService,
        connectors: Callable[..., IssuerConnector] | None = None,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._certificates = certificates
        self._ca = ca
        self._connectors = connectors
        self._revoked_listeners: list[Callable[[Revocation], None]] = []
        self._status = StatusLookup(ctx)

    def on_revoked(self, listener: Callable[[Revocation], None]) -> None:
        """Call ``listener`` after each revocation is committed (the OCSP responder drops its cached answers)."""
        self._revoked_listeners.append(listener)

    def _tell_issuer(self, certificate_id: str, reason: RevocationReason, actor: Actor) -> None:
        """Revoke at an external CA first: if it refuses, nothing is recorded here."""
        row = CertificateModel.get_or_none(CertificateModel.id == certificate_id)
        if row is None or not row.current_version_id or self._connectors is None:
            return
        issuer = IssuerModel.get_or_none(IssuerModel.id == row.issuer_id)
        if issuer is None or issuer.type == IssuerType.GENERIC_CA.value or row.status in _NOT_REVOCABLE:
            return
        version = CertificateVersionModel.get(CertificateVersionModel.id == row.current_version_id)
        leaf = load_certificates(version.pem_chain.encode())[0]
        self._connectors(row.issuer_id, actor=actor).revoke(leaf, reason)

    def revoke(
        self, certificate_id: str, reason: RevocationReason | str = RevocationReason.UNSPECIFIED, *, actor: Actor
    ) -> Certificate:
        """Revoke the certificate's current version with an RFC 5280 reason."""
        why = parse_enum(RevocationReason, reason, "revocation reason", field="reason")
        self._tell_issuer(certificate_id, why, actor)
        now = self._ctx.now()
        with self._ctx.store.write():
            row = CertificateModel.get_or_none(CertificateModel.id == certificate_id)
            if row is None:
                raise NotFound("certificate", certificate_id, hint="list certificates to find its id")
            if row.status == CertificateStatus.REVOKED.value:
                raise Conflict(
                    f"certificate '{certificate_id}' was already revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC "
                    f"({row.revocation_reason}); nothing changed"
                )
            if row.status == CertificateStatus.ARCHIVED.value:
                raise Conflict(f"certificate '{certificate_id}' is archived; archived certificates cannot be revoked")
            if not row.current_version_id:
                raise Conflict(f"certificate '{certificate_id}' has never been issued; there is nothing to revoke")
            version = CertificateVersionModel.get(CertificateVersionModel.id == row.current_version_id)
            RevocationModel.create(
                id=new_id("rev"),
                certificate=row.id,
                serial_number=version.serial_number,
                reason=why.value,
                revoked_by=actor.name,
                revoked_at=now,
                issuer=row.issuer_id,
                issuer_notified=True,
                created_at=now,
            )
            previous = row.status
            row.status = CertificateStatus.REVOKED.value
            row.revoked_at = now
            row.revocation_reason = why.value
            row.updated_at = now
            row.save()
            self._audit.record(
                actor,
                "certificate_revoked",
                "certificate",
                row.id,
                {"reason": why.value, "serial_number": version.serial_number, "previous_status": previous},
            )
            crash_point("revocation.recorded")
        crash_point("revocation.committed")
        revocation = Revocation(row.id, version.serial_number, why, actor.name, now, row.issuer_id)
        for listener in self._revoked_listeners:
            listener(revocation)
        return self._certificates.get(certificate_id)

    def list_revocations(self, issuer_id: str | None = None) -> list[Revocation]:
        query = RevocationModel.select().order_by(RevocationModel.revoked_at.desc())
        if issuer_id:
            query = query.where(RevocationModel.issuer == issuer_id)
        return [
            Revocation(
                r.certificate_id, r.serial_number, RevocationReason(r.reason), r.revoked_by, r.revoked_at, r.issuer_id
            )
            for r in query
        ]

    def _crl_entries(self, issuer_id: str) -> list[RevokedEntry]:
        query = (
            RevocationModel.select(
                RevocationModel.serial_number,
                RevocationModel.revoked_at,
                RevocationModel.reason,
                CertificateVersionModel.not_after,
            )
            .join(CertificateVersionModel, on=(CertificateVersionModel.serial_number == RevocationModel.serial_number))
            .switch(RevocationModel)
            .join(CertificateModel, on=(CertificateModel.id == RevocationModel.certificate))
            .join(ProfileModel, peewee.JOIN.LEFT_OUTER, on=(ProfileModel.id == CertificateModel.certificate_profile))
            .where((RevocationModel.issuer == issuer_id) & ~short_lived_profile())
        )
        return [
            RevokedEntry(
                serial=int(serial, 16), revoked_at=revoked_at, reason=RevocationReason(reason), expires_at=not_after
            )
            for serial, revoked_at, reason, not_after in query.tuples()
        ]

    def crl(self, issuer_id: str, *, actor: Actor | None = None) -> bytes:
        """A fresh DER CRL for a local CA issuer, with the next CRL number."""
        material = self._ca.material(issuer_id, actor=actor)
        entries = self._crl_entries(issuer_id)
        now = self._ctx.now()
        with self._ctx.store.write():
            number = self._ca.next_crl_number(issuer_id)
            crl = build_crl(
                issuer_cert=material.certificate,
                issuer_key=material.key,
                entries=entries,
                crl_number=number,
                this_update=now,
                next_update=now + CRL_VALIDITY,
            )
            self._audit.record(
                actor or Actor.system(),
                "crl_generated",
                "issuer",
                issuer_id,
                {"crl_number": number, "entries": len(crl)},
            )
        return crl_to_der(crl)

    def check(self, issuer_id: str, serial: str) -> OCSPCheck:
        """The status the OCSP responder gives one serial of one issuer (the responder's own look-up)."""
        return self._status.check(issuer_id, _serial_hex(serial))

    def ocsp_response(self, issuer_id: str, request_der: bytes) -> bytes:
        """A signed OCSP response to a DER request, as the responder sends it over HTTP."""
        try:
            request = parse_ocsp_request(request_der)
        except InvalidInput:
            return build_ocsp_error("malformed_request")
        material = self._ca.material(issuer_id)
        if not issuer_matches(request, material.certificate):
            return build_ocsp_error("unauthorized")
        status = self.check(issuer_id, format(request.serial, "x"))
        now = self._ctx.now()
        return build_ocsp_response(
            request=request,
            issuer_cert=material.certificate,
            responder_cert=material.certificate,
            responder_key=material.key,
            status=OCSPStatus(status.status),
            this_update=now,
            next_update=now + OCSP_VALIDITY,
            revoked_at=status.revoked_at,
            reason=status.reason,
        )

    def serial_of(self, certificate_id: str) -> str:
        """The serial of the certificate's current version (what a revocation would list)."""
        version = self._certificates.current_version(certificate_id)
        if version is None:
            raise Conflict(f"certificate '{certificate_id}' has never been issued")
        return version.serial_number
