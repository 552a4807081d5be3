"""The contract every issuer connector meets, whatever the CA behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509

from certctl_engine.domain import ExtendedKeyUsage, RevocationReason
from certctl_engine.pki import PrivateKey, PublicKey, build_csr


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What to certify: the public key, with names and usages from the inventory.

    A caller's CSR travels as ``csr``; when the engine made the key itself it passes
    ``private_key`` instead and no CSR is built unless the CA asks for one (a local CA signs
    the public key directly; an ACME CA needs a CSR, see ``signing_request``).
    """

    public_key: PublicKey
    common_name: str
    sans: tuple[str, ...]
    ekus: tuple[ExtendedKeyUsage, ...]
    not_before: datetime
    not_after: datetime
    csr: x509.CertificateSigningRequest | None = None
    private_key: PrivateKey | None = field(default=None, repr=False)

    def signing_request(self) -> x509.CertificateSigningRequest:
        """The CSR to send to a CA that takes one: the caller's, or one signed with the engine's key."""
        if self.csr is not None:
            return self.csr
        if self.private_key is None:
            raise ValueError("an issue request needs a CSR or the private key to sign one")
        return build_csr(self.private_key, self.common_name, self.sans)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """The CA's answer: the leaf and the chain above it (nearest issuer first).

    ``private_key`` is set only by a CA that makes the key itself (Vault's ``issue``); the
    engine then seals that key instead of the one it made for the request.
    """

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: PrivateKey | None = field(default=None, repr=False)


class IssuerConnector(Protocol):
    """Issue and revoke through one CA."""

    def issue(self, request: IssueRequest) -> IssuedCertificate: ...

    def check(self) -> str:
        """Reach the CA; a sentence saying what works, or IssuerError saying precisely what does not."""
        ...

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """Tell the CA (a local CA records revocations itself); raise IssuerError when it refuses."""
        ...
