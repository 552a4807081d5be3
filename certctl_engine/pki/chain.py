"""Checking that a certificate chains up to a trust anchor.

Two checks exist on purpose:

``verify_chain`` is the real verification. It runs ``cryptography``'s X.509 path validation
(RFC 5280 with the CA/Browser Forum profile): it builds the path itself from the given
intermediates, checks every signature, validity window, basicConstraints, path length,
key usage and name constraint, and with ``server_name`` also the subjectAltName and the
serverAuth purpose. It is strict: certificates must carry subject/authority key
identifiers, a subjectAltName, well-formed extensions and so on. Everything certctl builds
itself satisfies it, and it is what answers "would a TLS client accept this?".

``verify_chain_loosely`` only checks that each certificate is signed by the next one (names
match and the signature verifies) and that every certificate is within its validity
window. It exists for certificates imported from elsewhere (old enterprise PKIs, v1
roots without extensions, certificates missing key identifiers or SANs) that the strict
verifier rejects even though the chain is intact; inventory and discovery use it to say
"this chain is linked correctly" without claiming that clients will accept it. It does not
check basicConstraints, key usage, path length, name constraints, purposes or revocation,
so it must never be used to decide trust.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    ServerVerifier,
    Store,
    Subject,
    VerificationError,
)

from certctl_engine.errors import InvalidInput
from certctl_engine.pki.inspect import fingerprint_sha256

__all__ = [
    "verify_chain",
    "verify_chain_loosely",
]

# Without a server name the question is "does this chain to the anchor?", not "is this a
# TLS client certificate?": cryptography's client verifier would insist on the clientAuth
# purpose in the leaf (and in any CA that restricts purposes), which would fail server,
# e-mail and code-signing certificates. So those two checks are dropped and everything
# else of the web PKI profile is kept.
_ANY_PURPOSE_CA_POLICY = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
)
_ANY_PURPOSE_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
)

# What a signature check may raise besides a bad signature: names that do not match
# (ValueError), key types that cannot verify (TypeError), unknown algorithms.
_LINK_ERRORS = (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm)


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime | None = None,
    server_name: str | None = None,
) -> list[x509.Certificate]:
    """Validate ``leaf`` up to one of ``roots`` and return the verified chain, leaf first, root last.

    ``intermediates`` may be in any order and may hold extra certificates; the path is built
    from them. ``at`` is the validation time (now when None; naive means UTC). With
    ``server_name`` (a DNS name or an IP address) the leaf must also be a TLS server
    certificate for that name; without it any purpose is accepted. Raises InvalidInput
    "certificate chain does not verify: <reason>" when the chain is not valid.
    """
    if not roots:
        raise InvalidInput("no trust anchor to verify the certificate chain against", field="roots")
    builder = PolicyBuilder().store(Store(list(roots))).time(_utc(at))
    try:
        if server_name is not None:
            return list(_server_verifier(builder, server_name).verify(leaf, list(intermediates)))
        builder = builder.extension_policies(ca_policy=_ANY_PURPOSE_CA_POLICY, ee_policy=_ANY_PURPOSE_EE_POLICY)
        return list(builder.build_client_verifier().verify(leaf, list(intermediates)).chain)
    except VerificationError as exc:
        raise InvalidInput(f"certificate chain does not verify: {exc}") from exc


def verify_chain_loosely(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    root: x509.Certificate,
    *,
    at: datetime | None = None,
) -> bool:
    """Whether ``leaf``, ``chain`` (nearest issuer first) and ``root`` form a signed, current path.

    Each certificate must be issued by the next (issuer name equals subject and the
    signature verifies) and all of them must be valid at ``at`` (now when None). ``chain``
    may end with ``root`` itself. Nothing else is checked; see the module docstring.
    """
    path = [leaf, *chain]
    if len(path) > 1 and fingerprint_sha256(path[-1]) == fingerprint_sha256(root):
        path.pop()
    path.append(root)
    moment = _utc(at)
    for cert in path:
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            return False
    for cert, issuer in itertools.pairwise(path):
        try:
            cert.verify_directly_issued_by(issuer)
        except _LINK_ERRORS:
            return False
    return True


# --------------------------------------------------------------------------- helpers


def _server_verifier(builder: PolicyBuilder, server_name: str) -> ServerVerifier:
    """A verifier for ``server_name``: an IP literal is matched as an IP address, anything else as a DNS name."""
    # The fully qualified form "host.example." names the same host as "host.example".
    text = server_name.strip().removesuffix(".")
    subject: Subject
    try:
        subject = x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        subject = x509.DNSName(text.lower())
    try:
        return builder.build_server_verifier(subject)
    except ValueError as exc:
        raise InvalidInput(f"invalid server name '{server_name}': {exc}", field="server_name") from exc


def _utc(moment: datetime | None) -> datetime:
    """Aware UTC; None means now and a naive value is taken as UTC."""
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
