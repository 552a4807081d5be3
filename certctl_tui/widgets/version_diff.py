"""The changes between two versions of a certificate, field by field, in a dialog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

if TYPE_CHECKING:
    from certctl_engine.services.inspection import FieldChange

IDENTITY_NOTE = "Serial, fingerprint and key identifier differ between any two versions; they are not listed."


def changes_table(changes: Sequence[FieldChange], before_label: str, after_label: str) -> Table | Text:
    """Field | before | after, one row per changed field; a sentence when nothing changed."""
    if not changes:
        return Text("No differences besides the version's identity.", style="dim")
    table = Table(expand=True, show_lines=False, header_style="bold")
    table.add_column("Field", style="bold", no_wrap=True)
    table.add_column(before_label, style="red")
    table.add_column(after_label, style="green")
    for change in changes:
        table.add_row(change.field.replace("_", " "), change.before, change.after)
    return table


class VersionDiffScreen(ModalScreen[None]):
    """What changed from the older of two versions to the newer one."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="diff.close", tooltip="Close the comparison")]

    def __init__(self, title: str, changes: Sequence[FieldChange], before_label: str, after_label: str) -> None:
        super().__init__()
        self._title = title
        self.changes = tuple(changes)
        self._before_label = before_label
        self._after_label = after_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog detail-dialog", id="diff-box"):
            yield Label(self._title, classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(changes_table(self.changes, self._before_label, self._after_label), id="diff-body")
            yield Static(IDENTITY_NOTE, id="diff-note", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
