"""The certificate inventory: managed certificates, their versions and the list behind every view.

Lists page by keyset (the last row's sort value and id) over indexes that start with the
filter column and end with ``(sort column, id)``, so a page costs the same at row 50 and
at row 99,950, and a 100,000-certificate inventory never needs to be read whole.

Sorting by issuer or owner orders by the referenced object's *name*, which no index of the
inventory holds. Issuers and owners number in the tens, so those lists walk them in name
order and page through each one's certificates on the ``(issuer|owner, expires_at, id)``
indexes; the cursor names the group and the last row in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import peewee

from certctl_engine.domain import (
    Actor,
    Certificate,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    CertificateVersion,
    JobType,
    KeyAlgorithm,
    Page,
    RevocationReason,
    SortOrder,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.jobs import JobService
from certctl_engine.services.new_version import NewVersion
from certctl_engine.services.paging import check_limit, decode_cursor, encode_cursor
from certctl_engine.services.policies import CertificateFacts, PolicyService
from certctl_engine.services.renewal_policies import RenewalPolicyService
from certctl_engine.services.validation import (
    is_storable_text,
    optional_id,
    parse_enum,
    require_tags,
    require_text,
)
from certctl_engine.store.bulk import insert_rows, update_rows
from certctl_engine.store.fields import UTCDateTimeField
from certctl_engine.store.migrations import search_text_for
from certctl_engine.store.models import (
    NOT_ISSUED,
    CertificateModel,
    CertificateSANModel,
    CertificateTargetModel,
    CertificateVersionModel,
    IssuerModel,
    OwnerModel,
    ProfileModel,
    RenewalPolicyModel,
    TargetModel,
    TeamModel,
)

_UNSET: Any = object()
MAX_SANS = 500
_TIME_FIELD = UTCDateTimeField()


def _stored_time(moment: datetime) -> datetime:
    """The timestamp as the store keeps it (microseconds, UTC), so a returned value equals a re-read."""
    value = _TIME_FIELD.python_value(_TIME_FIELD.db_value(moment))
    assert value is not None
    return value


def _first_stored_fingerprint(fingerprints: Sequence[str]) -> str | None:
    return (
        CertificateVersionModel.select(CertificateVersionModel.fingerprint_sha256)
        .where(CertificateVersionModel.fingerprint_sha256.in_(list(fingerprints)))
        .limit(1)
        .scalar()
    )


_SORT_COLUMNS: dict[CertificateSortField, peewee.Field] = {
    CertificateSortField.NAME: CertificateModel.name,
    CertificateSortField.COMMON_NAME: CertificateModel.common_name,
    CertificateSortField.EXPIRES_AT: CertificateModel.expires_at,
    CertificateSortField.CREATED_AT: CertificateModel.created_at,
    CertificateSortField.UPDATED_AT: CertificateModel.updated_at,
    CertificateSortField.STATUS: CertificateModel.status,
}
_TIME_SORTS = {CertificateSortField.EXPIRES_AT, CertificateSortField.CREATED_AT, CertificateSortField.UPDATED_AT}

# Sorts by the name of a referenced object: sort value -> (the certificate's reference, the id and name
# of the referenced table). Certificates without an owner come after every owner (first when descending).
_REFERENCE_SORTS: dict[str, tuple[peewee.ForeignKeyField, peewee.Field, peewee.Field]] = {
    "issuer": (CertificateModel.issuer, IssuerModel.id, IssuerModel.name),
    "owner": (CertificateModel.owner, OwnerModel.id, OwnerModel.name),
}
SORT_FIELDS: tuple[str, ...] = tuple(dict.fromkeys((*(f.value for f in CertificateSortField), *_REFERENCE_SORTS)))
"""Every sort the inventory list takes: the CertificateSortField values, then ``issuer`` and ``owner``."""

# A group of the reference sorts: (no reference?, name folded, name, id), in ascending order.
_GroupKey = tuple[bool, str, str, str]


def _group_key(ref_id: str | None, name: str) -> _GroupKey:
    if ref_id is None:
        return (True, "", "", "")
    return (False, name.casefold(), name, ref_id)


def _sort_value(sort: CertificateSortField | str) -> str:
    return sort.value if isinstance(sort, CertificateSortField) else str(sort)


def normalize_sans(values: Iterable[str]) -> tuple[str, ...]:
    """SANs trimmed, lower-cased (except URIs), de-duplicated, order kept; obviously bad ones refused."""
    result: list[str] = []
    for raw in values:
        if not isinstance(raw, str):
            raise InvalidInput(f"SAN {raw!r} must be text", field="sans")
        value = raw.strip()
        if not value:
            continue
        if len(value) > 512 or any(ch.isspace() or ord(ch) < 32 for ch in value) or not is_storable_text(value):
            raise InvalidInput(f"SAN '{value[:80]}' is not a valid name (too long or contains spaces)", field="sans")
        if "://" not in value:
            value = value.lower()
        if value not in result:
            result.append(value)
    if len(result) > MAX_SANS:
        raise InvalidInput(f"a certificate can have at most {MAX_SANS} SANs, got {len(result)}", field="sans")
    return tuple(result)


def _version(row: CertificateVersionModel) -> CertificateVersion:
    return CertificateVersion(
        id=row.id,
        certificate_id=row.certificate_id,
        serial_number=row.serial_number,
        fingerprint_sha256=row.fingerprint_sha256,
        subject_cn=row.subject_cn,
        issuer_dn=row.issuer_dn,
        not_before=row.not_before,
        not_after=row.not_after,
        key_algorithm=KeyAlgorithm(row.key_algorithm) if row.key_algorithm else None,
        key_size=row.key_size,
        pem_chain=row.pem_chain,
        csr_pem=row.csr_pem,
        has_private_key=row.private_key_encrypted is not None,
        created_at=row.created_at,
    )


class CertificateService:
    def __init__(
        self, ctx: ServiceContext, audit: AuditService, policies: RenewalPolicyService, jobs: JobService
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._policies = policies
        self._jobs = jobs
        self._rules: PolicyService | None = None

    # ------------------------------------------------------------------ reading
    def _row(self, certificate_id: str) -> CertificateModel:
        row = CertificateModel.get_or_none(CertificateModel.id == certificate_id)
        if row is None:
            raise NotFound("certificate", certificate_id, hint="list certificates (certctl certs list) to find its id")
        return row

    def _to_domain(
        self, rows: Sequence[CertificateModel], *, sans: dict[str, list[str]] | None = None
    ) -> list[Certificate]:
        ids = [r.id for r in rows]
        if sans is None:
            sans = {}
            if ids:
                for cert_id, value in (
                    CertificateSANModel.select(CertificateSANModel.certificate, CertificateSANModel.value)
                    .where(CertificateSANModel.certificate.in_(ids))
                    .tuples()
                ):
                    sans.setdefault(cert_id, []).append(value)
        targets: dict[str, list[str]] = {}
        if ids:
            for cert_id, target_id in (
                CertificateTargetModel.select(CertificateTargetModel.certificate, CertificateTargetModel.target)
                .where(CertificateTargetModel.certificate.in_(ids))
                .tuples()
            ):
                targets.setdefault(cert_id, []).append(target_id)
        return [
            Certificate(
                id=r.id,
                name=r.name,
                common_name=r.common_name,
                sans=tuple(sorted(sans.get(r.id, []))),
                environment=r.environment,
                owner_id=r.owner_id,
                team_id=r.team_id,
                issuer_id=r.issuer_id,
                renewal_policy_id=r.renewal_policy_id,
                certificate_profile_id=r.certificate_profile_id,
                status=CertificateStatus(r.status),
                expires_at=None if r.expires_at >= NOT_ISSUED else r.expires_at,
                tags=dict(r.tags or {}),
                target_ids=tuple(sorted(targets.get(r.id, []))),
                current_version_id=r.current_version_id,
                last_renewal_at=r.last_renewal_at,
                last_deployment_at=r.last_deployment_at,
                revoked_at=r.revoked_at,
                revocation_reason=RevocationReason(r.revocation_reason) if r.revocation_reason else None,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    def get(self, certificate_id: str) -> Certificate:
        return self._to_domain([self._row(certificate_id)])[0]

    def find_by_name(self, name: str) -> Certificate | None:
        row = CertificateModel.get_or_none(CertificateModel.name == name)
        return self._to_domain([row])[0] if row else None

    def _filtered(self, flt: CertificateFilter) -> peewee.ModelSelect:
        query = CertificateModel.select()
        now = self._ctx.now()
        if flt.statuses:
            query = query.where(CertificateModel.status.in_([s.value for s in flt.statuses]))
        elif not flt.include_archived:
            query = query.where(CertificateModel.status != CertificateStatus.ARCHIVED.value)
        for column, value in (
            (CertificateModel.issuer, flt.issuer_id),
            (CertificateModel.owner, flt.owner_id),
            (CertificateModel.team, flt.team_id),
            (CertificateModel.certificate_profile, flt.profile_id),
        ):
            if value:
                query = query.where(column == value)
        if flt.environment:
            query = query.where(CertificateModel.environment == flt.environment)
        if flt.expiring_within_days is not None:
            if flt.expiring_within_days < 0 or flt.expiring_within_days > 36_500:
                raise InvalidInput("expiring_within_days must be between 0 and 36500", field="expiring_within_days")
            query = query.where(
                (CertificateModel.expires_at >= now)
                & (CertificateModel.expires_at <= now + timedelta(days=flt.expiring_within_days))
            )
        if flt.expiring_after_days is not None:
            if flt.expiring_after_days < 0 or flt.expiring_after_days > 36_500:
                raise InvalidInput("expiring_after_days must be between 0 and 36500", field="expiring_after_days")
            query = query.where(CertificateModel.expires_at > now + timedelta(days=flt.expiring_after_days))
        if flt.query:
            # The text filter matches the name, CN and SANs, and the names of the owner, team and
            # issuer. Those are a few dozen rows: they are matched first, and certificates then by
            # their ids on the indexed columns, so no join slows the page. A leading "!" inverts it
            # (the dashboards' filter convention; no name or SAN starts with "!").
            text = flt.query.strip()
            inverted = text.startswith("!")
            needle = (text[1:] if inverted else text).strip().lower()
            if len(needle) > 255:
                raise InvalidInput("the search text is longer than 255 characters", field="query")
            if needle:
                escaped = needle.replace("!", "!!").replace("%", "!%").replace("_", "!_")
                pattern = peewee.Value(f"%{escaped}%")

                def like(column: peewee.Field) -> peewee.NodeList:
                    return peewee.NodeList(
                        (peewee.fn.LOWER(column), peewee.SQL("LIKE"), pattern, peewee.SQL("ESCAPE '!'"))
                    )

                matched: peewee.Expression = peewee.NodeList(
                    (CertificateModel.search_text, peewee.SQL("LIKE"), pattern, peewee.SQL("ESCAPE '!'"))
                )
                for model, column in (
                    (OwnerModel, CertificateModel.owner),
                    (TeamModel, CertificateModel.team),
                    (IssuerModel, CertificateModel.issuer),
                ):
                    ids = [row[0] for row in model.select(model.id).where(like(model.name)).tuples()]
                    if ids:
                        matched = matched | column.in_(ids)
                if inverted:
                    # NULL owner/team must count as "not matching", so each reference test is made explicit.
                    matched = peewee.fn.COALESCE(matched, False)
                    query = query.where(~matched)
                else:
                    query = query.where(matched)
        return query

    def list(
        self,
        flt: CertificateFilter | None = None,
        *,
        sort: CertificateSortField | str = CertificateSortField.EXPIRES_AT,
        order: SortOrder | str = SortOrder.ASC,
        limit: int | None = None,
        cursor: str | None = None,
        with_total: bool = False,
    ) -> Page[Certificate]:
        """One page of the inventory, filtered and sorted; pass ``next_cursor`` back for the next.

        ``sort`` is a ``CertificateSortField`` value, or ``issuer`` / ``owner`` to sort by the
        issuer's or owner's name (then expiry, then id): ``SORT_FIELDS`` lists them all.
        """
        flt = flt or CertificateFilter()
        sort_order = parse_enum(SortOrder, order, "sort order", field="order")
        size = check_limit(limit)
        if _sort_value(sort) in _REFERENCE_SORTS:
            base = self._filtered(flt)
            items, next_cursor = self._list_by_reference(base, _sort_value(sort), sort_order, size, cursor)
            return Page(tuple(self._to_domain(items)), next_cursor, base.count() if with_total else None)
        try:
            sort_field = parse_enum(CertificateSortField, sort, "sort field", field="sort")
        except InvalidInput:
            raise InvalidInput(
                f"unknown sort field '{_sort_value(sort)}'; expected one of: {', '.join(SORT_FIELDS)}", field="sort"
            ) from None
        column = _SORT_COLUMNS[sort_field]
        base = self._filtered(flt)
        query = base
        if cursor:
            position = decode_cursor("certs", cursor)
            if position.get("s") != sort_field.value or position.get("o") != sort_order.value:
                raise InvalidInput(
                    "this cursor belongs to a different sort; start again without a cursor", field="cursor"
                )
            value, last_id = position.get("v"), position.get("id")
            if not isinstance(value, str) or not isinstance(last_id, str):
                raise InvalidInput("invalid cursor for the certificate list", field="cursor")
            key = peewee.Tuple(column, CertificateModel.id)
            bound = peewee.Tuple(value, last_id)
            query = query.where(key > bound if sort_order is SortOrder.ASC else key < bound)
        if sort_order is SortOrder.ASC:
            query = query.order_by(column.asc(), CertificateModel.id.asc())
        else:
            query = query.order_by(column.desc(), CertificateModel.id.desc())
        rows = list(query.limit(size + 1))
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            raw_value = getattr(last, column.name)
            if sort_field in _TIME_SORTS:
                raw_value = UTCDateTimeField().db_value(raw_value)
            next_cursor = encode_cursor(
                "certs", {"s": sort_field.value, "o": sort_order.value, "v": raw_value, "id": last.id}
            )
        total = base.count() if with_total else None
        return Page(tuple(self._to_domain(rows)), next_cursor, total)

    def _list_by_reference(
        self, base: peewee.ModelSelect, sort: str, order: SortOrder, size: int, cursor: str | None
    ) -> tuple[list[CertificateModel], str | None]:
        """One page sorted by the referenced object's name, then expiry and id; see the module docstring."""
        reference, id_field, name_field = _REFERENCE_SORTS[sort]
        named = name_field.model.select(id_field, name_field).tuples()
        groups = sorted(_group_key(ref_id, name) for ref_id, name in named)
        if reference.null:
            groups.append(_group_key(None, ""))
        descending = order is SortOrder.DESC
        if descending:
            groups.reverse()
        start, bound = 0, None
        if cursor:
            position = decode_cursor("certs", cursor)
            if position.get("s") != sort or position.get("o") != order.value:
                raise InvalidInput(
                    "this cursor belongs to a different sort; start again without a cursor", field="cursor"
                )
            raw_group, value, last_id = position.get("g"), position.get("v"), position.get("id")
            if (
                not isinstance(raw_group, list)
                or len(raw_group) != 4
                or not isinstance(value, str)
                or not isinstance(last_id, str)
            ):
                raise InvalidInput("invalid cursor for the certificate list", field="cursor")
            group: _GroupKey = (bool(raw_group[0]), str(raw_group[1]), str(raw_group[2]), str(raw_group[3]))
            # The first group at or after the cursor's, in the walking order (it may have been renamed or deleted).
            start = next((i for i, g in enumerate(groups) if (g <= group if descending else g >= group)), len(groups))
            if start < len(groups) and groups[start] == group:
                bound = peewee.Tuple(value, last_id)
        key = peewee.Tuple(CertificateModel.expires_at, CertificateModel.id)
        ordering = (
            (CertificateModel.expires_at.desc(), CertificateModel.id.desc())
            if descending
            else (CertificateModel.expires_at.asc(), CertificateModel.id.asc())
        )
        rows: list[tuple[_GroupKey, CertificateModel]] = []
        for index in range(start, len(groups)):
            group_key = groups[index]
            query = base.where(reference.is_null() if group_key[0] else reference == group_key[3])
            if index == start and bound is not None:
                query = query.where(key < bound if descending else key > bound)
            rows.extend((group_key, row) for row in query.order_by(*ordering).limit(size + 1 - len(rows)))
            if len(rows) > size:
                break
        next_cursor = None
        if len(rows) > size:
            last_group, last = rows[size - 1]
            next_cursor = encode_cursor(
                "certs",
                {
                    "s": sort,
                    "o": order.value,
                    "g": list(last_group),
                    "v": UTCDateTimeField().db_value(last.expires_at),
                    "id": last.id,
                },
            )
        return [row for _group, row in rows[:size]], next_cursor

    def count(self, flt: CertificateFilter | None = None) -> int:
        return self._filtered(flt or CertificateFilter()).count()

    # ------------------------------------------------------------------ writing
    def _check_references(
        self,
        *,
        issuer_id: str | None,
        owner_id: str | None,
        team_id: str | None,
        profile_id: str | None,
        policy_id: str | None,
        target_ids: Sequence[str] | None,
    ) -> None:
        for model, value, resource in (
            (IssuerModel, issuer_id, "issuer"),
            (OwnerModel, owner_id, "owner"),
            (TeamModel, team_id, "team"),
            (ProfileModel, profile_id, "profile"),
            (RenewalPolicyModel, policy_id, "renewal policy"),
        ):
            if value and not model.get_or_none(model.id == value):
                raise NotFound(resource, value, hint=f"list {resource.replace(' ', '_')}s to see the ids")
        for target_id in target_ids or ():
            if not TargetModel.get_or_none(TargetModel.id == target_id):
                raise NotFound("target", target_id, hint="list targets to see the ids")

    def create(
        self,
        *,
        name: str,
        common_name: str,
        issuer_id: str,
        actor: Actor,
        sans: Sequence[str] = (),
        renewal_policy_id: str | None = None,
        owner_id: str | None = None,
        team_id: str | None = None,
        certificate_profile_id: str | None = None,
        environment: str = "",
        tags: dict[str, str] | None = None,
        target_ids: Sequence[str] = (),
        id: str | None = None,
        status: CertificateStatus = CertificateStatus.PENDING,
        queue_issuance: bool = True,
    ) -> Certificate:
        """Register a managed certificate; it has no version until it is issued or imported.

        A new Pending certificate gets an Issuance job in the same transaction (waiting for
        approval when its profile asks for one), so the job processor issues it with nobody
        asking. ``queue_issuance=False`` is for callers that issue or import it at once.
        """
        name = require_text(name, "name")
        common_name = require_text(common_name, "common_name", max_length=253)
        san_values = normalize_sans(sans)
        environment = require_text(environment, "environment", max_length=64, allow_empty=True)
        tag_values = require_tags(tags)
        cert_id = optional_id(id, "id") or new_id("cert")
        issuer_id = require_text(issuer_id, "issuer_id", max_length=64)
        targets = list(dict.fromkeys(target_ids))
        status = parse_enum(CertificateStatus, status, "status")
        with self._ctx.store.write():
            if renewal_policy_id is None:
                renewal_policy_id = self._policies.ensure_default(actor=actor).id
            owner = OwnerModel.get_or_none(OwnerModel.id == owner_id) if owner_id else None
            if owner is not None and team_id is None:
                team_id = owner.team_id
            self._check_references(
                issuer_id=issuer_id,
                owner_id=owner_id,
                team_id=team_id,
                profile_id=certificate_profile_id,
                policy_id=renewal_policy_id,
                target_ids=targets,
            )
            if CertificateModel.get_or_none(CertificateModel.name == name):
                raise Conflict(f"a certificate named '{name}' already exists; names are unique")
            if CertificateModel.get_or_none(CertificateModel.id == cert_id):
                raise Conflict(f"a certificate with id '{cert_id}' already exists")
            findings = (
                self._rules.enforce(
                    CertificateFacts(
                        id=cert_id,
                        common_name=common_name,
                        sans=san_values,
                        issuer_id=issuer_id,
                        owner_id=owner_id,
                        team_id=team_id,
                        environment=environment,
                        tags=tag_values,
                        renewal_policy_id=renewal_policy_id,
                        profile_id=certificate_profile_id,
                    )
                )
                if self._rules is not None
                else []
            )
            now = self._ctx.now()
            CertificateModel.create(
                id=cert_id,
                name=name,
                common_name=common_name,
                environment=environment,
                owner=owner_id,
                team=team_id,
                issuer=issuer_id,
                renewal_policy=renewal_policy_id,
                certificate_profile=certificate_profile_id,
                status=status.value,
                expires_at=NOT_ISSUED,
                tags=tag_values,
                search_text=search_text_for(name, common_name, san_values),
                created_at=now,
                updated_at=now,
            )
            if san_values:
                CertificateSANModel.insert_many([{"certificate": cert_id, "value": v} for v in san_values]).execute()
            if targets:
                CertificateTargetModel.insert_many([{"certificate": cert_id, "target": t} for t in targets]).execute()
            self._audit.record(
                actor,
                "certificate_created",
                "certificate",
                cert_id,
                {"name": name, "common_name": common_name, "sans": list(san_values), "issuer_id": issuer_id},
            )
            if findings and self._rules is not None:
                self._rules.record(cert_id, findings, actor=actor)
            if queue_issuance and status is CertificateStatus.PENDING:
                self._jobs.create(JobType.ISSUANCE, cert_id, actor=actor)
        return self.get(cert_id)

    def use_rules(self, rules: PolicyService) -> None:
        """Hold registrations to the policy rules: Critical ones refuse, the others are recorded."""
        self._rules = rules

    def update(
        self,
        certificate_id: str,
        *,
        actor: Actor,
        name: str | None = None,
        environment: str | None = None,
        owner_id: str | None = _UNSET,
        team_id: str | None = _UNSET,
        certificate_profile_id: str | None = _UNSET,
        renewal_policy_id: str | None = None,
        tags: dict[str, str] | None = None,
        target_ids: Sequence[str] | None = None,
    ) -> Certificate:
        """Change the management fields; names, owners and targets, never the issued material."""
        with self._ctx.store.write():
            row = self._row(certificate_id)
            if row.status == CertificateStatus.ARCHIVED.value:
                raise Conflict(f"certificate '{certificate_id}' is archived; archived certificates are read-only")
            changed: dict[str, Any] = {}
            if name is not None:
                name = require_text(name, "name")
                if CertificateModel.get_or_none((CertificateModel.name == name) & (CertificateModel.id != row.id)):
                    raise Conflict(f"a certificate named '{name}' already exists; names are unique")
                changed["name"] = name
            if environment is not None:
                changed["environment"] = require_text(environment, "environment", max_length=64, allow_empty=True)
            if tags is not None:
                changed["tags"] = require_tags(tags)
            refs = {
                "owner": None if owner_id is _UNSET else (optional_id(owner_id, "owner_id") or ""),
                "team": None if team_id is _UNSET else (optional_id(team_id, "team_id") or ""),
                "certificate_profile": None
                if certificate_profile_id is _UNSET
                else (optional_id(certificate_profile_id, "certificate_profile_id") or ""),
                "renewal_policy": optional_id(renewal_policy_id, "renewal_policy_id"),
            }
            targets = list(dict.fromkeys(target_ids)) if target_ids is not None else None
            self._check_references(
                issuer_id=None,
                owner_id=refs["owner"] or None,
                team_id=refs["team"] or None,
                profile_id=refs["certificate_profile"] or None,
                policy_id=refs["renewal_policy"],
                target_ids=targets,
            )
            for attr, value in refs.items():
                if value is not None:
                    changed[attr] = value or None
            for attr, value in changed.items():
                setattr(row, attr, value)
            if "name" in changed:
                sans = [s.value for s in CertificateSANModel.select().where(CertificateSANModel.certificate == row.id)]
                row.search_text = search_text_for(row.name, row.common_name, sans)
            if targets is not None:
                CertificateTargetModel.delete().where(CertificateTargetModel.certificate == row.id).execute()
                if targets:
                    CertificateTargetModel.insert_many(
                        [{"certificate": row.id, "target": t} for t in targets]
                    ).execute()
                changed["target_ids"] = targets
            if not changed:
                raise InvalidInput("nothing to update: give at least one field")
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(
                actor,
                "certificate_updated",
                "certificate",
                row.id,
                {k: (v if isinstance(v, (str, list, dict)) or v is None else str(v)) for k, v in changed.items()},
            )
        return self.get(certificate_id)

    def archive(self, certificate_id: str, *, actor: Actor) -> Certificate:
        """Soft-delete: the certificate leaves the active inventory but keeps its history."""
        with self._ctx.store.write():
            row = self._row(certificate_id)
            if row.status == CertificateStatus.ARCHIVED.value:
                raise Conflict(f"certificate '{certificate_id}' is already archived")
            previous = row.status
            row.status = CertificateStatus.ARCHIVED.value
            row.updated_at = self._ctx.now()
            row.save()
            self._audit.record(actor, "certificate_archived", "certificate", row.id, {"previous_status": previous})
        return self.get(certificate_id)

    # ------------------------------------------------------------------ versions
    def list_versions(self, certificate_id: str) -> list[CertificateVersion]:
        self._row(certificate_id)
        rows = (
            CertificateVersionModel.select()
            .where(CertificateVersionModel.certificate == certificate_id)
            .order_by(CertificateVersionModel.created_at.desc(), CertificateVersionModel.id.desc())
        )
        return [_version(r) for r in rows]

    def get_version(self, version_id: str) -> CertificateVersion:
        row = CertificateVersionModel.get_or_none(CertificateVersionModel.id == version_id)
        if row is None:
            raise NotFound("certificate version", version_id)
        return _version(row)

    def current_version(self, certificate_id: str) -> CertificateVersion | None:
        row = self._row(certificate_id)
        if not row.current_version_id:
            return None
        return self.get_version(row.current_version_id)

    def add_version(
        self,
        certificate_id: str,
        pem_chain: str,
        *,
        actor: Actor,
        private_key_pem: bytes | None = None,
        csr_pem: str = "",
        created_at: datetime | None = None,
        action: str = "certificate_version_added",
        status: CertificateStatus = CertificateStatus.ACTIVE,
    ) -> CertificateVersion:
        """Store an issued certificate (leaf first, then its chain) as the current version.

        The leaf is parsed here, so the indexed fields always agree with the PEM; a server-held
        private key is sealed with the secret box before it touches the store.
        """
        new = NewVersion.from_pem(certificate_id, pem_chain, csr_pem=csr_pem, private_key_pem=private_key_pem)
        with self._ctx.store.write():
            if not CertificateModel.select(CertificateModel.id).where(CertificateModel.id == certificate_id).exists():
                raise NotFound("certificate", certificate_id, hint="list certificates to find its id")
            return self.store_versions([new], actor=actor, action=action, status=status, created_at=created_at)[0]

    def store_versions(
        self,
        versions: Sequence[NewVersion],
        *,
        actor: Actor,
        action: str,
        status: CertificateStatus = CertificateStatus.ACTIVE,
        created_at: datetime | None = None,
        renewal: bool = False,
    ) -> list[CertificateVersion]:
        """Store each as its certificate's current version, with one audit event each.

        Runs inside the caller's ``store.write()`` (so a job can finish in the same
        transaction); the rows go in with one INSERT per batch. Private keys are sealed here,
        bound to their version id. A fingerprint already stored fails the whole call.
        """
        if not self._ctx.store.in_write:
            raise RuntimeError("versions are stored inside the caller's write transaction")
        now = created_at or self._ctx.now()
        seal = self._ctx.secrets.encrypt
        rows: list[dict[str, Any]] = []
        for new in versions:
            version_id = new_id("certver")
            rows.append(
                {
                    "id": version_id,
                    "certificate": new.certificate_id,
                    "serial_number": new.serial_hex,
                    "fingerprint_sha256": new.fingerprint_sha256,
                    "subject_cn": new.subject_cn,
                    "issuer_dn": new.issuer_dn,
                    "not_before": new.not_before,
                    "not_after": new.not_after,
                    "key_algorithm": new.key_algorithm.value if new.key_algorithm else None,
                    "key_size": new.key_size,
                    "pem_chain": new.pem_chain,
                    "csr_pem": new.csr_pem,
                    "private_key_encrypted": seal(new.private_key_pem, f"certver:{version_id}")
                    if new.private_key_pem
                    else None,
                    "created_at": now,
                }
            )
        database = self._ctx.store.database
        try:
            with database.atomic():  # a savepoint: a clash leaves the outer work intact
                insert_rows(database, CertificateVersionModel, rows)
        except peewee.IntegrityError:
            clash = _first_stored_fingerprint([r["fingerprint_sha256"] for r in rows])
            raise Conflict(
                f"certificate {(clash or '?')[:16]}… is already stored (as a version of some certificate)"
            ) from None
        changes: dict[str, Any] = {"status": status.value, "updated_at": now}
        if renewal:
            changes["last_renewal_at"] = now
        update_rows(
            database,
            CertificateModel,
            "id",
            [
                {"id": r["certificate"], "current_version_id": r["id"], "expires_at": r["not_after"], **changes}
                for r in rows
            ],
        )
        self._audit.record_many(
            actor,
            action,
            "certificate",
            [
                (
                    row["certificate"],
                    {
                        "version_id": row["id"],
                        "serial_number": row["serial_number"],
                        "fingerprint_sha256": row["fingerprint_sha256"],
                        "not_after": row["not_after"].isoformat(),
                    },
                )
                for row in rows
            ],
            timestamp=now,
        )
        return [
            CertificateVersion(
                id=row["id"],
                certificate_id=row["certificate"],
                serial_number=row["serial_number"],
                fingerprint_sha256=row["fingerprint_sha256"],
                subject_cn=row["subject_cn"],
                issuer_dn=row["issuer_dn"],
                not_before=row["not_before"],
                not_after=row["not_after"],
                key_algorithm=new.key_algorithm,
                key_size=row["key_size"],
                pem_chain=row["pem_chain"],
                csr_pem=row["csr_pem"],
                has_private_key=row["private_key_encrypted"] is not None,
                created_at=_stored_time(now),
            )
            for row, new in zip(rows, versions, strict=True)
        ]

    def private_key_pem(self, version_id: str) -> bytes | None:
        """The server-held private key of a version, for export and deployment only."""
        row = CertificateVersionModel.get_or_none(CertificateVersionModel.id == version_id)
        if row is None:
            raise NotFound("certificate version", version_id)
        if row.private_key_encrypted is None:
            return None
        return self._ctx.secrets.decrypt(row.private_key_encrypted, f"certver:{version_id}")
