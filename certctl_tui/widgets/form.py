"""Create/edit forms with inline validation messages from the engine's errors.

A form is a list of ``Field`` specs. On save the form converts the inputs, hands them to
a save function that runs on an engine thread, and shows an ``InvalidInput`` under the
field the engine names (``InvalidInput.field``); other errors show above the buttons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from certctl_engine.errors import CertctlError, InvalidInput

NONE = "__none__"


@dataclass(frozen=True)
class Field:
    """One form field. ``kind`` is text, int, bool, select, password or list (comma-separated)."""

    name: str
    label: str
    kind: str = "text"
    value: Any = None
    options: Sequence[tuple[str, str]] = ()
    placeholder: str = ""
    allow_blank: bool = True
    help: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


class FormError(Exception):
    """A value the form itself cannot convert (not a number...), reported under its field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message


class FormScreen(ModalScreen[Any]):
    """A modal form; dismisses with the save function's result, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close the form without saving"),
        Binding("ctrl+s", "save", "Save", id="form.save", tooltip="Validate and save"),
    ]

    HELP = """
## Form
`tab` moves between fields, `ctrl+s` (or the Save button) saves, `esc` cancels.
The engine checks every value; its message appears under the field it concerns.
"""

    def __init__(self, title: str, fields: Sequence[Field], save: Callable[[dict[str, Any]], Any]) -> None:
        super().__init__()
        self._title = title
        self._fields = list(fields)
        self._save = save

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form-dialog"):
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll(classes="form-fields"):
                for spec in self._fields:
                    yield Label(spec.label, classes="field-label")
                    yield self._widget(spec)
                    if spec.help:
                        yield Static(spec.help, classes="field-help", markup=False)
                    yield Static("", id=f"error-{spec.name}", classes="field-error", markup=False)
            yield Static("", id="form-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="form-cancel")
                yield Button("Save", id="form-save", variant="primary")

    def _widget(self, spec: Field) -> Any:
        wid = f"field-{spec.name}"
        if spec.kind == "bool":
            return Checkbox(spec.label, bool(spec.value), id=wid)
        if spec.kind == "select":
            options = [(label, value) for value, label in spec.options]
            value = spec.value if spec.value is not None else NONE
            if spec.allow_blank:
                options = [("(none)", NONE), *options]
            return Select(
                options, value=value if any(v == value for _, v in options) else Select.NULL, id=wid, allow_blank=False
            )
        text = ""
        if spec.value is not None:
            text = ", ".join(str(v) for v in spec.value) if spec.kind == "list" else str(spec.value)
        return Input(text, placeholder=spec.placeholder, id=wid, password=spec.kind == "password")

    def on_mount(self) -> None:
        if self._fields:
            self.query_one(f"#field-{self._fields[0].name}").focus()

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self._fields:
            widget = self.query_one(f"#field-{spec.name}")
            if spec.kind == "bool":
                assert isinstance(widget, Checkbox)
                out[spec.name] = widget.value
            elif spec.kind == "select":
                assert isinstance(widget, Select)
                value = widget.value
                out[spec.name] = None if value in (NONE, Select.NULL) else value
            else:
                assert isinstance(widget, Input)
                raw = widget.value.strip()
                if spec.kind == "int":
                    try:
                        out[spec.name] = int(raw)
                    except ValueError:
                        raise FormError(spec.name, f"{spec.label} must be a whole number") from None
                elif spec.kind == "list":
                    out[spec.name] = [p.strip() for p in raw.split(",") if p.strip()]
                elif spec.kind == "password":
                    out[spec.name] = widget.value
                else:
                    out[spec.name] = raw
        return out

    def clear_errors(self) -> None:
        for error in self.query(".field-error"):
            assert isinstance(error, Static)
            error.update("")
            error.remove_class("shown")

    def show_error(self, field_name: str | None, message: str) -> None:
        target = None
        if field_name:
            for spec in self._fields:
                names = (spec.name, *spec.aliases)
                if field_name in names or field_name.removesuffix("_id") in names:
                    target = spec.name
        widget_id = f"#error-{target}" if target else "#form-error"
        error = self.query_one(widget_id, Static)
        error.update(message)
        error.add_class("shown")
        if target:
            self.query_one(f"#field-{target}").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "form-save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        self.clear_errors()
        try:
            values = self.values()
        except FormError as exc:
            self.show_error(exc.field_name, exc.message)
            return
        self.run_worker(partial(self._run_save, values), exclusive=True, group="form-save")

    async def _run_save(self, values: dict[str, Any]) -> None:
        try:
            result = await self.app.calls.run(self._save, values)  # type: ignore[attr-defined]
        except InvalidInput as exc:
            self.show_error(exc.field, str(exc))
            return
        except CertctlError as exc:
            self.show_error(None, str(exc))
            return
        self.dismiss(result)
