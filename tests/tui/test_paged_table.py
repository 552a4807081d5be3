"""The paged table draws plain text cells itself: every one must come out as DataTable draws it."""

from __future__ import annotations

import pytest
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable
from tui_helpers import settle

from certctl_tui.widgets.paged_table import PagedTable

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


def _assert_drawn_alike(
    table: PagedTable, row: int, column: int, base: Style, width: int, cursor: bool, hover: bool
) -> None:
    """The paged table's cell against DataTable's own rendering of it, each from an empty cache."""
    table._cell_render_cache.clear()
    mine = table._render_cell(row, column, base, width, cursor, hover)
    table._cell_render_cache.clear()
    reference = DataTable._render_cell(table, row, column, base, width, cursor, hover)
    assert [list(line) for line in mine] == [list(line) for line in reference], (row, column, cursor, hover)


async def _compare_every_cell(pilot, screen: str, table_id: str) -> int:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.open_screen(screen)
    await settle(pilot)
    table = pilot.app.screen.query_one(f"#{table_id}", PagedTable)
    assert table.row_count > 5
    compared = 0
    styles = [table.rich_style, Style(bgcolor="red", italic=True), Style()]
    for row in range(min(table.row_count, 40)):
        for column_index, column in enumerate(table.ordered_columns):
            width = column.get_render_width(table)
            for cursor in (False, True):
                for hover in (False, True):
                    for base in styles:
                        _assert_drawn_alike(table, row, column_index, base, width, cursor, hover)
                        compared += 1
    return compared


async def test_certificate_cells_are_drawn_exactly_as_datatable_draws_them(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert await _compare_every_cell(pilot, "certs", "certs") > 1000


async def test_job_cells_are_drawn_exactly_as_datatable_draws_them(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert await _compare_every_cell(pilot, "jobs", "jobs") > 1000


async def test_cells_too_wide_styled_or_on_several_lines_match_too(make_app) -> None:
    """Cut text, a styled base, spans, and what goes the general way (markup, two lines)."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = PagedTable()
        await app.screen.mount(table)
        table.add_columns("a", "b")
        long = Text("a-very-long-common-name.example.com", style="bold red")
        long.stylize("underline", 2, 9)
        table.add_row(long, Text("x\ny"))
        table.add_row("[b]markup[/b]", Text("ok", style=Style(color="green")))
        await pilot.pause()
        for row in range(2):
            for column_index in range(2):
                for width in (3, 8, 40):
                    _assert_drawn_alike(table, row, column_index, table.rich_style, width, True, False)
