"""Pilot tests of the certificate list's filters: the inverted text filter, status and expiry."""

from __future__ import annotations

import pytest
from textual.widgets import Static
from tui_helpers import settle, wait_until

from certctl_engine.domain import CertificateFilter, CertificateStatus
from certctl_tui.screens.certificates import CertificatesScreen
from certctl_tui.widgets.paged_table import PagedTable

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


def row_ids(screen: CertificatesScreen) -> list[str]:
    return [str(key.value) for key in screen.query_one(PagedTable).rows]


def info_line(screen: CertificatesScreen) -> str:
    return str(screen.query_one("#cert-info", Static).render())


async def open_certs(pilot) -> CertificatesScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.open_screen("certs")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CertificatesScreen)
    return screen


async def test_a_leading_bang_shows_what_does_not_match(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        everything = row_ids(screen)
        matching = [c.id for c in demo_engine.certificates.list(CertificateFilter(query="staging")).items]
        await pilot.press("slash", "!", *"staging")
        expected = [c.id for c in demo_engine.certificates.list(CertificateFilter(query="!staging")).items]
        assert expected and matching
        assert set(expected) == set(everything) - set(matching)
        # "!stagi" already shows these rows: wait for the reload of the whole text before reading the rows.
        await wait_until(pilot, lambda: "not matching 'staging'" in info_line(screen))
        await wait_until(pilot, lambda: row_ids(screen) == expected)
        for cert_id in row_ids(screen):
            cert = screen.certs[cert_id]
            assert "staging" not in " ".join((cert.name, cert.common_name, *cert.sans)).lower()
        await wait_until(pilot, lambda: screen.total == len(expected))
        assert f"{len(expected)} certificates" in info_line(screen)
        # Deleting the "!" turns it back into the plain filter, without leaving the input.
        await pilot.press("home", "delete")
        await wait_until(pilot, lambda: "filter 'staging'" in info_line(screen))
        await wait_until(pilot, lambda: row_ids(screen) == matching)
        await pilot.press("escape")
        await wait_until(pilot, lambda: row_ids(screen) == everything)


async def test_status_and_expiry_filters_from_the_list(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        await pilot.press("t")  # Active
        await settle(pilot)
        active = [
            c.id for c in demo_engine.certificates.list(CertificateFilter(statuses=(CertificateStatus.ACTIVE,))).items
        ]
        await wait_until(pilot, lambda: row_ids(screen) == active)
        await pilot.press("w")  # and expiring within 7 days
        both = CertificateFilter(statuses=(CertificateStatus.ACTIVE,), expiring_within_days=7)
        await wait_until(pilot, lambda: row_ids(screen) == [c.id for c in demo_engine.certificates.list(both).items])
        assert set(row_ids(screen)) < set(active)
        await pilot.press("w")  # expiring in 8-30 days: the dashboard's middle bucket
        ranged = CertificateFilter(statuses=(CertificateStatus.ACTIVE,), expiring_after_days=7, expiring_within_days=30)
        in_range = [c.id for c in demo_engine.certificates.list(ranged).items]
        await wait_until(pilot, lambda: row_ids(screen) == in_range)
        now = demo_engine.context.now()
        for cert_id in in_range:
            left = demo_engine.certificates.get(cert_id).expires_at - now
            assert 7 * 86400 < left.total_seconds() <= 30 * 86400, cert_id
        assert "expiring in 8-30d" in str(screen.query_one("#cert-info").render())


@pytest.mark.parametrize(("key", "sort"), [("I", "issuer"), ("O", "owner")])
async def test_shift_letters_sort_by_issuer_and_owner_name(make_app, demo_engine, key: str, sort: str) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_certs(pilot)
        await pilot.press(key)
        ascending = [c.id for c in demo_engine.certificates.list(sort=sort).items]
        await wait_until(pilot, lambda: row_ids(screen) == ascending)
        names = (
            {i.id: i.name for i in demo_engine.issuers.list()}
            if sort == "issuer"
            else {o.id: o.name for o in demo_engine.ownership.list_owners()}
        )
        shown = [names.get(getattr(screen.certs[i], f"{sort}_id") or "", "\uffff").casefold() for i in row_ids(screen)]
        assert shown == sorted(shown)  # by the name the column shows, not by id
        assert len(set(shown)) > 1
        header = str(screen.query_one(PagedTable).columns[sort].label)  # type: ignore[index]
        assert header.endswith("▲")
        await pilot.press(key)  # again: reversed
        descending = [c.id for c in demo_engine.certificates.list(sort=sort, order="desc").items]
        await wait_until(pilot, lambda: row_ids(screen) == descending)
        assert f"sort {sort} desc" in info_line(screen)
