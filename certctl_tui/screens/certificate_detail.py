"""One certificate: subject, SANs, key, validity with life used, chain, versions, history.

Actions: renew, revoke (reason, then a confirmation naming the certificate, default No),
export (PEM files or PKCS#12, passphrase and path asked), archive, edit owner/team/profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    Profile,
    RevocationReason,
)
from certctl_engine.errors import InvalidInput
from certctl_tui.format import day, expires_in, life_used, stamp, status_text
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.screens.certificates import References, load_references
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import Field, FormScreen


@dataclass(frozen=True)
class DetailData:
    cert: Certificate
    versions: list[CertificateVersion]
    events: tuple[AuditEvent, ...]
    refs: References
    profile: Profile | None
    last_failure: AuditEvent | None


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
| `esc` | back to the list |
"""

    BINDINGS = [
        Binding("r", "renew", "Renew", id="cert.renew", tooltip="Renew now: a new version with a new key"),
        Binding("x", "revoke", "Revoke", id="cert.revoke", tooltip="Revoke the current version (asks a reason)"),
        Binding("e", "export", "Export", id="cert.export", tooltip="Export as PEM or PKCS#12 to a path"),
        Binding("a", "archive", "Archive", id="cert.archive", tooltip="Archive: leave the active inventory"),
        Binding("o", "edit", "Ownership", id="cert.edit", tooltip="Edit owner, team and profile"),
    ]

    def __init__(self, cert_id: str) -> None:
        super().__init__()
        self.cert_id = cert_id
        self.data: DetailData | None = None

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
            with Vertical(classes="box", id="versions-box") as versions:
                versions.border_title = "Versions (newest first)"
                yield DataTable(id="versions", cursor_type="row")
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
            ("", "current", 1),
            ("Serial", "serial", 20),
            ("Not before", "nb", 10),
            ("Not after", "na", 10),
            ("Key", "key", 11),
            ("Issuer", "issuer", 28),
            ("SHA-256", "fp", 17),
        ):
            versions.add_column(label, key=key, width=width)
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
            return DetailData(
                cert=cert,
                versions=engine.certificates.list_versions(cert_id),
                events=engine.audit.list(resource_type="certificate", resource_id=cert_id, limit=30).items,
                refs=load_references(engine),
                profile=profile,
                last_failure=last_failure(engine, cert_id),
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
        versions.clear()
        for version in data.versions:
            versions.add_row(
                Text("●", style="green") if version.id == cert.current_version_id else " ",
                version.serial_number[:20],
                day(version.not_before),
                day(version.not_after),
                f"{version.key_algorithm.value if version.key_algorithm else '?'} {version.key_size}",
                version.issuer_dn[:28],
                version.fingerprint_sha256[:16] + "…",
                key=version.id,
            )
        history = self.query_one("#history", DataTable)
        history.clear()
        for event in data.events:
            details = ", ".join(f"{k}={v}" for k, v in event.details.items() if not isinstance(v, (dict, list)))
            history.add_row(stamp(event.timestamp), event.actor, event.action, details[:60], key=event.id)
        self.capp.mark_loaded()

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
