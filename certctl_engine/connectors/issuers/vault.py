"""HashiCorp Vault PKI secrets engine: sign a CSR under a role, issue with a Vault-made key, revoke, CA chain.

Every authenticated call carries ``X-Vault-Token`` (and ``X-Vault-Namespace`` when one is
configured). Vault answers failures as ``{"errors": [...]}``; those messages are kept verbatim
in the ``IssuerError``. ``check`` walks from the outside in — ``sys/health`` (reachable,
initialised, unsealed), ``auth/token/lookup-self`` (the token is valid), the role (it exists
on the mount), ``sys/capabilities-self`` (the token may sign under it) and the mount's CA chain —
so it names the first thing that is wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
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
from certctl_engine.domain import RevocationReason
from certctl_engine.errors import InvalidInput, IssuerError
from certctl_engine.pki import PrivateKey, is_ip_literal, load_private_key_pem

log = logging.getLogger(__name__)

_CA = "Vault"
_HEALTH = {
    501: "Vault is not initialised",
    503: "Vault is sealed: unseal it",
    472: "this Vault is a disaster-recovery secondary and cannot sign",
}
_SIGNING_CAPABILITIES = {"update", "create", "root", "sudo"}


def vault_serial(serial: int) -> str:
    """A serial number as Vault writes it: big-endian bytes in lowercase hex, colon-separated."""
    raw = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")
    return ":".join(f"{b:02x}" for b in raw)


KEY_SOURCES = ("certctl", "vault")


@dataclass(frozen=True, slots=True)
class VaultSettings:
    """A Vault PKI issuer's configuration, checked; every refusal names the field."""

    address: str
    mount: str
    role: str
    token: str = field(repr=False)
    namespace: str | None
    ca_bundle: str | None
    validity_days: int | None
    timeout_seconds: float
    key_source: str = "certctl"
    """Who makes server-side keys: ``certctl`` (sign/:role with a CSR) or ``vault`` (issue/:role)."""

    @classmethod
    def from_config(cls, config: dict[str, Any], *, complete: bool = True) -> VaultSettings:
        fields = Fields(config, "Vault PKI", complete=complete)
        address = fields.url("address", "Vault's URL, e.g. https://vault.example.com:8200", schemes=("https", "http"))
        mount = (fields.text("mount", "the PKI secrets engine's path", required=False, default="pki") or "pki").strip(
            "/"
        )
        role = fields.text("role", "the PKI role certificates are signed under")
        for name, value in (("mount", mount), ("role", role)):
            if value and (any(c in value for c in "?#%") or ".." in value.split("/")):
                raise InvalidInput(f"{name} '{value}' is not a Vault path segment", field=name)
        token = fields.text("token", "a Vault token allowed to sign under the role (kept sealed)")
        key_source = str(config.get("key_source") or "certctl").strip().lower()
        if key_source not in KEY_SOURCES:
            raise InvalidInput(
                f"key_source '{key_source}' is not one of {', '.join(KEY_SOURCES)}: certctl makes the key and Vault "
                "signs its CSR (sign/:role), or Vault makes the key (issue/:role)",
                field="key_source",
            )
        return cls(
            address=address or "",
            mount=mount,
            role=role or "",
            token=token or "",
            namespace=fields.text("namespace", "the Vault Enterprise namespace", required=False),
            ca_bundle=fields.bundle("ca_bundle"),
            validity_days=fields.days("validity_days"),
            timeout_seconds=fields.seconds("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            key_source=key_source,
        )


class VaultPKIConnector:
    """Issues and revokes through one role of one Vault PKI mount."""

    def __init__(self, settings: VaultSettings) -> None:
        self._settings = settings

    # ------------------------------------------------------------------ HTTP
    def _call(
        self,
        method: str,
        path: str,
        doing: str,
        body: dict[str, Any] | None = None,
        *,
        authenticated: bool = True,
        namespaced: bool = True,
        accept: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if authenticated:
            headers["X-Vault-Token"] = self._settings.token
        if namespaced and self._settings.namespace:  # a mount in a namespace is only found through it
            headers["X-Vault-Namespace"] = self._settings.namespace
        url = f"{self._settings.address}/v1/{path}"
        try:
            with httpx.Client(verify=tls_verify(self._settings.ca_bundle), timeout=self._settings.timeout_seconds) as c:
                response = c.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc, _CA, self._settings.address, doing, "ca_bundle") from None
        if response.status_code not in accept:
            raise self._refusal(response, doing, path)
        return response

    def _data(self, response: httpx.Response, doing: str) -> dict[str, Any]:
        try:
            document = response.json()
        except ValueError:
            document = None
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict):
            raise IssuerError(f"Vault answered {doing} without a data object: {response.text[:200]!r}")
        for warning in document.get("warnings") or ():
            log.warning("Vault warned while %s: %s", doing, warning)
        return data

    def _refusal(self, response: httpx.Response, doing: str, path: str) -> IssuerError:
        """Vault's ``errors`` verbatim, with what the status means for this call."""
        try:
            document = response.json()
        except ValueError:
            document = None
        errors = document.get("errors") if isinstance(document, dict) else None
        if isinstance(errors, list) and errors:
            words = "; ".join(str(e) for e in errors)
        elif isinstance(errors, list):
            words = "no error text"
        else:
            words = response.text.strip()[:500] or response.reason_phrase
        status = response.status_code
        hint = None
        if status == 403:
            hint = f"the token is invalid, expired, or has no policy allowing '{path}'"
        elif status == 404:
            hint = f"nothing at '{path}': check mount '{self._settings.mount}' and role '{self._settings.role}'"
        elif status in _HEALTH:
            hint = _HEALTH[status]
        return IssuerError(f"Vault refused {doing} (HTTP {status}): {words}", hint=hint)

    # ------------------------------------------------------------------ requests
    def _names(self, cn: str, dns: list[str], ips: list[str], emails: list[str], uris: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"format": "pem"}
        if cn:
            body["common_name"] = cn
        alt = [n for n in (*dns, *emails) if n != cn]
        if alt:
            body["alt_names"] = ",".join(alt)
        if ips:
            body["ip_sans"] = ",".join(ips)
        if uris:
            body["uri_sans"] = ",".join(uris)
        return body

    def _certificates(self, data: dict[str, Any], doing: str) -> list[x509.Certificate]:
        chain = data.get("ca_chain") or [data.get("issuing_ca")]
        return parse_pem_chain([str(data.get("certificate") or ""), *(str(p) for p in chain if p)], _CA, doing)

    # ------------------------------------------------------------------ the contract
    def issue(self, request: IssueRequest) -> IssuedCertificate:
        """POST {mount}/sign/{role} with the CSR, the names and the lifetime in seconds; or, with
        ``key_source: vault`` and no caller's CSR, {mount}/issue/{role}, where Vault makes the key."""
        if self._settings.key_source == "vault" and request.csr is None:
            issued, key = self.issue_with_vault_key(request.common_name, request.sans, _seconds_until(request))
            return IssuedCertificate(issued.leaf, issued.chain, private_key=key)
        csr = request.signing_request()
        dns, ips, emails, uris = subject_alt_names(csr)
        body = self._names(common_name(csr, request.common_name), dns, ips, emails, uris)
        body["csr"] = csr.public_bytes(Encoding.PEM).decode()
        body["ttl"] = f"{_seconds_until(request)}s"
        path = f"{self._settings.mount}/sign/{self._settings.role}"
        data = self._data(self._call("POST", path, "signing the certificate", body), "signing the certificate")
        return checked_answer(request.public_key, self._certificates(data, "the signing request"), _CA)

    def issue_with_vault_key(
        self, common_name: str, sans: tuple[str, ...], ttl_seconds: int
    ) -> tuple[IssuedCertificate, PrivateKey]:
        """POST {mount}/issue/{role}: Vault makes the key and returns it with the certificate."""
        dns = [s for s in sans if "@" not in s and "://" not in s and not is_ip_literal(s)]
        body = self._names(
            common_name,
            dns,
            [s for s in sans if is_ip_literal(s)],
            [s for s in sans if "@" in s],
            [s for s in sans if "://" in s],
        )
        body.update({"ttl": f"{ttl_seconds}s", "private_key_format": "pkcs8"})
        path = f"{self._settings.mount}/issue/{self._settings.role}"
        data = self._data(self._call("POST", path, "issuing the certificate", body), "issuing the certificate")
        try:
            key = load_private_key_pem(str(data.get("private_key") or "").encode())
        except InvalidInput as exc:
            raise IssuerError(f"Vault's issue answer holds no usable private key: {exc.message}") from None
        certificates = self._certificates(data, "the issue request")
        return checked_answer(key.public_key(), certificates, _CA), key

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """POST {mount}/revoke with the serial in Vault's notation (Vault records no reason code)."""
        serial = vault_serial(certificate.serial_number)
        self._data(
            self._call(
                "POST", f"{self._settings.mount}/revoke", f"revoking serial {serial}", {"serial_number": serial}
            ),
            f"revoking serial {serial}",
        )

    def ca_chain(self) -> list[x509.Certificate]:
        """The mount's CA chain (GET {mount}/ca_chain, PEM, unauthenticated)."""
        response = self._call("GET", f"{self._settings.mount}/ca_chain", "reading the CA chain", authenticated=False)
        return parse_pem_chain([response.text], _CA, "the CA chain request")

    def check(self) -> str:
        """Health, token, role, the token's right to sign under it, the CA chain: the first failure, precisely.

        What a failure usually means is part of the message here (a test result shows no hint).
        """
        try:
            return self._check()
        except IssuerError as exc:
            raise IssuerError(f"{exc.message}; {exc.hint}" if exc.hint else exc.message) from None

    def _check(self) -> str:
        answer = self._call(
            "GET",
            "sys/health?standbyok=true&perfstandbyok=true",
            "checking health",
            authenticated=False,
            namespaced=False,
            accept=(200, 429, 473, *_HEALTH),
        )
        if answer.status_code in _HEALTH:
            raise IssuerError(
                f"{_HEALTH[answer.status_code]} (Vault at {self._settings.address} answered sys/health "
                f"with HTTP {answer.status_code})"
            )
        health = answer.json()
        token = self._data(self._call("GET", "auth/token/lookup-self", "looking up the token"), "looking up the token")
        role_path = f"{self._settings.mount}/roles/{self._settings.role}"
        role = self._call("GET", role_path, "reading the role", accept=(200, 403, 404))
        if role.status_code == 404:
            raise IssuerError(
                f"Vault has no role '{self._settings.role}' on PKI mount '{self._settings.mount}' (HTTP 404); "
                "set role to an existing role"
            )
        sign_path = f"{self._settings.mount}/sign/{self._settings.role}"
        allowed = self._call(
            "POST", "sys/capabilities-self", "checking the token's capabilities", {"paths": [sign_path]}
        )
        capabilities = _capabilities(allowed, sign_path)
        if not capabilities & _SIGNING_CAPABILITIES:
            raise IssuerError(
                f"the Vault token may not sign at '{sign_path}' "
                f"(capabilities: {', '.join(sorted(capabilities)) or 'none'}); "
                "give its policy 'update' on that path"
            )
        chain = self.ca_chain()
        ttl = token.get("ttl")
        expiry = "never expires" if not ttl else f"expires in {int(ttl)}s"
        verified = "" if role.status_code == 200 else " (the token cannot read the role; not verified)"
        return (
            f"Vault {health.get('version', '')} at {self._settings.address} unsealed; token "
            f"'{token.get('display_name', '')}' valid ({expiry}); role '{self._settings.role}'{verified} "
            f"signable on mount '{self._settings.mount}', CA chain of {len(chain)} certificate(s)"
        )


def _capabilities(response: httpx.Response, path: str) -> set[str]:
    try:
        document = response.json()
    except ValueError:
        return set()
    if not isinstance(document, dict):
        return set()
    data = document.get("data") if isinstance(document.get("data"), dict) else document
    values = data.get(path) or data.get("capabilities") or []
    return {str(v) for v in values} if isinstance(values, list) else set()


def _seconds_until(request: IssueRequest) -> int:
    return max(1, int((request.not_after - datetime.now(UTC)).total_seconds()))
