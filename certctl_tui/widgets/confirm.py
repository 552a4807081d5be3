"""A confirmation dialog that names the object and defaults to No."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """Ask before a destructive action. Dismisses with True only on an explicit Yes.

    ``No`` has the focus when the dialog opens, so ``enter`` alone never confirms.
    """

    BINDINGS = [
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel", tooltip="Close without doing anything"),
        Binding("n", "answer(False)", "No", id="confirm.no", tooltip="Answer No"),
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Answer Yes and go ahead"),
        Binding("left,right,tab", "app.focus_next", "Switch", show=False, id="confirm.switch"),
    ]

    def __init__(self, title: str, question: str, *, yes_label: str = "Yes", danger: bool = True) -> None:
        super().__init__()
        self._title = title
        self._question = question
        self._yes_label = yes_label
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(self._question, id="confirm-question", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="confirm-no", variant="primary")
                yield Button(self._yes_label, id="confirm-yes", variant="error" if self._danger else "success")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
