"""Jobs: the engine's unit of work (issue, renew, deploy, validate), newest first, paged.

Filters by type and state; approve or reject a job waiting for approval, cancel a waiting
or running one (each after a confirmation naming the job, No by default), retry a failed
one. The panel under the table shows the highlighted job with its last error verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from certctl_engine.domain import Job, JobStatus, JobType, Page
from certctl_tui.format import stamp
from certctl_tui.screens.base import PaletteCommand
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import Field, FormScreen
from certctl_tui.widgets.record_list import RecordListScreen, cut

TYPE_CHOICES: list[JobType | None] = [None, *JobType]
STATE_CHOICES: list[JobStatus | None] = [
    None,
    JobStatus.AWAITING_APPROVAL,
    JobStatus.FAILED,
    JobStatus.PENDING,
    JobStatus.RUNNING,
    JobStatus.AWAITING_CSR,
    JobStatus.COMPLETED,
    JobStatus.CANCELLED,
]
STATE_STYLE: dict[JobStatus, str] = {
    JobStatus.PENDING: "cyan",
    JobStatus.AWAITING_CSR: "cyan",
    JobStatus.AWAITING_APPROVAL: "bold yellow",
    JobStatus.RUNNING: "blue",
    JobStatus.COMPLETED: "green",
    JobStatus.FAILED: "bold red",
    JobStatus.CANCELLED: "dim",
}
WAITING = {JobStatus.PENDING, JobStatus.RUNNING, JobStatus.AWAITING_APPROVAL, JobStatus.AWAITING_CSR}

JOB_COLUMNS: list[tuple[str, str, int]] = [
    ("id", "Job", 20),
    ("type", "Type", 10),
    ("state", "State", 16),
    ("cert", "Certificate", 20),
    ("attempts", "Tries", 5),
    ("by", "Requested by", 17),
    ("created", "Created (UTC)", 16),
]


def job_label(job: Job) -> str:
    """How a confirmation names a job: id, type and the certificate it works on."""
    return f"{job.type.value} job '{job.id}' of certificate '{job.certificate_id}'"


def job_panel(job: Job) -> Table:
    """The highlighted job in full; the last error exactly as the engine keeps it."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    rows: list[tuple[str, Text | str]] = [
        ("State", Text(job.status.value, style=STATE_STYLE.get(job.status, ""))),
        ("Certificate", job.certificate_id),
        ("Target / agent", f"{job.target_id or '-'} / {job.agent_id or '-'}"),
        ("Attempts", f"{job.attempts} of {job.max_attempts}"),
        ("Scheduled", f"{stamp(job.scheduled_at)} UTC"),
        ("Started / done", f"{stamp(job.started_at)} / {stamp(job.completed_at)}"),
        ("Last error", Text(job.last_error, style="red") if job.last_error else Text("none", style="dim")),
    ]
    for key, value in rows:
        table.add_row(key, value if isinstance(value, Text) else Text(value))
    return table


