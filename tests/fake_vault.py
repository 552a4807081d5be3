"""A stand-in for Vault's HTTP API with one PKI mount, holding each request to Vault's documented API.

Paths: ``sys/health``, ``auth/token/lookup-self``, ``sys/capabilities-self``,
``{mount}/roles/{role}``, ``{mount}/sign/{role}``, ``{mount}/issue/{role}``,
``{mount}/revoke``, ``{mount}/ca_chain``, all under ``/v1/``. Authenticated paths need a known
``X-Vault-Token`` (else 403 ``{"errors":["permission denied"]}``); every path but ``sys/health``
needs, when the stand-in has a namespace, ``X-Vault-Namespace`` equal to it. Signing checks the
role exists and allows the names (``allowed_domains`` with subdomains), caps the ``ttl`` at the
role's ``max_ttl`` with a warning as Vault does, and answers with real certificates from a test CA in Vault's envelope.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from loopback_ca import LoopbackServer, Reply, Seen, TestCA, pem


def vault_serial(serial: int) -> str:
    raw = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")
    return ":".join(f"{b:02x}" for b in raw)


@dataclass
class Role:
    allowed_domains: list[str]
    max_ttl: int = 30 * 86400


@dataclass
class FakeVault:
    ca: TestCA
    tls: Any
    mount: str = "pki"
    roles: dict[str, Role] = field(default_factory=dict)
    # token -> paths it may sign under ("*" for all)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    namespace: str | None = None
    sealed: bool = False
    issued: dict[str, x509.Certificate] = field(default_factory=dict)
    revoked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = LoopbackServer(self.route, tls=self.tls)
        self.url = self.server.url

    @property
    def seen(self) -> list[Seen]:
        return self.server.seen

    def close(self) -> None:
        self.server.close()

    @staticmethod
    def _errors(status: int, *errors: str) -> Reply:
        return Reply.json(status, {"errors": list(errors)})

    @staticmethod
    def _envelope(data: dict[str, Any], warnings: list[str] | None = None) -> Reply:
        return Reply.json(
            200,
            {
                "request_id": str(uuid.uuid4()),
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": data,
                "wrap_info": None,
                "warnings": warnings or None,
                "auth": None,
            },
        )

    def route(self, request: Seen) -> Reply:
        path, _, _query = request.path.partition("?")
        if not path.startswith("/v1/"):
            return self._errors(404)
        path = path.removeprefix("/v1/")
        if path == "sys/health" and request.method == "GET":
            if self.sealed:
                return Reply.json(503, {"initialized": True, "sealed": True, "standby": True, "version": "1.17.2"})
            return Reply.json(
                200,
                {"initialized": True, "sealed": False, "standby": False, "version": "1.17.2", "cluster_name": "test"},
            )
        if self.namespace is not None and request.headers.get("x-vault-namespace") != self.namespace:
            # Outside its namespace the mount does not exist.
            return self._errors(404, f"no handler for route '{path}'. route entry not found.")
        if path == f"{self.mount}/ca_chain" and request.method == "GET":
            return Reply(200, "".join(self.ca.chain_pems()).encode(), "application/pem-certificate-chain")
        if self.sealed:
            return self._errors(503, "Vault is sealed")
        token = request.headers.get("x-vault-token")
        if token not in self.tokens:
            return self._errors(403, "permission denied")
        if path == "auth/token/lookup-self" and request.method == "GET":
            return self._envelope(
                {"display_name": "token-certctl", "policies": ["default", "pki-sign"], "ttl": 3600, "renewable": True}
            )
        if path == "sys/capabilities-self" and request.method == "POST":
            paths = request.json().get("paths") or []
            data = {p: (["update"] if self._may(token, p) else ["deny"]) for p in paths}
            if len(paths) == 1:
                data["capabilities"] = data[paths[0]]
            return Reply.json(200, {**data, "data": data})
        match = re.fullmatch(rf"{re.escape(self.mount)}/(roles|sign|issue)/([^/]+)", path)
        if match:
            kind, role_name = match.groups()
            if kind == "roles" and request.method == "GET":
                role = self.roles.get(role_name)
                if role is None:
                    return self._errors(404)
                return self._envelope({"allowed_domains": role.allowed_domains, "allow_subdomains": True})
            if request.method in ("POST", "PUT"):
                if not self._may(token, path):
                    return self._errors(403, "permission denied")
                return self._sign(kind, role_name, request.json())
        if path == f"{self.mount}/revoke" and request.method in ("POST", "PUT"):
            serial = str(request.json().get("serial_number") or "")
            if serial not in self.issued:
                return self._errors(400, f"certificate with serial {serial} not found.")
            self.revoked.append(serial)
            now = datetime.now(UTC)
            return self._envelope(
                {
                    "revocation_time": int(now.timestamp()),
                    "revocation_time_rfc3339": now.isoformat(),
                    "state": "revoked",
                }
            )
        return self._errors(404, f"no handler for route '{path}'. route entry not found.")

    def _may(self, token: str | None, path: str) -> bool:
        allowed = self.tokens.get(token or "", [])
        return "*" in allowed or path in allowed

    def _allowed(self, role: Role, name: str) -> bool:
        return any(name == d or name.endswith("." + d) for d in role.allowed_domains)

    def _sign(self, kind: str, role_name: str, body: dict[str, Any]) -> Reply:
        role = self.roles.get(role_name)
        if role is None:
            return self._errors(400, f"unknown role: {role_name}")
        warnings: list[str] = []
        ttl_text = str(body.get("ttl") or "")
        ttl = int(ttl_text[:-1]) if ttl_text.endswith("s") else int(ttl_text or role.max_ttl)
        if ttl > role.max_ttl:
            warnings.append(
                f"TTL of \"{timedelta(seconds=ttl)}\" is greater than the role's max_ttl; capping to the role's value"
            )
            ttl = role.max_ttl
        key: ec.EllipticCurvePrivateKey | None = None
        if kind == "sign":
            try:
                csr = x509.load_pem_x509_csr(str(body.get("csr") or "").encode())
            except ValueError:
                return self._errors(400, "no certificate request found in the request")
            if not csr.is_signature_valid:
                return self._errors(400, "certificate request could not be verified")
            cns = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            cn = str(cns[0].value) if cns else str(body.get("common_name") or "")
            try:
                names = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            except x509.ExtensionNotFound:
                names = []
            public_key = csr.public_key()
        else:
            cn = str(body.get("common_name") or "")
            if not cn:
                return self._errors(
                    400,
                    "the common_name field is required, or must be provided in a CSR with 'use_csr_common_name' "
                    "set to true, unless 'require_cn' is set to false",
                )
            alt = [n for n in str(body.get("alt_names") or "").split(",") if n]
            names = [x509.DNSName(n) for n in dict.fromkeys([cn, *alt])]
            key = ec.generate_private_key(ec.SECP256R1())
            public_key = key.public_key()
        if not self._allowed(role, cn):
            return self._errors(400, f"common name {cn} not allowed by this role")
        for name in names:
            if isinstance(name, x509.DNSName) and not self._allowed(role, name.value):
                return self._errors(400, f"subject alternative name {name.value} not allowed by this role")
        leaf = self.ca.sign(public_key, cn, names, datetime.now(UTC) + timedelta(seconds=ttl))
        serial = vault_serial(leaf.serial_number)
        self.issued[serial] = leaf
        chain = self.ca.chain_pems()
        data: dict[str, Any] = {
            "certificate": pem(leaf),
            "issuing_ca": chain[0],
            "ca_chain": chain,
            "serial_number": serial,
            "expiration": int(leaf.not_valid_after_utc.timestamp()),
        }
        if key is not None:
            data["private_key"] = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            data["private_key_type"] = "ec"
        return self._envelope(data, warnings)
