"""Pilot tests of the certificate detail's versions: the inspection panel and comparing two versions."""

from __future__ import annotations

import pytest
from textual.widget import Widget
from textual.widgets import DataTable, Static
from tui_helpers import settle, wait_until

from certctl_engine.domain import Actor
from certctl_tui.screens.certificate_detail import CertificateDetailScreen
from certctl_tui.widgets.version_diff import VersionDiffScreen

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


async def open_detail(pilot, cert_id: str) -> CertificateDetailScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.push_screen(CertificateDetailScreen(cert_id))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CertificateDetailScreen)
    await wait_until(pilot, lambda: screen.data is not None)
    screen.query_one("#versions", DataTable).focus()
    return screen


def shown(widget: Widget) -> str:
    """The text a widget paints on the screen, line by line."""
    lines = widget.render_lines(widget.region.reset_offset)
    return "\n".join("".join(segment.text for segment in line) for line in lines)


def panel_text(screen: CertificateDetailScreen) -> str:
    return shown(screen.query_one("#version-info", Static))


async def test_panel_shows_usages_and_key_of_the_highlighted_version(make_app, demo_engine) -> None:
    versions = demo_engine.certificates.list_versions("mc-ldap-internal")
    assert len(versions) > 1
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-ldap-internal")
        for row, version in enumerate(versions):
            detail.query_one("#versions", DataTable).move_cursor(row=row)
            await settle(pilot)
            leaf = demo_engine.inspection.inspect_version(version.id).leaf
            text = panel_text(detail)
            assert leaf.serial_hex in text
            assert ", ".join(leaf.ekus) in text and leaf.ekus
            assert ", ".join(leaf.key_usage) in text and leaf.key_usage
            assert f"{leaf.key_algorithm.value} {leaf.key_size}" in text
            assert leaf.signature_algorithm in text
            title = str(detail.query_one("#version-info").border_title)
            assert version.serial_number[:16] in title
            assert ("(current)" in title) is (version.id == versions[0].id)


async def test_two_marked_versions_are_compared_older_to_newer(make_app, demo_engine) -> None:
    versions = demo_engine.certificates.list_versions("mc-ldap-internal")  # newest first
    newest, oldest = versions[0], versions[-1]
    expected = demo_engine.inspection.diff_versions(oldest.id, newest.id)
    assert {c.field for c in expected} >= {"not_before", "not_after"}
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-ldap-internal")
        await pilot.press("space")  # the newest, marked first
        for _ in versions[1:]:
            await pilot.press("down")
        await pilot.press("space", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, VersionDiffScreen))
        dialog = app.screen
        assert isinstance(dialog, VersionDiffScreen)
        assert list(dialog.changes) == expected  # older first, whichever was marked first
        rendered = shown(dialog.query_one("#diff-body", Static))
        for change in expected:
            assert change.before in rendered and change.after in rendered
        assert oldest.serial_number[:16] in str(dialog.query_one(".dialog-title").render())
        await pilot.press("escape")
        assert app.screen is detail


async def test_a_renewal_is_compared_with_the_version_before_it(make_app, demo_engine) -> None:
    before = demo_engine.certificates.list_versions("mc-mail-prod")
    renewed = demo_engine.issuance.renew("mc-mail-prod", actor=Actor("someone-else"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-mail-prod")
        assert detail.highlighted_version() == renewed.id
        await pilot.press("down", "space", "up", "d")  # one marked, the other highlighted
        await wait_until(pilot, lambda: isinstance(app.screen, VersionDiffScreen))
        dialog = app.screen
        assert isinstance(dialog, VersionDiffScreen)
        changed = {c.field: c for c in dialog.changes}
        assert changed == {c.field: c for c in demo_engine.inspection.diff_versions(before[0].id, renewed.id)}
        assert changed["not_after"].after == renewed.not_after.isoformat()


async def test_compare_needs_two_versions(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-ldap-internal")
        await pilot.press("d")  # nothing marked
        await settle(pilot)
        assert app.screen is detail
        await pilot.press("space", "d")  # one marked and highlighted: still only one version
        await settle(pilot)
        assert app.screen is detail
        assert detail.diff_pair() is None
        await pilot.press("space")  # unmark
        assert detail.marked_versions == []


async def test_marks_survive_a_reload(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-ldap-internal")
        await pilot.press("space", "down", "down")
        marked = list(detail.marked_versions)
        highlighted = detail.highlighted_version()
        detail.refresh_data()
        await settle(pilot)
        assert detail.marked_versions == marked
        assert detail.highlighted_version() == highlighted
        assert str(detail.query_one("#versions", DataTable).get_cell(marked[0], "mark")) == "1"


async def test_an_unreadable_version_is_said_so_and_the_others_still_show(make_app, demo_engine) -> None:
    from certctl_engine.store.models import CertificateVersionModel

    versions = demo_engine.certificates.list_versions("mc-ldap-internal")
    broken = versions[-1]
    CertificateVersionModel.update(pem_chain="not a certificate").where(
        CertificateVersionModel.id == broken.id
    ).execute()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-ldap-internal")
        assert "serverAuth" in panel_text(detail)  # the newest, readable
        detail.query_one("#versions", DataTable).move_cursor(row=len(versions) - 1)
        await settle(pilot)
        assert "cannot read this version: input is neither a PEM" in " ".join(panel_text(detail).split())


async def test_detail_shows_live_ocsp_status_and_the_deployments(make_app, demo_engine) -> None:
    cert = demo_engine.certificates.get("mc-api-prod")
    assert demo_engine.issuers.get(cert.issuer_id).type.value == "GenericCA"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        detail = await open_detail(pilot, "mc-api-prod")
        assert detail.data is not None and detail.data.ocsp == "good"
        assert "OCSP now" in shown(detail.query_one("#detail-key", Static))
        latest = {j.target_id: j for j in demo_engine.jobs.list(type="Deployment", certificate_id=cert.id).items[::-1]}
        table = detail.query_one("#deployments", DataTable)
        assert table.row_count == len(latest) and latest
        demo_engine.revocation.revoke(cert.id, "keyCompromise", actor=Actor("bob"))
        detail.refresh_data()
        await wait_until(pilot, lambda: detail.data is not None and detail.data.ocsp.startswith("revoked"))
        assert "(keyCompromise)" in detail.data.ocsp
