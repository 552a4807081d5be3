"""uvicorn over TLS that asks for (but does not demand) a client certificate and hands it to the app.

uvicorn verifies a client certificate against ``ssl_ca_certs`` during the handshake but does
not pass it on. The protocol here adds the ASGI TLS extension to every request's scope
(``scope["extensions"]["tls"]`` with ``client_cert_chain`` as PEM strings and
``client_cert_name``), which is how EST learns who is calling. Clients without a certificate
(agents, curl with basic credentials) are served as before; a certificate the trusted CAs did
not sign fails the handshake.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.http.auto import AutoHTTPProtocol

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class PeerCertificateProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, adding the peer's TLS certificate to the scope of each request."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # asyncio calls this once the TLS handshake is done, so the peer's certificate is known.
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        certificate = x509.load_der_x509_certificate(der)
        tls = {
            "client_cert_chain": [certificate.public_bytes(Encoding.PEM).decode("ascii")],
            "client_cert_name": certificate.subject.rfc4514_string(),
            "client_cert_error": None,
        }
        inner: ASGIApp = self.app

        async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = tls
            await inner(scope, receive, send)

        self.app = app


def client_certificate(scope: MutableMapping[str, Any]) -> x509.Certificate | None:
    """The certificate the client authenticated with (verified by the TLS layer), or None."""
    chain = ((scope.get("extensions") or {}).get("tls") or {}).get("client_cert_chain") or []
    return x509.load_pem_x509_certificate(chain[0].encode("ascii")) if chain else None


def tls_options(cert_file: Path, key_file: Path, *, client_ca_file: Path | None = None) -> dict[str, Any]:
    """uvicorn.Config keywords: serve TLS, and with ``client_ca_file`` accept client certificates it signed."""
    options: dict[str, Any] = {"ssl_certfile": str(cert_file), "ssl_keyfile": str(key_file)}
    if client_ca_file is not None:
        options |= {
            "ssl_ca_certs": str(client_ca_file),
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": PeerCertificateProtocol,
        }
    return options
