"""CRL distribution: ``GET /crl/{issuer}.crl`` (DER, the URL certificates carry) and ``/crl/{issuer}.pem``.

The bytes are the issuer's published CRL (``CRLPublisher``): the same file for every
download until a revocation or its refresh time, so the entity tag is stable and a client
that sends it back in ``If-None-Match`` gets ``304 Not Modified``. ``Cache-Control`` lets
HTTP caches keep it until the publisher would sign the next one, and never past an hour,
so a revocation reaches relying parties promptly.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from certctl_engine.errors import NotFound
from certctl_engine.services.crl_publisher import CRLPublisher, PublishedCRL

DER_TYPE = "application/pkix-crl"
PEM_TYPE = "application/x-pem-file"
MAX_AGE_SECONDS = 3600


def crl_pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n").encode()


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, RFC 9110 §13.1.2), or is ``*``."""
    if not header:
        return False
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/") == etag:
            return True
    return False


def crl_routes(publisher: CRLPublisher, *, now: Callable[[], datetime]) -> list[Route]:
    """``now`` is the engine's clock: cache lifetimes count on the same time the CRL was signed on."""

    async def crl(request: Request) -> Response:
        name: str = request.path_params["name"]
        issuer_id, dot, extension = name.rpartition(".")
        if not dot or extension not in {"crl", "pem"} or not issuer_id:
            return JSONResponse(
                {"error": f"no CRL at '{name}'; CRLs are at /crl/<issuer>.crl (DER) or /crl/<issuer>.pem"},
                status_code=404,
            )
        try:
            published = await anyio.to_thread.run_sync(publisher.current, issuer_id)
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        pem = extension == "pem"
        etag = published.etag[:-1] + '-pem"' if pem else published.etag
        headers = _headers(published, etag, now())
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        body = crl_pem(published.der) if pem else published.der
        return Response(body, media_type=PEM_TYPE if pem else DER_TYPE, headers=headers)

    return [Route("/crl/{name}", crl, methods=["GET"])]


def _headers(published: PublishedCRL, etag: str, now: datetime) -> dict[str, str]:
    max_age = int(max(0, min(MAX_AGE_SECONDS, (published.refresh_at - now).total_seconds())))
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}, no-transform",
        "Last-Modified": format_datetime(published.this_update, usegmt=True),
    }
