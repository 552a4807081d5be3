"""The dashboard: inventory by status and expiry, the 90-day expiry timeline, jobs, agents,
violations and the newest audit events. Every figure leads to the list behind it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from certctl_engine.domain import (
    AuditEvent,
    CertificateFilter,
    CertificateStatus,
    DashboardSummary,
    DayCount,
    JobStatus,
    JobTrendPoint,
)
from certctl_tui.format import STATUS_STYLE, stamp
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.widgets.stats import StatLine, StatPanel
from certctl_tui.widgets.timeline import ExpiryTimeline

_STATUS_ORDER = [
    CertificateStatus.ACTIVE,
    CertificateStatus.EXPIRING,
    CertificateStatus.EXPIRED,
    CertificateStatus.FAILED,
    CertificateStatus.RENEWAL_IN_PROGRESS,
    CertificateStatus.PENDING,
    CertificateStatus.REVOKED,
    CertificateStatus.ARCHIVED,
]


@dataclass(frozen=True)
class DashboardData:
    summary: DashboardSummary
    timeline: list[DayCount]
    trends: list[JobTrendPoint]
    issuance: list[DayCount]
    events: tuple[AuditEvent, ...]


class DashboardScreen(CertctlScreen):
    SCREEN_NAME = "Dashboard"
    HELP = """
