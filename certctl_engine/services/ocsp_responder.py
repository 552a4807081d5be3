"""The OCSP responder: signed answers about local CA certificates, cached until they must be renewed.

A relying party asks about one certificate by hashes of its issuer and its serial. The
status comes from the store (``StatusLookup``, the same look-up as
``RevocationService.check`` in one prepared query), the signature from the issuer's
delegated responder (``OCSPSignerService``). Answers are kept per issuer and reused until
half of their validity has passed, so a popular certificate costs one signature per half
hour instead of one per request; a request with a nonce gets a fresh signature over the
cached status, since its answer must repeat the nonce.

A revocation drops the cached answers at once in this process (``invalidate``, hooked to
``RevocationService.on_revoked``); revocations written by another process on the same store
are noticed within ``ISSUER_RECHECK`` (+ ``RECHECK_GRACE`` at most, when idle) seconds, when
each issuer's revocation count and newest revocation time are read again.

``fast_answer`` never touches the store and may run on the event loop; ``answer`` does the
full work and belongs in a worker thread. Under load, cached answers stay available for
``RECHECK_GRACE`` more seconds while the one caller that won ``claim_recheck`` re-reads the
issuer, so the periodic re-read never sends every concurrent request to a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import peewee
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from certctl_engine.domain import IssuerType, OCSPCheck, Revocation
from certctl_engine.errors import InvalidInput
from certctl_engine.pki import build_ocsp_error, build_ocsp_response, issuer_matches, parse_ocsp_request
from certctl_engine.pki.build import _signing_hash
from certctl_engine.pki.ca import CAMaterial
from certctl_engine.pki.crl import _reason_flag
from certctl_engine.pki.ocsp import OCSPRequestInfo, OCSPStatus
from certctl_engine.services.ca import CAService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.ocsp_signers import OCSPSignerService, ResponderIdentity
from certctl_engine.services.ocsp_status import StatusLookup
from certctl_engine.services.revocation import OCSP_VALIDITY
from certctl_engine.store.models import CertificateAuthorityModel, IssuerModel, RevocationModel

log = logging.getLogger("certctl.ocsp")

ISSUER_RECHECK = 1.0
"""Seconds an issuer's CA, responder and revocation stamp are trusted before being read again."""
RECHECK_GRACE = 4.0
"""Further seconds cached answers are still served while one request re-reads the issuer."""
MAX_CACHED_PER_ISSUER = 100_000

