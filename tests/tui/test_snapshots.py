"""Snapshots of every screen at 120x40 on the demo dataset with a frozen clock.

The SVGs live in snapshots/test_snapshots/. After a deliberate change to a screen, look at
the new SVGs, then accept them with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select
from tui_helpers import settle

from certctl_tui.screens.certificate_detail import CertificateDetailScreen

SIZE = (120, 40)


async def tables_sized(pilot: Any, timeout: float = 5.0) -> None:
    """Wait until every table on every open screen has sized its columns to its rows.

    DataTable sizes auto-width columns on an idle refresh after rows arrive; on a loaded machine
    that can come after the picture would otherwise be taken (a private flag says it is due).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tables = [t for screen in pilot.app.screen_stack for t in screen.query(DataTable)]
        if not any(getattr(t, "_require_update_dimensions", False) for t in tables):
            return
        await pilot.pause(0.05)
    raise AssertionError("tables never finished sizing their columns")


def go(*steps: Callable[[Any], Any], keys: tuple[str, ...] = ()) -> Callable[[Any], Awaitable[None]]:
    """A run_before: wait for the dashboard, run each step on the app, press keys, wait again."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for step in steps:
            step(pilot.app)
            await settle(pilot)
        if keys:
            await pilot.press(*keys)
            # Input suggestions are computed asynchronously after a key press: let them land.
            await pilot.pause(0.3)
        await settle(pilot)
        # Tables size auto-width columns on a later refresh; let that happen before the picture,
        # and stop text cursors blinking so the picture does not depend on when it is taken.
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await tables_sized(pilot)
        await settle(pilot)

    return run_before


def open_screen(name: str) -> Callable[[Any], None]:
    return lambda app: app.open_screen(name)


def open_detail(cert_id: str) -> Callable[[Any], None]:
    return lambda app: app.push_screen(CertificateDetailScreen(cert_id))


def test_dashboard(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go())


def test_certificates(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(open_screen("certs")))


def test_certificates_filtered_and_sorted(snap_compare, make_app) -> None:
    def filtered(app: Any) -> None:
        app.screen.query_one("#filter", Input).display = True
        app.screen.query_one("#filter", Input).value = "example.com"

    assert snap_compare(
        make_app(), terminal_size=SIZE, run_before=go(open_screen("certs"), filtered, keys=("C", "down", "space"))
    )


def test_certificates_inverted_filter(snap_compare, make_app) -> None:
    def not_prod(app: Any) -> None:
        app.screen.query_one("#filter", Input).display = True
        app.screen.query_one("#filter", Input).value = "!prod"

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(open_screen("certs"), not_prod))


def test_certificates_sorted_by_owner(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(open_screen("certs"), keys=("O",)))


def test_certificate_detail(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(open_detail("mc-vpn-prod")))


def test_version_diff(snap_compare, make_app) -> None:
    def mark_oldest_and_newest(app: Any) -> None:
        screen = app.screen
        screen.query_one("#versions", DataTable).focus()
        screen.action_mark_version()  # the newest
        screen.query_one("#versions", DataTable).move_cursor(row=3)
        screen.action_mark_version()  # the oldest

    compare = go(open_detail("mc-ldap-internal"), mark_oldest_and_newest, lambda app: app.screen.action_diff())
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=compare)


def highlight_job(job_id: str) -> Callable[[Any], None]:
    def move(app: Any) -> None:
        table = app.screen.query_one("#jobs", DataTable)
        table.move_cursor(row=table.get_row_index(job_id))

    return move


def test_jobs(snap_compare, make_app) -> None:
    jobs = go(open_screen("jobs"), highlight_job("job-vpn-renewal"))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=jobs)


def test_jobs_approve_confirm(snap_compare, make_app) -> None:
    approve = go(open_screen("jobs"), highlight_job("job-approval-01"), lambda app: app.screen.action_approve())
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=approve)


def test_read_only_jobs(snap_compare, make_app) -> None:
    jobs = go(open_screen("jobs"), highlight_job("job-approval-02"))
    assert snap_compare(make_app(read_only=True), terminal_size=SIZE, run_before=jobs)


@pytest.mark.parametrize("screen", ["issuers", "profiles", "owners", "teams", "policies", "audit"])
def test_config_and_audit_screens(snap_compare, make_app, screen: str) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(open_screen(screen)))


def test_read_only_detail(snap_compare, make_app) -> None:
    assert snap_compare(make_app(read_only=True), terminal_size=SIZE, run_before=go(open_detail("mc-api-prod")))


def test_revoke_confirm_dialog(snap_compare, make_app) -> None:
    def pick_reason(app: Any) -> None:
        app.screen.query_one("#field-reason", Select).value = "keyCompromise"
        app.screen.action_save()

    assert snap_compare(
        make_app(),
        terminal_size=SIZE,
        run_before=go(open_detail("mc-api-prod"), lambda app: app.screen.action_revoke(), pick_reason),
    )


def test_form_with_validation_error(snap_compare, make_app) -> None:
    def fill(app: Any) -> None:
        app.screen.query_one("#field-name", Input).value = "Zed"
        app.screen.query_one("#field-email", Input).value = "not-an-email"
        app.screen.action_save()

    assert snap_compare(
        make_app(),
        terminal_size=SIZE,
        run_before=go(open_screen("owners"), lambda app: app.screen.action_new(), fill),
    )


def test_export_form(snap_compare, make_app) -> None:
    export = go(open_detail("mc-api-prod"), lambda app: app.screen.action_export())
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=export)


def test_command_bar(snap_compare, make_app) -> None:
    bar = go(lambda app: app.action_command_bar(), keys=("c", "e"))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=bar)


def test_help(snap_compare, make_app) -> None:
    help_on_certs = go(open_screen("certs"), lambda app: app.action_context_help())
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=help_on_certs)


def test_keys_panel(snap_compare, make_app) -> None:
    keys_on_certs = go(open_screen("certs"), lambda app: app.action_toggle_keys())
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=keys_on_certs)
