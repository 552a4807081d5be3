"""Notification channels against real peers on loopback: an SMTP server (aiosmtpd, STARTTLS and
AUTH) and an HTTP receiver that checks each payload against the service's documented format."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from acme_server import free_port
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from http_receiver import Receiver

from certctl_engine.connectors.notifiers import Alert, sign
from certctl_engine.connectors.notifiers.email import EmailNotifier
from certctl_engine.connectors.notifiers.http_channels import (
    OpsGenieNotifier,
    PagerDutyNotifier,
    SlackNotifier,
    TeamsNotifier,
    WebhookNotifier,
)
from certctl_engine.errors import InvalidInput, NotifyError
from certctl_engine.pki import build_leaf, certificate_to_pem, create_root_ca, generate_private_key, private_key_to_pem

ALERT = Alert(
    event="ExpirationWarning",
    subject="api.example.com expires in 7 days",
    body="Certificate api.example.com (cert-api) expires on 2026-12-01. Renewal is scheduled.",
    severity="error",
    certificate_id="cert-api",
    recipient="alice@example.com",
    dedup_key="expiry:certver-1:7",
    occurred_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
    details={"threshold_days": 7},
)


# --------------------------------------------------------------------------- SMTP


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"certctl", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    directory = tmp_path_factory.mktemp("smtp-tls")
    ca = create_root_ca()
    key = generate_private_key()
    now = datetime.now(UTC)
    leaf = build_leaf(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        public_key=key.public_key(),
        common_name="localhost",
        sans=["localhost", "127.0.0.1"],
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=1),
    )
    (directory / "ca.pem").write_text(ca.certificate_pem)
    (directory / "cert.pem").write_text(certificate_to_pem(leaf))
    (directory / "key.pem").write_bytes(private_key_to_pem(key))
    return directory / "ca.pem", directory / "cert.pem", directory / "key.pem"


@pytest.fixture
def smtp(tls_files: tuple[Path, Path, Path]) -> Iterator[tuple[_Inbox, int, str]]:
    ca, cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield inbox, port, str(ca)
    controller.stop()


def _smtp_config(port: int, ca: str, **extra: Any) -> dict[str, Any]:
    return {
        "timeout_seconds": 5,
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "from_address": "certctl@example.com",
        "username": "certctl",
        "password": "s3cret",
        "ca_bundle": ca,
        **extra,
    }


def test_email_arrives_over_starttls_with_recipient_subject_and_body(smtp: tuple[_Inbox, int, str]) -> None:
    inbox, port, ca = smtp
    EmailNotifier().send(ALERT, _smtp_config(port, ca))
    assert len(inbox.messages) == 1
    sender, recipients, raw = inbox.messages[0]
    message = message_from_bytes(raw)
    assert sender == "certctl@example.com" and recipients == ["alice@example.com"]
    assert message["Subject"] == ALERT.subject
    assert message["X-Certctl-Event"] == "ExpirationWarning"
    assert "expires on 2026-12-01" in message.get_payload(decode=True).decode()


def test_email_failures_say_what_went_wrong(smtp: tuple[_Inbox, int, str]) -> None:
    inbox, port, ca = smtp
    with pytest.raises(NotifyError, match="refused the login"):
        EmailNotifier().send(ALERT, _smtp_config(port, ca, password="wrong"))
    with pytest.raises(NotifyError, match="TLS"):
        EmailNotifier().send(ALERT, _smtp_config(port, "", ca_bundle=None))  # the private CA is not trusted
    with pytest.raises(NotifyError, match="cannot send"):
        EmailNotifier().send(ALERT, _smtp_config(free_port(), ca))
    with pytest.raises(NotifyError, match="no recipient"):
        EmailNotifier().send(Alert(event="x", subject="s", body="b"), _smtp_config(port, ca))
    with pytest.raises(InvalidInput) as caught:
        EmailNotifier().check_config({"smtp_host": "h", "from_address": "a@b", "tls": "maybe"})
    assert caught.value.field == "tls"
    assert inbox.messages == []


# --------------------------------------------------------------------------- HTTP receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_webhook_is_signed_with_hmac_sha256_over_the_exact_body(receiver: Receiver) -> None:
    WebhookNotifier().send(ALERT, {"url": f"{receiver.url}/hook", "secret": "topsecret", "headers": {"X-Env": "prod"}})
    path, headers, body = receiver.requests[-1]
    assert path == "/hook" and headers["x-env"] == "prod"
    assert headers["user-agent"] == "certctl-notifier/1.0"
    assert headers["x-signature-algorithm"] == "sha256"
    expected = hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-signature"], expected) and sign(body, "topsecret") == expected
    payload = json.loads(body)
    assert payload["event"] == "ExpirationWarning" and payload["certificate_id"] == "cert-api"
    assert payload["details"] == {"threshold_days": 7}


def test_slack_blocks(receiver: Receiver) -> None:
    SlackNotifier().send(ALERT, {"webhook_url": receiver.url, "channel": "#pki", "username": "certctl"})
    payload = receiver.last_json()
    assert payload["channel"] == "#pki" and payload["username"] == "certctl"
    assert payload["text"].startswith(ALERT.subject)  # the notification fallback
    header, section, context = payload["blocks"]
    assert header["type"] == "header" and header["text"] == {"type": "plain_text", "text": ALERT.subject, "emoji": True}
    assert (
        section["type"] == "section" and section["text"]["type"] == "mrkdwn" and "2026-12-01" in section["text"]["text"]
    )
    assert context["type"] == "context" and "cert-api" in context["elements"][0]["text"]


def test_teams_adaptive_card(receiver: Receiver) -> None:
    TeamsNotifier().send(ALERT, {"webhook_url": receiver.url})
    payload = receiver.last_json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == ALERT.subject and card["body"][0]["color"] == "Attention"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts == {"Event": "ExpirationWarning", "Severity": "error", "Certificate": "cert-api"}


def test_pagerduty_events_v2(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 202, b'{"status":"success","message":"Event processed"}'
    PagerDutyNotifier().send(ALERT, {"routing_key": "R" * 32, "url": f"{receiver.url}/v2/enqueue"})
    path, headers, _ = receiver.requests[-1]
    payload = receiver.last_json()
    assert path == "/v2/enqueue" and headers["content-type"] == "application/json"
    assert payload["routing_key"] == "R" * 32 and payload["event_action"] == "trigger"
    assert payload["dedup_key"] == "expiry:certver-1:7"
    event = payload["payload"]
    assert event["summary"] == ALERT.subject and event["source"] == "certctl"
    assert event["severity"] in {"critical", "error", "warning", "info"} and event["severity"] == "error"
    assert event["timestamp"] == "2026-11-24T12:00:00+00:00"
    assert event["custom_details"]["recipient"] == "alice@example.com"


def test_opsgenie_alert(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 202, b'{"result":"Request will be processed","requestId":"r1"}'
    OpsGenieNotifier().send(ALERT, {"api_key": "key-123", "url": f"{receiver.url}/v2/alerts", "tags": ["pki"]})
    path, headers, _ = receiver.requests[-1]
    payload = receiver.last_json()
    assert path == "/v2/alerts" and headers["authorization"] == "GenieKey key-123"
    assert payload["message"] == ALERT.subject and len(payload["message"]) <= 130
    assert payload["alias"] == "expiry:certver-1:7" and payload["priority"] == "P2"
    assert payload["tags"] == ["pki"] and payload["entity"] == "cert-api" and payload["source"] == "certctl"
    assert all(isinstance(v, str) for v in payload["details"].values())


def test_a_refusal_keeps_the_services_answer(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 400, b'{"status":"invalid event","errors":["routing_key is invalid"]}'
    with pytest.raises(NotifyError, match="routing_key is invalid"):
        PagerDutyNotifier().send(ALERT, {"routing_key": "bad", "url": receiver.url})
    with pytest.raises(NotifyError, match="cannot reach"):
        SlackNotifier().send(ALERT, {"webhook_url": f"http://127.0.0.1:{free_port()}/x"})
    with pytest.raises(InvalidInput) as caught:
        OpsGenieNotifier().check_config({"api_key": "k", "priority": "P9"})
    assert caught.value.field == "priority"
