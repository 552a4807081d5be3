"""Discovery triage and the network scan targets that feed it.

Discovery lists the certificates found on disks and listeners, Unmanaged first: ``space``
marks rows, ``c`` claims the marked rows (or the current one) as managed certificates
with an issuer that will renew them and an optional owner and team, ``d`` dismisses them.
Both ask first, naming every certificate affected. Scan targets lists the ranges certctl
probes; ``s`` scans the highlighted one now, on an engine thread, with a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen

from certctl_engine.domain import DiscoveredCertificate, DiscoveryScanResult, DiscoveryStatus, NetworkScanTarget, Page
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_tui.format import ago, day, span, stamp
from certctl_tui.screens.base import PaletteCommand
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import Field, FormScreen
from certctl_tui.widgets.record_list import RecordListScreen, cut, whole
from certctl_tui.widgets.scan_progress import ScanProgress


def _discovery_screen() -> Screen[None]:
    return DiscoveryScreen()


def _scan_targets_screen() -> Screen[None]:
    return ScanTargetsScreen()


SCREEN_ENTRIES: dict[str, tuple[str, Callable[[], Screen[None]], tuple[str, ...]]] = {
    "discovery": ("Discovery", _discovery_screen, ("disc", "discoveries", "discovered")),
    "scan-targets": ("Network scan targets", _scan_targets_screen, ("scans", "scan", "targets-scan", "nst")),
}
"""Screen key -> (title, factory, command bar aliases), for the app's navigation."""

STATUS_CHOICES: list[DiscoveryStatus | None] = [
    DiscoveryStatus.UNMANAGED,
    DiscoveryStatus.MANAGED,
    DiscoveryStatus.DISMISSED,
    None,
]
STATUS_STYLE: dict[DiscoveryStatus, str] = {
    DiscoveryStatus.UNMANAGED: "bold yellow",
    DiscoveryStatus.MANAGED: "green",
    DiscoveryStatus.DISMISSED: "dim",
}
MARK = Text("●", style="bold magenta")
NAMED_IN_CONFIRM = 6
"""A confirmation lists this many certificates by name, then counts the rest."""


def discovery_label(item: DiscoveredCertificate) -> str:
    """How a confirmation names a discovery: its subject and where it was seen."""
    return f"{item.common_name or item.subject_dn or item.fingerprint_sha256[:16]} ({item.source_path})"


