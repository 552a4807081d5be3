"""RecordListScreen: a table of engine records, paged from the engine, with a panel for the highlighted one.

The discovery, scan target, notification, policy rule and violation screens share this
shape: an info line, a table fed a page at a time (the next page loads when the cursor
nears the end), and a panel under it showing the highlighted record in full. Loading runs
on an engine thread; a reload keeps the record under the cursor.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Footer, Header, Static

from certctl_engine.domain import Page
from certctl_tui.screens.base import CertctlScreen
from certctl_tui.widgets.paged_table import PagedTable, highlighted_key

PAGE_SIZE = 100
RELOAD_LIMIT = 500
"""A refresh reloads as many rows as were loaded, up to the engine's largest page."""


def cut(value: str, width: int) -> str:
    """``value`` shortened to ``width`` characters, an ellipsis marking the cut."""
    return value if len(value) <= width else value[: max(1, width - 1)] + "…"


def whole(items: list[Any]) -> Page[Any]:
    """A small list the engine returns whole (scan targets, rules), as one page."""
    return Page(tuple(items), None)


class RecordListScreen(CertctlScreen):
    """Subclasses give ``COLUMNS``, ``fetch``, ``row_cells`` and ``describe``."""

    DEFAULT_CSS = """
    RecordListScreen .records-info { height: 1; padding: 0 1; color: $text-muted; }
    RecordListScreen .records { height: 1fr; }
    RecordListScreen .records-detail { height: auto; max-height: 12; }
    """

    #: (column key, label, width)
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = []
    #: What one record is called in the info line and the panel ("discovery", "rule").
    RECORD = "record"
    #: Widget ids of the info line, the table and the panel (a screen may keep its own names).
    INFO_ID = "records-info"
    TABLE_ID = "records"
    DETAIL_ID = "records-detail"
    #: Rows fetched per page.
    PAGE_ROWS = PAGE_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, Any] = {}
        self.next_cursor: str | None = None
        self._generation = 0
        self._loading_more = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id=self.INFO_ID, classes="records-info", markup=False)
        yield from self.compose_extra()
        yield PagedTable(id=self.TABLE_ID, classes="records", cursor_type="row", zebra_stripes=True)
        yield Static("", id=self.DETAIL_ID, classes="box records-detail")
        yield Footer()

    def compose_extra(self) -> ComposeResult:
        """Widgets between the info line and the table (a progress panel...)."""
        yield from ()

    def on_mount(self) -> None:
        super().on_mount()
        for key, label, width in self.COLUMNS:
            self.table.add_column(label, key=key, width=width)
        self.table.focus()
        self.query_one(f"#{self.DETAIL_ID}", Static).border_title = self.RECORD.capitalize()
        self.reload()

    @property
    def table(self) -> PagedTable:
        return self.query_one(f"#{self.TABLE_ID}", PagedTable)

    # ------------------------------------------------------------------ subclasses
    def fetch(self, cursor: str | None, limit: int) -> Page[Any]:
        """One page of records, on an engine thread."""
        raise NotImplementedError

    def row_cells(self, record: Any) -> list[Any]:
        raise NotImplementedError

    def describe(self, record: Any) -> RenderableType:
        """The highlighted record in full, for the panel under the table."""
        raise NotImplementedError

    def title_of(self, record: Any) -> str:
        return f"{self.RECORD} {record.id}"

    def info_parts(self) -> list[str]:
        """The filters in force, for the info line."""
        return []

    def empty_text(self) -> str:
        """The panel's text when nothing is highlighted."""
        return f"no {self.RECORD} matches"

    # ------------------------------------------------------------------ loading
    def reload(self, *, keep: str | None = None, rows: int = 0) -> None:
        """Load from the top again: ``rows`` as many as were loaded, ``keep`` the record under the cursor."""
        self._generation += 1
        generation = self._generation
        limit = min(RELOAD_LIMIT, max(self.PAGE_ROWS, rows))

        def show(page: Page[Any]) -> None:
            if generation != self._generation:
                return
            table = self.table
            table.clear()
            self.records.clear()
            self._add_rows(page.items)
            self.next_cursor = page.next_cursor
            self._loading_more = False
            if keep is not None and keep in self.records:
                table.move_cursor(row=table.get_row_index(keep), scroll=True)
            elif table.row_count:
                table.move_cursor(row=0, scroll=True)
            self.show_highlighted()
            self.update_info()
            self.capp.mark_loaded()

        self.engine_work(lambda: self.fetch(None, limit), show, title=self.SCREEN_NAME, group="load", exclusive=True)

    def _add_rows(self, items: tuple[Any, ...]) -> None:
        for record in items:
            if record.id in self.records:
                continue
            self.records[record.id] = record
            self.table.add_row(*self.row_cells(record), key=record.id)

    def on_paged_table_near_end(self, _message: PagedTable.NearEnd) -> None:
        if not self.table.near_end() or self._loading_more or self.next_cursor is None:
            return
        self._loading_more = True
        generation, cursor = self._generation, self.next_cursor

        def show(page: Page[Any]) -> None:
            if generation != self._generation:
                return
            self._add_rows(page.items)
            self.next_cursor = page.next_cursor
            self._loading_more = False
            self.update_info()

        self.engine_work(lambda: self.fetch(cursor, self.PAGE_ROWS), show, title=self.SCREEN_NAME, group="more")

    def refresh_data(self, *, live: bool = False) -> None:
        current = self.highlighted()
        self.reload(keep=current.id if current else None, rows=self.table.row_count)

    def replace(self, record: Any) -> None:
        """Show a record the engine just returned in place of the old row."""
        if record.id not in self.records:
            return
        self.records[record.id] = record
        for (key, _label, _width), value in zip(self.COLUMNS, self.row_cells(record), strict=True):
            self.table.update_cell(record.id, key, value)
        self.show_highlighted()

    # ------------------------------------------------------------------ cursor
    def highlighted(self) -> Any | None:
        key = highlighted_key(self.table)
        return self.records.get(key) if key else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_highlighted()

    def show_highlighted(self) -> None:
        panel = self.query_one(f"#{self.DETAIL_ID}", Static)
        record = self.highlighted()
        if record is None:
            panel.border_title = self.RECORD.capitalize()
            panel.update(Text(self.empty_text(), style="dim"))
            return
        panel.border_title = self.title_of(record)
        panel.update(self.describe(record))

    def update_info(self) -> None:
        parts = [
            *self.info_parts(),
            f"{self.table.row_count} loaded" + (" (more below)" if self.next_cursor else ""),
        ]
        # One fixed line (height 1): no layout pass, which would repaint the table as well.
        self.query_one(f"#{self.INFO_ID}", Static).update(" · ".join(parts), layout=False)
