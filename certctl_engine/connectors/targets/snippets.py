"""The server configuration lines that point a server at the files a target deploys.

What ``certctl targets snippet ID`` prints: paste them into the server block (NGINX), the
virtual host (Apache), the frontend (HAProxy, replacing the port), the site (Caddy), the static
configuration's file provider (Traefik) or the listener's SDS secret configuration (Envoy).
The lines come from the same connector that writes the files, so they name exactly the
paths a deployment writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certctl_engine.connectors.targets.apache import ApacheConnector
from certctl_engine.connectors.targets.caddy import CaddyConnector
from certctl_engine.connectors.targets.envoy import EnvoyConnector
from certctl_engine.connectors.targets.haproxy import HAProxyConnector
from certctl_engine.connectors.targets.mail import DovecotConnector, PostfixConnector
from certctl_engine.connectors.targets.nginx import NginxConnector
from certctl_engine.connectors.targets.server import ServerConnector
from certctl_engine.connectors.targets.traefik import TraefikConnector
from certctl_engine.domain import TargetType
from certctl_engine.errors import InvalidInput

_BY_TYPE: dict[TargetType, ServerConnector] = {
    TargetType.NGINX: NginxConnector(),
    TargetType.APACHE: ApacheConnector(),
    TargetType.HAPROXY: HAProxyConnector(),
    TargetType.CADDY: CaddyConnector(),
    TargetType.TRAEFIK: TraefikConnector(),
    TargetType.ENVOY: EnvoyConnector(),
    TargetType.POSTFIX: PostfixConnector(),
    TargetType.DOVECOT: DovecotConnector(),
}

SNIPPET_TYPES = tuple(_BY_TYPE)


def snippet_for(target_type: TargetType | str, config: Mapping[str, Any]) -> str:
    """The configuration lines for a target of ``target_type`` with ``config`` (checked first)."""
    try:
        kind = TargetType(target_type)
    except ValueError:
        raise InvalidInput(f"unknown target type '{target_type}'", field="type") from None
    connector = _BY_TYPE.get(kind)
    if connector is None:
        names = ", ".join(t.value for t in SNIPPET_TYPES)
        raise InvalidInput(f"{kind.value} targets need no server configuration lines; snippets exist for {names}")
    connector.validate_config(config)
    return connector.snippet(config)