class JobsScreen(RecordListScreen):
    SCREEN_NAME = "Jobs"
    MUTATING_ACTIONS = frozenset({"approve", "reject", "cancel", "retry"})
    HELP = """
## Jobs
Issuance, renewal, deployment and validation jobs, newest first, loaded a page at a time.

| key | does |
|---|---|
| `t` | cycle the state filter: AwaitingApproval, Failed, Pending, Running, ... |
| `y` | cycle the type filter: Issuance, Renewal, Deployment, Validation |
| `a` | approve the job waiting for approval (confirm; the requester cannot approve) |
| `j` | reject it, with an optional reason (confirm) |
| `c` | cancel a waiting or running job (confirm) |
| `r` | retry a failed job: one more attempt, now |
| `enter` | open the job's certificate |

The panel under the table shows the highlighted job; its last error is shown verbatim.
"""

    BINDINGS = [
        Binding("t", "cycle_state", "State", id="jobs.state", tooltip="Cycle the state filter"),
        Binding("y", "cycle_type", "Type", id="jobs.type", tooltip="Cycle the type filter"),
        Binding("a", "approve", "Approve", id="jobs.approve", tooltip="Approve the job waiting for approval"),
        Binding("j", "reject", "Reject", id="jobs.reject", tooltip="Reject the job waiting for approval"),
        Binding("c", "cancel", "Cancel", id="jobs.cancel", tooltip="Cancel a waiting or running job"),
        Binding("r", "retry", "Retry", id="jobs.retry", tooltip="Retry a failed job now"),
        Binding("q", "quit_list", "Quit", show=False, id="jobs.quit", tooltip="Quit certctl"),
    ]

    RECORD = "job"
    INFO_ID = "jobs-info"
    TABLE_ID = "jobs"
    DETAIL_ID = "job-detail"
    PAGE_ROWS = 50
    COLUMNS = JOB_COLUMNS

    def __init__(self, *, state: JobStatus | None = None, job_type: JobType | None = None) -> None:
        super().__init__()
        self.state = state
        self.job_type = job_type

    @property
    def jobs(self) -> dict[str, Job]:
        return self.records

    # ------------------------------------------------------------------ rows
    def fetch(self, cursor: str | None, limit: int) -> Page[Job]:
        return self.capp.engine.jobs.list(status=self.state, type=self.job_type, limit=limit, cursor=cursor)

    def row_cells(self, job: Job) -> list[Any]:
        return [
            cut(job.id, 20),
            job.type.value,
            Text(job.status.value, style=STATE_STYLE.get(job.status, "")),
            cut(job.certificate_id, 20),
            f"{job.attempts}/{job.max_attempts}",
            cut(job.requested_by, 17),
            stamp(job.created_at),
        ]

    def describe(self, job: Job) -> Table:
        return job_panel(job)

    def title_of(self, job: Job) -> str:
        return f"{job.type.value} job {job.id}"

    def empty_text(self) -> str:
        return "no jobs match"

    def info_parts(self) -> list[str]:
        return [
            "state " + (self.state.value if self.state else "any"),
            "type " + (self.job_type.value if self.job_type else "any"),
        ]

    # ------------------------------------------------------------------ filters
    def action_cycle_state(self) -> None:
        self.state = STATE_CHOICES[(STATE_CHOICES.index(self.state) + 1) % len(STATE_CHOICES)]
        self.reload()

    def action_cycle_type(self) -> None:
        self.job_type = TYPE_CHOICES[(TYPE_CHOICES.index(self.job_type) + 1) % len(TYPE_CHOICES)]
        self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        job = self.jobs.get(event.row_key.value or "")
        if job is not None:
            from certctl_tui.screens.certificate_detail import CertificateDetailScreen

            self.app.push_screen(CertificateDetailScreen(job.certificate_id))

    # ------------------------------------------------------------------ actions
    def _act(self, title: str, verb: str, job: Job, fn: Callable[[str], Job]) -> None:
        """Run a job action on an engine thread (on the job that was asked about), say what became of it."""

        def done(changed: Job) -> None:
            self.capp.toast(title, f"{job_label(changed)} {verb}; now {changed.status.value}")
            self.refresh_data()

        self.engine_work(lambda: fn(job.id), done, title=title)

    def _confirm(self, title: str, question: str, yes_label: str, go: Callable[[], None]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                go()
            else:
                self.capp.toast(title, "cancelled; nothing changed")

        self.app.push_screen(ConfirmDialog(title, question, yes_label=yes_label), answered)

    def _refuse(self, title: str, job: Job | None, needs: str) -> None:
        """Say why the action does not apply to this job (the engine would refuse it too)."""
        if job is not None:
            self.app.notify(
                f"{job_label(job)} is {job.status.value}; {needs}", title=title, severity="warning", markup=False
            )

    def action_approve(self) -> None:
        job = self.highlighted()
        if job is None or job.status is not JobStatus.AWAITING_APPROVAL:
            self._refuse("Approve", job, "only a job awaiting approval can be approved")
            return
        engine, actor = self.capp.engine, self.capp.actor
        self._confirm(
            "Approve job",
            f"Approve {job_label(job)}, requested by {job.requested_by}?\n"
            "It will run as soon as the scheduler picks it up.",
            "Approve",
            lambda: self._act("Approve", "approved", job, lambda i: engine.jobs.approve(i, actor=actor)),
        )

    def action_reject(self) -> None:
        job = self.highlighted()
        if job is None or job.status is not JobStatus.AWAITING_APPROVAL:
            self._refuse("Reject", job, "only a job awaiting approval can be rejected")
            return
        engine, actor = self.capp.engine, self.capp.actor
        fields = [Field("reason", "Reason (kept as the job's last error)", placeholder="optional")]

        def asked(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            reason = (values.get("reason") or "").strip()
            self._confirm(
                "Reject job",
                f"Reject {job_label(job)}{f' ({reason})' if reason else ''}?\nThe job is cancelled and will not run.",
                "Reject",
                lambda: self._act("Reject", "rejected", job, lambda i: engine.jobs.reject(i, reason, actor=actor)),
            )

        self.app.push_screen(FormScreen(f"Reject {job_label(job)}", fields, lambda v: v), asked)

    def action_cancel(self) -> None:
        job = self.highlighted()
        if job is None or job.status not in WAITING:
            self._refuse("Cancel", job, "only a waiting or running job can be cancelled")
            return
        engine, actor = self.capp.engine, self.capp.actor
        self._confirm(
            "Cancel job",
            f"Cancel {job_label(job)} ({job.status.value})?\nIt will not run again; this cannot be undone.",
            "Cancel job",
            lambda: self._act("Cancel", "cancelled", job, lambda i: engine.jobs.cancel(i, actor=actor)),
        )

    def action_retry(self) -> None:
        job = self.highlighted()
        if job is None or job.status is not JobStatus.FAILED:
            self._refuse("Retry", job, "only a failed job can be retried")
            return
        engine, actor = self.capp.engine, self.capp.actor
        self._act("Retry", "queued for one more attempt", job, lambda i: engine.jobs.retry(i, actor=actor))

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("Cycle job state filter", "Any, AwaitingApproval, Failed, ... (t)", self.action_cycle_state),
            PaletteCommand("Cycle job type filter", "Any, Issuance, Renewal, ... (y)", self.action_cycle_type),
            PaletteCommand("Approve job", "Approve the highlighted job (a)", self.action_approve, mutating=True),
            PaletteCommand("Reject job", "Reject the highlighted job (j)", self.action_reject, mutating=True),
            PaletteCommand("Cancel job", "Cancel the highlighted job (c)", self.action_cancel, mutating=True),
            PaletteCommand("Retry job", "Retry the highlighted failed job (r)", self.action_retry, mutating=True),
        ]
