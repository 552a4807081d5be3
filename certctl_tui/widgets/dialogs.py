"""Small modal screens: the `:` command bar and the f1 help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Markdown, Static


class CommandBar(ModalScreen[str | None]):
    """``:`` then a screen name or alias (``certs``, ``issuers``, ``audit``...), ``enter`` to go."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="commandbar.cancel", tooltip="Close the command bar")]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self._names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="command-bar"):
            yield Static(" ".join(f":{n}" for n in self._names), id="command-hint", markup=False)
            yield Input(
                placeholder="screen name or alias, e.g. certs",
                id="command-input",
                suggester=SuggestFromList(self._names, case_sensitive=False),
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip().lstrip(":"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Contextual help: the current screen's help, then the focused widget's."""

    BINDINGS = [
        Binding("escape,f1,q", "close", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self._title = title
        self._markdown = markdown

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll():
                yield Markdown(self._markdown)

    def action_close(self) -> None:
        self.dismiss(None)
