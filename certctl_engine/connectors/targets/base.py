"""The contract every deployment target meets, modelled on certbot's installer.

A deployment is: check the configuration, snapshot what is there, write the new files
atomically, test the server's configuration, reload, and roll back to the snapshot when
any step fails. Connectors run where the files live (on an agent, or in the engine's
built-in local agent) and never see the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class DeploymentBundle:
    """What to install: one certificate version, PEM throughout.

    ``chain_pem`` is the issuers above the leaf (nearest first); ``key_pem`` is None when the
    key never left the machine that made it (agent key generation): then the connector
    uses the key already on disk at the configured path.
    """

    certificate_id: str
    version_id: str
    fingerprint_sha256: str
    certificate_pem: str
    chain_pem: str
    key_pem: str | None = field(default=None, repr=False)

    @property
    def fullchain_pem(self) -> str:
        return self.certificate_pem + self.chain_pem


@dataclass(frozen=True, slots=True)
class DeploymentResult:
    """What a deployment did. ``changed`` is False when the files already held this version."""

    changed: bool
    files: tuple[str, ...] = ()
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


class TargetConnector(Protocol):
    """Install certificates on one kind of server."""

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Refuse (InvalidInput naming the field) a configuration that cannot work."""
        ...

    def deploy(self, bundle: DeploymentBundle, config: Mapping[str, Any]) -> DeploymentResult:
        """Install ``bundle``; on any failure restore what was there and raise DeployError."""
        ...
