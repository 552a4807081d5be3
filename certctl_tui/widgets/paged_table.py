"""A DataTable that asks for more rows when the cursor or the scroll nears its end."""

from __future__ import annotations

from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

CURSOR_AHEAD_ROWS = 10
"""Load the next page when the cursor is this close to the last loaded row."""
SCROLL_AHEAD_ROWS = 5
"""...or when the visible window ends this close to it (mouse wheel, page down, a tall terminal)."""


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
