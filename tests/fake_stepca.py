"""A stand-in for step-ca's HTTP API, holding each request to what step-ca documents and checks.

Endpoints: ``POST /1.0/sign``, ``POST /1.0/revoke``, ``GET /health``, ``GET /roots``,
``GET /root/{sha256}``, ``GET /provisioners``. The one-time token is verified as step-ca's JWK
provisioner does (jwcrypto here, an implementation independent of the one that signs): the
provisioner is found by ``iss`` and the header's ``kid``, the signature checked with its public
key, then ``aud`` (the endpoint URL), ``nbf``/``exp`` with a minute of leeway, ``iat``, a
``jti`` never seen before, ``sub`` and, for signing, ``sans`` equal to the CSR's names and a CN
equal to ``sub``. Refusals are answered in step-ca's shape ``{"status": N, "message": ...}``
with its wording; why a token was refused is kept in ``refusals`` (what step-ca would log).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from jwcrypto import jwk, jws
from loopback_ca import LoopbackServer, Reply, Seen, TestCA, pem

UNAUTHORIZED = (
    "The request lacked necessary authorization to be completed. "
    "Please see the certificate authority logs for more info."
)
NOT_FOUND = "The requested resource could not be found. Please see the certificate authority logs for more info."
NOT_IMPLEMENTED = (
    "The requested method is not implemented by the certificate authority. "
    "Please see the certificate authority logs for more info."
)
BACKDATE = timedelta(minutes=1)


@dataclass
class Provisioner:
    """A JWK provisioner: its name, its key (private half kept for the test) and step's encryptedKey."""

    name: str
    key: jwk.JWK
    encrypted_key: str = ""
    type: str = "JWK"

    @property
    def kid(self) -> str:
        return str(self.key.get("kid") or self.key.thumbprint())

    def public(self) -> dict[str, Any]:
        return dict(json.loads(self.key.export_public()))


