"""Alerts: what happened, who should know, and getting it to them.

Events come from two places. What the engine *did* is read from the audit trail (every
change is audited in its own transaction): a renewal or deployment that failed, a
revocation, a job waiting for approval, an agent gone offline, a policy violation. The
notifier keeps its place in the trail in the store, and moves it in the same transaction
that queues the alerts, so each event is turned into alerts exactly once, whichever engine
process runs the loop. What *time* does (a certificate reaching 30, 14, 7 or 0 days before
expiry) is found by one indexed query per tick; each threshold fires once per certificate
version.

Each alert becomes one row per channel that should hear it (global channels, the
certificate's team's channels, e-mail to its owner), keyed so the same fact is never
queued twice. Delivery happens outside any transaction; a channel that fails is retried
with backoff and skipped for the rest of the tick, so one dead channel never holds up the
others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from certctl_engine.connectors.notifiers import Alert, notifier_for
from certctl_engine.domain import (
    DEFAULT_ALERT_THRESHOLDS_DAYS,
    Actor,
    CertificateStatus,
    JobStatus,
    JobType,
    Notification,
    NotificationChannel,
    NotificationChannelInfo,
    NotificationStatus,
    NotificationType,
    Page,
)
from certctl_engine.errors import CertctlError, Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services import secret_config
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.paging import check_limit, decode_cursor, encode_cursor
from certctl_engine.services.validation import optional_id, parse_enum, require_mapping, require_text
from certctl_engine.store.bulk import insert_rows
from certctl_engine.store.models import (
    NOT_ISSUED,
    AuditEventModel,
    CertificateModel,
    JobModel,
    NotificationChannelModel,
    NotificationModel,
    OwnerModel,
    RenewalPolicyModel,
    StoreMetaModel,
    TeamModel,
)

log = logging.getLogger(__name__)

CURSOR_KEY = "notifications_audit_cursor"
DIGEST_KEY = "notifications_last_digest"
MAX_ATTEMPTS = 10
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
"""Delivery retries double from a minute up to an hour apart: ten attempts span about four hours, so
an alert outlives a chat service's or mail relay's outage of an afternoon."""
DIGEST_EVERY = timedelta(days=7)
# Success events only go to channels that ask for them by name; everything else goes everywhere.
QUIET_BY_DEFAULT = frozenset({NotificationType.RENEWAL_SUCCESS, NotificationType.DEPLOYMENT_SUCCESS})
_SEVERITY: dict[NotificationType, str] = {
    NotificationType.RENEWAL_FAILURE: "error",
    NotificationType.DEPLOYMENT_FAILURE: "error",
    NotificationType.CERTIFICATE_EXPIRED: "critical",
    NotificationType.REVOCATION: "warning",
    NotificationType.AGENT_OFFLINE: "warning",
    NotificationType.POLICY_VIOLATION: "warning",
    NotificationType.APPROVAL_REQUIRED: "info",
    NotificationType.RENEWAL_SUCCESS: "info",
    NotificationType.DEPLOYMENT_SUCCESS: "info",
    NotificationType.DIGEST: "info",
}
_LIVE = (
    CertificateStatus.ACTIVE.value,
    CertificateStatus.EXPIRING.value,
    CertificateStatus.EXPIRED.value,
    CertificateStatus.RENEWAL_IN_PROGRESS.value,
    CertificateStatus.FAILED.value,
)


@dataclass(frozen=True, slots=True)
class NotificationRun:
    """What one notification tick did."""

    queued: int
    sent: int
    failed: int
    retrying: int


@dataclass(frozen=True, slots=True)
class _Event:
    """An alert before routing: which certificate (for owner and team) and what to say."""

    type: NotificationType
    subject: str
    body: str
    dedup_key: str
    certificate_id: str | None = None
    details: Mapping[str, Any] | None = None


def _channel_info(row: NotificationChannelModel, sealed: secret_config.SealedConfig) -> NotificationChannelInfo:
    config, secret_fields = sealed.view(row.id, row.config, row.secrets_encrypted)
    return NotificationChannelInfo(
        id=row.id,
        name=row.name,
        type=NotificationChannel(row.type),
        config=config,
        secret_fields=secret_fields,
        team_id=row.team_id,
        events=tuple(NotificationType(e) for e in row.events or ()),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _notification(row: NotificationModel) -> Notification:
    return Notification(
        id=row.id,
        type=NotificationType(row.type),
        channel=NotificationChannel(row.channel),
        channel_id=row.channel_id,
        certificate_id=row.certificate_id,
        recipient=row.recipient,
        subject=row.subject,
        message=row.message,
        severity=row.severity,
        status=NotificationStatus(row.status),
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


class NotificationService:
    def __init__(self, ctx: ServiceContext, audit: AuditService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._sealed = secret_config.SealedConfig(ctx.secrets, "notification_channel")

    # ------------------------------------------------------------------ channels
    def _channel_row(self, channel_id: str) -> NotificationChannelModel:
        row = NotificationChannelModel.get_or_none(NotificationChannelModel.id == channel_id)
        if row is None:
            raise NotFound("notification channel", channel_id, hint="list notification channels to see the ids")
        return row

    def list_channels(self) -> list[NotificationChannelInfo]:
        rows = NotificationChannelModel.select().order_by(NotificationChannelModel.name)
        return [_channel_info(r, self._sealed) for r in rows]

    def get_channel(self, channel_id: str) -> NotificationChannelInfo:
        return _channel_info(self._channel_row(channel_id), self._sealed)

    def create_channel(
        self,
        name: str,
        type: NotificationChannel | str,
        config: dict[str, Any],
        *,
        actor: Actor,
        team_id: str | None = None,
        events: Sequence[NotificationType | str] = (),
        enabled: bool = True,
        id: str | None = None,
    ) -> NotificationChannelInfo:
        """A channel: its kind's configuration is checked now (each refusal names the field)."""
        name = require_text(name, "name")
        kind = parse_enum(NotificationChannel, type, "channel type", field="type")
        config = require_mapping(config, "config")
        notifier_for(kind).check_config(config)
        wanted = [parse_enum(NotificationType, e, "notification type", field="events").value for e in events]
        channel_id = optional_id(id, "id") or new_id("notif")
        plain, sealed, secret_fields = self._sealed.seal_new(channel_id, config)
        with self._ctx.store.write():
            if NotificationChannelModel.get_or_none(
                (NotificationChannelModel.name == name) | (NotificationChannelModel.id == channel_id)
            ):
                raise Conflict(f"a notification channel named '{name}' (or with id '{channel_id}') already exists")
            if team_id and not TeamModel.get_or_none(TeamModel.id == team_id):
                raise NotFound("team", team_id, hint="list teams to see the ids")
            if _meta(CURSOR_KEY) is None:  # alerts start with the first channel, not with the store's history
                _set_meta(CURSOR_KEY, str(_latest_sequence()))
            now = self._ctx.now()
            row = NotificationChannelModel.create(
                id=channel_id,
                name=name,
                type=kind.value,
                config=plain,
                secrets_encrypted=sealed,
                team=team_id,
                events=wanted,
                enabled=bool(enabled),
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "notification_channel_created",
                "notification_channel",
                channel_id,
                {"name": name, "type": kind.value, "team_id": team_id, "secret_fields": secret_fields},
            )
        return _channel_info(row, self._sealed)

    def update_channel(
        self,
        channel_id: str,
        *,
        actor: Actor,
        config: dict[str, Any] | None = None,
        enabled: bool | None = None,
        events: Sequence[NotificationType | str] | None = None,
    ) -> NotificationChannelInfo:
        with self._ctx.store.write():
            row = self._channel_row(channel_id)
            changed: list[str] = []
            if config is not None:
                merged_plain, merged_sealed, _ = self._sealed.seal_new(
                    row.id, require_mapping(config, "config"), row.secrets_encrypted or ""
                )
                full = self._sealed.full(row.id, merged_plain, merged_sealed)
                notifier_for(NotificationChannel(row.type)).check_config(full)
                row.config, row.secrets_encrypted = merged_plain, merged_sealed
                changed.append("config")
            if enabled is not None:
                row.enabled = bool(enabled)
                changed.append("enabled")
            if events is not None:
                row.events = [
                    parse_enum(NotificationType, e, "notification type", field="events").value for e in events
                ]
                changed.append("events")
            if not changed:
                raise InvalidInput("nothing to update: give config, enabled or events")
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(
                actor, "notification_channel_updated", "notification_channel", row.id, {"fields": changed}
            )
        return _channel_info(row, self._sealed)

    def delete_channel(self, channel_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            row = self._channel_row(channel_id)
            NotificationChannelModel.delete().where(NotificationChannelModel.id == row.id).execute()
            self._audit.record(
                actor, "notification_channel_deleted", "notification_channel", row.id, {"name": row.name}
            )

    def test_channel(self, channel_id: str, *, actor: Actor) -> None:
        """Send a test alert through the channel now; raises NotifyError with the channel's answer."""
        row = self._channel_row(channel_id)
        config = self._sealed.full(row.id, row.config, row.secrets_encrypted)
        notifier_for(NotificationChannel(row.type)).send(
            Alert(
                event="Test",
                subject=f"certctl test alert for channel '{row.name}'",
                body=f"This is a test sent by {actor.name}. If you can read it, the channel works.",
                severity="info",
                recipient=str(config.get("to") or ""),
                occurred_at=self._ctx.now(),
            ),
            config,
        )
        self._audit.append(actor, "notification_channel_tested", "notification_channel", row.id, {"ok": True})

    # ------------------------------------------------------------------ reading
    def list(
        self,
        *,
        status: NotificationStatus | str | None = None,
        certificate_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Notification]:
        """Newest first, paged by an opaque cursor."""
        size = check_limit(limit)
        query = NotificationModel.select()
        if status is not None:
            wanted = parse_enum(NotificationStatus, status, "notification status", field="status")
            query = query.where(NotificationModel.status == wanted.value)
        if certificate_id:
            query = query.where(NotificationModel.certificate == certificate_id)
        if cursor:
            position = decode_cursor("notifications", cursor)
            at = datetime.fromisoformat(position["t"])
            query = query.where(
                (NotificationModel.created_at < at)
                | ((NotificationModel.created_at == at) & (NotificationModel.id < position["i"]))
            )
        rows = list(query.order_by(NotificationModel.created_at.desc(), NotificationModel.id.desc()).limit(size + 1))
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = (
            encode_cursor("notifications", {"t": rows[-1].created_at.isoformat(), "i": rows[-1].id})
            if more and rows
            else None
        )
        return Page(tuple(_notification(r) for r in rows), next_cursor)

    def get(self, notification_id: str) -> Notification:
        row = NotificationModel.get_or_none(NotificationModel.id == notification_id)
        if row is None:
            raise NotFound("notification", notification_id, hint="list notifications to see the ids")
        return _notification(row)

    def mark_read(self, notification_id: str, *, actor: Actor) -> Notification:
        """Idempotent: marking a read notification again changes nothing."""
        with self._ctx.store.write():
            row = NotificationModel.get_or_none(NotificationModel.id == notification_id)
            if row is None:
                raise NotFound("notification", notification_id, hint="list notifications to see the ids")
            if row.status != NotificationStatus.READ.value:
                previous = row.status
                row.status = NotificationStatus.READ.value
                row.save()
                self._audit.record(actor, "notification_read", "notification", row.id, {"previous_status": previous})
        return _notification(row)

    # ------------------------------------------------------------------ the tick
    def tick(self, *, actor: Actor) -> NotificationRun:
        """What the scheduler's notification loop runs: turn events into alerts, then deliver."""
        queued = self.collect_events() + self.check_expiry()
        if self._digest_due():
            queued += self.queue_digest()
        sent, failed, retrying = self.deliver()
        return NotificationRun(queued, sent, failed, retrying)

    def collect_events(self, *, batch: int = 1000) -> int:
        """Read the audit trail from the stored cursor on and queue the alerts its events call for."""
        queued = 0
        while True:
            with self._ctx.store.write():
                stored = _meta(CURSOR_KEY)
                if stored is None:  # no channel was ever configured: nothing to tell, start at the present
                    _set_meta(CURSOR_KEY, str(_latest_sequence()))
                    return queued
                cursor = int(stored)
                rows = list(
                    AuditEventModel.select()
                    .where(AuditEventModel.sequence > cursor)
                    .order_by(AuditEventModel.sequence)
                    .limit(batch)
                )
                if not rows:
                    return queued
                events = [e for row in rows for e in self._events_of(row)]
                queued += self._queue(events)
                _set_meta(CURSOR_KEY, str(rows[-1].sequence))
            if len(rows) < batch:
                return queued

    def _events_of(self, row: AuditEventModel) -> list[_Event]:
        details = json.loads(row.details or "{}")
        action = row.action
        if action in ("job_attempt_failed", "job_failed", "renewal_job_failed"):
            job = JobModel.get_or_none(JobModel.id == row.resource_id)
            if job is None:
                return []
            error = details.get("error") or job.last_error or "no error recorded"
            if job.type == JobType.DEPLOYMENT.value:
                kind, what = NotificationType.DEPLOYMENT_FAILURE, "Deployment"
            else:
                kind, what = (
                    NotificationType.RENEWAL_FAILURE,
                    "Renewal" if job.type == JobType.RENEWAL.value else "Issuance",
                )
            final = action != "job_attempt_failed"
            name = _certificate_name(job.certificate_id)
            return [
                _Event(
                    kind,
                    f"{what} of {name} failed"
                    + ("" if final else f" (attempt {details.get('attempt', '?')}, retrying)"),
                    f"{what} job {job.id} for certificate {name} ({job.certificate_id}) failed:\n\n{error}\n\n"
                    + ("No attempts are left; retry it with 'certctl jobs retry'." if final else "certctl retries it."),
                    # Deployments: one alert per job, at its first failure. Issuance and renewal: one per
                    # certificate version, however many jobs an outage of the CA fails one after another.
                    dedup_key=f"job-failed:{job.id}"
                    if job.type == JobType.DEPLOYMENT.value
                    else f"renewal-failed:{job.certificate_id}:{_current_version(job.certificate_id)}",
                    certificate_id=job.certificate_id,
                    details={"job_id": job.id, "attempts": job.attempts, "error": error},
                )
            ]
        if action == "certificate_revoked":
            name = _certificate_name(row.resource_id)
            return [
                _Event(
                    NotificationType.REVOCATION,
                    f"{name} was revoked ({details.get('reason', 'unspecified')})",
                    f"Certificate {name} ({row.resource_id}), serial {details.get('serial_number')}, was revoked by "
                    f"{row.actor} for {details.get('reason', 'unspecified')}.",
                    dedup_key=f"revoked:{row.resource_id}:{details.get('serial_number')}",
                    certificate_id=row.resource_id,
                    details=details,
                )
            ]
        if (
            action in ("job_created", "renewal_job_created")
            and details.get("status") == JobStatus.AWAITING_APPROVAL.value
        ):
            cert_id = details.get("certificate_id")
            name = _certificate_name(cert_id)
            return [
                _Event(
                    NotificationType.APPROVAL_REQUIRED,
                    f"{details.get('type', 'A')} job for {name} waits for approval",
                    f"Job {row.resource_id} ({details.get('type')}) for {name} waits for approval: "
                    f"{details.get('reason') or 'approval required'}. Approve it with 'certctl jobs approve "
                    f"{row.resource_id}' (someone other than {row.actor}).",
                    dedup_key=f"approval:{row.resource_id}",
                    certificate_id=cert_id,
                )
            ]
        if action in ("agent_offline", "agent_marked_offline") or (
            action == "agent_status_changed" and details.get("to") == "Offline"
        ):
            return [
                _Event(
                    NotificationType.AGENT_OFFLINE,
                    f"agent {details.get('name') or row.resource_id} is offline",
                    f"Agent {row.resource_id} stopped sending heartbeats (last at {details.get('last_heartbeat_at')}). "
                    "Its deployments and CSRs wait until it returns.",
                    dedup_key=f"agent-offline:{row.resource_id}:{row.sequence}",
                )
            ]
        if action == "policy_violation_opened":
            return [
                _Event(
                    NotificationType.POLICY_VIOLATION,
                    f"policy violation: {details.get('rule') or details.get('message', '')}"[:200],
                    str(details.get("message") or details),
                    dedup_key=f"violation:{row.resource_id}",
                    certificate_id=details.get("certificate_id"),
                )
            ]
        if action == "renewal_job_completed":
            job = JobModel.get_or_none(JobModel.id == row.resource_id)
            if job is not None:
                name = _certificate_name(job.certificate_id)
                return [
                    _Event(
                        NotificationType.RENEWAL_SUCCESS,
                        f"{name} was renewed",
                        f"Certificate {name} ({job.certificate_id}) has a new version.",
                        dedup_key=f"renewed:{job.id}",
                        certificate_id=job.certificate_id,
                    )
                ]
        return []

    def check_expiry(self) -> int:
        """Queue the expiry thresholds crossed since the last look: the most urgent one per version.

        A certificate that went from 31 to 6 days while the engine was down gets the 7-day alert,
        not 30, 14 and 7 at once; it gets the 0-day one when it expires.
        """
        now = self._ctx.now()
        policies = {
            r.id: tuple(sorted(set(r.alert_thresholds_days or DEFAULT_ALERT_THRESHOLDS_DAYS), reverse=True))
            for r in RenewalPolicyModel.select(RenewalPolicyModel.id, RenewalPolicyModel.alert_thresholds_days)
        }
        horizon = max([max(t) for t in policies.values() if t] + [max(DEFAULT_ALERT_THRESHOLDS_DAYS)])
        rows = (
            CertificateModel.select(
                CertificateModel.id,
                CertificateModel.name,
                CertificateModel.common_name,
                CertificateModel.expires_at,
                CertificateModel.current_version_id,
                CertificateModel.renewal_policy,
            )
            .where(
                (CertificateModel.expires_at <= now + timedelta(days=horizon))
                & (CertificateModel.expires_at != NOT_ISSUED)
                & CertificateModel.status.in_(_LIVE)
                & CertificateModel.current_version_id.is_null(False)
            )
            .tuples()
        )
        events: list[_Event] = []
        for cert_id, name, cn, expires_at, version_id, policy_id in rows:
            thresholds = policies.get(policy_id) or DEFAULT_ALERT_THRESHOLDS_DAYS
            left = expires_at - now
            crossed = [t for t in thresholds if left <= timedelta(days=t)]
            if not crossed:
                continue
            threshold = min(crossed)
            expired = left <= timedelta(0)
            when = f"{expires_at:%Y-%m-%d %H:%M} UTC"
            events.append(
                _Event(
                    NotificationType.CERTIFICATE_EXPIRED
                    if expired and threshold == 0
                    else NotificationType.EXPIRATION_WARNING,
                    f"{name} ({cn}) " + ("has expired" if expired else f"expires in {max(left.days, 0)} days"),
                    f"Certificate {name} ({cert_id}, {cn}) "
                    + (f"expired on {when}." if expired else f"expires on {when}, within {threshold} days.")
                    + " Renew it with 'certctl certs renew "
                    + cert_id
                    + "' or check its renewal policy.",
                    dedup_key=f"expiry:{version_id}:{threshold}",
                    certificate_id=cert_id,
                    details={
                        "threshold_days": threshold,
                        "expires_at": expires_at.isoformat(),
                        "version_id": version_id,
                    },
                )
            )
        if not events:
            return 0
        with self._ctx.store.write():
            return self._queue(events)

    def _digest_due(self) -> bool:
        last = _meta(DIGEST_KEY)
        now = self._ctx.now()
        if last is None:
            with self._ctx.store.write():
                _set_meta(DIGEST_KEY, now.isoformat())
            return False
        return now - datetime.fromisoformat(last) >= DIGEST_EVERY

    def queue_digest(self) -> int:
        """The weekly summary for e-mail channels: what expires in two weeks, what failed in one."""
        now = self._ctx.now()
        expiring = list(
            CertificateModel.select(CertificateModel.name, CertificateModel.expires_at)
            .where(
                (CertificateModel.expires_at <= now + timedelta(days=14))
                & (CertificateModel.expires_at != NOT_ISSUED)
                & CertificateModel.status.in_(_LIVE)
            )
            .order_by(CertificateModel.expires_at)
            .tuples()
        )
        failed = list(
            JobModel.select(JobModel.id, JobModel.type, JobModel.last_error)
            .where((JobModel.status == JobStatus.FAILED.value) & (JobModel.updated_at >= now - timedelta(days=7)))
            .tuples()
        )
        lines = [f"certctl weekly digest, {now:%Y-%m-%d}", ""]
        lines.append(f"Expiring within 14 days or expired: {len(expiring)}")
        lines.extend(f"  {exp:%Y-%m-%d}  {name}" for name, exp in expiring[:50])
        lines.append("")
        lines.append(f"Jobs failed in the last 7 days: {len(failed)}")
        lines.extend(f"  {job_id} ({kind}): {(error or '')[:120]}" for job_id, kind, error in failed[:50])
        event = _Event(
            NotificationType.DIGEST,
            f"certctl weekly digest: {len(expiring)} expiring, {len(failed)} failed jobs",
            "\n".join(lines),
            dedup_key=f"digest:{now:%G-W%V}",
        )
        with self._ctx.store.write():
            _set_meta(DIGEST_KEY, now.isoformat())
            return self._queue([event], only=(NotificationChannel.EMAIL,))

    # ------------------------------------------------------------------ routing
    def _queue(self, events: Iterable[_Event], *, only: tuple[NotificationChannel, ...] | None = None) -> int:
        """One pending row per (event, channel that should hear it); repeats of a dedup key are dropped."""
        events = list(events)
        if not events:
            return 0
        channels = [c for c in NotificationChannelModel.select().where(NotificationChannelModel.enabled == True)]  # noqa: E712
        if only is not None:
            channels = [c for c in channels if NotificationChannel(c.type) in only]
        if not channels:
            return 0
        cert_ids = {e.certificate_id for e in events if e.certificate_id}
        owners: dict[str, tuple[str | None, str]] = {}
        if cert_ids:
            for cert_id, team_id, email in (
                CertificateModel.select(CertificateModel.id, CertificateModel.team, OwnerModel.email)
                .join(OwnerModel, peewee.JOIN.LEFT_OUTER, on=(CertificateModel.owner == OwnerModel.id))
                .where(CertificateModel.id.in_(list(cert_ids)))
                .tuples()
            ):
                owners[cert_id] = (team_id, email or "")
        keys = {e.dedup_key for e in events}
        seen = {
            (key, channel)
            for key, channel in NotificationModel.select(NotificationModel.dedup_key, NotificationModel.channel_ref)
            .where(NotificationModel.dedup_key.in_(list(keys)))
            .tuples()
        }
        now = self._ctx.now()
        rows: list[dict[str, Any]] = []
        for event in events:
            team_id, email = owners.get(event.certificate_id or "", (None, ""))
            for channel in channels:
                wanted = set(channel.events or ())
                if wanted and event.type.value not in wanted:
                    continue
                if not wanted and event.type in QUIET_BY_DEFAULT:
                    continue
                if channel.team_id and channel.team_id != team_id:
                    continue
                if (event.dedup_key, channel.id) in seen:
                    continue
                seen.add((event.dedup_key, channel.id))
                kind = NotificationChannel(channel.type)
                recipient = (
                    email
                    if kind is NotificationChannel.EMAIL and email
                    else str((channel.config or {}).get("to") or "")
                )
                rows.append(
                    {
                        "id": new_id("notif"),
                        "type": event.type.value,
                        "certificate": event.certificate_id,
                        "channel": kind.value,
                        "channel_ref": channel.id,
                        "recipient": recipient,
                        "subject": event.subject,
                        "message": event.body,
                        "severity": _SEVERITY.get(event.type, "warning"),
                        "status": NotificationStatus.PENDING.value,
                        "dedup_key": event.dedup_key,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "details": dict(event.details or {}),
                    }
                )
        insert_rows(self._ctx.store.database, NotificationModel, rows)
        return len(rows)

    # ------------------------------------------------------------------ delivery
    def deliver(self, *, limit: int = 1000) -> tuple[int, int, int]:
        """Send what is due; (sent, failed for good, waiting for a retry)."""
        now = self._ctx.now()
        rows = list(
            NotificationModel.select()
            .where(
                (NotificationModel.status == NotificationStatus.PENDING.value)
                & NotificationModel.channel_ref.is_null(False)
                & ((NotificationModel.next_attempt_at <= now) | NotificationModel.next_attempt_at.is_null())
            )
            .order_by(NotificationModel.created_at)
            .limit(limit)
        )
        configs: dict[str, tuple[NotificationChannel, dict[str, Any]]] = {}
        down: dict[str, str] = {}
        sent = failed = retrying = 0
        for row in rows:
            channel_id = row.channel_id
            if channel_id in down:
                continue  # this channel failed earlier in this tick: its other alerts wait for the retry
            if channel_id not in configs:
                channel = NotificationChannelModel.get_or_none(NotificationChannelModel.id == channel_id)
                if channel is None:
                    continue
                configs[channel_id] = (
                    NotificationChannel(channel.type),
                    self._sealed.full(channel.id, channel.config, channel.secrets_encrypted),
                )
            kind, config = configs[channel_id]
            alert = Alert(
                event=row.type,
                subject=row.subject or row.message[:120],
                body=row.message,
                severity=row.severity,
                certificate_id=row.certificate_id,
                recipient=row.recipient,
                dedup_key=row.dedup_key or row.id,
                occurred_at=row.created_at,
                details=row.details or {},
            )
            try:
                notifier_for(kind).send(alert, config)
            except CertctlError as exc:
                down[channel_id] = exc.message
                gave_up = self._record_failure(row, exc.message)
                failed += gave_up
                retrying += not gave_up
                continue
            except Exception as exc:  # a notifier bug must not stop the others; keep the error verbatim
                log.exception("notification %s crashed its notifier", row.id)
                down[channel_id] = f"{type(exc).__name__}: {exc}"
                gave_up = self._record_failure(row, down[channel_id])
                failed += gave_up
                retrying += not gave_up
                continue
            with self._ctx.store.write():
                NotificationModel.update(
                    status=NotificationStatus.SENT.value,
                    sent_at=self._ctx.now(),
                    attempts=NotificationModel.attempts + 1,
                    error=None,
                ).where(NotificationModel.id == row.id).execute()
            sent += 1
        return sent, failed, retrying

    def _record_failure(self, row: NotificationModel, error: str) -> bool:
        """Back off, or give up after MAX_ATTEMPTS; True when the notification is failed for good."""
        attempts = row.attempts + 1
        give_up = attempts >= MAX_ATTEMPTS
        with self._ctx.store.write():
            NotificationModel.update(
                attempts=attempts,
                error=error,
                status=NotificationStatus.FAILED.value if give_up else NotificationStatus.PENDING.value,
                next_attempt_at=None
                if give_up
                else self._ctx.now() + min(RETRY_BASE * (2 ** (attempts - 1)), RETRY_MAX),
            ).where(NotificationModel.id == row.id).execute()
        return give_up


def _current_version(certificate_id: str) -> str:
    version = (
        CertificateModel.select(CertificateModel.current_version_id)
        .where(CertificateModel.id == certificate_id)
        .scalar()
    )
    return str(version or "none")


def _certificate_name(certificate_id: str | None) -> str:
    if not certificate_id:
        return "a certificate"
    name = CertificateModel.select(CertificateModel.name).where(CertificateModel.id == certificate_id).scalar()
    return str(name or certificate_id)


def _latest_sequence() -> int:
    value = AuditEventModel.select(peewee.fn.MAX(AuditEventModel.sequence)).scalar()
    return int(value or 0)


def _meta(key: str) -> str | None:
    row = StoreMetaModel.get_or_none(StoreMetaModel.key == key)
    return row.value if row else None


def _set_meta(key: str, value: str) -> None:
    StoreMetaModel.insert(key=key, value=value).on_conflict(
        conflict_target=[StoreMetaModel.key], update={StoreMetaModel.value: value}
    ).execute()
