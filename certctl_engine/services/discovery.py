"""Discovery: certificates nobody registered, found on disks (by agents) and on the network.

Every report, from an agent's filesystem scan or the engine's network scan, is stored as
one scan row first and then its certificates, de-duplicated by (fingerprint, agent,
place): seeing the same certificate again only moves ``last_seen_at``. Triage follows the
inventory: Unmanaged until someone claims it (it becomes a managed certificate, its
history starting with the found version) or dismisses it (kept, but quiet).

Network scans refuse, unless a target explicitly allows them, the ranges where a probe
could reach something it must not (loopback, link-local and its cloud metadata services,
multicast, other reserved space), and refuse ranges larger than 4,096 addresses unless
their size is confirmed.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import peewee
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certctl_engine.connectors.discovery.tls_probe import Endpoint, ProbeResult, probe_many
from certctl_engine.domain import (
    Actor,
    DiscoveredCertificate,
    DiscoveryScanResult,
    DiscoveryStatus,
    NetworkScanTarget,
    Page,
)
from certctl_engine.errors import Conflict, InvalidInput, NotFound
from certctl_engine.ids import new_id
from certctl_engine.pki import certificate_to_pem, inspect_certificate, is_valid_dns_name
from certctl_engine.services.audit import AuditService
from certctl_engine.services.context import ServiceContext
from certctl_engine.services.exchange import ExchangeService
from certctl_engine.services.paging import check_limit, decode_cursor, encode_cursor
from certctl_engine.services.validation import optional_id, parse_enum, require_text
from certctl_engine.store.bulk import insert_rows
from certctl_engine.store.models import (
    AgentModel,
    CertificateModel,
    CertificateTargetModel,
    CertificateVersionModel,
    DiscoveredCertificateModel,
    DiscoveryScanModel,
    NetworkScanTargetModel,
)

SERVER_SCANNER_ID = "server-scanner"
SERVER_SCANNER_NAME = "Network Scanner (Server-Side)"
MAX_UNCONFIRMED_ADDRESSES = 4096
MAX_ADDRESSES = 65_536
MAX_ENTRIES_PER_REPORT = 10_000


def _discovered(row: DiscoveredCertificateModel) -> DiscoveredCertificate:
    return DiscoveredCertificate(
        id=row.id,
        fingerprint_sha256=row.fingerprint_sha256,
        common_name=row.common_name,
        sans=tuple(row.sans or ()),
        serial_number=row.serial_number,
        issuer_dn=row.issuer_dn,
        subject_dn=row.subject_dn,
        not_before=row.not_before,
        not_after=row.not_after,
        key_algorithm=row.key_algorithm,
        key_size=row.key_size,
        is_ca=bool(row.is_ca),
        source_path=row.source_path,
        source_format=row.source_format,
        agent_id=row.agent_id,
        managed_certificate_id=row.managed_certificate_id,
        status=DiscoveryStatus(row.status),
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        dismissed_at=row.dismissed_at,
    )


def _target(row: NetworkScanTargetModel) -> NetworkScanTarget:
    return NetworkScanTarget(
        id=row.id,
        name=row.name,
        cidrs=tuple(row.cidrs or ()),
        ports=tuple(row.ports or ()),
        sni_names=tuple(row.sni_names or ()),
        allow_reserved=bool(row.allow_reserved),
        enabled=bool(row.enabled),
        scan_interval_hours=row.scan_interval_hours,
        timeout_ms=row.timeout_ms,
        last_scan_at=row.last_scan_at,
        last_scan_duration_ms=row.last_scan_duration_ms,
        last_scan_certs_found=row.last_scan_certs_found,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _refusal(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why a range may not be probed without an explicit allow, or None."""
    checks = (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local (cloud metadata services live there)"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    )
    for attribute, label in checks:
        if getattr(network.network_address, attribute) or getattr(network.broadcast_address, attribute):
            return label
    return None


def plan_endpoints(
    cidrs: Sequence[str], ports: Sequence[int], sni_names: Sequence[str], *, allow_reserved: bool, confirm_size: bool
) -> list[Endpoint]:
    """The addresses by ports (by SNI names) a target covers, after the SSRF guard and the size limits."""
    if not cidrs:
        raise InvalidInput("a scan target needs at least one CIDR range", field="cidrs")
    if not ports or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports):
        raise InvalidInput("ports must be a non-empty list of TCP port numbers", field="ports")
    networks = []
    for text in cidrs:
        try:
            network = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            raise InvalidInput(f"'{text}' is not an IP address or CIDR range", field="cidrs") from None
        reason = _refusal(network)
        if reason and not allow_reserved:
            raise InvalidInput(
                f"{network} is {reason}; probing it is refused unless the target sets allow_reserved",
                field="cidrs",
            )
        networks.append(network)
    total = sum(n.num_addresses for n in networks)
    if total > MAX_ADDRESSES:
        raise InvalidInput(f"the ranges cover {total:,} addresses; at most {MAX_ADDRESSES:,} (a /16)", field="cidrs")
    if total > MAX_UNCONFIRMED_ADDRESSES and not confirm_size:
        raise InvalidInput(
            f"the ranges cover {total:,} addresses; confirm the size (confirm_size) to scan more than "
            f"{MAX_UNCONFIRMED_ADDRESSES:,}",
            field="cidrs",
        )
    for raw in sni_names:  # sent as SNI in each handshake: a name the TLS stack cannot encode would crash the scan
        if not isinstance(raw, str) or (raw.strip() and not is_valid_dns_name(raw.strip(), allow_wildcard=False)):
            raise InvalidInput(f"SNI name {raw!r} is not a DNS host name (use punycode for IDNs)", field="sni_names")
    names: list[str | None] = list(dict.fromkeys(n.strip().lower() for n in sni_names if n.strip())) or [None]
    endpoints: list[Endpoint] = []
    for network in networks:
        hosts = list(network.hosts()) if network.num_addresses > 2 else list(network)
        for host in hosts:
            for port in dict.fromkeys(ports):
                endpoints.extend(Endpoint(str(host), port, name) for name in names)
    return endpoints