## Dashboard
The state of the whole inventory at a glance. Every figure opens the list behind it:
move with `tab` / arrow keys and press `enter` (or click). `c` opens all certificates,
`a` the audit trail.
"""

    BINDINGS = [
        Binding("c", "app.open('certs')", "Certificates", id="dashboard.certs", tooltip="Open the inventory"),
        Binding("a", "app.open('audit')", "Audit", id="dashboard.audit", tooltip="Open the audit trail"),
        Binding("q", "quit_list", "Quit", id="dashboard.quit", tooltip="Quit certctl"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dashboard"):
            with Grid(id="dashboard-panels"):
                yield StatPanel("Certificates by status", id="panel-status")
                yield StatPanel("Expiry", id="panel-expiry")
                yield StatPanel("Jobs (30 days)", id="panel-jobs")
                yield StatPanel("Fleet & policy", id="panel-fleet")
            with Vertical(id="timeline-box", classes="box") as box:
                box.border_title = "Expiring in the next 90 days (live certificates per day)"
                yield ExpiryTimeline(id="timeline")
            with Horizontal(id="dashboard-bottom"):
                with Vertical(id="rates-box", classes="box") as rates:
                    rates.border_title = "Last 30 days"
                    yield Static("", id="issuance-label", markup=False)
                    yield Sparkline([], id="issuance-spark")
                    yield Static("", id="renewal-label", markup=False)
                    yield Sparkline([], id="completed-spark")
                    yield Static("", id="failure-label", markup=False)
                    yield Sparkline([], id="failed-spark")
                with Vertical(id="events-box", classes="box") as events:
                    events.border_title = "Newest audit events"
                    yield DataTable(id="events", cursor_type="row", show_cursor=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#events", DataTable)
        # Fixed widths: auto-sized columns are recomputed on a later refresh, so a screen drawn
        # right after the rows arrive could show them header-wide.
        table.add_column("time (UTC)", key="time", width=16)
        table.add_column("actor", key="actor", width=17)
        table.add_column("action", key="action", width=24)
        table.add_column("resource", key="resource", width=40)
        self.refresh_data()

    def refresh_data(self, *, live: bool = False) -> None:
        engine = self.capp.engine

        def load() -> DashboardData:
            return DashboardData(
                summary=engine.stats.dashboard(),
                timeline=engine.stats.expiration_timeline(90),
                trends=engine.stats.job_trends(30),
                issuance=engine.stats.issuance_rate(30),
                events=engine.audit.list(limit=12).items,
            )

        self.engine_work(load, self._show, title="Dashboard", group="load", exclusive=True)

    def _show(self, data: DashboardData) -> None:
        s = data.summary
        inv = s.inventory
        self.query_one("#panel-status", StatPanel).set_lines(
            [
                StatLine(
                    "all",
                    "All (not archived)",
                    inv.total - inv.by_status.get("Archived", 0),
                    "bold",
                    {"flt": CertificateFilter(), "title": "All certificates"},
                )
            ]
            + [
                StatLine(
                    status.value,
                    status.value,
                    inv.by_status.get(status.value, 0),
                    STATUS_STYLE[status.value],
                    {"flt": CertificateFilter(statuses=(status,)), "title": f"Status {status.value}"},
                )
                for status in _STATUS_ORDER
            ]
        )
        expiry = inv.expiry
        self.query_one("#panel-expiry", StatPanel).set_lines(
            [
                StatLine(
                    "expired",
                    "Expired",
                    expiry.expired,
                    "bold red",
                    {"flt": CertificateFilter(statuses=(CertificateStatus.EXPIRED,)), "title": "Expired"},
                ),
                StatLine(
                    "d7",
                    "Expiring 0-7 days",
                    expiry.days_0_7,
                    "red",
                    {"flt": CertificateFilter(expiring_within_days=7), "title": "Expiring within 7 days"},
                ),
                StatLine(
                    "d30",
                    "Expiring 8-30 days",
                    expiry.days_8_30,
                    "yellow",
                    {
                        "flt": CertificateFilter(expiring_after_days=7, expiring_within_days=30),
                        "title": "Expiring in 8-30 days",
                    },
                ),
                StatLine(
                    "d90",
                    "Expiring 31-90 days",
                    expiry.days_31_90,
                    "green",
                    {
                        "flt": CertificateFilter(expiring_after_days=30, expiring_within_days=90),
                        "title": "Expiring in 31-90 days",
                    },
                ),
            ]
        )
        self.query_one("#panel-jobs", StatPanel).set_lines(
            [
                StatLine(
                    "completed",
                    "Completed",
                    s.completed_jobs_30d,
                    "green",
                    {"screen": "jobs", "job_state": JobStatus.COMPLETED},
                ),
                StatLine(
                    "failed",
                    "Failed",
                    s.failed_jobs_30d,
                    "red" if s.failed_jobs_30d else "",
                    {"screen": "jobs", "job_state": JobStatus.FAILED},
                ),
                StatLine(
                    "pending", "Pending", s.pending_jobs, "cyan", {"screen": "jobs", "job_state": JobStatus.PENDING}
                ),
                StatLine(
                    "approval",
                    "Awaiting approval",
                    s.awaiting_approval,
                    "yellow",
                    {"screen": "jobs", "job_state": JobStatus.AWAITING_APPROVAL},
                ),
            ]
        )
        self.query_one("#panel-fleet", StatPanel).set_lines(
            [
                StatLine("online", "Agents online", s.agents.online, "green", {"screen": "agents"}),
                StatLine(
                    "offline",
                    "Agents offline",
                    s.agents.offline,
                    "red" if s.agents.offline else "",
                    {"screen": "agents"},
                ),
                StatLine(
                    "degraded",
                    "Agents degraded",
                    s.agents.degraded,
                    "yellow" if s.agents.degraded else "",
                    {"screen": "agents"},
                ),
                StatLine(
                    "violations",
                    "Policy violations",
                    s.open_violations,
                    "bold red" if s.open_violations else "",
                    {"screen": "violations"},
                ),
                StatLine("audit", "Audit events", s.audit_sequence, "", {"screen": "audit"}),
            ]
        )
        self.query_one("#timeline", ExpiryTimeline).set_data(data.timeline, self.capp.now().date())
        issued = [p.count for p in data.issuance]
        completed = [p.completed for p in data.trends]
        failed = [p.failed for p in data.trends]
        total_done, total_failed = sum(completed), sum(failed)
        rate = f"{total_done / (total_done + total_failed):.0%}" if total_done + total_failed else "-"
        self.query_one("#issuance-label", Static).update(
            Text.assemble(("Issued ", "bold"), f"{sum(issued)} versions, {sum(issued) / 30:.1f}/day")
        )
        self.query_one("#renewal-label", Static).update(
            Text.assemble(("Jobs completed ", "bold"), f"{total_done} (success rate {rate})")
        )
        self.query_one("#failure-label", Static).update(Text.assemble(("Jobs failed ", "bold"), str(total_failed)))
        self.query_one("#issuance-spark", Sparkline).data = issued or [0]
        self.query_one("#completed-spark", Sparkline).data = completed or [0]
        self.query_one("#failed-spark", Sparkline).data = failed or [0]
        table = self.query_one("#events", DataTable)
        row = table.cursor_row
        table.clear()
        for event in data.events:
            table.add_row(
                stamp(event.timestamp),
                event.actor,
                event.action,
                f"{event.resource_type}/{event.resource_id}",
                key=event.id,
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        self.capp.mark_loaded()

    # ------------------------------------------------------------------ leading to lists
    def on_stat_panel_opened(self, event: StatPanel.Opened) -> None:
        target = event.line.target
        if not target:
            self.capp.toast(event.line.label, "no list behind this figure")
            return
        if "screen" in target:
            self.capp.open_screen(target["screen"], job_state=target.get("job_state"))
            return
        self.capp.open_screen("certs", flt=target["flt"], title=target["title"])

    def on_expiry_timeline_selected(self, event: ExpiryTimeline.Selected) -> None:
        self.capp.open_screen(
            "certs", flt=CertificateFilter(expiring_within_days=event.days), title=f"Expiring within {event.days} days"
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from certctl_tui.screens.audit import AuditEventScreen

        if event.row_key.value:
            self.app.push_screen(AuditEventScreen(event.row_key.value))

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Certificates expiring within 7 days",
                "The urgent list",
                lambda: self.capp.open_screen(
                    "certs", flt=CertificateFilter(expiring_within_days=7), title="Expiring within 7 days"
                ),
            ),
            PaletteCommand(
                "Expired certificates",
                "Certificates past their expiry",
                lambda: self.capp.open_screen(
                    "certs", flt=CertificateFilter(statuses=(CertificateStatus.EXPIRED,)), title="Expired"
                ),
            ),
        ]
