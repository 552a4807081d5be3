"""EST (RFC 7030) under ``/.well-known/est/``: cacerts, simpleenroll, simplereenroll, csrattrs.

Each operation also exists under a label (``/.well-known/est/<label>/<operation>``); a label
picks the issuer and profile its enrollments follow. Configuration, read at start:

- ``CERTCTL_EST_ENABLED`` (``true|1|yes``; off by default: the routes then do not exist)
- ``CERTCTL_EST_ISSUER_ID`` (default ``iss-local``) and ``CERTCTL_EST_PROFILE_ID`` for the
  unlabelled paths
- ``CERTCTL_EST_LABELS``: ``label=profile[@issuer],...`` (issuer defaults to the one above)
- ``CERTCTL_EST_USERS``: ``user:pbkdf2-hash,...`` (see ``est_auth``)
- ``CERTCTL_EST_CLIENT_CERTS`` (default ``true``): accept TLS client certificates, verified
  against the labels' CAs during the handshake (see ``tls_server``)
- ``CERTCTL_EST_ALLOW_HTTP``: accept basic credentials without TLS (tests behind a TLS proxy
  that does not forward the scheme); off by default, since RFC 7030 §3.2.3 requires TLS

Enrollment needs HTTP basic credentials or a client certificate over HTTPS: 401 for missing
or wrong ones, 403 over plain HTTP. A client certificate must be the current version of an
active certificate certctl issued under the label's issuer; an EST-enrolled one enrolls as
the user who enrolled it, and ``simplereenroll`` with it renews that very certificate.
The CSR is base64 DER PKCS#10 (``application/pkcs10``; PEM is accepted too); a
CSR the profile refuses gets 400 with the reason in the body. Answers are base64 DER PKCS#7
certs-only structures in 76-column lines.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import anyio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from certctl_engine.domain import Actor
from certctl_engine.errors import CertctlError, Conflict, InvalidInput, IssuerError, NotFound, Unauthorized
from certctl_engine.http.bodies import BodyTooLarge, read_bounded
from certctl_engine.http.est_auth import ESTUsers, parse_basic
from certctl_engine.http.tls_server import client_certificate
from certctl_engine.services.est import ESTClient, ESTRoute, ESTService

PKCS7_TYPE = "application/pkcs7-mime"
CERTS_ONLY_TYPE = "application/pkcs7-mime; smime-type=certs-only"
MAX_CSR_BYTES = 64 * 1024
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_OPERATIONS = {"cacerts", "simpleenroll", "simplereenroll", "csrattrs", "serverkeygen", "fullcmc"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="certctl EST", charset="UTF-8"'}
_ACTOR = Actor.system("est")
log = logging.getLogger("certctl.est")


@dataclass(frozen=True)
class ESTConfig:
    default: ESTRoute
    users: ESTUsers
    labels: Mapping[str, ESTRoute] = field(default_factory=dict)
    allow_http: bool = False
    client_certificates: bool = True

    @property
    def routes(self) -> list[ESTRoute]:
        return [self.default, *self.labels.values()]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ESTConfig | None:
        """The EST configuration, None when EST is off; a bad setting is refused naming it."""
        if (env.get("CERTCTL_EST_ENABLED") or "").strip().lower() not in _TRUE:
            return None
        issuer_id = (env.get("CERTCTL_EST_ISSUER_ID") or "iss-local").strip()
        profile_id = (env.get("CERTCTL_EST_PROFILE_ID") or "").strip() or None
        labels: dict[str, ESTRoute] = {}
        for entry in filter(None, (e.strip() for e in (env.get("CERTCTL_EST_LABELS") or "").split(","))):
            label, sep, target = entry.partition("=")
            profile, _, issuer = target.partition("@")
            label = label.strip()
            if not sep or not profile.strip():
                raise InvalidInput(
                    f"EST label entry '{entry}' must read label=profile[@issuer]", field="CERTCTL_EST_LABELS"
                )
            if not _LABEL.fullmatch(label) or label in _OPERATIONS:
                raise InvalidInput(
                    f"EST label '{label}' must be letters, digits, '.', '_' or '-' and not an EST operation name",
                    field="CERTCTL_EST_LABELS",
                )
            labels[label] = ESTRoute(label, issuer.strip() or issuer_id, profile.strip())
        users = ESTUsers.parse(env.get("CERTCTL_EST_USERS") or "")
        client_text = (env.get("CERTCTL_EST_CLIENT_CERTS") or "true").strip().lower()
        if client_text not in _TRUE | _FALSE:
            raise InvalidInput(
                f"CERTCTL_EST_CLIENT_CERTS must be true or false, not '{client_text}'", field="CERTCTL_EST_CLIENT_CERTS"
            )
        client_certificates = client_text in _TRUE
        if not len(users) and not client_certificates:
            raise InvalidInput(
                "EST is enabled but CERTCTL_EST_USERS names no user and client certificates are off; "
                "nobody could enroll",
                field="CERTCTL_EST_USERS",
            )
        allow_http = (env.get("CERTCTL_EST_ALLOW_HTTP") or "").strip().lower() in _TRUE
        return cls(ESTRoute("", issuer_id, profile_id), users, labels, allow_http, client_certificates)

    def route(self, label: str | None) -> ESTRoute | None:
        return self.default if label is None else self.labels.get(label)


def client_ca_pem(est: ESTService, config: ESTConfig) -> str:
    """The CAs whose certificates may authenticate EST clients: each label's issuing CA and its
    chain, for the TLS layer to verify client certificates against (empty when none applies)."""
    seen: set[bytes] = set()
    blocks: list[str] = []
    for issuer_id in dict.fromkeys(route.issuer_id for route in config.routes):
        try:
            certificates = est.ca_certificates(ESTRoute("", issuer_id), actor=_ACTOR)
        except CertctlError as exc:  # an issuer certctl does not sign for: its clients use basic credentials
            log.warning("EST client certificates of issuer %s cannot be checked: %s", issuer_id, exc)
            continue
        for certificate in certificates:
            pem = certificate.public_bytes(Encoding.PEM)
            if pem not in seen:
                seen.add(pem)
                blocks.append(pem.decode("ascii"))
    return "".join(blocks)


def pkcs7_body(certificates: list[x509.Certificate]) -> bytes:
    """A certs-only PKCS#7 (degenerate SignedData), DER, base64 in 76-column lines (RFC 7030 §4.1.3)."""
    return base64.encodebytes(pkcs7.serialize_certificates(certificates, Encoding.DER))