def make_provisioner_key() -> jwk.JWK:
    """An EC P-256 JWK as ``step crypto jwk create`` makes it: use sig, alg ES256, kid = thumbprint."""
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    return jwk.JWK(**{**json.loads(key.export_private()), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"})


@dataclass
class FakeStepCA:
    ca: TestCA
    provisioners: list[Provisioner]
    tls: Any
    max_duration: timedelta = timedelta(hours=24)
    refusals: list[str] = field(default_factory=list)
    tokens: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    signed: list[x509.Certificate] = field(default_factory=list)
    revoked: dict[str, tuple[int, str]] = field(default_factory=dict)
    used_jti: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.server = LoopbackServer(self.route, tls=self.tls)
        self.url = self.server.url

    @property
    def seen(self) -> list[Seen]:
        return self.server.seen

    def close(self) -> None:
        self.server.close()

    # ------------------------------------------------------------------ answers in step-ca's shape
    @staticmethod
    def _error(status: int, message: str) -> Reply:
        return Reply.json(status, {"status": status, "message": message})

    def _unauthorized(self, why: str) -> Reply:
        self.refusals.append(why)
        return self._error(401, UNAUTHORIZED)

    # ------------------------------------------------------------------ the token
    def _authorize(self, ott: str, audiences: tuple[str, ...]) -> dict[str, Any] | Reply:
        parts = ott.split(".")
        if len(parts) != 3:
            return self._unauthorized("error parsing token")
        try:
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
            unverified = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except ValueError:
            return self._unauthorized("error parsing token")
        provisioner = next(
            (p for p in self.provisioners if p.name == unverified.get("iss") and p.kid == header.get("kid")), None
        )
        if provisioner is None:
            return self._unauthorized(
                f"provisioner not found or invalid audience: iss={unverified.get('iss')!r} kid={header.get('kid')!r}"
            )
        token = jws.JWS()
        token.deserialize(ott)
        try:
            token.verify(jwk.JWK(**provisioner.public()), alg=header.get("alg"))
        except jws.InvalidJWSSignature:
            return self._unauthorized("jwk.authorizeToken; error parsing jwk claims: invalid signature")
        claims = json.loads(token.payload)
        self.tokens.append((header, claims))
        now = time.time()
        if header.get("typ") != "JWT":
            return self._unauthorized(f"token typ {header.get('typ')!r} is not JWT")
        missing = [c for c in ("iss", "aud", "sub", "nbf", "exp", "iat", "jti") if c not in claims]
        if missing:
            return self._unauthorized(f"invalid jwk claims: missing {missing}")
        if not claims["nbf"] - 60 <= now <= claims["exp"] + 60:
            return self._unauthorized("invalid jwk claims: token is expired or not yet valid")
        if claims["exp"] - claims["nbf"] > 600:
            return self._unauthorized("token lifetime longer than step's five minutes")
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not set(audience) & set(audiences):
            return self._unauthorized(f"invalid jwk token audience claim (aud); want {audiences}, but got {audience}")
        if not claims["sub"]:
            return self._unauthorized("jwk token subject cannot be empty")
        if not claims["jti"] or claims["jti"] in self.used_jti:
            return self._unauthorized("token already used")
        if "sha" in claims:
            root_sha = hashlib.sha256(self.ca.root.public_bytes(Encoding.DER)).hexdigest()
            if claims["sha"] != root_sha:
                return self._unauthorized("token sha claim is not the root fingerprint")
        self.used_jti.add(claims["jti"])
        return claims

    # ------------------------------------------------------------------ endpoints
    def route(self, request: Seen) -> Reply:
        path = request.path.split("?")[0]
        if request.method == "GET" and path == "/health":
            return Reply.json(200, {"status": "ok"})
        if request.method == "GET" and path in ("/roots", "/1.0/roots"):
            return Reply.json(200, {"crts": [self.ca.root_pem()]})
        if request.method == "GET" and path.startswith("/root/"):
            sha = hashlib.sha256(self.ca.root.public_bytes(Encoding.DER)).hexdigest()
            if path.removeprefix("/root/") != sha:
                return self._error(404, NOT_FOUND)
            return Reply.json(200, {"ca": self.ca.root_pem()})
        if request.method == "GET" and path == "/provisioners":
            items = [
                {
                    "type": p.type,
                    "name": p.name,
                    "key": p.public(),
                    **({"encryptedKey": p.encrypted_key} if p.encrypted_key else {}),
                }
                for p in self.provisioners
            ]
            return Reply.json(200, {"provisioners": items, "nextCursor": ""})
        if request.method == "POST" and path in ("/1.0/sign", "/sign"):
            return self._sign(request)
        if request.method == "POST" and path in ("/1.0/revoke", "/revoke"):
            return self._revoke(request)
        return self._error(404, NOT_FOUND)

    def _body(self, request: Seen) -> dict[str, Any] | Reply:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._error(400, "The request could not be completed: error reading request body.")
        try:
            body = request.json()
        except ValueError:
            return self._error(400, "The request could not be completed: error reading request body.")
        return body if isinstance(body, dict) else self._error(400, "The request could not be completed.")

    def _sign(self, request: Seen) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        try:
            csr = x509.load_pem_x509_csr(str(body.get("csr") or "").encode())
        except ValueError:
            return self._error(400, "The request could not be completed: missing csr.")
        if not csr.is_signature_valid:
            return self._error(400, "The request could not be completed: invalid csr.")
        if not body.get("ott"):
            return self._error(400, "The request could not be completed: missing ott.")
        claims = self._authorize(str(body["ott"]), (f"{self.url}/1.0/sign", f"{self.url}/sign"))
        if isinstance(claims, Reply):
            return claims
        sans = claims.get("sans") or [claims["sub"]]
        cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
        if cns and cns[0] != claims["sub"]:
            return self._error(
                403,
                "The request was forbidden by the certificate authority: certificate request does not contain "
                f"the valid common name - got {cns[0]}, want {claims['sub']}.",
            )
        try:
            names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            requested = {str(getattr(n, "value", n)) for n in names}
        except x509.ExtensionNotFound:
            requested = set()
        if requested and requested != set(sans):
            return self._error(
                403,
                "The request was forbidden by the certificate authority: certificate request does not contain "
                f"the valid DNS names - got {sorted(requested)}, want {sorted(sans)}.",
            )
        not_before = datetime.now(UTC) - BACKDATE
        not_after = (
            datetime.fromisoformat(str(body["notAfter"]).replace("Z", "+00:00"))
            if body.get("notAfter")
            else datetime.now(UTC) + self.max_duration
        )
        if not_after - not_before > self.max_duration + BACKDATE:
            return self._error(
                403,
                "The request was forbidden by the certificate authority: requested duration of "
                f"{not_after - not_before} is more than the authorized maximum certificate duration of "
                f"{self.max_duration + BACKDATE}.",
            )
        leaf = self.ca.sign_csr(csr, not_after)
        self.signed.append(leaf)
        chain = [pem(leaf), *self.ca.chain_pems()[:1]]
        return Reply.json(201, {"crt": chain[0], "ca": chain[1], "certChain": chain})

    def _revoke(self, request: Seen) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        if not body.get("serial"):
            return self._error(400, "The request could not be completed: missing serial.")
        if not 0 <= int(body.get("reasonCode", 0)) <= 10:
            return self._error(400, "The request could not be completed: reasonCode out of bounds.")
        if body.get("passive") is not True:
            return self._error(501, NOT_IMPLEMENTED)
        claims = self._authorize(str(body.get("ott") or ""), (f"{self.url}/1.0/revoke", f"{self.url}/revoke"))
        if isinstance(claims, Reply):
            return claims
        if claims["sub"] != body["serial"]:
            return self._unauthorized("token subject is not the serial being revoked")
        if body["serial"] in self.revoked:
            return self._error(
                400,
                f"The request could not be completed: certificate with serial number {body['serial']} "
                "has already been revoked.",
            )
        self.revoked[str(body["serial"])] = (int(body["reasonCode"]), str(body.get("reason") or ""))
        return Reply.json(200, {"status": "ok"})
