"""Channels that take an HTTPS POST: generic webhook, Slack, Microsoft Teams, PagerDuty, OpsGenie.

Each builds the payload its service documents (Slack Block Kit, a Teams Adaptive Card, a
PagerDuty Events API v2 event, an OpsGenie Alert API alert) and treats anything but the
service's success status as a failure, keeping the service's answer in the error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from certctl_engine.connectors.notifiers.base import HTTP_TIMEOUT_SECONDS, Alert, require, require_url, severity_of
from certctl_engine.errors import InvalidInput, NotifyError

USER_AGENT = "certctl-notifier/1.0"
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_URL = "https://api.opsgenie.com/v2/alerts"
_OPSGENIE_PRIORITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}


def _post(url: str, body: bytes, headers: Mapping[str, str], *, ok: tuple[int, ...], timeout: float) -> None:
    try:
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise NotifyError(f"cannot reach {_origin(url)}: {exc}") from None
    if response.status_code not in ok:
        raise NotifyError(f"{_origin(url)} answered {response.status_code}: {response.text.strip()[:500]}")


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _dump(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def _timeout(config: Mapping[str, Any], default: float = HTTP_TIMEOUT_SECONDS) -> float:
    return float(config.get("timeout_seconds", default))


class WebhookNotifier:
    """A JSON POST to any URL, signed: ``X-Signature`` is the hex HMAC-SHA256 of the exact body
    under the channel's ``secret`` (``X-Signature-Algorithm: sha256``). Config: url, secret,
    headers (extra, e.g. an authorization header)."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        require_url(config, "url", what="a webhook channel")
        headers = config.get("headers", {})
        if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
            raise InvalidInput("headers must map header names to text values", field="headers")

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None:
        self.check_config(config)
        body = _dump(
            {
                "event": alert.event,
                "subject": alert.subject,
                "body": alert.body,
                "severity": alert.severity,
                "certificate_id": alert.certificate_id,
                "recipient": alert.recipient,
                "dedup_key": alert.dedup_key,
                "occurred_at": alert.occurred_at.isoformat() if alert.occurred_at else None,
                "details": dict(alert.details),
            }
        )
        headers = dict(config.get("headers") or {})
        if config.get("secret"):
            headers["X-Signature"] = sign(body, str(config["secret"]))
            headers["X-Signature-Algorithm"] = "sha256"
        _post(str(config["url"]), body, headers, ok=(200, 201, 202, 204), timeout=_timeout(config, 30.0))


def sign(body: bytes, secret: str) -> str:
    """The webhook signature a receiver recomputes over the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SlackNotifier:
    """Slack incoming webhook with Block Kit blocks (and ``text`` as the notification fallback).
    Config: webhook_url, channel, username, icon_emoji."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        require_url(config, "webhook_url", what="a Slack channel")

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None:
        self.check_config(config)
        context = f"*{alert.event}* · severity {alert.severity}"
        if alert.certificate_id:
            context += f" · certificate `{alert.certificate_id}`"
        payload: dict[str, Any] = {
            "text": f"{alert.subject}\n{alert.body}"[:3000],
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": alert.subject[:150], "emoji": True}},
                {"type": "section", "text": {"type": "mrkdwn", "text": alert.body[:3000] or alert.subject}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            ],
        }
        for key in ("channel", "username", "icon_emoji"):
            if config.get(key):
                payload[key] = str(config[key])
        _post(str(config["webhook_url"]), _dump(payload), {}, ok=(200,), timeout=_timeout(config))


class TeamsNotifier:
    """Microsoft Teams workflow webhook carrying an Adaptive Card (1.4). Config: webhook_url."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        require_url(config, "webhook_url", what="a Teams channel")

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None:
        self.check_config(config)
        facts = [{"title": "Event", "value": alert.event}, {"title": "Severity", "value": alert.severity}]
        if alert.certificate_id:
            facts.append({"title": "Certificate", "value": alert.certificate_id})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "size": "Medium",
                    "weight": "Bolder",
                    "text": alert.subject,
                    "wrap": True,
                    "color": "Attention" if alert.severity in ("error", "critical") else "Default",
                },
                {"type": "TextBlock", "text": alert.body or alert.subject, "wrap": True},
                {"type": "FactSet", "facts": facts},
            ],
        }
        payload = {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }
        _post(str(config["webhook_url"]), _dump(payload), {}, ok=(200, 202), timeout=_timeout(config))


class PagerDutyNotifier:
    """PagerDuty Events API v2 ``trigger`` events, folded by ``dedup_key``.
    Config: routing_key, url (default the public endpoint), severity (overrides the alert's)."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        require(config, "routing_key", what="a PagerDuty channel")
        require_url(config, "url", what="a PagerDuty channel", default=PAGERDUTY_URL)
        if config.get("severity") and config["severity"] not in ("info", "warning", "error", "critical"):
            raise InvalidInput("severity must be info, warning, error or critical", field="severity")

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None:
        self.check_config(config)
        payload: dict[str, Any] = {
            "routing_key": str(config["routing_key"]),
            "event_action": "trigger",
            "payload": {
                "summary": alert.subject[:1024],
                "source": "certctl",
                "severity": str(config.get("severity") or severity_of(alert)),
                "component": alert.certificate_id or "certctl",
                "group": "certificates",
                "class": alert.event,
                "custom_details": {"body": alert.body, "recipient": alert.recipient, **dict(alert.details)},
            },
        }
        if alert.occurred_at is not None:
            payload["payload"]["timestamp"] = alert.occurred_at.isoformat()
        if alert.dedup_key:
            payload["dedup_key"] = alert.dedup_key[:255]
        url = str(config.get("url") or PAGERDUTY_URL)
        _post(url, _dump(payload), {}, ok=(202,), timeout=_timeout(config))


class OpsGenieNotifier:
    """OpsGenie Alert API: ``POST /v2/alerts`` with ``Authorization: GenieKey``; ``alias``
    deduplicates. Config: api_key, url (default the US endpoint), priority (P1-P5), tags."""

    def check_config(self, config: Mapping[str, Any]) -> None:
        require(config, "api_key", what="an OpsGenie channel")
        require_url(config, "url", what="an OpsGenie channel", default=OPSGENIE_URL)
        if config.get("priority") and config["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
            raise InvalidInput("priority must be one of P1 to P5", field="priority")

    def send(self, alert: Alert, config: Mapping[str, Any]) -> None:
        self.check_config(config)
        payload: dict[str, Any] = {
            "message": alert.subject[:130],
            "description": alert.body[:15000],
            "priority": str(config.get("priority") or _OPSGENIE_PRIORITY.get(severity_of(alert), "P3")),
            "source": "certctl",
            "tags": list(config.get("tags") or ["certctl"]),
            "details": {k: str(v) for k, v in {"event": alert.event, **dict(alert.details)}.items()},
        }
        if alert.dedup_key:
            payload["alias"] = alert.dedup_key[:512]
        if alert.certificate_id:
            payload["entity"] = alert.certificate_id
        headers = {"Authorization": f"GenieKey {config['api_key']}"}
        _post(str(config.get("url") or OPSGENIE_URL), _dump(payload), headers, ok=(202,), timeout=_timeout(config))
