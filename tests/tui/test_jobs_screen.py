"""Pilot tests of the jobs screen: filters, approve / reject / cancel with a confirmation, retry, read-only."""

from __future__ import annotations

import threading

import pytest
from textual.widget import Widget
from textual.widgets import Input, Static
from tui_helpers import settle, wait_until

from certctl_engine.domain import Actor, JobStatus, JobType
from certctl_tui.screens.jobs import JobsScreen
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import FormScreen
from certctl_tui.widgets.paged_table import PagedTable

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


def shown(widget: Widget) -> str:
    lines = widget.render_lines(widget.region.reset_offset)
    return "\n".join("".join(segment.text for segment in line) for line in lines)


def squeezed(text: str) -> str:
    """Text without whitespace and box sides: a long line wrapped inside a box still compares equal."""
    return "".join(text.replace("│", " ").split())


def row_ids(screen: JobsScreen) -> list[str]:
    return [str(key.value) for key in screen.query_one(PagedTable).rows]


async def open_jobs(pilot) -> JobsScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("colon", *"jobs", "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, JobsScreen)
    await wait_until(pilot, lambda: screen.table.row_count > 0)
    return screen


async def highlight(pilot, screen: JobsScreen, job_id: str) -> None:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: job_id in screen.jobs)
    screen.table.move_cursor(row=screen.table.get_row_index(job_id))
    await settle(pilot)
    assert screen.highlighted() is not None and screen.highlighted().id == job_id  # type: ignore[union-attr]


async def confirm_dialog(pilot, *names: str) -> ConfirmDialog:  # type: ignore[no-untyped-def]
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmDialog)
    question = str(dialog.query_one("#confirm-question", Static).render())
    for name in names:
        assert name in question
    assert dialog.focused is not None and dialog.focused.id == "confirm-no"  # the default is No
    return dialog


