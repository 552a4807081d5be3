"""The expiry timeline: certificates expiring on each of the next N days, as a bar chart."""

from __future__ import annotations

from datetime import date, timedelta

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from certctl_engine.domain import DayCount

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def _bar_style(days_ahead: int) -> str:
    if days_ahead <= 7:
        return "red"
    if days_ahead <= 30:
        return "yellow"
    return "green"


class ExpiryTimeline(Widget, can_focus=True):
    """A vertical bar per day (today on the left), coloured by urgency; click to see the list."""

    HELP = """
## Expiry timeline
One bar per day for the next 90 days: how many live certificates expire that day.
Red: within a week; yellow: within 30 days; green: later.
`enter` or a click opens the certificates expiring within 90 days.
"""

    DEFAULT_CSS = """
    ExpiryTimeline { height: 8; }
    """

    class Selected(Message):
        def __init__(self, days: int) -> None:
            super().__init__()
            self.days = days

    counts: reactive[tuple[DayCount, ...]] = reactive((), layout=False)

    def __init__(self, *, days: int = 90, today: date | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.days = days
        self.today = today or date.today()

    def set_data(self, counts: list[DayCount], today: date) -> None:
        self.today = today
        self.counts = tuple(counts)

    def _per_day(self) -> list[int]:
        values = [0] * self.days
        for item in self.counts:
            try:
                offset = (date.fromisoformat(item.day) - self.today).days
            except ValueError:
                continue
            if 0 <= offset < self.days:
                values[offset] += item.count
        return values

    def render(self) -> Text:
        width = max(10, self.size.width)
        height = max(3, self.size.height)
        chart_rows = height - 2
        values = self._per_day()
        # Fit the days into the width: one column per day, or group days per column.
        per_col = max(1, -(-self.days // width))
        columns = [sum(values[i : i + per_col]) for i in range(0, self.days, per_col)]
        peak = max(columns) if columns and max(columns) > 0 else 1
        text = Text()
        for row in range(chart_rows, 0, -1):
            for col, value in enumerate(columns):
                level = value / peak * chart_rows
                if level >= row:
                    ch = "█"
                elif level > row - 1:
                    ch = _EIGHTHS[max(1, round((level - (row - 1)) * 8))] if value else " "
                else:
                    ch = " "
                text.append(ch, style=_bar_style(col * per_col))
            if row == chart_rows:
                text.append(f" {peak}", style="dim")
            text.append("\n")
        text.append("─" * len(columns) + "\n", style="dim")
        labels = [" "] * (len(columns) + 8)
        for days_ahead in (0, 30, 60, 89):
            col = days_ahead // per_col
            label = "today" if days_ahead == 0 else (self.today + timedelta(days=days_ahead)).strftime("%b %d")
            start = min(col, len(columns) - len(label))
            start = max(0, start)
            for i, ch in enumerate(label):
                if start + i < len(labels):
                    labels[start + i] = ch
        text.append("".join(labels).rstrip(), style="dim")
        return text

    def on_click(self) -> None:
        self.post_message(self.Selected(self.days))

    def key_enter(self) -> None:
        self.post_message(self.Selected(self.days))
