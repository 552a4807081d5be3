"""Issuer connectors: one class per CA type, all behind ``IssuerConnector``."""

from certctl_engine.connectors.issuers.base import IssuedCertificate, IssuerConnector, IssueRequest
from certctl_engine.connectors.issuers.local import LocalCAConnector

__all__ = ["IssueRequest", "IssuedCertificate", "IssuerConnector", "LocalCAConnector"]
