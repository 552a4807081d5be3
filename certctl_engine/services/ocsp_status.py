"""The OCSP status of one serial in one prepared query: what ``RevocationService.check`` says, faster.

An OCSP responder looks up a serial for every answer it signs, so the look-up is on the hot
path of a first request. ``RevocationService.check`` builds three ORM queries per call;
here the same question (is the serial one of this issuer's versions, is it revoked, is its
certificate short-lived) is one SQL statement, generated from the models once and then
executed with new parameters. The rules are the same: a serial this issuer never issued is
unknown, a short-lived certificate (profile TTL under an hour) is always good, a revoked
one is revoked with its time and reason.
"""

from __future__ import annotations

import peewee

from certctl_engine.domain import SHORT_LIVED_MAX_TTL_SECONDS, OCSPCheck, RevocationReason
from certctl_engine.services.context import ServiceContext
from certctl_engine.store.fields import to_utc
from certctl_engine.store.models import CertificateModel, CertificateVersionModel, ProfileModel, RevocationModel

_SERIAL_PROBE = "serial-placeholder"
_ISSUER_PROBE = "issuer-placeholder"


class StatusLookup:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._sql: str | None = None

    def _statement(self) -> str:
        if self._sql is None:
            query = (
                CertificateVersionModel.select(
                    CertificateModel.id,
                    ProfileModel.allow_short_lived,
                    ProfileModel.max_ttl_seconds,
                    RevocationModel.revoked_at,
                    RevocationModel.reason,
                )
                .join(CertificateModel, on=(CertificateVersionModel.certificate == CertificateModel.id))
                .join(
                    ProfileModel, peewee.JOIN.LEFT_OUTER, on=(CertificateModel.certificate_profile == ProfileModel.id)
                )
                .switch(CertificateVersionModel)
                .join(
                    RevocationModel,
                    peewee.JOIN.LEFT_OUTER,
                    on=(RevocationModel.serial_number == CertificateVersionModel.serial_number),
                )
                .where(
                    (CertificateVersionModel.serial_number == _SERIAL_PROBE)
                    & (CertificateModel.issuer == _ISSUER_PROBE)
                )
                .limit(1)
            )
            sql, params = query.sql()
            if params[:2] != [_SERIAL_PROBE, _ISSUER_PROBE]:  # the statement must take (serial, issuer, ...)
                raise RuntimeError(f"unexpected parameters in the OCSP status query: {params}")
            self._sql, self._rest = sql, params[2:]
        return self._sql

    def check(self, issuer_id: str, serial_hex: str) -> OCSPCheck:
        """The status of ``serial_hex`` (lowercase hex, no leading zeros) among ``issuer_id``'s certificates."""
        cursor = self._ctx.store.database.execute_sql(self._statement(), [serial_hex, issuer_id, *self._rest])
        row = cursor.fetchone()
        if row is None:
            return OCSPCheck(issuer_id, serial_hex, "unknown")
        certificate_id, allow_short_lived, max_ttl, revoked_at, reason = row
        short_lived = bool(allow_short_lived) and 0 < int(max_ttl or 0) < SHORT_LIVED_MAX_TTL_SECONDS
        if revoked_at is None or short_lived:
            return OCSPCheck(issuer_id, serial_hex, "good", certificate_id=certificate_id)
        when = RevocationModel.revoked_at.python_value(revoked_at)
        return OCSPCheck(issuer_id, serial_hex, "revoked", to_utc(when), RevocationReason(reason), certificate_id)
