"""After a deployment: does the server now serve the certificate that was deployed?"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from dataclasses import dataclass

from certctl_engine.connectors.discovery.tls_probe import Endpoint, probe
from certctl_engine.pki import is_ip_literal


@dataclass(frozen=True, slots=True)
class VerificationOutcome:
    verified: bool
    actual_fingerprint: str
    error: str | None = None


def verify_served_certificate(
    host: str, port: int, expected_fingerprint_sha256: str, *, server_name: str | None = None, timeout: float = 10.0
) -> VerificationOutcome:
    """Handshake with ``host:port`` (SNI ``server_name`` or the host name) and compare the served leaf.

    Trust is not judged here, only identity: the fingerprint of what is served against what
    was deployed. Network trouble is an outcome, never an exception.
    """
    try:
        address = host if is_ip_literal(host) else socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except OSError as exc:
        return VerificationOutcome(False, "", f"cannot resolve {host}: {exc.strerror or exc}")
    sni = server_name or (None if is_ip_literal(host) else host)
    result = asyncio.run(probe(Endpoint(str(address), int(port), sni), timeout=timeout))
    if not result.ok:
        return VerificationOutcome(False, "", f"{host}:{port}: {result.error or 'no certificate served'}")
    actual = hashlib.sha256(result.chain_der[0]).hexdigest()
    if actual != expected_fingerprint_sha256.lower():
        return VerificationOutcome(
            False, actual, f"{host}:{port} serves {actual[:16]}…, not the deployed {expected_fingerprint_sha256[:16]}…"
        )
    return VerificationOutcome(True, actual)