async def test_state_and_type_filters(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        assert row_ids(screen) == [j.id for j in demo_engine.jobs.list(limit=50).items]
        await pilot.press("t")  # AwaitingApproval
        waiting = [j.id for j in demo_engine.jobs.list(status=JobStatus.AWAITING_APPROVAL).items]
        assert sorted(waiting) == ["job-approval-01", "job-approval-02"]
        await wait_until(pilot, lambda: row_ids(screen) == waiting)
        await pilot.press("t", "y")  # Failed, Issuance
        failed_issuance = demo_engine.jobs.list(status=JobStatus.FAILED, type=JobType.ISSUANCE).items
        assert [j.id for j in failed_issuance] == ["job-partner-issuance"]
        await wait_until(pilot, lambda: row_ids(screen) == ["job-partner-issuance"])
        info = str(screen.query_one("#jobs-info", Static).render())
        assert "state Failed" in info and "type Issuance" in info


async def test_approve_asks_first_and_no_leaves_the_job_waiting(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-approval-01")
        await pilot.press("a")
        await confirm_dialog(pilot, "job-approval-01", "mc-auth-prod")
        await pilot.press("enter")  # No
        await settle(pilot)
        assert app.screen is screen
        assert demo_engine.jobs.get("job-approval-01").status is JobStatus.AWAITING_APPROVAL

        await pilot.press("a")
        await confirm_dialog(pilot, "job-approval-01")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.jobs["job-approval-01"].status is JobStatus.PENDING)
        job = demo_engine.jobs.get("job-approval-01")
        assert job.status is JobStatus.PENDING
        assert job.details["approved_by"] == app.actor.name
        assert screen.highlighted().id == "job-approval-01"  # type: ignore[union-attr]


async def test_the_requester_cannot_approve_and_is_told_why(make_app, demo_engine) -> None:
    app = make_app(actor=Actor("carol@example.com"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-approval-02")
        await pilot.press("a")
        await confirm_dialog(pilot, "job-approval-02", "carol@example.com")
        await pilot.press("y")
        await wait_until(pilot, lambda: any("cannot also approve" in n.message for n in app._notifications))
        assert demo_engine.jobs.get("job-approval-02").status is JobStatus.AWAITING_APPROVAL


async def test_reject_with_a_reason(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-approval-02")
        await pilot.press("j")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-reason", Input).value = "admin portal is being replaced"
        await pilot.press("ctrl+s")
        await confirm_dialog(pilot, "job-approval-02", "admin portal is being replaced")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.jobs["job-approval-02"].status is JobStatus.CANCELLED)
        job = demo_engine.jobs.get("job-approval-02")
        assert job.status is JobStatus.CANCELLED
        assert job.last_error == "rejected: admin portal is being replaced"
        assert "rejected: admin portal is being replaced" in shown(screen.query_one("#job-detail"))


async def test_cancel_a_pending_job(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-mail-deploy")
        await pilot.press("c")
        await confirm_dialog(pilot, "job-mail-deploy", "mc-mail-prod", "Pending")
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.jobs["job-mail-deploy"].status is JobStatus.CANCELLED)
        assert demo_engine.jobs.get("job-mail-deploy").status is JobStatus.CANCELLED


async def test_retry_a_failed_job_and_its_error_is_shown_verbatim(make_app, demo_engine) -> None:
    before = demo_engine.jobs.get("job-vpn-renewal")
    assert before.status is JobStatus.FAILED and before.last_error
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-vpn-renewal")
        assert squeezed(before.last_error) in squeezed(shown(screen.query_one("#job-detail")))
        await pilot.press("c")  # a failed job cannot be cancelled: a warning, no dialog
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.jobs["job-vpn-renewal"].status is JobStatus.PENDING)
        after = demo_engine.jobs.get("job-vpn-renewal")
        assert after.status is JobStatus.PENDING
        assert after.max_attempts == before.attempts + 1


async def test_read_only_hides_every_job_action(make_app, demo_engine) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not actions & {"approve", "reject", "cancel", "retry"}
        assert {"cycle_state", "cycle_type"} <= actions
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not [t for t in titles if t.split()[0] in ("Approve", "Reject", "Cancel", "Retry")]
        assert "Go to Jobs" in titles
        await highlight(pilot, screen, "job-approval-01")
        await pilot.press("a", "j", "c", "r")
        await settle(pilot)
        assert app.screen is screen
        assert demo_engine.jobs.get("job-approval-01").status is JobStatus.AWAITING_APPROVAL


async def test_live_refresh_shows_a_change_made_elsewhere(make_app, demo_engine) -> None:
    app = make_app(poll_seconds=1.0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-approval-01")

        def change() -> None:  # another thread, its own store connection
            demo_engine.jobs.cancel("job-mail-deploy", actor=Actor("someone-else"))

        worker = threading.Thread(target=change)
        worker.start()
        worker.join()
        await wait_until(pilot, lambda: screen.jobs["job-mail-deploy"].status is JobStatus.CANCELLED, timeout=6)
        assert screen.highlighted().id == "job-approval-01"  # type: ignore[union-attr]


async def test_the_dashboard_jobs_figures_open_the_jobs_behind_them(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.screen.query_one("#panel-jobs")
        panel.query_one("OptionList").focus()
        await pilot.press("down", "down", "down", "enter")  # the fourth line: Awaiting approval
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, JobsScreen)
        assert screen.state is JobStatus.AWAITING_APPROVAL
        expected = [j.id for j in demo_engine.jobs.list(status=JobStatus.AWAITING_APPROVAL).items]
        await wait_until(pilot, lambda: row_ids(screen) == expected)
        await pilot.press("escape")
        await settle(pilot)
        panel.query_one("OptionList").focus()
        await pilot.press("up", "up", "enter")  # Failed
        await settle(pilot)
        assert isinstance(app.screen, JobsScreen) and app.screen.state is JobStatus.FAILED


async def test_enter_opens_the_jobs_certificate(make_app) -> None:
    from certctl_tui.screens.certificate_detail import CertificateDetailScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_jobs(pilot)
        await highlight(pilot, screen, "job-vpn-renewal")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CertificateDetailScreen)
        assert app.screen.cert_id == "mc-vpn-prod"
        await pilot.press("escape")
        assert app.screen is screen


async def test_the_dashboard_fleet_figures_open_agents_and_violations(make_app) -> None:
    from certctl_tui.screens.agents import AgentsScreen
    from certctl_tui.screens.alerts import ViolationsScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.screen.query_one("#panel-fleet")
        panel.query_one("OptionList").focus()
        await pilot.press("down", "enter")  # Agents offline
        await settle(pilot)
        assert isinstance(app.screen, AgentsScreen)
        await pilot.press("escape")
        await settle(pilot)
        panel.query_one("OptionList").focus()
        await pilot.press("down", "down", "enter")  # Policy violations
        await settle(pilot)
        assert isinstance(app.screen, ViolationsScreen)
