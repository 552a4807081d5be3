"""One certificate: subject, SANs, key, validity with life used, chain, versions, history.

Each version is read closely through the engine's inspection (key usage, EKUs, key,
constraints, chain) for the panel beside the versions table; two versions marked with
``space`` are compared field by field with ``d``.

Actions: renew, revoke (reason, then a confirmation naming the certificate, default No),
export (PEM files or PKCS#12, passphrase and path asked), archive, edit owner/team/profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static

from certctl_engine.domain import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    CertificateVersion,
    IssuerType,
    Job,
    JobStatus,
    JobType,
    Profile,
    RevocationReason,
)
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_tui.format import day, expires_in, life_used, stamp, status_text
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.screens.certificates import References, load_references
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import Field, FormScreen
from certctl_tui.widgets.paged_table import highlighted_key
from certctl_tui.widgets.version_diff import VersionDiffScreen

if TYPE_CHECKING:
    from certctl_engine.services.inspection import FieldChange, VersionInspection


@dataclass(frozen=True)
class DetailData:
    cert: Certificate
    versions: list[CertificateVersion]
    events: tuple[AuditEvent, ...]
    refs: References
    profile: Profile | None
    last_failure: AuditEvent | None
    #: Version id -> its inspection, or the engine's message when the stored PEM cannot be read.
    inspections: dict[str, VersionInspection | str]
    #: The newest deployment job per target (newest first).
    deployments: tuple[Job, ...] = ()
    #: What the OCSP responder says of the current version now, or why it cannot be asked.
    ocsp: str = ""


def latest_deployments(engine: Any, cert_id: str) -> tuple[Job, ...]:
    """The newest deployment job of each target this certificate went to."""
    seen: dict[str, Job] = {}
    for job in engine.jobs.list(type=JobType.DEPLOYMENT, certificate_id=cert_id, limit=100).items:
        seen.setdefault(job.target_id or "", job)
    return tuple(seen.values())


def ocsp_status(engine: Any, cert: Certificate, current: CertificateVersion | None) -> str:
    """The live OCSP answer for the current version, from the same look-up the responder uses."""
    if current is None:
        return "not issued"
    if engine.issuers.get(cert.issuer_id).type is not IssuerType.GENERIC_CA:
        return "answered by the issuing CA"
    check = engine.revocation.check(cert.issuer_id, current.serial_number)
    if check.status == "revoked":
        return f"revoked {stamp(check.revoked_at)} UTC ({check.reason.value if check.reason else '?'})"
    return check.status


FAILURE_ACTIONS = ("renewal_job_failed", "issuance_job_failed", "deployment_job_failed")


def last_failure(engine: Any, cert_id: str) -> AuditEvent | None:
    """The newest failed job of this certificate, from the audit trail.

    The engine has no jobs service yet, so the job's ``last_error`` is read from the
    ``*_job_failed`` audit event that carries it (its details name the certificate).
    """
    newest: AuditEvent | None = None
    for action in FAILURE_ACTIONS:
        for event in engine.audit.list(action=action, limit=200).items:
            if event.details.get("certificate_id") == cert_id and (newest is None or event.sequence > newest.sequence):
                newest = event
                break
    return newest


def _chain_length(pem_chain: str) -> int:
    return pem_chain.count("-----BEGIN CERTIFICATE-----")


def inspect_versions(engine: Any, versions: list[CertificateVersion]) -> dict[str, VersionInspection | str]:
    """Every version read closely; one unreadable version does not hide the others."""
    result: dict[str, VersionInspection | str] = {}
    for version in versions:
        try:
            result[version.id] = engine.inspection.inspect_version(version.id)
        except CertctlError as exc:
            result[version.id] = str(exc)
    return result


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def version_rows(inspection: VersionInspection) -> list[tuple[str, Any]]:
    """The inspection panel of one version: usages, key, constraints, issuer and chain."""
    leaf, version = inspection.leaf, inspection.version
    ca = f"yes, path length {leaf.path_length}" if leaf.is_ca and leaf.path_length is not None else "yes"
    chain = " → ".join(c.subject_cn or c.subject_dn for c in inspection.chain) or "none stored"
    return [
        ("Serial", leaf.serial_hex),
        ("Key", f"{leaf.key_algorithm.value} {leaf.key_size}"),
        ("Signature", leaf.signature_algorithm),
        ("Key usage", ", ".join(leaf.key_usage) or "-"),
        ("EKUs", ", ".join(leaf.ekus) or "-"),
        ("CA", ca if leaf.is_ca else "no"),
        ("Key id", _cut(leaf.subject_key_id or "-", 32)),
        ("Private key", "held by certctl" if version.has_private_key else "stays with the requester"),
        ("Issued by", leaf.issuer_cn or leaf.issuer_dn),
        ("Chain", chain),
    ]


def diff_order(a: CertificateVersion, b: CertificateVersion) -> tuple[CertificateVersion, CertificateVersion]:
    """The older version first: a diff reads from what was to what is."""
    return (a, b) if (a.not_before, a.created_at) <= (b.not_before, b.created_at) else (b, a)


def _kv(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else Text(str(value)))
    return table


class CertificateDetailScreen(CertctlScreen):
    SCREEN_NAME = "Certificate"
    MUTATING_ACTIONS = frozenset({"renew", "revoke", "export", "archive", "edit"})
    HELP = """
