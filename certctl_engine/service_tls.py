"""The engine service's own TLS identity, issued and renewed by certctl itself.

`certctl engine` serves HTTPS by default. Unless the operator brings a certificate, the
engine keeps one as an ordinary managed certificate ("certctl-engine-service") from a
dedicated local CA issuer, so it shows in the inventory, is audited like any other, and is
renewed at start when a third of its life is left. The files uvicorn reads (and the CA
file agents trust) are written atomically next to the store, the key 0600.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from certctl_engine.domain import (
    Actor,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    IssuerType,
    SortOrder,
)
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.files import write_atomic
from certctl_engine.pki import certificates_to_pem, is_ip_literal, load_certificates
from certctl_engine.services.policies import INTERNAL_TAG

SERVICE_ISSUER_ID = "iss-certctl-service"
SERVICE_CERTIFICATE_NAME = "certctl-engine-service"
SERVICE_VALIDITY_DAYS = 90
_ACTOR = Actor.system("engine-service")
_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """Where the service's certificate, key and trust anchor are, and what was done to them."""

    cert_file: Path
    key_file: Path
    ca_file: Path | None
    fingerprint_sha256: str
    action: str  # "issued" | "renewed" | "kept" | "provided"


def service_names(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The names the service certificate covers: loopback, this machine, the listen address, extras."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname().lower()]
    if host not in _WILDCARD_HOSTS:
        names.append(host.lower())
    names.extend(n.strip().lower() for n in extra if n.strip())
    ordered: list[str] = []
    for name in names:
        key = str(ipaddress.ip_address(name)) if is_ip_literal(name) else name
        if key not in ordered:
            ordered.append(key)
    return ordered


def provided_tls(cert_file: str, key_file: str) -> ServerTLS:
    """The operator's own certificate and key; checked to exist now rather than at the first handshake."""
    from certctl_engine.pki import fingerprint_sha256

    cert, key = Path(cert_file), Path(key_file)
    for path, what in ((cert, "TLS certificate"), (key, "TLS key")):
        if not path.is_file():
            raise InvalidInput(f"{what} file '{path}' does not exist", field="tls")
    try:
        leaf = load_certificates(cert.read_bytes())[0]
    except InvalidInput as exc:
        raise InvalidInput(f"TLS certificate file '{cert}': {exc.message}", field="tls") from None
    return ServerTLS(cert, key, None, fingerprint_sha256(leaf), "provided")


def ensure_service_certificate(engine: Engine, directory: Path, names: list[str]) -> ServerTLS:
    """Issue or renew the service certificate as needed and write its files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not any(i.id == SERVICE_ISSUER_ID for i in engine.issuers.list()):
        engine.issuers.create(
            "certctl service CA",
            IssuerType.GENERIC_CA,
            {"validity_days": SERVICE_VALIDITY_DAYS, "ca_common_name": "certctl Engine Service CA"},
            actor=_ACTOR,
            id=SERVICE_ISSUER_ID,
        )
    # The live service certificate is the newest one of the service issuer that is not archived
    # (archiving it by hand makes the next start issue a fresh one).
    live = engine.certificates.list(
        CertificateFilter(issuer_id=SERVICE_ISSUER_ID), sort=CertificateSortField.CREATED_AT, order=SortOrder.DESC
    ).items
    cert = live[0] if live else None
    if cert is not None and (set(cert.sans) != set(names) or cert.status is CertificateStatus.REVOKED):
        engine.certificates.archive(cert.id, actor=_ACTOR)
        cert = None
    if cert is None:
        name = SERVICE_CERTIFICATE_NAME
        if engine.certificates.find_by_name(name) is not None:
            name = f"{SERVICE_CERTIFICATE_NAME}-{engine.context.now():%Y%m%d%H%M%S}"
        cert = engine.certificates.create(
            name=name,
            common_name=names[0],
            sans=names,
            issuer_id=SERVICE_ISSUER_ID,
            environment="certctl",
            tags={INTERNAL_TAG: "engine-service"},
            actor=_ACTOR,
            queue_issuance=False,
        )
    version = engine.certificates.current_version(cert.id)
    action = "kept"
    if version is None:
        version = engine.issuance.issue(cert.id, actor=_ACTOR)
        action = "issued"
    else:
        lifetime = version.not_after - version.not_before
        if version.not_after - engine.context.now() < lifetime / 3:
            version = engine.issuance.renew(cert.id, actor=_ACTOR)
            action = "renewed"
    chain = load_certificates(version.pem_chain.encode())  # leaf first, then its issuers
    key = engine.certificates.private_key_pem(version.id)
    if key is None:  # never the case for a certificate the engine issued itself
        raise InvalidInput("the service certificate has no server-held key", field="tls")
    files = _files(directory)
    _write_if_changed(files["cert"], certificates_to_pem(chain).encode(), 0o644)
    _write_if_changed(files["key"], key, 0o600)
    _write_if_changed(files["ca"], engine.ca.info(SERVICE_ISSUER_ID).certificate_pem.encode(), 0o644)
    return ServerTLS(files["cert"], files["key"], files["ca"], version.fingerprint_sha256, action)


def _files(directory: Path) -> Mapping[str, Path]:
    return {"cert": directory / "server.crt", "key": directory / "server.key", "ca": directory / "ca.crt"}


def _write_if_changed(path: Path, data: bytes, mode: int) -> None:
    try:
        if path.read_bytes() == data and (path.stat().st_mode & 0o777) == mode:
            return
    except OSError:
        pass
    write_atomic(path, data, mode=mode)