def listed(items: list[DiscoveredCertificate]) -> str:
    lines = [f"  • {discovery_label(i)}" for i in items[:NAMED_IN_CONFIRM]]
    if len(items) > NAMED_IN_CONFIRM:
        lines.append(f"  … and {len(items) - NAMED_IN_CONFIRM} more")
    return "\n".join(lines)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class DiscoveryScreen(RecordListScreen):
    SCREEN_NAME = "Discovery"
    RECORD = "discovery"
    MUTATING_ACTIONS = frozenset({"claim", "dismiss_marked"})
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = [
        ("mark", " ", 1),
        ("status", "Status", 9),
        ("cn", "Common name", 24),
        ("sans", "SANs", 22),
        ("where", "Seen at", 28),
        ("fingerprint", "SHA-256", 12),
        ("expires", "Expires", 10),
    ]
    HELP = """
## Discovery
Certificates found by agents on disk and by network scans, newest sighting first.

| key | does |
|---|---|
| `t` | cycle the status filter: Unmanaged, Managed, Dismissed, any |
| `space` | mark the row; `c` and `d` act on the marked rows (or the current one) |
| `c` | claim: import as a managed certificate renewed by an issuer, with owner and team (confirm) |
| `d` | dismiss: keep it but stop reporting it (confirm) |

The panel shows the highlighted certificate: full fingerprint, subject, issuer, key, sightings.
"""

    BINDINGS = [
        Binding("t", "cycle_status", "Status", id="discovery.status", tooltip="Cycle the status filter"),
        Binding("space", "mark", "Mark", id="discovery.mark", tooltip="Mark or unmark the row for claim or dismiss"),
        Binding("c", "claim", "Claim", id="discovery.claim", tooltip="Claim the marked rows (or this one) as managed"),
        Binding(
            "d", "dismiss_marked", "Dismiss", id="discovery.dismiss", tooltip="Dismiss the marked rows (or this one)"
        ),
        Binding("q", "quit_list", "Quit", show=False, id="discovery.quit", tooltip="Quit certctl"),
    ]

    def __init__(self, *, status: DiscoveryStatus | None = DiscoveryStatus.UNMANAGED) -> None:
        super().__init__()
        self.status = status
        self.marked: set[str] = set()

    # ------------------------------------------------------------------ rows
    def fetch(self, cursor: str | None, limit: int) -> Page[DiscoveredCertificate]:
        return self.capp.engine.discovery.list(status=self.status, limit=limit, cursor=cursor)

    def _expires(self, item: DiscoveredCertificate) -> Text:
        if item.not_after is None:
            return Text("-", style="dim")
        days = (item.not_after - self.capp.now()).total_seconds() / 86400
        style = "bold red" if days < 0 else "red" if days <= 7 else "yellow" if days <= 30 else "green"
        return Text(day(item.not_after), style=style)

    def row_cells(self, record: DiscoveredCertificate) -> list[Any]:
        return [
            MARK if record.id in self.marked else " ",
            Text(record.status.value, style=STATUS_STYLE[record.status]),
            cut(record.common_name or record.subject_dn or "-", 24),
            cut(", ".join(record.sans) or "-", 22),
            cut(record.source_path, 28),
            cut(record.fingerprint_sha256, 12),
            self._expires(record),
        ]

    def title_of(self, record: DiscoveredCertificate) -> str:
        return f"discovery {record.id}"

    def describe(self, record: DiscoveredCertificate) -> RenderableType:
        now = self.capp.now()
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        if record.not_after is not None:
            left = (record.not_after - now).total_seconds()
            validity = f"{stamp(record.not_before)} → {stamp(record.not_after)} UTC"
            validity += f" (expired {span(left)} ago)" if left < 0 else f" (in {span(left)})"
        else:
            validity = "-"
        managed = record.managed_certificate_id or "-"
        rows = [
            ("Fingerprint", record.fingerprint_sha256),
            ("Subject / issuer", f"{record.subject_dn or '-'}  ←  {record.issuer_dn or '-'}"),
            ("Validity", validity),
            ("Key", f"{record.key_algorithm} {record.key_size}" + (" · CA" if record.is_ca else "")),
            ("Seen", f"{record.source_path} ({record.source_format}) by {record.agent_id or '-'}"),
            ("First / last seen", f"{ago(record.first_seen_at, now)} / {ago(record.last_seen_at, now)}"),
            ("Managed as", managed),
        ]
        for key, value in rows:
            table.add_row(key, Text(value))
        return table

    def info_parts(self) -> list[str]:
        parts = ["status " + (self.status.value if self.status else "any")]
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        return parts

    # ------------------------------------------------------------------ filter, marks
    def action_cycle_status(self) -> None:
        self.status = STATUS_CHOICES[(STATUS_CHOICES.index(self.status) + 1) % len(STATUS_CHOICES)]
        self.marked.clear()
        self.reload()

    def action_mark(self) -> None:
        record = self.highlighted()
        if record is None:
            return
        self.marked.symmetric_difference_update({record.id})
        self.table.update_cell(record.id, "mark", MARK if record.id in self.marked else " ")
        self.update_info()
        if self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1)

    def chosen(self) -> list[DiscoveredCertificate]:
        """The marked rows still shown, in table order; else the row under the cursor."""
        marked = [self.records[key.value] for key in self.table.rows if key.value in self.marked]
        if marked:
            return marked
        current = self.highlighted()
        return [current] if current is not None else []

    # ------------------------------------------------------------------ claim
    def action_claim(self) -> None:
        items = [i for i in self.chosen() if i.status is not DiscoveryStatus.MANAGED]
        if not items:
            self.app.notify(
                "nothing to claim: the chosen certificates are already managed",
                title="Claim",
                severity="warning",
                markup=False,
            )
            return
        engine = self.capp.engine

        def choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
            issuers = [(i.id, f"{i.name} ({i.id})") for i in engine.issuers.list() if i.enabled]
            owners = [(o.id, f"{o.name} ({o.id})") for o in engine.ownership.list_owners()]
            teams = [(t.id, f"{t.name} ({t.id})") for t in engine.ownership.list_teams()]
            return issuers, owners, teams

        self.engine_work(choices, lambda c: self._claim_form(items, *c), title="Claim")

    def _claim_form(
        self,
        items: list[DiscoveredCertificate],
        issuers: list[tuple[str, str]],
        owners: list[tuple[str, str]],
        teams: list[tuple[str, str]],
    ) -> None:
        fields = [
            Field("issuer_id", "Issuer that will renew it (required)", "select", None, issuers),
            Field("owner_id", "Owner (optional)", "select", None, owners),
            Field("team_id", "Team (optional)", "select", None, teams),
        ]

        def check(values: dict[str, Any]) -> dict[str, Any]:
            if not values.get("issuer_id"):
                raise InvalidInput("choose the issuer that will renew the claimed certificate", field="issuer_id")
            return values

        def filled(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            issuer = dict(issuers).get(values["issuer_id"], values["issuer_id"])
            who = ", ".join(
                part
                for part in (
                    f"owner {dict(owners).get(values['owner_id'], '')}" if values["owner_id"] else "",
                    f"team {dict(teams).get(values['team_id'], '')}" if values["team_id"] else "",
                )
                if part
            )
            question = (
                f"Claim {plural(len(items), 'certificate')} as managed, renewed by {issuer}"
                + (f", {who}" if who else "")
                + f"?\n{listed(items)}"
            )
            self._confirm("Claim", question, "Claim", lambda: self._claim(items, values))

        title = f"Claim {plural(len(items), 'discovered certificate')}"
        self.app.push_screen(FormScreen(title, fields, check), filled)

    def _claim(self, items: list[DiscoveredCertificate], values: dict[str, Any]) -> None:
        engine, actor = self.capp.engine, self.capp.actor

        def claim_all() -> tuple[list[DiscoveredCertificate], list[str]]:
            done: list[DiscoveredCertificate] = []
            failed: list[str] = []
            seen: set[str] = set()
            for item in items:
                if item.fingerprint_sha256 in seen:  # another sighting of one already claimed: managed with it
                    continue
                try:
                    done.append(
                        engine.discovery.claim(
                            item.id,
                            actor=actor,
                            issuer_id=values["issuer_id"],
                            owner_id=values["owner_id"],
                            team_id=values["team_id"],
                        )
                    )
                    seen.add(item.fingerprint_sha256)
                except CertctlError as exc:
                    failed.append(f"{discovery_label(item)}: {exc}")
            return done, failed

        def report(outcome: tuple[list[DiscoveredCertificate], list[str]]) -> None:
            done, failed = outcome
            self._report("Claim", "claimed", [f"{d.common_name} → {d.managed_certificate_id}" for d in done], failed)

        self.engine_work(claim_all, report, title="Claim")

    # ------------------------------------------------------------------ dismiss
    def action_dismiss_marked(self) -> None:
        items = [i for i in self.chosen() if i.status is DiscoveryStatus.UNMANAGED]
        if not items:
            self.app.notify(
                "nothing to dismiss: only unmanaged certificates can be dismissed",
                title="Dismiss",
                severity="warning",
                markup=False,
            )
            return
        engine, actor = self.capp.engine, self.capp.actor

        def dismiss_all() -> tuple[list[DiscoveredCertificate], list[str]]:
            done: list[DiscoveredCertificate] = []
            failed: list[str] = []
            for item in items:
                try:
                    done.append(engine.discovery.dismiss(item.id, actor=actor))
                except CertctlError as exc:
                    failed.append(f"{discovery_label(item)}: {exc}")
            return done, failed

        def report(outcome: tuple[list[DiscoveredCertificate], list[str]]) -> None:
            done, failed = outcome
            self._report("Dismiss", "dismissed", [d.common_name for d in done], failed)

        question = (
            f"Dismiss {plural(len(items), 'certificate')}? They stay recorded but are no longer reported.\n"
            f"{listed(items)}"
        )
        self._confirm("Dismiss", question, "Dismiss", lambda: self.engine_work(dismiss_all, report, title="Dismiss"))

    # ------------------------------------------------------------------ shared
    def _confirm(self, title: str, question: str, yes_label: str, go: Callable[[], None]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                go()
            else:
                self.capp.toast(title, "cancelled; nothing changed")

        self.app.push_screen(ConfirmDialog(title, question, yes_label=yes_label), answered)

    def _report(self, title: str, verb: str, done: list[str], failed: list[str]) -> None:
        if done:
            self.capp.toast(title, f"{verb} {len(done)}: " + "; ".join(done[:NAMED_IN_CONFIRM]))
        if failed:
            self.app.notify(
                f"{len(failed)} not {verb}: " + "; ".join(failed[:NAMED_IN_CONFIRM]),
                title=title,
                severity="error",
                timeout=8,
                markup=False,
            )
        self.marked.clear()
        self.refresh_data()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Cycle discovery status filter", "Unmanaged, Managed, Dismissed, any (t)", self.action_cycle_status
            ),
            PaletteCommand(
                "Claim discoveries", "Claim the marked rows or the current one (c)", self.action_claim, True
            ),
            PaletteCommand(
                "Dismiss discoveries",
                "Dismiss the marked rows or the current one (d)",
                self.action_dismiss_marked,
                True,
            ),
        ]


