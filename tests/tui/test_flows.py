"""Pilot tests of the dashboard's flows on the demo dataset (frozen clock)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static
from tui_helpers import settle, wait_until

from certctl_engine.domain import Actor, CertificateFilter, CertificateSortField, CertificateStatus, SortOrder
from certctl_tui.screens.certificate_detail import CertificateDetailScreen
from certctl_tui.screens.certificates import CertificatesScreen
from certctl_tui.screens.config import IssuersScreen, TeamsScreen
from certctl_tui.screens.dashboard import DashboardScreen
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import FormScreen
from certctl_tui.widgets.paged_table import PagedTable

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


def row_ids(screen: CertificatesScreen) -> list[str]:
    table = screen.query_one(PagedTable)
    return [str(key.value) for key in table.rows]


async def open_certs(pilot) -> CertificatesScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.open_screen("certs")  # typing ":certs" is tested once, in the command bar test
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CertificatesScreen)
    return screen


async def open_detail(pilot, cert_id: str) -> CertificateDetailScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.push_screen(CertificateDetailScreen(cert_id))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CertificateDetailScreen)
    assert screen.data is not None
    return screen


async def test_dashboard_figure_opens_the_filtered_list(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        panel = app.screen.query_one("#panel-expiry")
        panel.query_one("OptionList").focus()
        await pilot.press("enter")  # the first line: Expired
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CertificatesScreen)
        expired = demo_engine.certificates.list(CertificateFilter(statuses=(CertificateStatus.EXPIRED,)))
        assert row_ids(screen) == [c.id for c in expired.items]
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_filter_by_typing(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        everything = row_ids(screen)
        await pilot.press("slash", *"staging")
        expected = [c.id for c in demo_engine.certificates.list(CertificateFilter(query="staging")).items]
        assert 0 < len(expected) < len(everything)
        await wait_until(pilot, lambda: row_ids(screen) == expected)
        assert screen.query_one("#filter", Input).value == "staging"
        # esc clears the filter and brings everything back
        await pilot.press("escape")
        await wait_until(pilot, lambda: row_ids(screen) == everything)


async def test_sort_with_shift_letters(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        by_cn = [c.id for c in demo_engine.certificates.list(sort=CertificateSortField.COMMON_NAME).items]
        await pilot.press("C")
        await wait_until(pilot, lambda: row_ids(screen) == by_cn)
        await pilot.press("C")  # again: reversed
        by_cn_desc = [
            c.id
            for c in demo_engine.certificates.list(sort=CertificateSortField.COMMON_NAME, order=SortOrder.DESC).items
        ]
        await wait_until(pilot, lambda: row_ids(screen) == by_cn_desc)
        assert screen.order is SortOrder.DESC


async def test_enter_opens_the_detail(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        await pilot.press("down", "down")
        wanted = screen.highlighted_id()
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, CertificateDetailScreen)
        assert detail.cert_id == wanted
        assert detail.data is not None and detail.data.cert.id == wanted
        await pilot.press("escape")
        assert app.screen is screen


async def test_renew_adds_a_version(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-mail-prod")
        before = len(demo_engine.certificates.list_versions("mc-mail-prod"))
        shown = detail.query_one("#versions").row_count
        assert shown == before
        await pilot.press("r")
        await wait_until(pilot, lambda: detail.query_one("#versions").row_count == before + 1)
        versions = demo_engine.certificates.list_versions("mc-mail-prod")
        assert len(versions) == before + 1
        assert demo_engine.certificates.get("mc-mail-prod").current_version_id == versions[0].id


async def _revoke_until_confirm(pilot, detail: CertificateDetailScreen) -> ConfirmDialog:  # type: ignore[no-untyped-def]
    await pilot.press("x")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, FormScreen)
    form.query_one("#field-reason", Select).value = "keyCompromise"
    await pilot.press("ctrl+s")
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmDialog)
    question = str(dialog.query_one("#confirm-question", Static).render())
    assert "mc-api-prod" in question and "keyCompromise" in question
    assert dialog.focused is not None and dialog.focused.id == "confirm-no"  # the default is No
    return dialog


async def test_revoke_cancel_leaves_it_untouched(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-api-prod")
        before = demo_engine.certificates.get("mc-api-prod")
        await _revoke_until_confirm(pilot, detail)
        await pilot.press("enter")  # enter on the default button: No
        await settle(pilot)
        assert app.screen is detail
        after = demo_engine.certificates.get("mc-api-prod")
        assert after.status is before.status is not CertificateStatus.REVOKED
        assert after.revoked_at is None


async def test_revoke_with_confirmation(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-api-prod")
        await _revoke_until_confirm(pilot, detail)
        await pilot.press("y")
        await wait_until(
            pilot, lambda: detail.data is not None and detail.data.cert.status is CertificateStatus.REVOKED
        )
        cert = demo_engine.certificates.get("mc-api-prod")
        assert cert.status is CertificateStatus.REVOKED
        assert cert.revocation_reason == "keyCompromise"


async def test_export_pem_and_pkcs12_to_a_path(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, "mc-api-prod")
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-path", Input).value = str(tmp_path / "pem")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: (tmp_path / "pem" / "fullchain.pem").exists())
        assert (tmp_path / "pem" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert not (tmp_path / "pem" / "privkey.pem").exists()

        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-format", Select).value = "pkcs12"
        form.query_one("#field-path", Input).value = str(tmp_path / "api.p12")
        await pilot.press("ctrl+s")  # no passphrase: the form says so under the field
        await settle(pilot)
        error = form.query_one("#error-passphrase", Static)
        assert "passphrase" in str(error.render())
        form.query_one("#field-passphrase", Input).value = "correct horse"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: (tmp_path / "api.p12").exists())
        assert (tmp_path / "api.p12").read_bytes()[:1] == b"\x30"  # DER SEQUENCE


MUTATING = {
    "renew", "revoke", "export", "archive", "edit", "renew_marked", "new", "delete",
}  # fmt: skip


def _mutating_bindings(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [b.binding.action for b in app.screen.active_bindings.values() if b.binding.action.split("(")[0] in MUTATING]


def _palette_titles(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.title for c in app.get_system_commands(app.screen)]


async def test_read_only_shows_no_mutating_binding_or_command(make_app, demo_engine) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        assert _mutating_bindings(app) == []
        assert not [t for t in _palette_titles(app) if t.startswith("Renew")]
        await pilot.press("r")  # nothing happens
        await settle(pilot)
        assert app.screen is screen
        detail = await open_detail(pilot, "mc-api-prod")
        assert _mutating_bindings(app) == []
        titles = _palette_titles(app)
        assert "Go to Certificates" in titles
        assert not [t for t in titles if t.split()[0] in ("Renew", "Revoke", "Export", "Archive", "Edit")]
        versions = len(demo_engine.certificates.list_versions("mc-api-prod"))
        await pilot.press("r", "x", "e", "a", "o")
        await settle(pilot)
        assert app.screen is detail
        assert len(demo_engine.certificates.list_versions("mc-api-prod")) == versions
        app.open_screen("teams")
        await settle(pilot)
        assert isinstance(app.screen, TeamsScreen)
        assert _mutating_bindings(app) == []
        assert "read-only" in str(app.sub_title)

    writable = make_app()
    async with writable.run_test(size=SIZE) as pilot:
        await open_detail(pilot, "mc-api-prod")
        assert {"renew", "revoke", "export", "archive", "edit"} <= set(_mutating_bindings(writable))


async def test_live_refresh_picks_up_a_change_from_another_connection(make_app, demo_engine) -> None:
    app = make_app(poll_seconds=1.0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        table = screen.query_one(PagedTable)
        await pilot.press("down", "down", "down", "down", "down")
        kept = screen.highlighted_id()
        cert_id = "mc-mail-prod"
        assert "Alice" not in str(table.get_cell(cert_id, "owner"))

        def change() -> None:  # another thread: its own store connection, like another process
            demo_engine.certificates.update(cert_id, actor=Actor("someone-else"), owner_id="o-alice")

        worker = threading.Thread(target=change)
        worker.start()
        worker.join()
        await wait_until(pilot, lambda: "Alice" in str(table.get_cell(cert_id, "owner")), timeout=6)
        assert screen.highlighted_id() == kept  # the cursor stayed on the same certificate


async def test_list_loads_pages_as_the_cursor_moves(make_app, demo_engine) -> None:
    actor = Actor("test")
    for n in range(90):
        demo_engine.certificates.create(name=f"bulk-{n:03d}", common_name=f"bulk-{n:03d}.example.com",
                                        issuer_id="iss-local", actor=actor)  # fmt: skip
    total = demo_engine.certificates.count()
    assert total > 100
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        table = screen.query_one(PagedTable)
        assert table.row_count == 50  # one page, not the whole inventory
        await pilot.press("end")
        await wait_until(pilot, lambda: table.row_count == 100)
        await pilot.press("end")
        await wait_until(pilot, lambda: table.row_count == total)
        assert len(set(row_ids(screen))) == total
        assert screen.next_cursor is None


async def test_mark_and_bulk_renew(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        screen.query_one("#filter", Input).value = "example.com"
        await settle(pilot)
        active = [i for i in row_ids(screen) if screen.certs[i].status is CertificateStatus.ACTIVE][:2]
        table = screen.query_one(PagedTable)
        for cert_id in active:
            table.move_cursor(row=table.get_row_index(cert_id))
            await pilot.press("space")
        assert screen.marked == set(active)
        counts = {i: len(demo_engine.certificates.list_versions(i)) for i in active}
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_until(pilot, lambda: not screen.marked, timeout=6)
        for cert_id in active:
            assert len(demo_engine.certificates.list_versions(cert_id)) == counts[cert_id] + 1


async def test_command_bar_palette_help_and_quit(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"certs", "enter")
        await settle(pilot)
        assert isinstance(app.screen, CertificatesScreen)
        await pilot.press("colon", *"iss", "enter")  # a unique prefix works too
        await settle(pilot)
        assert isinstance(app.screen, IssuersScreen)
        await pilot.press("colon", *"nonsense", "enter")
        await settle(pilot)
        assert isinstance(app.screen, IssuersScreen)
        titles = _palette_titles(app)
        for name in ("Certificates", "Issuers", "Profiles", "Owners", "Teams", "Renewal policies", "Audit trail"):
            assert f"Go to {name}" in titles
        assert "Theme" in titles
        await pilot.press("f1")
        await settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.press("question_mark")
        await settle(pilot)
        assert app.screen.query("HelpPanel")
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 0


async def test_form_shows_the_engine_message_under_the_field(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_screen("owners")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-name", Input).value = "Zed"
        form.query_one("#field-email", Input).value = "not-an-email"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "email" in str(form.query_one("#error-email", Static).render()).lower()
        form.query_one("#field-email", Input).value = "zed@example.com"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is not form
        assert "Zed" in [o.name for o in demo_engine.ownership.list_owners()]