def entry_from_certificate(der: bytes, source_path: str, source_format: str) -> dict[str, Any]:
    """A report entry (the inventory's DiscoveredCertEntry fields) for one certificate."""
    cert = x509.load_der_x509_certificate(der)
    info = inspect_certificate(cert)
    return {
        "fingerprint_sha256": info.fingerprint_sha256,
        "common_name": info.subject_cn,
        "sans": list(info.sans),
        "serial_number": info.serial_hex,
        "issuer_dn": info.issuer_dn,
        "subject_dn": info.subject_dn,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "key_algorithm": info.key_algorithm.value,
        "key_size": info.key_size,
        "is_ca": info.is_ca,
        "pem_data": certificate_to_pem(cert),
        "source_path": source_path,
        "source_format": source_format,
    }


class DiscoveryService:
    def __init__(self, ctx: ServiceContext, audit: AuditService, exchange: ExchangeService) -> None:
        self._ctx = ctx
        self._audit = audit
        self._exchange = exchange

    # ------------------------------------------------------------------ reports
    def ingest(
        self,
        *,
        agent_id: str | None,
        entries: Sequence[Mapping[str, Any]],
        errors: Sequence[str] = (),
        directories: Sequence[str] = (),
        duration_ms: int = 0,
        actor: Actor,
    ) -> DiscoveryScanResult:
        """Store one scan report: the scan row first, then each certificate (new or seen again)."""
        if len(entries) > MAX_ENTRIES_PER_REPORT:
            raise InvalidInput(
                f"a report holds at most {MAX_ENTRIES_PER_REPORT:,} certificates, got {len(entries):,}; split it",
                field="certificates",
            )
        if not entries and not errors:
            raise InvalidInput("a discovery report needs at least one certificate or one error", field="certificates")
        rows = [_check_entry(e, i) for i, e in enumerate(entries)]
        now = self._ctx.now()
        scan_id = new_id("dscan")
        with self._ctx.store.write():
            if agent_id and not AgentModel.get_or_none(AgentModel.id == agent_id):
                raise NotFound("agent", agent_id, hint="list agents to see the ids")
            DiscoveryScanModel.create(
                id=scan_id,
                agent=agent_id,
                directories=list(directories),
                certificates_found=len(rows),
                errors_count=len(errors),
                scan_duration_ms=int(duration_ms),
                started_at=now - timedelta(milliseconds=int(duration_ms)),
                completed_at=now,
            )
            new = self._store_sightings(rows, agent_id, scan_id, now)
            DiscoveryScanModel.update(certificates_new=new).where(DiscoveryScanModel.id == scan_id).execute()
            self._audit.record(
                actor,
                "discovery_scan_completed",
                "discovery_scan",
                scan_id,
                {"agent_id": agent_id, "found": len(rows), "new": new, "errors": len(errors)},
            )
        return DiscoveryScanResult(
            scan_id,
            agent_id,
            tuple(directories),
            len(rows),
            new,
            len(errors),
            int(duration_ms),
            now - timedelta(milliseconds=int(duration_ms)),
            now,
            tuple(errors),
        )

    def _store_sightings(
        self, rows: Sequence[dict[str, Any]], agent_id: str | None, scan_id: str, now: datetime
    ) -> int:
        """Insert the certificates not seen at their place before; move ``last_seen_at`` of the others.

        A few queries per 500 certificates, whatever the report's size.
        """
        new = 0
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            fingerprints = list({r["fingerprint_sha256"] for r in chunk})
            same_agent = (
                DiscoveredCertificateModel.agent.is_null()
                if agent_id is None
                else DiscoveredCertificateModel.agent == agent_id
            )
            known = {
                (fp, path): row_id
                for row_id, fp, path in DiscoveredCertificateModel.select(
                    DiscoveredCertificateModel.id,
                    DiscoveredCertificateModel.fingerprint_sha256,
                    DiscoveredCertificateModel.source_path,
                )
                .where(same_agent & DiscoveredCertificateModel.fingerprint_sha256.in_(fingerprints))
                .tuples()
            }
            managed = dict(
                CertificateVersionModel.select(
                    CertificateVersionModel.fingerprint_sha256, CertificateVersionModel.certificate
                )
                .where(CertificateVersionModel.fingerprint_sha256.in_(fingerprints))
                .tuples()
            )
            seen_again: list[str] = []
            fresh: list[dict[str, Any]] = []
            for entry in chunk:
                place = (entry["fingerprint_sha256"], entry["source_path"])
                if place in known:
                    seen_again.append(known[place])
                    continue
                known[place] = new_id("discovered")  # a certificate twice in one report is one sighting
                owner = managed.get(entry["fingerprint_sha256"])
                fresh.append(
                    {
                        **entry,
                        "id": known[place],
                        "agent": agent_id,
                        "discovery_scan": scan_id,
                        "managed_certificate": owner,
                        "status": (DiscoveryStatus.MANAGED if owner else DiscoveryStatus.UNMANAGED).value,
                        "first_seen_at": now,
                        "last_seen_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            if seen_again:
                DiscoveredCertificateModel.update(last_seen_at=now, updated_at=now, discovery_scan=scan_id).where(
                    DiscoveredCertificateModel.id.in_(seen_again)
                ).execute()
            insert_rows(self._ctx.store.database, DiscoveredCertificateModel, fresh)
            new += len(fresh)
        return new

    # ------------------------------------------------------------------ network scans
    def _target_row(self, target_id: str) -> NetworkScanTargetModel:
        row = NetworkScanTargetModel.get_or_none(NetworkScanTargetModel.id == target_id)
        if row is None:
            raise NotFound("network scan target", target_id, hint="list scan targets to see the ids")
        return row

    def list_targets(self) -> list[NetworkScanTarget]:
        return [_target(r) for r in NetworkScanTargetModel.select().order_by(NetworkScanTargetModel.name)]

    def get_target(self, target_id: str) -> NetworkScanTarget:
        return _target(self._target_row(target_id))

    def create_target(
        self,
        name: str,
        cidrs: Sequence[str],
        *,
        actor: Actor,
        ports: Sequence[int] = (443,),
        sni_names: Sequence[str] = (),
        allow_reserved: bool = False,
        confirm_size: bool = False,
        scan_interval_hours: int = 6,
        timeout_ms: int = 5000,
        enabled: bool = True,
        id: str | None = None,
    ) -> NetworkScanTarget:
        """A scan target, checked now: the SSRF guard and size limits apply at creation and at scan time."""
        name = require_text(name, "name")
        plan_endpoints(cidrs, ports, sni_names, allow_reserved=allow_reserved, confirm_size=confirm_size)
        if isinstance(scan_interval_hours, bool) or not 1 <= int(scan_interval_hours) <= 24 * 30:
            raise InvalidInput("scan_interval_hours must be from 1 to 720", field="scan_interval_hours")
        if isinstance(timeout_ms, bool) or not 100 <= int(timeout_ms) <= 60_000:
            raise InvalidInput("timeout_ms must be from 100 to 60000", field="timeout_ms")
        target_id = optional_id(id, "id") or new_id("nscan")
        with self._ctx.store.write():
            if NetworkScanTargetModel.get_or_none(
                (NetworkScanTargetModel.name == name) | (NetworkScanTargetModel.id == target_id)
            ):
                raise Conflict(f"a scan target named '{name}' (or with id '{target_id}') already exists")
            now = self._ctx.now()
            row = NetworkScanTargetModel.create(
                id=target_id,
                name=name,
                cidrs=[str(c).strip() for c in cidrs],
                ports=list(dict.fromkeys(int(p) for p in ports)),
                sni_names=[s.strip().lower() for s in sni_names if s.strip()],
                allow_reserved=bool(allow_reserved),
                enabled=bool(enabled),
                scan_interval_hours=int(scan_interval_hours),
                timeout_ms=int(timeout_ms),
                created_at=now,
                updated_at=now,
            )
            self._audit.record(
                actor,
                "network_scan_target_created",
                "network_scan_target",
                target_id,
                {"name": name, "cidrs": row.cidrs, "ports": row.ports, "allow_reserved": row.allow_reserved},
            )
        return _target(row)

    def delete_target(self, target_id: str, *, actor: Actor) -> None:
        with self._ctx.store.write():
            row = self._target_row(target_id)
            NetworkScanTargetModel.delete().where(NetworkScanTargetModel.id == row.id).execute()
            self._audit.record(actor, "network_scan_target_deleted", "network_scan_target", row.id, {"name": row.name})

    def scan_target(
        self,
        target_id: str,
        *,
        actor: Actor,
        concurrency: int = 50,
        confirm_size: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> DiscoveryScanResult:
        """Probe every address and port of the target now and store what the listeners serve.

        The endpoint list is rebuilt and checked again from the stored target, so a target
        edited in the store behind certctl's back is still held to the guard.
        """
        row = self._target_row(target_id)
        endpoints = plan_endpoints(
            row.cidrs, row.ports, row.sni_names, allow_reserved=row.allow_reserved, confirm_size=confirm_size
        )
        started = self._ctx.now()
        results = asyncio.run(
            probe_many(endpoints, concurrency=concurrency, timeout=row.timeout_ms / 1000, progress=progress)
        )
        entries, errors = _entries_of(results)
        duration = int((self._ctx.now() - started).total_seconds() * 1000)
        self._ensure_scanner_agent()
        result = self.ingest(
            agent_id=SERVER_SCANNER_ID,
            entries=entries,
            errors=errors or ([] if entries else [f"no TLS listener answered in {row.name}"]),
            directories=[f"{c} ports {','.join(str(p) for p in row.ports)}" for c in row.cidrs],
            duration_ms=duration,
            actor=actor,
        )
        with self._ctx.store.write():
            NetworkScanTargetModel.update(
                last_scan_at=self._ctx.now(), last_scan_duration_ms=duration, last_scan_certs_found=len(entries)
            ).where(NetworkScanTargetModel.id == row.id).execute()
        return result

    def scan_due(self, *, actor: Actor) -> list[DiscoveryScanResult]:
        """The scheduler's network-scan loop: each enabled target whose interval has passed."""
        now = self._ctx.now()
        done: list[DiscoveryScanResult] = []
        for row in NetworkScanTargetModel.select().where(NetworkScanTargetModel.enabled == True):  # noqa: E712
            if row.last_scan_at is not None and now - row.last_scan_at < timedelta(hours=row.scan_interval_hours):
                continue
            try:
                done.append(self.scan_target(row.id, actor=actor))
            except InvalidInput:  # a target that no longer passes the guard is skipped, not fatal
                continue
        return done

    def _ensure_scanner_agent(self) -> None:
        with self._ctx.store.write():
            if AgentModel.get_or_none(AgentModel.id == SERVER_SCANNER_ID) is None:
                AgentModel.create(
                    id=SERVER_SCANNER_ID,
                    name=SERVER_SCANNER_NAME,
                    hostname="certctl-engine",
                    status="Online",
                    registered_at=self._ctx.now(),
                )

    # ------------------------------------------------------------------ triage
    def _row(self, discovery_id: str) -> DiscoveredCertificateModel:
        row = DiscoveredCertificateModel.get_or_none(DiscoveredCertificateModel.id == discovery_id)
        if row is None:
            raise NotFound("discovered certificate", discovery_id, hint="list discoveries to see the ids")
        return row

    def list(
        self,
        *,
        status: DiscoveryStatus | str | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[DiscoveredCertificate]:
        size = check_limit(limit)
        query = DiscoveredCertificateModel.select()
        if status is not None:
            wanted = parse_enum(DiscoveryStatus, status, "discovery status", field="status")
            query = query.where(DiscoveredCertificateModel.status == wanted.value)
        if agent_id:
            query = query.where(DiscoveredCertificateModel.agent == agent_id)
        if cursor:
            position = decode_cursor("discoveries", cursor)
            at = datetime.fromisoformat(position["t"])
            query = query.where(
                (DiscoveredCertificateModel.last_seen_at < at)
                | ((DiscoveredCertificateModel.last_seen_at == at) & (DiscoveredCertificateModel.id < position["i"]))
            )
        rows = list(
            query.order_by(DiscoveredCertificateModel.last_seen_at.desc(), DiscoveredCertificateModel.id.desc()).limit(
                size + 1
            )
        )
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = (
            encode_cursor("discoveries", {"t": rows[-1].last_seen_at.isoformat(), "i": rows[-1].id})
            if more and rows
            else None
        )
        return Page(tuple(_discovered(r) for r in rows), next_cursor)

    def get(self, discovery_id: str) -> DiscoveredCertificate:
        return _discovered(self._row(discovery_id))

    def summary(self) -> dict[str, int]:
        counts = {s.value: 0 for s in DiscoveryStatus}
        for status, count in (
            DiscoveredCertificateModel.select(
                DiscoveredCertificateModel.status, peewee.fn.COUNT(DiscoveredCertificateModel.id)
            )
            .group_by(DiscoveredCertificateModel.status)
            .tuples()
        ):
            counts[status] = count
        return counts

    def claim(
        self,
        discovery_id: str,
        *,
        actor: Actor,
        certificate_id: str | None = None,
        issuer_id: str | None = None,
        name: str | None = None,
        owner_id: str | None = None,
        team_id: str | None = None,
        target_ids: Sequence[str] = (),
    ) -> DiscoveredCertificate:
        """Bring a discovery under management: link it to an existing certificate, or import it as a new one
        (``issuer_id`` says who will renew it) with its owner, team and target mapping. Every other sighting
        of the same certificate becomes Managed too."""
        row = self._row(discovery_id)
        if row.status == DiscoveryStatus.MANAGED.value and row.managed_certificate_id:
            raise Conflict(f"discovery '{discovery_id}' is already managed as '{row.managed_certificate_id}'")
        if certificate_id is None:
            if not issuer_id:
                raise InvalidInput(
                    "to claim a discovery as a new certificate, name the issuer that will renew it (issuer_id), "
                    "or give certificate_id to link it to an existing one",
                    field="issuer_id",
                )
            imported = self._exchange.import_pem(
                row.pem_data.encode(),
                actor=actor,
                issuer_id=issuer_id,
                name=name,
                owner_id=owner_id,
                team_id=team_id,
                source=f"discovery {discovery_id}",
            )
            certificate_id = imported[0].certificate.id
        elif not CertificateModel.get_or_none(CertificateModel.id == certificate_id):
            raise NotFound("certificate", certificate_id, hint="list certificates to find its id")
        now = self._ctx.now()
        with self._ctx.store.write():
            for target_id in dict.fromkeys(target_ids):
                CertificateTargetModel.insert(
                    certificate=certificate_id, target=target_id
                ).on_conflict_ignore().execute()
            DiscoveredCertificateModel.update(
                status=DiscoveryStatus.MANAGED.value, managed_certificate=certificate_id, updated_at=now
            ).where(DiscoveredCertificateModel.fingerprint_sha256 == row.fingerprint_sha256).execute()
            self._audit.record(
                actor,
                "discovery_cert_claimed",
                "discovered_certificate",
                discovery_id,
                {"certificate_id": certificate_id, "fingerprint_sha256": row.fingerprint_sha256},
            )
        return self.get(discovery_id)

    def dismiss(self, discovery_id: str, *, actor: Actor) -> DiscoveredCertificate:
        """Keep it, quietly: a dismissed discovery stays dismissed when seen again."""
        with self._ctx.store.write():
            row = self._row(discovery_id)
            if row.status == DiscoveryStatus.MANAGED.value:
                raise Conflict(f"discovery '{discovery_id}' is managed; archive the certificate instead")
            now = self._ctx.now()
            row.status = DiscoveryStatus.DISMISSED.value
            row.dismissed_at = now
            row.updated_at = now
            row.save()
            self._audit.record(actor, "discovery_cert_dismissed", "discovered_certificate", row.id, {})
        return _discovered(row)


def _entries_of(results: Iterable[ProbeResult]) -> tuple[list[dict[str, Any]], list[str]]:
    entries: list[dict[str, Any]] = []
    errors: list[str] = []
    for result in results:
        if not result.ok:
            if result.error and result.error != "connection refused":
                errors.append(f"{result.endpoint.address}: {result.error}")
            continue
        for position, der in enumerate(result.chain_der):
            try:
                entry = entry_from_certificate(der, result.endpoint.address, "network")
            except ValueError as exc:
                errors.append(f"{result.endpoint.address}: certificate {position} unreadable: {exc}")
                continue
            entry["tls_version"] = result.tls_version
            entries.append(entry)
    return entries, errors


def _check_entry(entry: Mapping[str, Any], index: int) -> dict[str, Any]:
    """One reported certificate, checked: the PEM must parse and match the reported fingerprint."""
    if not isinstance(entry, Mapping):
        raise InvalidInput(f"certificate {index}: each reported certificate must be an object", field="certificates")
    pem = entry.get("pem_data")
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        raise InvalidInput(f"certificate {index}: pem_data must hold a PEM certificate", field="certificates")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, x509.InvalidVersion) as exc:
        raise InvalidInput(f"certificate {index}: unreadable PEM: {exc}", field="certificates") from None
    source = str(entry.get("source_path") or "")
    if not source or len(source) > 1024:
        raise InvalidInput(f"certificate {index}: source_path must name where it was found", field="certificates")
    checked = entry_from_certificate(
        cert.public_bytes(Encoding.DER), source, str(entry.get("source_format") or "PEM")[:16]
    )
    reported = str(entry.get("fingerprint_sha256") or checked["fingerprint_sha256"]).lower()
    if reported != checked["fingerprint_sha256"]:
        raise InvalidInput(f"certificate {index}: fingerprint does not match its PEM", field="certificates")
    checked["common_name"] = checked["common_name"][:255]
    return checked