# ---------------------------------------------------------------------- scan targets
def _ports(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise InvalidInput("ports must be whole TCP port numbers, comma-separated (443, 8443)", field="ports") from None


class ScanTargetsScreen(RecordListScreen):
    SCREEN_NAME = "Network scan targets"
    RECORD = "scan target"
    MUTATING_ACTIONS = frozenset({"new", "delete", "scan"})
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = [
        ("name", "Name", 20),
        ("cidrs", "CIDR ranges", 30),
        ("ports", "Ports", 15),
        ("reserved", "Reserved ok", 11),
        ("every", "Every", 5),
        ("last", "Last scan (UTC)", 16),
        ("found", "Found", 5),
    ]
    HELP = """
## Network scan targets
Address ranges and ports certctl probes for TLS listeners; what they serve lands in Discovery.

| key | does |
|---|---|
| `s` | scan the highlighted target now (a progress bar shows how far it is) |
| `n` | new target: the engine refuses loopback, link-local, multicast and reserved ranges unless allowed |
| `d` | delete the highlighted target (confirm) |
"""

    BINDINGS = [
        Binding("s", "scan", "Scan now", id="scan_targets.scan", tooltip="Probe the highlighted target now"),
        Binding("n", "new", "New", id="scan_targets.new", tooltip="Create a scan target"),
        Binding("d", "delete", "Delete", id="scan_targets.delete", tooltip="Delete the highlighted target (confirm)"),
        Binding("q", "quit_list", "Quit", show=False, id="scan_targets.quit", tooltip="Quit certctl"),
    ]

    def compose_extra(self) -> ComposeResult:
        yield ScanProgress(id="scan-progress")

    @property
    def progress(self) -> ScanProgress:
        return self.query_one("#scan-progress", ScanProgress)

    def fetch(self, cursor: str | None, limit: int) -> Page[NetworkScanTarget]:
        return whole(self.capp.engine.discovery.list_targets())

    def row_cells(self, record: NetworkScanTarget) -> list[Any]:
        return [
            cut(record.name, 20) if record.enabled else Text(cut(record.name, 20), style="dim"),
            cut(", ".join(record.cidrs), 30),
            cut(", ".join(str(p) for p in record.ports), 15),
            Text("yes", style="yellow") if record.allow_reserved else "no",
            f"{record.scan_interval_hours}h",
            stamp(record.last_scan_at),
            "-" if record.last_scan_certs_found is None else str(record.last_scan_certs_found),
        ]

    def title_of(self, record: NetworkScanTarget) -> str:
        return f"scan target {record.name}"

    def describe(self, record: NetworkScanTarget) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        last = "never"
        if record.last_scan_at is not None:
            last = f"{stamp(record.last_scan_at)} UTC, {record.last_scan_duration_ms or 0:,} ms"
            last += f", {record.last_scan_certs_found or 0} certificate(s)"
        rows = [
            ("Id", record.id),
            ("Ranges", ", ".join(record.cidrs)),
            ("Ports / SNI", f"{', '.join(map(str, record.ports))} / {', '.join(record.sni_names) or 'none'}"),
            (
                "Schedule",
                f"every {record.scan_interval_hours} h, {record.timeout_ms} ms per connection"
                + ("" if record.enabled else " (disabled)"),
            ),
            ("Reserved ranges", "allowed" if record.allow_reserved else "refused"),
            ("Last scan", last),
        ]
        for key, value in rows:
            table.add_row(key, Text(value))
        return table

    # ------------------------------------------------------------------ scan now
    def action_scan(self) -> None:
        target = self.highlighted()
        if target is None:
            return
        progress = self.progress
        if progress.running is not None:
            self.app.notify(
                f"a scan of {progress.running} is running; wait for it to finish",
                title="Scan now",
                severity="warning",
                markup=False,
            )
            return
        engine, actor = self.capp.engine, self.capp.actor
        progress.start(target.name)
        advanced = progress.report  # called on the engine thread; records the figures, never waits

        async def work() -> None:
            try:
                result: DiscoveryScanResult = await self.capp.calls.run(
                    lambda: engine.discovery.scan_target(target.id, actor=actor, progress=advanced)
                )
            except Exception as exc:  # CertctlError or a bug: shown in the panel and as a toast
                progress.fail(target.name, str(exc))
                self.capp.toast_error("Scan now", exc)
                return
            progress.finish(target.name, result)
            self.capp.toast(
                "Scan now",
                f"{target.name}: {result.certificates_found} found, {result.certificates_new} new, "
                f"{result.errors_count} error(s)",
            )
            self.refresh_data()

        self.run_worker(work, group="scan", exit_on_error=False)

    # ------------------------------------------------------------------ create, delete
    def action_new(self) -> None:
        engine, actor = self.capp.engine, self.capp.actor
        fields = [
            Field("name", "Name"),
            Field("cidrs", "CIDR ranges (comma-separated)", "list", placeholder="10.0.1.0/24, 10.0.2.15"),
            Field("ports", "Ports (comma-separated)", "list", [443]),
            Field("sni_names", "SNI names (comma-separated, optional)", "list"),
            Field("allow_reserved", "Allow loopback, link-local and reserved ranges", "bool", False),
            Field("confirm_size", "Confirm a range larger than 4,096 addresses", "bool", False),
            Field("scan_interval_hours", "Scan every (hours, 1-720)", "int", 6),
            Field("timeout_ms", "Timeout per connection (ms, 100-60000)", "int", 5000),
        ]

        def save(values: dict[str, Any]) -> NetworkScanTarget:
            return engine.discovery.create_target(
                values["name"],
                values["cidrs"],
                actor=actor,
                ports=_ports(values["ports"]),
                sni_names=values["sni_names"],
                allow_reserved=values["allow_reserved"],
                confirm_size=values["confirm_size"],
                scan_interval_hours=values["scan_interval_hours"],
                timeout_ms=values["timeout_ms"],
            )

        def done(target: NetworkScanTarget | None) -> None:
            if target is not None:
                self.capp.toast("Saved", f"scan target '{target.name}' created ({target.id})")
                self.reload(keep=target.id)

        self.app.push_screen(FormScreen("New network scan target", fields, save), done)

    def action_delete(self) -> None:
        target = self.highlighted()
        if target is None:
            return
        engine, actor = self.capp.engine, self.capp.actor

        def deleted(_result: None) -> None:
            self.capp.toast("Deleted", f"scan target '{target.name}' deleted")
            self.refresh_data()

        def answered(yes: bool | None) -> None:
            if yes:
                self.engine_work(
                    lambda: engine.discovery.delete_target(target.id, actor=actor), deleted, title="Delete scan target"
                )
            else:
                self.capp.toast("Delete scan target", "cancelled; nothing changed")

        question = (
            f"Delete scan target '{target.name}' ({target.id}, {', '.join(target.cidrs)})?\n"
            "What it already found stays in Discovery."
        )
        self.app.push_screen(ConfirmDialog("Delete scan target", question, yes_label="Delete"), answered)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("Scan target now", "Probe the highlighted scan target now (s)", self.action_scan, True),
            PaletteCommand("New scan target", "Create a network scan target (n)", self.action_new, True),
            PaletteCommand("Delete scan target", "Delete the highlighted scan target (d)", self.action_delete, True),
        ]