def decode_csr_body(body: bytes) -> bytes:
    """The PKCS#10 a client sent: base64 DER (what RFC 7030 prescribes), or PEM."""
    if b"-----BEGIN" in body:
        return body
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "the request body must be a base64-encoded DER PKCS#10 CSR (application/pkcs10)", field="csr"
        ) from None
    if not der:
        raise InvalidInput("the request body is empty; send a base64-encoded DER PKCS#10 CSR", field="csr")
    return der


def _text(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return PlainTextResponse(message + "\n", status_code=status, headers=dict(headers or {}))


def _refusal(exc: CertctlError) -> Response:
    status = 500
    for kind, code in ((InvalidInput, 400), (NotFound, 404), (Conflict, 409), (IssuerError, 502)):
        if isinstance(exc, kind):
            status = code
            break
    return _text(status, str(exc))


def est_routes(est: ESTService, config: ESTConfig) -> list[Route]:
    Handler = Callable[[Request, ESTRoute], Awaitable[Response]]

    def labelled(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            label = request.path_params.get("label")
            route = config.route(label)
            if route is None:
                return _text(404, f"no EST label '{label}'")
            return await handler(request, route)

        return endpoint

    async def authenticate(request: Request, route: ESTRoute) -> ESTClient | Response:
        if request.url.scheme != "https" and not config.allow_http:
            return _text(403, "EST enrollment needs HTTPS: basic credentials must not cross the network in clear")
        refused: str | None = None
        presented = client_certificate(request.scope) if config.client_certificates else None
        if presented is not None:
            try:
                return await anyio.to_thread.run_sync(lambda: est.identify(route, presented))
            except Unauthorized as exc:  # basic credentials may still let the client in
                refused = exc.message
        credentials = parse_basic(request.headers.get("authorization"))
        if credentials is None:
            wanted = (
                "HTTP basic credentials or a client certificate"
                if config.client_certificates
                else "HTTP basic credentials"
            )
            return _text(401, refused or f"EST enrollment needs {wanted}", _CHALLENGE)
        if not await anyio.to_thread.run_sync(config.users.verify, *credentials):
            return _text(401, "wrong EST user name or password", _CHALLENGE)
        return ESTClient(credentials[0])

    async def cacerts(request: Request, route: ESTRoute) -> Response:
        try:
            certs = await anyio.to_thread.run_sync(lambda: est.ca_certificates(route, actor=_ACTOR))
        except CertctlError as exc:
            return _refusal(exc)
        return Response(pkcs7_body(certs), media_type=PKCS7_TYPE, headers={"Content-Transfer-Encoding": "base64"})

    def enrollment(reenroll: bool) -> Handler:
        async def handler(request: Request, route: ESTRoute) -> Response:
            client = await authenticate(request, route)
            if isinstance(client, Response):
                return client
            try:
                csr = decode_csr_body(await read_bounded(request, MAX_CSR_BYTES))
                if reenroll:
                    issued = await anyio.to_thread.run_sync(
                        lambda: est.reenroll(route, csr, user=client.user, certificate_id=client.certificate_id)
                    )
                else:
                    issued = await anyio.to_thread.run_sync(lambda: est.enroll(route, csr, user=client.user))
            except BodyTooLarge as exc:
                return _text(413, str(exc))
            except CertctlError as exc:
                return _refusal(exc)
            except Exception:  # a bug, not the client's fault: logged, and no traceback to the client
                log.exception("EST %s failed", "simplereenroll" if reenroll else "simpleenroll")
                return _text(500, "the enrollment failed inside certctl; the service log has the details")
            return Response(
                pkcs7_body([issued.leaf]),
                media_type=CERTS_ONLY_TYPE,
                headers={"Content-Transfer-Encoding": "base64"},
            )

        return handler

    async def csrattrs(request: Request, route: ESTRoute) -> Response:
        # No attributes are required: the profile's rules are enforced on the CSR instead (RFC 7030 §4.5.2).
        return Response(status_code=204)

    routes: list[Route] = []
    for prefix in ("/.well-known/est", "/.well-known/est/{label}"):
        routes += [
            Route(f"{prefix}/cacerts", labelled(cacerts), methods=["GET"]),
            Route(f"{prefix}/simpleenroll", labelled(enrollment(False)), methods=["POST"]),
            Route(f"{prefix}/simplereenroll", labelled(enrollment(True)), methods=["POST"]),
            Route(f"{prefix}/csrattrs", labelled(csrattrs), methods=["GET"]),
        ]
    return routes
