"""The contract every issuer connector meets, whatever the CA behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509

from certctl_engine.domain import ExtendedKeyUsage, RevocationReason


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What to certify: the CSR carries the public key; names and usages come from the inventory."""

    csr: x509.CertificateSigningRequest
    common_name: str
    sans: tuple[str, ...]
    ekus: tuple[ExtendedKeyUsage, ...]
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """The CA's answer: the leaf and the chain above it (nearest issuer first)."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]


class IssuerConnector(Protocol):
    """Issue and revoke through one CA."""

    def issue(self, request: IssueRequest) -> IssuedCertificate: ...

    def revoke(self, serial_hex: str, reason: RevocationReason) -> bool:
        """Tell the CA; True when it acknowledged (a local CA records revocations itself)."""
        ...
