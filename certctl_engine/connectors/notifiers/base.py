"""The contract of a notification channel, and what every channel is told."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from certctl_engine.errors import InvalidInput

SEVERITIES = ("info", "warning", "error", "critical")
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing worth telling people about, channel-neutral.

    ``dedup_key`` is stable for the same fact (the same threshold of the same certificate
    version), so incident tools (PagerDuty, OpsGenie) fold repeats into one incident.
    """

    event: str  # a NotificationType value
    subject: str
    body: str
    severity: str = "warning"
    certificate_id: str | None = None
    recipient: str = ""
    dedup_key: str = ""
    occurred_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    """Deliver alerts through one kind of channel; raise NotifyError naming what went wrong."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        """Refuse a configuration that cannot work (InvalidInput naming the field)."""
        ...

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None: ...


def require(config: Mapping[str, Any], name: str, *, what: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} needs '{name}'", field=name)
    return value.strip()


def require_url(config: Mapping[str, Any], name: str, *, what: str, default: str | None = None) -> str:
    value = config.get(name) or default
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidInput(f"{what} needs '{name}', an http(s) URL", field=name)
    return value


def severity_of(alert: Alert, allowed: tuple[str, ...] = SEVERITIES) -> str:
    return alert.severity if alert.severity in allowed else "warning"