_CacheKey = tuple[int, bytes, bytes, str]
_FAST_SIGNING_KEYS = (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
"""Responder keys whose signatures are cheap enough to make on the event loop (RSA goes to a thread)."""
_MAX_SERIAL_HEX = 64  # what RevocationService.check accepts
_CERT_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class OCSPAnswer:
    """A DER OCSP response and, for a successful one, the window it is valid in."""

    der: bytes
    this_update: datetime | None = None
    next_update: datetime | None = None
    has_nonce: bool = False

    @property
    def successful(self) -> bool:
        return self.this_update is not None


@dataclass(frozen=True, slots=True)
class _Entry:
    check: OCSPCheck
    der: bytes  # signed without a nonce
    this_update: datetime
    next_update: datetime
    refresh_at: datetime


@dataclass(slots=True)
class _Issuer:
    """What answering for one issuer needs; ``material`` is None for an issuer this responder does not serve."""

    material: CAMaterial | None
    responder: ResponderIdentity | None
    stamp: tuple[Any, ...]
    checked_at: float
    entries: dict[_CacheKey, _Entry]
    generation: int = 0  # bumped by each revocation; an answer read before it is not cached
    known_ids: set[tuple[bytes, bytes]] = field(default_factory=set)  # CertID issuer hashes seen to match
    by_request: dict[bytes, _CacheKey] = field(default_factory=dict)  # nonce-less request DER -> its key
    rechecking: bool = False

    def matches(self, request: OCSPRequestInfo) -> bool:
        """Whether the request is about this issuer's certificates; a match is remembered (hashing costs)."""
        if self.material is None:
            return False
        pair = (request.issuer_name_hash, request.issuer_key_hash)
        if pair in self.known_ids:
            return True
        if issuer_matches(request, self.material.certificate):
            self.known_ids.add(pair)
            return True
        return False


def _malformed() -> OCSPAnswer:
    return OCSPAnswer(build_ocsp_error("malformed_request"))


def _unauthorized() -> OCSPAnswer:
    return OCSPAnswer(build_ocsp_error("unauthorized"))


_MALFORMED = _malformed()
_UNAUTHORIZED = _unauthorized()


class OCSPResponderService:
    def __init__(
        self,
        ctx: ServiceContext,
        ca: CAService,
        signers: OCSPSignerService,
        *,
        validity: timedelta = OCSP_VALIDITY,
    ) -> None:
        if validity <= timedelta(0):
            raise InvalidInput("the OCSP response validity must be positive", field="validity")
        self._ctx = ctx
        self._ca = ca
        self._signers = signers
        self._validity = validity
        self._issuers: dict[str, _Issuer] = {}
        self._lock = threading.Lock()
        self._statuses = StatusLookup(ctx)

    # ------------------------------------------------------------------ answering
    def fast_answer(self, issuer_id: str, request_der: bytes) -> OCSPAnswer | None:
        """The answer when it needs no store access (cached, malformed, foreign issuer), else None."""
        issuer = self._issuers.get(issuer_id)
        fresh = issuer is not None and time.monotonic() - issuer.checked_at <= ISSUER_RECHECK + RECHECK_GRACE
        if fresh and issuer is not None:
            # The same bytes as an answered nonce-less request: no need to parse them again.
            known = issuer.by_request.get(request_der)
            entry = issuer.entries.get(known) if known is not None else None
            if entry is not None and self._ctx.now() < entry.refresh_at:
                return OCSPAnswer(entry.der, entry.this_update, entry.next_update)
        try:
            request = parse_ocsp_request(request_der)
        except InvalidInput:
            return _MALFORMED
        if not fresh or issuer is None:
            return None
        if not issuer.matches(request):
            return _UNAUTHORIZED
        entry = issuer.entries.get(_key(request))
        if entry is None or self._ctx.now() >= entry.refresh_at:
            return None
        if request.nonce is not None:
            # The cached status, signed again to repeat the nonce: an elliptic-curve signature takes
            # tens of microseconds, cheaper on the event loop than a trip to a worker thread.
            if issuer.responder is None or not isinstance(issuer.responder.key, _FAST_SIGNING_KEYS):
                return None
            return self._nonce_answer(issuer, request, entry)
        return OCSPAnswer(entry.der, entry.this_update, entry.next_update)

    def answer(self, issuer_id: str, request_der: bytes) -> OCSPAnswer:
        """A DER OCSP response to a DER request for ``issuer_id``; protocol errors are OCSP error responses."""
        try:
            request = parse_ocsp_request(request_der)
        except InvalidInput:
            return _MALFORMED
        issuer = self._issuer(issuer_id)
        if issuer.material is None or issuer.responder is None:
            return _UNAUTHORIZED
        if not issuer.matches(request):
            return _UNAUTHORIZED
        key = _key(request)
        now = self._ctx.now()
        entry = issuer.entries.get(key)
        if entry is None or now >= entry.refresh_at:
            generation = issuer.generation
            serial_hex = format(request.serial, "x")
            if len(serial_hex) > _MAX_SERIAL_HEX:  # a serial no certificate here can have
                return _MALFORMED
            check = self._statuses.check(issuer_id, serial_hex)
            entry = self._sign_entry(issuer, request, check, now)
            if generation == issuer.generation:
                if len(issuer.entries) >= MAX_CACHED_PER_ISSUER:
                    issuer.entries.pop(next(iter(issuer.entries)), None)
                issuer.entries[key] = entry
                if request.nonce is None and len(issuer.by_request) < MAX_CACHED_PER_ISSUER:
                    issuer.by_request[request_der] = key
        if request.nonce is None:
            return OCSPAnswer(entry.der, entry.this_update, entry.next_update)
        return self._nonce_answer(issuer, request, entry)

    def claim_recheck(self, issuer_id: str) -> bool:
        """True for the one caller that should now run ``recheck`` (the issuer's state is due), else False."""
        issuer = self._issuers.get(issuer_id)
        if issuer is None or issuer.rechecking or time.monotonic() - issuer.checked_at <= ISSUER_RECHECK:
            return False
        issuer.rechecking = True
        return True

    def recheck(self, issuer_id: str) -> None:
        """Re-read the issuer's state (CA, responder, revocation stamp); for a worker thread."""
        try:
            self._issuer(issuer_id)
        finally:
            current = self._issuers.get(issuer_id)
            if current is not None:
                current.rechecking = False

    def invalidate(self, revocation: Revocation) -> None:
        """Forget what was said about the issuer's certificates: one of them was just revoked."""
        issuer = self._issuers.get(revocation.issuer_id)
        if issuer is not None:
            issuer.generation += 1
            issuer.entries.clear()
            issuer.by_request.clear()
            issuer.checked_at = 0.0

    # ------------------------------------------------------------------ signing
    def _nonce_answer(self, issuer: _Issuer, request: OCSPRequestInfo, entry: _Entry) -> OCSPAnswer:
        """The cached status signed again, for a request whose answer must repeat its nonce."""
        der = self._sign(issuer, request, entry.check, entry.this_update, entry.next_update)
        return OCSPAnswer(der, entry.this_update, entry.next_update, has_nonce=True)

    def _sign_entry(self, issuer: _Issuer, request: OCSPRequestInfo, check: OCSPCheck, now: datetime) -> _Entry:
        assert issuer.responder is not None
        next_update = min(now + self._validity, issuer.responder.not_after)
        bare = OCSPRequestInfo(
            request.serial, request.issuer_name_hash, request.issuer_key_hash, request.hash_algorithm, None
        )
        der = self._sign(issuer, bare, check, now, next_update)
        return _Entry(check, der, now, next_update, now + (next_update - now) / 2)

    @staticmethod
    def _sign(
        issuer: _Issuer, request: OCSPRequestInfo, check: OCSPCheck, this_update: datetime, next_update: datetime
    ) -> bytes:
        """Sign like ``build_ocsp_response``, without its per-call checks of the responder pair.

        ``_load_issuer`` signs one probe answer through ``build_ocsp_response`` first, so the
        responder certificate was checked (issued by this CA, OCSPSigning, key matches) once
        for the state that is now used; re-verifying its signature per answer would triple
        the cost of signing.
        """
        assert issuer.material is not None and issuer.responder is not None
        revoked = check.status == "revoked"
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial,
                algorithm=request.hash_algorithm,
                cert_status=_CERT_STATUS[check.status],
                this_update=this_update,
                next_update=next_update,
                revocation_time=check.revoked_at if revoked else None,
                revocation_reason=_reason_flag(check.reason) if revoked and check.reason else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.responder.certificate)
            .certificates([issuer.responder.certificate])
        )
        if request.nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(request.nonce), critical=False)
        key = issuer.responder.key
        return builder.sign(key, _signing_hash(key)).public_bytes(Encoding.DER)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ issuers
    def _issuer(self, issuer_id: str) -> _Issuer:
        """The issuer's state, read again from the store when older than ``ISSUER_RECHECK``."""
        current = self._issuers.get(issuer_id)
        if current is not None and time.monotonic() - current.checked_at <= ISSUER_RECHECK:
            return current
        with self._lock:
            current = self._issuers.get(issuer_id)
            if current is not None and time.monotonic() - current.checked_at <= ISSUER_RECHECK:
                return current
            fresh = self._load_issuer(issuer_id, current)
            self._issuers[issuer_id] = fresh
            return fresh

    def _load_issuer(self, issuer_id: str, previous: _Issuer | None) -> _Issuer:
        checked_at = time.monotonic()
        kind = IssuerModel.select(IssuerModel.type).where(IssuerModel.id == issuer_id).scalar()
        has_ca = (
            CertificateAuthorityModel.select(CertificateAuthorityModel.fingerprint_sha256)
            .where(CertificateAuthorityModel.issuer == issuer_id)
            .scalar()
        )
        # Only local CAs that exist are served; asking must never create a CA.
        if kind != IssuerType.GENERIC_CA.value or not has_ca:
            return _Issuer(None, None, (), checked_at, {})
        material = self._ca.material(issuer_id)
        responder = self._signers.current(issuer_id, material)
        _probe(material, responder, self._ctx.now())
        stamp = (
            material.fingerprint_sha256,
            responder.certificate.serial_number,
            *RevocationModel.select(peewee.fn.COUNT(RevocationModel.id), peewee.fn.MAX(RevocationModel.created_at))
            .where(RevocationModel.issuer == issuer_id)
            .tuples()
            .get(),
        )
        if previous is not None and previous.stamp == stamp:
            return _Issuer(
                material,
                responder,
                stamp,
                checked_at,
                previous.entries,
                previous.generation,
                by_request=previous.by_request,
            )
        return _Issuer(material, responder, stamp, checked_at, {}, previous.generation + 1 if previous else 0)


def _probe(material: CAMaterial, responder: ResponderIdentity, now: datetime) -> None:
    """One answer through ``build_ocsp_response``, which refuses a responder clients would reject."""
    request = ocsp.OCSPRequestBuilder().add_certificate(responder.certificate, material.certificate, hashes.SHA256())
    build_ocsp_response(
        request=parse_ocsp_request(request.build().public_bytes(Encoding.DER)),
        issuer_cert=material.certificate,
        responder_cert=responder.certificate,
        responder_key=responder.key,
        status=OCSPStatus.GOOD,
        this_update=now,
        next_update=now + timedelta(minutes=1),
    )


def _key(request: OCSPRequestInfo) -> _CacheKey:
    return (request.serial, request.issuer_name_hash, request.issuer_key_hash, request.hash_algorithm.name)
