"""step-ca (smallstep) issuance through its HTTP API with a JWK provisioner's one-time tokens.

Each signing and revocation carries a fresh one-time token (``ott``): a JWT signed with the
JWK provisioner's private key, headed with the key's ``kid`` and carrying the claims step-ca
checks (``iss`` = provisioner name, ``aud`` = the endpoint URL, ``sub`` = the CN or the serial,
``sans``, ``nbf``/``iat``/``exp``, a unique ``jti``, and ``sha``, the root's fingerprint, when
the root is configured). step-ca answers errors as ``{"status": N, "message": "..."}``; the
message is kept verbatim. ``check`` reads ``/health``, ``/roots`` and ``/provisioners`` so it
can say whether the CA is down, its TLS untrusted, the provisioner unknown or its key not the
one configured.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.issuers.base import IssuedCertificate, IssueRequest
from certctl_engine.connectors.issuers.remote import (
    DEFAULT_TIMEOUT_SECONDS,
    Fields,
    checked_answer,
    common_name,
    parse_pem_chain,
    subject_alt_names,
    tls_verify,
    transport_error,
)
from certctl_engine.connectors.issuers.stepca_key import ProvisionerKey, load_provisioner_key
from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput, IssuerError
from certctl_engine.pki import load_certificates

log = logging.getLogger(__name__)

TOKEN_LIFETIME_SECONDS = 300
DEFAULT_VALIDITY_SECONDS = 86_400  # step-ca's own default TLS certificate duration
_CA = "step-ca"
_MAX_PROVISIONER_PAGES = 20


@dataclass(frozen=True, slots=True)
class StepCASettings:
    """A step-ca issuer's configuration, checked; every refusal names the field."""

    ca_url: str
    root_cert_path: str | None
    provisioner_name: str
    provisioner_key_text: str = field(repr=False)
    provisioner_password: str | None = field(repr=False)
    provisioner_kid: str | None
    validity_days: int | None
    timeout_seconds: float

    @classmethod
    def from_config(cls, config: dict[str, Any], *, complete: bool = True) -> StepCASettings:
        fields = Fields(config, "step-ca", complete=complete)
        url = fields.url("ca_url", "the https URL of the CA, e.g. https://ca.example.com:9000")
        root = fields.bundle("root_cert_path")
        name = fields.text("provisioner_name", "the name of the JWK provisioner tokens are signed for")
        inline = fields.text(
            "provisioner_private_key", "the provisioner's JWK, its encrypted JWE or a PEM key", required=False
        )
        key_path = fields.file("provisioner_key_path", "a file holding the provisioner's JWK, JWE or PEM key")
        if inline and key_path:
            raise InvalidInput(
                "give the provisioner key once: provisioner_private_key or provisioner_key_path, not both",
                field="provisioner_private_key",
            )
        key_text = inline
        if key_path:
            try:
                key_text = Path(key_path).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInput(
                    f"provisioner_key_path: cannot read {key_path}: {exc}", field="provisioner_key_path"
                ) from None
        if not key_text:
            fields.missing(
                "provisioner_private_key", "the JWK provisioner's private key (or provisioner_key_path, a file of it)"
            )
        password = fields.text("provisioner_password", "the password of an encrypted provisioner key", required=False)
        kid = fields.text(
            "provisioner_kid", "the provisioner key's id, when it is not the key's thumbprint", required=False
        )
        return cls(
            ca_url=url or "",
            root_cert_path=root,
            provisioner_name=name or "",
            provisioner_key_text=key_text or "",
            provisioner_password=password,
            provisioner_kid=kid,
            validity_days=fields.days("validity_days"),
            timeout_seconds=fields.seconds("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
        )

    @property
    def validity_seconds(self) -> int:
        return self.validity_days * 86_400 if self.validity_days else DEFAULT_VALIDITY_SECONDS

    def key(self) -> ProvisionerKey:
        """The provisioner key, read (and decrypted) now; InvalidInput naming the field when it cannot be."""
        return load_provisioner_key(self.provisioner_key_text, self.provisioner_password, self.provisioner_kid)


class StepCAConnector:
    """Signs CSRs and revokes through one step-ca with one JWK provisioner."""

    def __init__(self, settings: StepCASettings) -> None:
        self._settings = settings
        self._key: ProvisionerKey | None = None
        self._root_sha: str | None = None
        if settings.root_cert_path:
            roots = load_certificates(Path(settings.root_cert_path).read_bytes())
            if len(roots) == 1:  # the ``sha`` claim names the one root the token is meant for
                self._root_sha = hashlib.sha256(roots[0].public_bytes(Encoding.DER)).hexdigest()

    # ------------------------------------------------------------------ tokens
    @property
    def provisioner_key(self) -> ProvisionerKey:
        if self._key is None:
            self._key = self._settings.key()
        return self._key

    def token(self, subject: str, audience: str, sans: list[str] | None = None) -> str:
        """A one-time token for ``audience``, valid five minutes, never reused (random ``jti``)."""
        key = self.provisioner_key
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self._settings.provisioner_name,
            "aud": audience,
            "sub": subject,
            "nbf": now,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECONDS,
            "jti": secrets.token_hex(32),
        }
        if sans is not None:
            claims["sans"] = sans
        if self._root_sha:
            claims["sha"] = self._root_sha
        return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "JWT"})

    # ------------------------------------------------------------------ HTTP
    def _url(self, path: str) -> str:
        return f"{self._settings.ca_url}{path}"

    def _request(self, method: str, path: str, doing: str, body: dict[str, Any] | None = None) -> Any:
        url = self._url(path)
        try:
            with httpx.Client(
                verify=tls_verify(self._settings.root_cert_path), timeout=self._settings.timeout_seconds
            ) as client:
                response = client.request(method, url, json=body, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise transport_error(exc, _CA, self._settings.ca_url, doing, "root_cert_path") from None
        try:
            document = response.json()
        except ValueError:
            document = None
        if response.status_code >= 400:
            raise self._refusal(response, document, doing)
        if not isinstance(document, dict):
            raise IssuerError(
                f"step-ca answered {doing} with HTTP {response.status_code} but no JSON object: {response.text[:200]!r}"
            )
        return document

    def _refusal(self, response: httpx.Response, document: Any, doing: str) -> IssuerError:
        """step-ca's error document kept verbatim, with what the status usually means."""
        message = document.get("message") if isinstance(document, dict) else None
        text = str(message) if message else (response.text.strip()[:500] or response.reason_phrase)
        hint = {
            401: "the token was refused: check provisioner_name and that the configured key is that "
            "provisioner's (test the issuer to compare key ids)",
            403: "the CA refused the request under its provisioner policy (names, lifetime)",
            404: f"no such endpoint: is {self._settings.ca_url} a step-ca?",
        }.get(response.status_code)
        return IssuerError(f"step-ca refused {doing} (HTTP {response.status_code}): {text}", hint=hint)

    # ------------------------------------------------------------------ the contract
    def issue(self, request: IssueRequest) -> IssuedCertificate:
        """POST /1.0/sign with the CSR and a token for its names; the chain as step-ca sends it."""
        csr = request.signing_request()
        dns, ips, emails, uris = subject_alt_names(csr)
        sans = [*dns, *ips, *emails, *uris]
        subject = common_name(csr, request.common_name) or (sans[0] if sans else "")
        if not subject:
            raise InvalidInput("step-ca needs a common name or a SAN to name the token's subject", field="common_name")
        body = {
            "csr": csr.public_bytes(Encoding.PEM).decode(),
            "ott": self.token(subject, self._url("/1.0/sign"), sans or [subject]),
            "notAfter": request.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        answer = self._request("POST", "/1.0/sign", "signing the certificate", body)
        chain = answer.get("certChain") or [answer.get("crt"), answer.get("ca")]
        certificates = parse_pem_chain([str(p) for p in chain if p], _CA, "the signing request")
        return checked_answer(request.public_key, certificates, _CA)

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """POST /1.0/revoke, passive (step-ca's only kind), the token's subject being the decimal serial."""
        serial = str(certificate.serial_number)
        body = {
            "serial": serial,
            "ott": self.token(serial, self._url("/1.0/revoke")),
            "reasonCode": reason.code,
            "reason": reason.value,
            "passive": True,
        }
        self._request("POST", "/1.0/revoke", f"revoking serial {serial}", body)

    def roots(self) -> list[x509.Certificate]:
        """The CA's root certificates (GET /roots)."""
        answer = self._request("GET", "/roots", "reading the roots")
        return parse_pem_chain([str(p) for p in answer.get("crts") or []], _CA, "the roots request")

    def root(self, sha256_hex: str) -> x509.Certificate:
        """One root by its SHA-256 fingerprint (GET /root/{sha})."""
        answer = self._request("GET", f"/root/{sha256_hex.lower()}", "reading the root")
        certificates = parse_pem_chain([str(answer.get("ca") or "")], _CA, "the root request")
        if not certificates:
            raise IssuerError(f"step-ca answered the root request for {sha256_hex} without a certificate")
        return certificates[0]

    def check(self) -> str:
        """Health, roots, then the provisioner: it exists, is JWK, and its key is the configured one.

        What a failure usually means is part of the message here (a test result shows no hint).
        """
        try:
            return self._check()
        except IssuerError as exc:
            raise IssuerError(f"{exc.message}; {exc.hint}" if exc.hint else exc.message) from None

    def _check(self) -> str:
        health = self._request("GET", "/health", "checking health")
        if health.get("status") != "ok":
            raise IssuerError(f"step-ca at {self._settings.ca_url} reports it is not healthy: {health}")
        roots = self.roots()
        key = self.provisioner_key
        provisioner = self._provisioner(self._settings.provisioner_name)
        if str(provisioner.get("type", "")).upper() != "JWK":
            raise IssuerError(
                f"step-ca provisioner '{self._settings.provisioner_name}' is of type {provisioner.get('type')}; "
                "certctl signs with JWK provisioners"
            )
        published = provisioner.get("key") if isinstance(provisioner.get("key"), dict) else {}
        published_kid = str(published.get("kid") or "")
        if published_kid and published_kid != key.kid:
            raise IssuerError(
                f"the configured key (kid {key.kid}) is not the key of step-ca provisioner "
                f"'{self._settings.provisioner_name}' (kid {published_kid}); tokens would be refused"
            )
        if published and any(published.get(k) != key.public_jwk.get(k) for k in ("kty", "crv", "x", "y", "n", "e")):
            raise IssuerError(
                f"the configured key does not match the public key step-ca publishes for provisioner "
                f"'{self._settings.provisioner_name}'; tokens would be refused"
            )
        return (
            f"step-ca {self._settings.ca_url} healthy, {len(roots)} root(s); JWK provisioner "
            f"'{self._settings.provisioner_name}' (kid {key.kid}) matches the configured key"
        )

    def _provisioner(self, name: str) -> dict[str, Any]:
        seen: list[str] = []
        cursor = ""
        for _ in range(_MAX_PROVISIONER_PAGES):
            path = "/provisioners" + (f"?cursor={quote(cursor, safe='')}" if cursor else "")
            answer = self._request("GET", path, "listing the provisioners")
            for item in answer.get("provisioners") or []:
                if isinstance(item, dict):
                    if item.get("name") == name:
                        return item
                    seen.append(str(item.get("name")))
            cursor = str(answer.get("nextCursor") or "")
            if not cursor:
                break
        raise IssuerError(
            f"step-ca has no provisioner named '{name}' (it has: {', '.join(seen) or 'none'}); "
            "set provisioner_name to one of them"
        )
