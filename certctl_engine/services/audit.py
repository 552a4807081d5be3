"""The audit trail: append-only, hash-chained, written in the same transaction as the change.

Each event's hash covers its own fields and the previous event's hash, so editing or
deleting any row breaks the chain from that row on, and ``verify`` names the first event
that no longer fits. The sequence number doubles as the change feed faces poll.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from certctl_engine.domain import Actor, ActorType, AuditEvent, AuditVerification, Page
from certctl_engine.errors import InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.paging import check_limit, decode_cursor, encode_cursor
from certctl_engine.store.bulk import insert_rows
from certctl_engine.store.fields import UTCDateTimeField, dump_json, to_utc
from certctl_engine.store.models import AuditEventModel

GENESIS_HASH = "0" * 64
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_STAMP_FIELD = UTCDateTimeField()


def event_hash(
    *,
    sequence: int,
    previous_hash: str,
    actor: str,
    actor_type: str,
    action: str,
    resource_type: str,
    resource_id: str,
    details: str,
    timestamp: datetime,
) -> str:
    """SHA-256 over the canonical JSON of an event's fields and its predecessor's hash."""
    body = dump_json(
        [
            sequence,
            previous_hash,
            actor,
            actor_type,
            action,
            resource_type,
            resource_id,
            details,
            to_utc(timestamp).strftime(_TIMESTAMP_FORMAT),
        ]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _to_domain(row: AuditEventModel) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        sequence=row.sequence,
        actor=row.actor,
        actor_type=ActorType(row.actor_type),
        action=row.action,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        details=json.loads(row.details),
        timestamp=row.timestamp,
        previous_hash=row.previous_hash,
        hash=row.hash,
    )


class AuditService:
    """Records and reads audit events and verifies the chain."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def record(
        self,
        actor: Actor,
        action: str,
        resource_type: str,
        resource_id: str,
        details: Mapping[str, Any] | None = None,
        *,
        timestamp: datetime | None = None,
    ) -> AuditEvent:
        """Append one event. Must run inside ``store.write()`` with the change it records."""
        return self.record_many(actor, action, resource_type, [(resource_id, details)], timestamp=timestamp)[0]

    def record_many(
        self,
        actor: Actor,
        action: str,
        resource_type: str,
        events: Sequence[tuple[str, Mapping[str, Any] | None]],
        *,
        timestamp: datetime | None = None,
    ) -> list[AuditEvent]:
        """Append one event per ``(resource_id, details)``, chained in order, in one insert.

        For bulk changes (a batch of issuances): the chain head is read once and carried from
        event to event. Must run inside ``store.write()`` with the changes it records.
        """
        if not self._ctx.store.in_write:
            raise RuntimeError("audit events are recorded inside the write transaction of their change")
        last = (
            AuditEventModel.select(AuditEventModel.sequence, AuditEventModel.hash)
            .order_by(AuditEventModel.sequence.desc())
            .limit(1)
            .first()
        )
        sequence = last.sequence if last else 0
        previous = last.hash if last else GENESIS_HASH
        # Round-trip the timestamp through the column type so the hash sees what is stored.
        stamp = _STAMP_FIELD.python_value(_STAMP_FIELD.db_value(timestamp or self._ctx.now()))
        assert stamp is not None
        actor_type = str(actor.type)
        rows: list[dict[str, Any]] = []
        for resource_id, details in events:
            sequence += 1
            details_text = dump_json(dict(details or {}))
            digest = event_hash(
                sequence=sequence,
                previous_hash=previous,
                actor=actor.name,
                actor_type=actor_type,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                details=details_text,
                timestamp=stamp,
            )
            rows.append(
                {
                    "id": new_id("audit"),
                    "sequence": sequence,
                    "actor": actor.name,
                    "actor_type": actor_type,
                    "action": action,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "details": details_text,
                    "timestamp": stamp,
                    "previous_hash": previous,
                    "hash": digest,
                }
            )
            previous = digest
        insert_rows(self._ctx.store.database, AuditEventModel, rows)
        return [
            AuditEvent(
                id=row["id"],
                sequence=row["sequence"],
                actor=actor.name,
                actor_type=actor.type,
                action=action,
                resource_type=resource_type,
                resource_id=row["resource_id"],
                details=json.loads(row["details"]),
                timestamp=stamp,
                previous_hash=row["previous_hash"],
                hash=row["hash"],
            )
            for row in rows
        ]

    def append(
        self,
        actor: Actor,
        action: str,
        resource_type: str,
        resource_id: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Record an event that accompanies no stored change (a read through a face, an export)."""
        with self._ctx.store.write():
            return self.record(actor, action, resource_type, resource_id, details)

    def latest_sequence(self) -> int:
        """The newest sequence number; faces poll it to know when to refresh."""
        value = (
            AuditEventModel.select(AuditEventModel.sequence).order_by(AuditEventModel.sequence.desc()).limit(1).scalar()
        )
        return int(value or 0)

    def get(self, event_id: str) -> AuditEvent:
        row = AuditEventModel.get_or_none(AuditEventModel.id == event_id)
        if row is None:
            raise NotFound("audit event", event_id, hint="list_audit_events shows recent ids")
        return _to_domain(row)

    def list(
        self,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditEvent]:
        """Events newest first, filtered, one page at a time."""
        size = check_limit(limit)
        if since and until and since > until:
            raise InvalidInput("'since' is later than 'until'", field="since")
        query = AuditEventModel.select()
        if resource_type:
            query = query.where(AuditEventModel.resource_type == resource_type)
        if resource_id:
            query = query.where(AuditEventModel.resource_id == resource_id)
        if actor:
            query = query.where(AuditEventModel.actor == actor)
        if action:
            query = query.where(AuditEventModel.action == action)
        if since:
            query = query.where(AuditEventModel.timestamp >= since)
        if until:
            query = query.where(AuditEventModel.timestamp <= until)
        if cursor:
            position = decode_cursor("audit", cursor)
            before = position.get("before")
            if not isinstance(before, int):
                raise InvalidInput("invalid cursor for the audit list", field="cursor")
            query = query.where(AuditEventModel.sequence < before)
        rows = list(query.order_by(AuditEventModel.sequence.desc()).limit(size + 1))
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = encode_cursor("audit", {"before": rows[-1].sequence}) if more and rows else None
        return Page(tuple(_to_domain(r) for r in rows), next_cursor)

    def verify(self, *, batch_size: int = 5000) -> AuditVerification:
        """Walk the whole chain in sequence order and name the first event that does not fit."""
        expected_sequence = 1
        previous = GENESIS_HASH
        checked = 0
        last_sequence = 0
        while True:
            rows = list(
                AuditEventModel.select()
                .where(AuditEventModel.sequence > last_sequence)
                .order_by(AuditEventModel.sequence)
                .limit(batch_size)
            )
            if not rows:
                return AuditVerification(ok=True, events_checked=checked)
            for row in rows:
                problem = None
                if row.sequence != expected_sequence:
                    problem = (
                        f"sequence jumps from {expected_sequence - 1} to {row.sequence}: "
                        f"{row.sequence - expected_sequence} event(s) deleted"
                    )
                elif row.previous_hash != previous:
                    problem = "its previous_hash does not match the hash of the event before it"
                else:
                    recomputed = event_hash(
                        sequence=row.sequence,
                        previous_hash=row.previous_hash,
                        actor=row.actor,
                        actor_type=row.actor_type,
                        action=row.action,
                        resource_type=row.resource_type,
                        resource_id=row.resource_id,
                        details=row.details,
                        timestamp=row.timestamp,
                    )
                    if recomputed != row.hash:
                        problem = "its contents were changed after it was written (hash mismatch)"
                if problem:
                    return AuditVerification(
                        ok=False,
                        events_checked=checked,
                        first_broken_sequence=row.sequence,
                        first_broken_event_id=row.id,
                        problem=problem,
                    )
                checked += 1
                expected_sequence = row.sequence + 1
                previous = row.hash
                last_sequence = row.sequence
