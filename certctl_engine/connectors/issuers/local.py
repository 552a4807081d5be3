"""The built-in CA: signs with key material the engine keeps (self-signed root or sub-CA)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cryptography import x509

from certctl_engine.connectors.issuers.base import IssuedCertificate, IssueRequest
from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput, IssuerError
from certctl_engine.pki import LeafSigner
from certctl_engine.pki.ca import CAMaterial, check_can_sign


class LocalCAConnector:
    """Signs leaves under ``material``, embedding CRL and OCSP URLs when configured."""

    def __init__(
        self,
        material: CAMaterial,
        *,
        crl_url: str | None = None,
        ocsp_url: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._material = material
        self._now = now  # the engine's clock: "can it sign now" asks the time the engine issues on
        self._signer = LeafSigner(material.certificate, material.key)
        self._ca_start = material.certificate.not_valid_before_utc
        self._ca_end = material.certificate.not_valid_after_utc
        self._crl_url = crl_url or None
        self._ocsp_url = ocsp_url or None

    def check(self) -> str:
        """Whether the CA can sign now, and until when."""
        cert = self._material.certificate
        try:
            check_can_sign(self._material, now=self._now())
        except InvalidInput as exc:
            raise IssuerError(f"the local CA cannot sign: {exc.message}; renew or replace the CA") from None
        mode = "self-signed root" if self._material.is_self_signed else "sub-CA"
        return (
            f"local CA '{cert.subject.rfc4514_string()}' ({mode}) can sign until "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )

    def issue(self, request: IssueRequest) -> IssuedCertificate:
        """Sign; refused once the CA has expired, and no leaf outlives the CA that signed it."""
        ca_start, ca_end = self._ca_start, self._ca_end
        # A leaf's backdating for clock skew never reaches before its CA existed.
        not_before = max(request.not_before, ca_start)
        if not_before > ca_end:
            try:
                check_can_sign(self._material, now=not_before)
            except InvalidInput as exc:
                raise IssuerError(f"the local CA cannot sign: {exc.message}; renew or replace the CA") from None
        leaf = self._signer.sign(
            public_key=request.public_key,
            common_name=request.common_name,
            sans=request.sans,
            not_before=not_before,
            not_after=min(request.not_after, ca_end),
            ekus=request.ekus,
            crl_url=self._crl_url,
            ocsp_url=self._ocsp_url,
        )
        return IssuedCertificate(leaf, (self._material.certificate, *self._material.chain))

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """Nothing to tell: the engine is this CA, and the revocation row it writes is what CRLs and OCSP use."""