## Certificate
Everything about one certificate: subject and SANs, key, validity (the bar shows how much
of the current version's life is used), chain, versions and the audit history.

| key | does |
|---|---|
| `r` | renew now (a new version with a new key) |
| `x` | revoke: pick a reason, then confirm (No is the default) |
| `e` | export as PEM files or PKCS#12 to a path |
| `a` | archive (confirm) |
| `o` | edit owner, team and profile |
| `space` | mark a version (two at most) to compare |
| `d` | compare the two marked versions (or the marked one and the highlighted one) |
| `esc` | back to the list |

The panel beside the versions shows the highlighted version: key usage, EKUs, key,
signature, CA constraint, key identifier, issuer and chain.
"""

    BINDINGS = [
        Binding("r", "renew", "Renew", id="cert.renew", tooltip="Renew now: a new version with a new key"),
        Binding("x", "revoke", "Revoke", id="cert.revoke", tooltip="Revoke the current version (asks a reason)"),
        Binding("e", "export", "Export", id="cert.export", tooltip="Export as PEM or PKCS#12 to a path"),
        Binding("a", "archive", "Archive", id="cert.archive", tooltip="Archive: leave the active inventory"),
        Binding("o", "edit", "Ownership", id="cert.edit", tooltip="Edit owner, team and profile"),
        # Named in the versions box title; the footer has no room left for them.
        Binding(
            "space", "mark_version", "Mark", show=False, id="cert.mark_version", tooltip="Mark a version to compare"
        ),
        Binding("d", "diff", "Diff", show=False, id="cert.diff", tooltip="Compare the two marked versions"),
    ]

    def __init__(self, cert_id: str) -> None:
        super().__init__()
        self.cert_id = cert_id
        self.data: DetailData | None = None
        #: Version ids marked for comparison, in marking order (two at most).
        self.marked_versions: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            with Horizontal(id="detail-top"):
                yield Static("", id="detail-subject", classes="box")
                with Vertical(id="detail-validity-box", classes="box") as box:
                    box.border_title = "Validity"
                    yield Static("", id="detail-validity", markup=False)
                    yield ProgressBar(total=100, show_eta=False, id="life")
                    yield Static("", id="detail-key")
            yield Static("", id="detail-error", classes="box")
            with Horizontal(id="versions-row"):
                with Vertical(classes="box", id="versions-box") as versions:
                    versions.border_title = "Versions (newest first) · space marks, d compares"
                    yield DataTable(id="versions", cursor_type="row")
                yield Static("", id="version-info", classes="box")
            with Vertical(classes="box", id="deployments-box") as deployments:
                deployments.border_title = "Deployments (newest per target)"
                yield DataTable(id="deployments", cursor_type="row")
            with Vertical(classes="box", id="history-box") as history:
                history.border_title = "Audit history"
                yield DataTable(id="history", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-subject", Static).border_title = "Certificate"
        self.query_one("#detail-error", Static).border_title = "Last error"
        versions = self.query_one("#versions", DataTable)
        # Fixed widths (the cells are cut to them below): auto-sized columns are sized on a later
        # refresh, so a screen drawn right after the rows arrive could show them header-wide.
        for label, key, width in (
            ("", "mark", 1),
            ("", "current", 1),
            ("Serial", "serial", 16),
            ("Not before", "nb", 10),
            ("Not after", "na", 10),
            ("Key", "key", 10),
        ):
            versions.add_column(label, key=key, width=width)
        deployments = self.query_one("#deployments", DataTable)
        for label, key, width in (
            ("Target", "target", 20),
            ("State", "state", 10),
            ("Verified", "verified", 8),
            ("When (UTC)", "when", 16),
            ("Last error", "error", 56),
        ):
            deployments.add_column(label, key=key, width=width)
        history = self.query_one("#history", DataTable)
        for label, key, width in (
            ("Time (UTC)", "time", 16),
            ("Actor", "actor", 20),
            ("Action", "action", 24),
            ("Details", "details", 60),
        ):
            history.add_column(label, key=key, width=width)
        self.refresh_data()

    def refresh_data(self, *, live: bool = False) -> None:
        engine = self.capp.engine
        cert_id = self.cert_id

        def load() -> DetailData:
            cert = engine.certificates.get(cert_id)
            profile = engine.profiles.get(cert.certificate_profile_id) if cert.certificate_profile_id else None
            versions = engine.certificates.list_versions(cert_id)
            current = next((v for v in versions if v.id == cert.current_version_id), None)
            try:
                ocsp = ocsp_status(engine, cert, current)
            except CertctlError as exc:
                ocsp = f"cannot ask: {exc.message}"
            return DetailData(
                cert=cert,
                versions=versions,
                events=engine.audit.list(resource_type="certificate", resource_id=cert_id, limit=30).items,
                refs=load_references(engine),
                profile=profile,
                last_failure=last_failure(engine, cert_id),
                inspections=inspect_versions(engine, versions),
                deployments=latest_deployments(engine, cert_id),
                ocsp=ocsp,
            )

        self.engine_work(load, self._show, title="Certificate", group="load", exclusive=True)

    def _show(self, data: DetailData) -> None:
        self.data = data
        cert, refs, now = data.cert, data.refs, self.capp.now()
        current = next((v for v in data.versions if v.id == cert.current_version_id), None)
        self.title = f"certctl · {cert.name}"
        owner = refs.owners.get(cert.owner_id or "", cert.owner_id or "-")
        team = refs.teams.get(cert.team_id or "", cert.team_id or "-")
        rows: list[tuple[str, Any]] = [
            ("Name", cert.name),
            ("Common name", cert.common_name),
            ("Status", status_text(cert.status)),
            ("SANs", ", ".join(cert.sans) or "-"),
            ("Issuer", f"{refs.issuers.get(cert.issuer_id, cert.issuer_id)} ({cert.issuer_id})"),
            ("Owner / team", f"{owner} / {team}"),
            ("Profile", refs.profiles.get(cert.certificate_profile_id or "", cert.certificate_profile_id or "-")),
            ("EKUs (profile)", ", ".join(e.value for e in data.profile.allowed_ekus) if data.profile else "-"),
            ("Environment", cert.environment or "-"),
            ("Tags", ", ".join(f"{k}={v}" for k, v in sorted(cert.tags.items())) or "-"),
            ("Targets", ", ".join(cert.target_ids) or "-"),
            ("Id", cert.id),
        ]
        self.query_one("#detail-subject", Static).update(_kv(rows))
        validity = self.query_one("#detail-validity", Static)
        bar = self.query_one("#life", ProgressBar)
        key = self.query_one("#detail-key", Static)
        if current is not None:
            used = life_used(current.not_before, current.not_after, now)
            validity.update(
                Text.assemble(
                    f"{stamp(current.not_before)} → {stamp(current.not_after)} UTC\n",
                    "expires ",
                    expires_in(cert, now),
                    f" · {used:.0%} of its life used",
                )
            )
            bar.update(progress=round(used * 100))
            key.update(
                _kv(
                    [
                        ("Key", f"{current.key_algorithm.value if current.key_algorithm else '?'} {current.key_size}"),
                        ("Private key", "held by certctl" if current.has_private_key else "stays with the requester"),
                        ("Serial", current.serial_number),
                        ("SHA-256", current.fingerprint_sha256[:32] + "…"),
                        ("Subject CN", current.subject_cn),
                        ("Issued by", current.issuer_dn),
                        ("Chain", f"leaf + {max(0, _chain_length(current.pem_chain) - 1)} above it"),
                        ("OCSP now", data.ocsp),
                    ]
                )
            )
        else:
            validity.update("not issued yet")
            bar.update(progress=0)
            key.update("")
        error = self.query_one("#detail-error", Static)
        if cert.status is CertificateStatus.REVOKED:
            error.update(Text(f"revoked {stamp(cert.revoked_at)} UTC ({cert.revocation_reason})", style="magenta"))
        else:
            failure = data.last_failure
            if failure is not None:
                message = failure.details.get("error") or failure.details.get("last_error") or failure.action
                error.update(Text(f"{stamp(failure.timestamp)}  {message}", style="red"))
            else:
                error.update(Text("none recorded", style="dim"))
        versions = self.query_one("#versions", DataTable)
        keep = self.highlighted_version()
        known = {v.id for v in data.versions}
        self.marked_versions = [v for v in self.marked_versions if v in known]
        versions.clear()
        for version in data.versions:
            versions.add_row(
                self._mark_cell(version.id),
                Text("●", style="green") if version.id == cert.current_version_id else " ",
                version.serial_number[:16],
                day(version.not_before),
                day(version.not_after),
                f"{version.key_algorithm.value if version.key_algorithm else '?'} {version.key_size}",
                key=version.id,
            )
        if keep is not None and keep in known:
            versions.move_cursor(row=versions.get_row_index(keep), scroll=False)
        self._show_version(self.highlighted_version())
        deployments = self.query_one("#deployments", DataTable)
        deployments.clear()
        for job in data.deployments:
            deployments.add_row(
                _cut(job.target_id or "-", 20),
                status_text(job.status),
                job.verification_status.value,
                stamp(job.completed_at or job.scheduled_at),
                _cut(job.last_error or "-", 56) if job.status is not JobStatus.COMPLETED else "-",
                key=job.id,
            )
        if not data.deployments:
            deployments.add_row("-", "none yet", "-", "-", "-", key="none")
        history = self.query_one("#history", DataTable)
        history.clear()
        for event in data.events:
            details = ", ".join(f"{k}={v}" for k, v in event.details.items() if not isinstance(v, (dict, list)))
            history.add_row(stamp(event.timestamp), event.actor, event.action, details[:60], key=event.id)
        self.capp.mark_loaded()

    # ------------------------------------------------------------------ versions
    def _mark_cell(self, version_id: str) -> Text | str:
        if version_id not in self.marked_versions:
            return " "
        return Text(str(self.marked_versions.index(version_id) + 1), style="bold magenta")

    def highlighted_version(self) -> str | None:
        return highlighted_key(self.query_one("#versions", DataTable))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "versions":
            self._show_version(event.row_key.value)

    def _show_version(self, version_id: str | None) -> None:
        panel = self.query_one("#version-info", Static)
        data = self.data
        if data is None or version_id is None:
            panel.border_title = "Version"
            panel.update(Text("no version issued yet", style="dim"))
            return
        version = next((v for v in data.versions if v.id == version_id), None)
        current = " (current)" if data.cert.current_version_id == version_id else ""
        serial = version.serial_number[:16] if version else version_id
        panel.border_title = f"Version {serial}…{current}"
        inspection = data.inspections.get(version_id)
        if inspection is None or isinstance(inspection, str):
            panel.update(Text(f"cannot read this version: {inspection or 'not loaded'}", style="red"))
        else:
            panel.update(_kv(version_rows(inspection)))

    def action_mark_version(self) -> None:
        version_id = self.highlighted_version()
        if version_id is None:
            return
        if version_id in self.marked_versions:
            self.marked_versions.remove(version_id)
        else:
            self.marked_versions = [*self.marked_versions, version_id][-2:]
        table = self.query_one("#versions", DataTable)
        for row_key in table.rows:
            table.update_cell(row_key, "mark", self._mark_cell(str(row_key.value)))

    def diff_pair(self) -> tuple[str, str] | None:
        """The two versions to compare: both marked, or the marked one and the highlighted one."""
        marked = self.marked_versions
        if len(marked) == 2:
            return marked[0], marked[1]
        highlighted = self.highlighted_version()
        if len(marked) == 1 and highlighted is not None and highlighted != marked[0]:
            return marked[0], highlighted
        return None

    def action_diff(self) -> None:
        pair = self.diff_pair()
        if self.data is None or pair is None:
            self.app.notify(
                "mark two versions with space (or mark one and highlight the other), then press d",
                title="Compare versions",
                severity="warning",
                markup=False,
            )
            return
        by_id = {v.id: v for v in self.data.versions}
        older, newer = diff_order(by_id[pair[0]], by_id[pair[1]])
        engine, name = self.capp.engine, self.data.cert.name

        def show(changes: list[FieldChange]) -> None:
            self.app.push_screen(
                VersionDiffScreen(
                    f"{name}: {older.serial_number[:16]}… ({day(older.not_before)}) → "
                    f"{newer.serial_number[:16]}… ({day(newer.not_before)})",
                    changes,
                    f"Before ({older.serial_number[:8]}…)",
                    f"After ({newer.serial_number[:8]}…)",
                )
            )

        self.engine_work(lambda: engine.inspection.diff_versions(older.id, newer.id), show, title="Compare versions")

    # ------------------------------------------------------------------ actions
    def cert_label(self) -> str:
        return f"'{self.data.cert.name}' ({self.data.cert.common_name})" if self.data else f"'{self.cert_id}'"

    def action_renew(self) -> None:
        engine, actor, cert_id = self.capp.engine, self.capp.actor, self.cert_id

        def done(version: CertificateVersion) -> None:
            self.capp.toast(
                "Renewed",
                f"{self.cert_label()}: new serial {version.serial_number[:20]}, "
                f"valid until {stamp(version.not_after)} UTC",
            )
            self.refresh_data()

        self.engine_work(lambda: engine.issuance.renew(cert_id, actor=actor), done, title="Renew")

    def action_revoke(self) -> None:
        fields = [
            Field(
                "reason",
                "Reason (RFC 5280)",
                "select",
                RevocationReason.UNSPECIFIED.value,
                [(r.value, r.value) for r in RevocationReason],
                allow_blank=False,
            ),
        ]

        def picked(values: dict[str, Any] | None) -> None:
            if values:
                self._confirm_revoke(RevocationReason(values["reason"]))

        self.app.push_screen(FormScreen(f"Revoke {self.cert_label()}", fields, lambda v: v), picked)

    def _confirm_revoke(self, reason: RevocationReason) -> None:
        engine, actor, cert_id = self.capp.engine, self.capp.actor, self.cert_id
        question = (
            f"Revoke certificate {self.cert_label()} with reason {reason.value}?\n"
            "Relying parties will reject it; this cannot be undone."
        )

        def answered(yes: bool | None) -> None:
            if not yes:
                self.capp.toast("Revoke", "cancelled; nothing changed")
                return

            def done(cert: Certificate) -> None:
                self.capp.toast("Revoked", f"{self.cert_label()}: {cert.revocation_reason}")
                self.refresh_data()

            self.engine_work(lambda: engine.revocation.revoke(cert_id, reason, actor=actor), done, title="Revoke")

        self.app.push_screen(ConfirmDialog("Revoke certificate", question, yes_label="Revoke"), answered)

    def action_export(self) -> None:
        engine, actor, cert_id = self.capp.engine, self.capp.actor, self.cert_id
        default_name = self.data.cert.name if self.data else cert_id
        fields = [
            Field(
                "format",
                "Format",
                "select",
                "pem",
                [("pem", "PEM files (cert, chain, fullchain)"), ("pkcs12", "PKCS#12 (.p12)")],
                allow_blank=False,
            ),
            Field(
                "path", "Path (a directory for PEM, a file for PKCS#12)", value=f"./{default_name}", aliases=("out",)
            ),
            Field("include_key", "Include the private key (held by certctl)", "bool", False, aliases=("key",)),
            Field("passphrase", "Passphrase (PKCS#12, or to encrypt the PEM key)", "password"),
        ]

        def save(values: dict[str, Any]) -> str:
            return export_certificate(engine, actor, cert_id, values)

        def done(message: str | None) -> None:
            if message:
                self.capp.toast("Exported", message)

        self.app.push_screen(FormScreen(f"Export {self.cert_label()}", fields, save), done)

    def action_archive(self) -> None:
        engine, actor, cert_id = self.capp.engine, self.capp.actor, self.cert_id

        def archived(_cert: Certificate) -> None:
            self.capp.toast("Archived", self.cert_label())
            self.refresh_data()

        def answered(yes: bool | None) -> None:
            if yes:
                self.engine_work(lambda: engine.certificates.archive(cert_id, actor=actor), archived, title="Archive")

        self.app.push_screen(
            ConfirmDialog(
                "Archive certificate",
                f"Archive certificate {self.cert_label()}? It leaves the active inventory; its history stays.",
                yes_label="Archive",
            ),
            answered,
        )

    def action_edit(self) -> None:
        if self.data is None:
            return
        engine, actor, cert_id, cert, refs = (
            self.capp.engine,
            self.capp.actor,
            self.cert_id,
            self.data.cert,
            self.data.refs,
        )
        fields = [
            Field("owner_id", "Owner", "select", cert.owner_id, sorted(refs.owners.items(), key=lambda kv: kv[1])),
            Field("team_id", "Team", "select", cert.team_id, sorted(refs.teams.items(), key=lambda kv: kv[1])),
            Field(
                "certificate_profile_id",
                "Profile",
                "select",
                cert.certificate_profile_id,
                sorted(refs.profiles.items(), key=lambda kv: kv[1]),
                aliases=("profile_id",),
            ),
        ]

        def save(values: dict[str, Any]) -> Certificate:
            return engine.certificates.update(cert_id, actor=actor, **values)

        def done(result: Certificate | None) -> None:
            if result is not None:
                self.capp.toast("Saved", f"{self.cert_label()}: ownership updated")
                self.refresh_data()

        self.app.push_screen(FormScreen(f"Ownership of {self.cert_label()}", fields, save), done)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("Renew this certificate", "A new version with a new key (r)", self.action_renew, True),
            PaletteCommand("Revoke this certificate", "Pick a reason, then confirm (x)", self.action_revoke, True),
            PaletteCommand("Export this certificate", "PEM files or PKCS#12 (e)", self.action_export, True),
            PaletteCommand("Archive this certificate", "Leave the active inventory (a)", self.action_archive, True),
            PaletteCommand("Edit ownership", "Owner, team and profile (o)", self.action_edit, True),
            PaletteCommand("Mark version", "Mark the highlighted version to compare (space)", self.action_mark_version),
            PaletteCommand("Compare versions", "Field by field, the two marked versions (d)", self.action_diff),
        ]


def export_certificate(engine: Any, actor: Any, cert_id: str, values: dict[str, Any]) -> str:
    """Write the export to the path the user gave; returns what was written. Runs on an engine thread."""
    from certctl_engine.files import write_atomic

    raw_path = (values.get("path") or "").strip()
    if not raw_path:
        raise InvalidInput("give a path to write to", field="path")
    path = Path(raw_path).expanduser()
    passphrase = (values.get("passphrase") or "").encode() or None
    include_key = bool(values.get("include_key"))
    if values.get("format") == "pkcs12":
        if not passphrase:
            raise InvalidInput("PKCS#12 needs a passphrase", field="passphrase")
        if path.is_dir():
            raise InvalidInput(f"{path} is a directory; PKCS#12 needs a file name", field="path")
        blob = engine.exchange.export_pkcs12(cert_id, passphrase, actor=actor, include_key=include_key)
        write_atomic(path, blob, mode=0o600)
        return f"wrote {path} (PKCS#12{', with private key' if include_key else ''})"
    bundle = engine.exchange.export_pem(cert_id, actor=actor, include_key=include_key, passphrase=passphrase)
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{path} is a file; PEM export writes a directory", field="path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror or exc}", field="path") from None
    for stem, text in (("cert", bundle.certificate), ("chain", bundle.chain), ("fullchain", bundle.full_chain)):
        write_atomic(path / f"{stem}.pem", text.encode())
    written = ["cert.pem", "chain.pem", "fullchain.pem"]
    if bundle.private_key:
        write_atomic(path / "privkey.pem", bundle.private_key.encode(), mode=0o600)
        written.append("privkey.pem")
    return f"wrote {', '.join(written)} to {path}"
