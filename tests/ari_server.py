"""A loopback ACME directory in front of pebble that adds ACME Renewal Information (RFC 9773).

Debian's pebble 2.4 has no ``renewalInfo`` resource. This server serves pebble's directory
with ``renewalInfo`` added (every other resource still points at pebble itself) and answers
``GET /renewal-info/{certID}`` with the window the test set for that certificate, checking
the identifier's shape (base64url key identifier "." base64url serial) as RFC 9773 defines it.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from acme_server import Pebble
from cryptography import x509

_ID = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def certificate_id(certificate: x509.Certificate) -> str:
    """RFC 9773 section 4.1, written out here independently of the code under test."""
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    serial = certificate.serial_number.to_bytes((certificate.serial_number.bit_length() + 8) // 8, "big", signed=True)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return f"{b64(aki)}.{b64(serial)}"


class RenewalInfoServer:
    def __init__(self, pebble: Pebble) -> None:
        self.pebble = pebble
        self.windows: dict[str, tuple[datetime, datetime]] = {}
        self.retry_after: str | None = None
        self.asked: list[str] = []
        now = datetime.now(UTC)
        self.default_window = (now + timedelta(days=60), now + timedelta(days=61))
        self._server: ThreadingHTTPServer | None = None

    @property
    def directory_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/dir"

    def _pebble_directory(self) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=self.pebble.ca_bundle)
        with urllib.request.urlopen(self.pebble.directory_url, context=context, timeout=10) as response:
            return dict(json.loads(response.read()))

    def start(self) -> RenewalInfoServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/dir":
                    directory = outer._pebble_directory()
                    directory["renewalInfo"] = outer.directory_url.rsplit("/", 1)[0] + "/renewal-info"
                    self._json(200, directory)
                    return
                if self.path.startswith("/renewal-info/"):
                    cert_id = self.path.removeprefix("/renewal-info/")
                    if not _ID.match(cert_id):
                        self._json(400, {"type": "urn:ietf:params:acme:error:malformed", "detail": "bad certID"})
                        return
                    outer.asked.append(cert_id)
                    start, end = outer.windows.get(cert_id, outer.default_window)
                    body = {
                        "suggestedWindow": {
                            "start": start.isoformat().replace("+00:00", "Z"),
                            "end": end.isoformat().replace("+00:00", "Z"),
                        },
                        "explanationURL": "https://ca.example/incident/42",
                    }
                    self._json(200, body, {"Retry-After": outer.retry_after} if outer.retry_after else None)
                    return
                self._json(404, {"detail": f"no resource {self.path}"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
