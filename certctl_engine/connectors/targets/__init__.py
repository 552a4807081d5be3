"""Deployment targets: where certificates are installed, each behind the same installer contract."""

from __future__ import annotations

from certctl_engine.connectors.targets.apache import ApacheConnector
from certctl_engine.connectors.targets.base import DeploymentBundle, DeploymentResult, TargetConnector
from certctl_engine.connectors.targets.caddy import CaddyConnector
from certctl_engine.connectors.targets.envoy import EnvoyConnector
from certctl_engine.connectors.targets.files import FilesConnector
from certctl_engine.connectors.targets.haproxy import HAProxyConnector
from certctl_engine.connectors.targets.keystore import JavaKeystoreConnector, PKCS12Connector
from certctl_engine.connectors.targets.mail import DovecotConnector, PostfixConnector
from certctl_engine.connectors.targets.nginx import NginxConnector
from certctl_engine.connectors.targets.traefik import TraefikConnector
from certctl_engine.connectors.targets.verify import VerificationOutcome, verify_served_certificate
from certctl_engine.domain import TargetType
from certctl_engine.errors import DeployError

__all__ = [
    "DeploymentBundle",
    "DeploymentResult",
    "TargetConnector",
    "VerificationOutcome",
    "connector_for",
    "verify_served_certificate",
]

_CONNECTORS: dict[TargetType, TargetConnector] = {
    TargetType.FILES: FilesConnector(),
    TargetType.NGINX: NginxConnector(),
    TargetType.APACHE: ApacheConnector(),
    TargetType.HAPROXY: HAProxyConnector(),
    TargetType.CADDY: CaddyConnector(),
    TargetType.TRAEFIK: TraefikConnector(),
    TargetType.ENVOY: EnvoyConnector(),
    TargetType.POSTFIX: PostfixConnector(),
    TargetType.DOVECOT: DovecotConnector(),
    TargetType.PKCS12: PKCS12Connector(),
    TargetType.JAVA_KEYSTORE: JavaKeystoreConnector(),
}


def connector_for(target_type: TargetType) -> TargetConnector:
    connector = _CONNECTORS.get(target_type)
    if connector is None:
        raise DeployError(f"no connector for {target_type.value} targets yet")
    return connector
