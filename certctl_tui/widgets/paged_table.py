"""A DataTable that asks for more rows when the cursor or the scroll nears its end, and draws
its plain one-line text cells without Rich's general layout machinery."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

CURSOR_AHEAD_ROWS = 10
"""Load the next page when the cursor is this close to the last loaded row."""
SCROLL_AHEAD_ROWS = 5
"""...or when the visible window ends this close to it (mouse wheel, page down, a tall terminal)."""
_NULL = Style.null()


def highlighted_key(table: DataTable[Any]) -> str | None:
    """The row key under a table's cursor, or None for an empty table (or a cursor off its rows)."""
    if table.row_count == 0:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # the cursor is off the rows while they are replaced
        return None


class PagedTable(DataTable[object]):
    """Holds only the pages loaded so far; posts ``NearEnd`` to ask for the next one.

    The message is a hint: the screen checks ``near_end()`` again when it handles it, since
    rows may have arrived in between.
    """

    BINDINGS = [
        Binding("end", "scroll_bottom", "Last row", show=False, id="table.last", tooltip="Go to the last row"),
        Binding("home", "scroll_top", "First row", show=False, id="table.first", tooltip="Go to the first row"),
    ]

    class NearEnd(Message):
        pass

    def near_end(self) -> bool:
        if self.row_count == 0:
            return False
        visible_bottom = int(self.scroll_y) + self.size.height - self.header_height
        return (
            self.cursor_row >= self.row_count - CURSOR_AHEAD_ROWS
            or visible_bottom >= self.row_count - SCROLL_AHEAD_ROWS
        )

    def _hint(self) -> None:
        if self.near_end():
            self.post_message(self.NearEnd())

    def watch_cursor_coordinate(self, old_coordinate: Coordinate, new_coordinate: Coordinate) -> None:
        super().watch_cursor_coordinate(old_coordinate, new_coordinate)
        self._hint()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._hint()

    # ------------------------------------------------------------------ drawing
    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's cell, drawn directly when it is a one-line Text in a one-line row.

        DataTable renders every cell through Rich's console (styled, padded, wrapped, cropped);
        after a new filter every visible cell is new, and that machinery was most of the time
        between a keystroke and the painted table at 100,000 certificates. The segments made
        here are the same as DataTable's (a test compares them cell by cell); anything else
        (headers, labels, markup, multi-line or ellipsis cells) goes the general way.
        """
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        key = (
            row_key,
            self._column_locations.get_key(column_index),
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        lines = self._plain_cell(row_key, row_index, column_index, base_style, width, cursor, hover)
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_render_cache[key] = lines
        return lines

    def _plain_cell(
        self,
        row_key: object,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]] | None:
        row = self.rows.get(row_key)  # type: ignore[call-overload]
        if row is None or row.height != 1:
            return None
        cell = self._get_row_renderables(row_index).cells[column_index]
        if not isinstance(cell, Text) or cell.justify not in (None, "default"):
            return None
        if cell.overflow not in (None, "fold", "crop") or "\n" in cell.plain or "\t" in cell.plain:
            return None
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        pad = self.cell_padding
        inner = width - 2 * pad
        line = cell.copy()
        if line.cell_len > inner:
            line.truncate(inner, overflow=cell.overflow or "fold")
        if line.style:  # Text's own rendering joins its lines, which makes the base style the first span
            line.spans.insert(0, Span(0, len(line), line.style))
            line.style = ""
        segments = list(line.render(self.app.console, end=""))
        if line.cell_len < inner:
            segments.append(Segment(" " * (inner - line.cell_len), _NULL))
        if pad:
            segments = [Segment(" " * pad, _NULL), *segments, Segment(" " * pad, _NULL)]
        return [[Segment(text, pre + (style or _NULL) + post_style, control) for text, style, control in segments]]
