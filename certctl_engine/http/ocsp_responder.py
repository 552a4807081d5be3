"""OCSP over HTTP (RFC 6960 appendix A, RFC 5019): ``POST /ocsp/{issuer}`` and ``GET /ocsp/{issuer}/{base64}``.

Every answer is an OCSP response with status 200, as clients expect: a request that cannot
be read gets ``malformedRequest``, an issuer this service does not answer for gets
``unauthorized``, and an unexpected failure ``internalError``; never an HTTP error page.
Cached answers are served on the event loop; anything that reads the store or signs runs
in a worker thread. The endpoint is ASGI middleware rather than a route, so the busiest
path of the service skips routing and request objects. GET answers without a nonce carry
the RFC 5019 caching headers, so an HTTP cache in front of the service can serve them
until shortly before their nextUpdate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from certctl_engine.pki import build_ocsp_error
from certctl_engine.services.ocsp_responder import OCSPAnswer, OCSPResponderService

log = logging.getLogger("certctl.ocsp")

CONTENT_TYPE = "application/ocsp-response"
REQUEST_CONTENT_TYPE = "application/ocsp-request"
PATH_PREFIX = "/ocsp/"
MAX_REQUEST_BYTES = 16 * 1024
"""A single-certificate request is a few hundred bytes; anything much larger is not one."""


def decode_get_request(encoded: str) -> bytes | None:
    """The DER request in a GET path: base64 (RFC 6960 A.1), tolerating the URL-safe alphabet and lost padding."""
    text = encoded.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    if not text or len(text) > MAX_REQUEST_BYTES * 2:
        return None
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class OCSPEndpoint:
    """ASGI middleware answering ``/ocsp/...`` itself, ahead of routing: the responder is the
    busiest endpoint, and a cached answer then costs a dictionary look-up and two sends."""

    def __init__(self, app: ASGIApp, responder: OCSPResponderService, now: Callable[[], datetime]) -> None:
        self._app = app
        self._responder = responder
        self._now = now  # the engine's clock, the one the answers are signed on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PATH_PREFIX):
            await self._app(scope, receive, send)
            return
        issuer_id, slash, encoded = path[len(PATH_PREFIX) :].partition("/")
        method = scope["method"]
        if not issuer_id or method not in {"GET", "HEAD", "POST"} or (method == "POST") == bool(slash):
            allowed = "POST" if not slash else "GET, HEAD"
            await _send(send, 405, b"", [(b"allow", allowed.encode())], media_type=b"text/plain")
            return
        if method == "POST":
            declared = _header(scope, b"content-type").split(b";")[0].strip().lower()
            body = await _read_body(receive, MAX_REQUEST_BYTES)
            der = None if body is None or (declared and declared != REQUEST_CONTENT_TYPE.encode()) else body
        else:
            der = decode_get_request(encoded)
        if der is None:
            await _send(send, 200, _MALFORMED, [(b"cache-control", b"no-store")])
            return
        answer = await self._answer(issuer_id, der)
        cache = _cache_headers(answer, get=method != "POST", now=self._now())
        headers = [(k.lower().encode(), v.encode()) for k, v in cache.items()]
        await _send(send, 200, b"" if method == "HEAD" else answer.der, headers, length=len(answer.der))
        if self._responder.claim_recheck(issuer_id):  # after the answer went out: this client does not wait
            try:
                await anyio.to_thread.run_sync(self._responder.recheck, issuer_id)
            except Exception:
                log.exception("re-reading OCSP issuer %s failed", issuer_id)

    async def _answer(self, issuer_id: str, der: bytes) -> OCSPAnswer:
        try:
            answer = self._responder.fast_answer(issuer_id, der)
            if answer is None:
                answer = await anyio.to_thread.run_sync(self._responder.answer, issuer_id, der)
        except Exception:  # the client still gets an OCSP answer, and the log says why
            log.exception("OCSP request for issuer %s failed", issuer_id)
            return OCSPAnswer(build_ocsp_error("internal_error"))
        return answer


_MALFORMED = build_ocsp_error("malformed_request")


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit`` bytes or the client went away."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body.extend(message.get("body", b""))
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def _send(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    media_type: bytes = CONTENT_TYPE.encode(),
    length: int | None = None,
) -> None:
    size = str(len(body) if length is None else length).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media_type), (b"content-length", size), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _cache_headers(answer: OCSPAnswer, *, get: bool, now: datetime) -> dict[str, str]:
    """RFC 5019 §6.2 headers for a cacheable GET answer; POST and nonce answers are not for caches."""
    if not get or not answer.successful or answer.has_nonce:
        return {"Cache-Control": "no-store"}
    assert answer.this_update is not None and answer.next_update is not None
    max_age = max(0, int((answer.next_update - now).total_seconds()) - 60)
    return {
        "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
        "ETag": '"' + hashlib.sha256(answer.der).hexdigest()[:32] + '"',
        "Last-Modified": format_datetime(answer.this_update, usegmt=True),
        "Expires": format_datetime(answer.next_update, usegmt=True),
    }
