"""Stat panels: a titled box of labelled figures, each leading to the list behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class StatLine:
    """One figure: its label, value, colour and what to open (None: nothing behind it)."""

    key: str
    label: str
    value: int | str
    style: str = ""
    target: dict[str, Any] | None = None


class StatPanel(Vertical):
    """A bordered panel listing figures; ``enter`` / click on one opens its filtered list."""

    HELP = """
## Stat panel
Each line is a figure from the store. Move with the arrow keys; `enter` (or a click) opens
the list behind the figure, already filtered.
"""

    class Opened(Message):
        def __init__(self, line: StatLine) -> None:
            super().__init__()
            self.line = line

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="stat-panel")
        self.border_title = title
        self._lines: list[StatLine] = []

    def compose(self) -> ComposeResult:
        yield OptionList(classes="stat-options")

    def set_lines(self, lines: list[StatLine]) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        self._lines = list(lines)
        width = max((len(line.label) for line in lines), default=0)
        options.clear_options()
        for line in lines:
            text = Text()
            text.append(line.label.ljust(width + 1))
            text.append(str(line.value).rjust(4), style=line.style or "bold")
            if line.target is None:
                text.stylize("dim", 0, width + 1)
            options.add_option(Option(text, id=line.key))
        if lines:
            options.highlighted = min(highlighted or 0, len(lines) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        line = self._lines[event.option_index]
        self.post_message(self.Opened(line))
