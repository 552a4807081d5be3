"""Notification channels: e-mail, webhook, Slack, Teams, PagerDuty, OpsGenie."""

from __future__ import annotations

from certctl_engine.connectors.notifiers.base import Alert, Notifier
from certctl_engine.connectors.notifiers.email import EmailNotifier
from certctl_engine.connectors.notifiers.http_channels import (
    OpsGenieNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    TeamsNotifier,
    WebhookNotifier,
    sign,
)
from certctl_engine.domain import NotificationChannel

__all__ = ["Alert", "Notifier", "notifier_for", "sign"]

_NOTIFIERS: dict[NotificationChannel, Notifier] = {
    NotificationChannel.EMAIL: EmailNotifier(),
    NotificationChannel.WEBHOOK: WebhookNotifier(),
    NotificationChannel.SLACK: SlackNotifier(),
    NotificationChannel.TEAMS: TeamsNotifier(),
    NotificationChannel.PAGERDUTY: PagerDutyNotifier(),
    NotificationChannel.OPSGENIE: OpsGenieNotifier(),
}


def notifier_for(channel: NotificationChannel) -> Notifier:
    return _NOTIFIERS[channel]
