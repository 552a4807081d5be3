"""Alerts end to end on a frozen clock: thresholds once each, failures within a tick, isolated channels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from acme_server import free_port
from frozen_clock import Clock
from http_receiver import Receiver

from certctl_engine.domain import Actor, JobStatus, JobType, NotificationStatus, NotificationType
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput, NotFound
from certctl_engine.store.models import NotificationModel

ALICE = Actor("alice")
BOB = Actor("bob")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def alerting(store_url: str, store_env: dict[str, str], clock: Clock, receiver: Receiver) -> Iterator[Engine]:
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        engine.issuers.create("Local", "GenericCA", {"validity_days": 40}, actor=ALICE, id="iss-local")
        engine.issuers.create("Off", "GenericCA", {}, actor=ALICE, id="iss-off")
        engine.issuers.update("iss-off", enabled=False, actor=ALICE)
        engine.ownership.create_team("Payments", actor=ALICE, id="team-pay")
        engine.ownership.create_team("Web", actor=ALICE, id="team-web")
        engine.ownership.create_owner("Bob", "bob@example.com", "team-pay", actor=ALICE, id="o-bob")
        engine.notifications.create_channel(
            "ops hook", "Webhook", {"url": f"{receiver.url}/ops", "secret": "s"}, actor=ALICE, id="ch-ops"
        )
        yield engine


def _cert(engine: Engine, name: str, **extra: str) -> str:
    return engine.certificates.create(
        name=name, common_name=f"{name}.example.com", issuer_id=extra.pop("issuer", "iss-local"), actor=ALICE, **extra
    ).id


def _received(receiver: Receiver, path: str = "/ops") -> list[dict[str, object]]:
    return [json.loads(body) for p, _, body in receiver.requests if p == path]


def test_each_expiry_threshold_fires_exactly_once(alerting: Engine, clock: Clock, receiver: Receiver) -> None:
    cert_id = _cert(alerting, "api")
    version = alerting.issuance.issue(cert_id, actor=ALICE)  # 40 days
    expires = version.not_after
    seen: list[object] = []
    for days_left in (31, 29.5, 29, 20, 13.9, 13, 6.5, 1, -0.1, -3):
        clock.now = expires - timedelta(days=days_left)
        run = alerting.notifications.tick(actor=Actor.system())
        assert run.failed == 0
        seen = [(a["event"], a["details"].get("threshold_days")) for a in _received(receiver)]  # type: ignore[union-attr]
    assert seen == [
        ("ExpirationWarning", 30),
        ("ExpirationWarning", 14),
        ("ExpirationWarning", 7),
        ("CertificateExpired", 0),
    ]
    # A renewal is a new version: its thresholds fire again, once each.
    clock.now = expires - timedelta(days=5)
    alerting.issuance.renew(cert_id, actor=ALICE)
    clock.now += timedelta(days=11)  # 40-day certificate, 29 days left
    alerting.notifications.tick(actor=Actor.system())
    assert [a["event"] for a in _received(receiver)][-1] == "ExpirationWarning"
    assert len(_received(receiver)) == 5


def test_a_jump_past_several_thresholds_sends_only_the_most_urgent(
    alerting: Engine, clock: Clock, receiver: Receiver
) -> None:
    version = alerting.issuance.issue(_cert(alerting, "late"), actor=ALICE)
    clock.now = version.not_after - timedelta(days=5)  # the engine was down from 31 days to 5
    alerting.notifications.tick(actor=Actor.system())
    assert [a["details"]["threshold_days"] for a in _received(receiver)] == [7]  # type: ignore[index]


def test_a_failed_renewal_alerts_within_one_tick_and_only_once(
    alerting: Engine, clock: Clock, receiver: Receiver
) -> None:
    cert_id = alerting.certificates.create(
        name="pay", common_name="pay.example.com", issuer_id="iss-off", actor=ALICE, queue_issuance=False
    ).id
    job = alerting.jobs.create(JobType.ISSUANCE, cert_id, actor=ALICE, max_attempts=2)
    alerting.renewal.process_due()
    assert alerting.jobs.get(job.id).status is JobStatus.PENDING  # first attempt failed, retry scheduled
    alerting.notifications.tick(actor=Actor.system())
    alerts = _received(receiver)
    assert [a["event"] for a in alerts] == ["RenewalFailure"]
    assert "disabled" in str(alerts[0]["body"]) and alerts[0]["certificate_id"] == cert_id
    # The final failure of the same job, after its backoff, does not alert again.
    clock.now = alerting.jobs.get(job.id).scheduled_at + timedelta(seconds=1)
    alerting.renewal.process_due()
    assert alerting.jobs.get(job.id).status is JobStatus.FAILED
    alerting.notifications.tick(actor=Actor.system())
    assert len(_received(receiver)) == 1


def test_one_channel_down_does_not_stop_the_others_and_is_retried(
    alerting: Engine, clock: Clock, receiver: Receiver
) -> None:
    dead_port = free_port()
    alerting.notifications.create_channel(
        "dead hook", "Webhook", {"url": f"http://127.0.0.1:{dead_port}/x"}, actor=ALICE, id="ch-dead"
    )
    alerting.notifications.create_channel(
        "slack", "Slack", {"webhook_url": f"{receiver.url}/slack"}, actor=ALICE, id="ch-slack"
    )
    cert_id = _cert(alerting, "rev")
    alerting.issuance.issue(cert_id, actor=ALICE)
    alerting.revocation.revoke(cert_id, "keyCompromise", actor=ALICE)
    run = alerting.notifications.tick(actor=Actor.system())
    assert (run.queued, run.sent, run.retrying) == (3, 2, 1)
    assert len(_received(receiver, "/slack")) == 1 and _received(receiver)[0]["event"] == "Revocation"
    dead = NotificationModel.get(NotificationModel.channel_ref == "ch-dead")
    assert dead.status == "pending" and dead.attempts == 1 and "cannot reach" in dead.error
    # Still down and not yet due: nothing is sent; due again after the backoff: retried.
    assert alerting.notifications.tick(actor=Actor.system()).retrying == 0
    clock.now += timedelta(minutes=2)
    assert alerting.notifications.tick(actor=Actor.system()).retrying == 1
    assert NotificationModel.get_by_id(dead.id).attempts == 2
    # Nothing was sent twice to the working channels.
    assert len(_received(receiver, "/slack")) == 1 and len(_received(receiver)) == 1


def test_routing_by_team_and_owner_email(alerting: Engine, receiver: Receiver) -> None:
    alerting.notifications.create_channel(
        "payments slack", "Slack", {"webhook_url": f"{receiver.url}/pay"}, actor=ALICE, team_id="team-pay"
    )
    alerting.notifications.create_channel(
        "mail", "Email", {"smtp_host": "127.0.0.1", "from_address": "certctl@example.com", "to": "pki@example.com"},
        actor=ALICE, id="ch-mail",
    )  # fmt: skip
    pay = _cert(alerting, "pay", team_id="team-pay", owner_id="o-bob")
    web = _cert(alerting, "web", team_id="team-web")
    for cert_id in (pay, web):
        alerting.issuance.issue(cert_id, actor=ALICE)
        alerting.revocation.revoke(cert_id, actor=ALICE)
    alerting.notifications.collect_events()
    pay_alerts = [a["subject"] for a in _received(receiver, "/pay")]
    assert pay_alerts == []  # nothing is delivered by collect_events alone
    rows = {(r.channel_id, r.certificate_id): r for r in NotificationModel.select()}
    assert (NotificationModel.select().where(NotificationModel.channel == "Slack").count()) == 1
    assert rows[("ch-mail", pay)].recipient == "bob@example.com"  # the owner
    assert rows[("ch-mail", web)].recipient == "pki@example.com"  # no owner: the channel's default


def test_approval_wait_alerts_and_success_is_quiet_by_default(alerting: Engine, receiver: Receiver) -> None:
    alerting.profiles.create("Gated", actor=ALICE, id="prof-gated", requires_approval=True)
    cert_id = _cert(alerting, "gated", certificate_profile_id="prof-gated")
    job = alerting.jobs.active_for(cert_id, JobType.ISSUANCE)  # queued when the certificate was registered
    assert job is not None
    alerting.notifications.tick(actor=Actor.system())
    assert [a["event"] for a in _received(receiver)] == ["ApprovalRequired"]
    assert job.id in str(_received(receiver)[0]["body"])
    alerting.jobs.approve(job.id, actor=BOB)
    alerting.renewal.process_due()
    alerting.notifications.tick(actor=Actor.system())
    assert [a["event"] for a in _received(receiver)] == ["ApprovalRequired"]  # no success noise


def test_reading_marking_and_bad_input(alerting: Engine, receiver: Receiver) -> None:
    cert_id = _cert(alerting, "x")
    alerting.issuance.issue(cert_id, actor=ALICE)
    alerting.revocation.revoke(cert_id, actor=ALICE)
    alerting.notifications.tick(actor=Actor.system())
    page = alerting.notifications.list(limit=10)
    assert [n.type for n in page.items] == [NotificationType.REVOCATION]
    note = page.items[0]
    assert note.status is NotificationStatus.SENT and note.certificate_id == cert_id
    assert alerting.notifications.mark_read(note.id, actor=ALICE).status is NotificationStatus.READ
    assert alerting.notifications.mark_read(note.id, actor=ALICE).status is NotificationStatus.READ  # idempotent
    with pytest.raises(NotFound):
        alerting.notifications.mark_read("notif-nope", actor=ALICE)
    with pytest.raises(InvalidInput) as caught:
        alerting.notifications.create_channel("bad", "PagerDuty", {}, actor=ALICE)
    assert caught.value.field == "routing_key"
    with pytest.raises(InvalidInput):
        alerting.notifications.create_channel("bad", "Carrier pigeon", {}, actor=ALICE)
    secret = alerting.notifications.get_channel("ch-ops")
    assert secret.config["secret"] != "s" and "secret" in secret.secret_fields


def test_a_policy_violation_alerts_once(alerting: Engine, receiver: Receiver) -> None:
    alerting.policies.create_rule("Require an owner", "RequiredMetadata", {"fields": ["owner"]}, actor=ALICE)
    cert_id = _cert(alerting, "orphan")
    alerting.notifications.tick(actor=Actor.system())
    alerting.policies.scan(actor=ALICE)  # still violating: no new violation, no new alert
    alerting.notifications.tick(actor=Actor.system())
    alerts = _received(receiver)
    assert [a["event"] for a in alerts] == ["PolicyViolation"]
    assert alerts[0]["certificate_id"] == cert_id and "missing required metadata: owner" in str(alerts[0]["body"])
