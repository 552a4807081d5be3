"""Issuer connectors: one class per CA type, all behind ``IssuerConnector``."""

from certctl_engine.connectors.issuers.base import IssuedCertificate, IssuerConnector, IssueRequest
from certctl_engine.connectors.issuers.local import LocalCAConnector
from certctl_engine.connectors.issuers.script import ScriptConnector, ScriptSettings
from certctl_engine.connectors.issuers.stepca import StepCAConnector, StepCASettings
from certctl_engine.connectors.issuers.vault import VaultPKIConnector, VaultSettings

__all__ = [
    "IssueRequest",
    "IssuedCertificate",
    "IssuerConnector",
    "LocalCAConnector",
    "ScriptConnector",
    "ScriptSettings",
    "StepCAConnector",
    "StepCASettings",
    "VaultPKIConnector",
    "VaultSettings",
]
