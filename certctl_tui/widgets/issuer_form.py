"""The issuer create/edit form: the fields of the chosen type, then a connection test once saved.

Choosing a type shows that type's fields (``issuer_fields``). Saving runs the caller's create
or update function on an engine thread; the engine's ``InvalidInput`` appears next to the field
it names. A saved form stays open with a "Test connection" button, so a new issuer can be
checked against its CA at once; closing it hands the saved issuer back.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from certctl_engine.domain import Issuer, IssuerCheck, IssuerType
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_tui.widgets.form import FormScreen
from certctl_tui.widgets.issuer_fields import (
    ARGS,
    ARGS_HINT,
    CHOICE,
    SECRET,
    UNCHANGED,
    ConfigField,
    build_config,
    field_for_message,
    fields_of,
    shown_text,
)

Save = Callable[[dict[str, Any]], Issuer]
Update = Callable[[Issuer, dict[str, Any]], Issuer]
Test = Callable[[str], IssuerCheck]


def check_text(check: IssuerCheck) -> str:
    """One line for a connection test's outcome."""
    return f"{'ok' if check.ok else 'failed'}: {check.message}"


class IssuerFormScreen(FormScreen):
    """Create or edit one issuer; ``save`` creates, ``update`` changes a saved one, ``test`` checks it."""

    DEFAULT_CSS = """
    IssuerFormScreen .issuer-dialog { width: 100; }
    IssuerFormScreen .issuer-fields { height: auto; max-height: 26; }
    IssuerFormScreen .issuer-row { height: 1; }
    IssuerFormScreen .issuer-label { width: 22; color: $text-muted; }
    IssuerFormScreen .issuer-row Input, IssuerFormScreen .issuer-row Select { width: 1fr; }
    IssuerFormScreen .issuer-help { padding-left: 22; color: $text-muted; }
    IssuerFormScreen .issuer-error { padding-left: 22; }
    IssuerFormScreen .type-fields { height: auto; border-top: solid $primary 40%; margin-top: 1; }
    IssuerFormScreen #issuer-test-result { height: auto; margin-top: 1; display: none; }
    IssuerFormScreen #issuer-test-result.shown { display: block; }
    IssuerFormScreen #issuer-test-result.ok { color: $success; }
    IssuerFormScreen #issuer-test-result.failed { color: $error; }
    IssuerFormScreen #issuer-saved { color: $success; height: auto; display: none; }
    IssuerFormScreen #issuer-saved.shown { display: block; }
    """

    BINDINGS = [
        Binding(
            "ctrl+t",
            "test_connection",
            "Test connection",
            id="issuer_form.test",
            tooltip="Reach the saved issuer's CA and show what works or what does not",
        ),
    ]

    HELP = """
## Issuer form
Choose the type first: the form shows that type's settings. Secret fields are typed blind;
when editing, a secret left at "(unchanged)" keeps the stored value. Command fields take
words separated by spaces, quoted as in a shell (split with shlex, never run by a shell).
`ctrl+s` saves; once saved, `ctrl+t` (or the button) tests the connection; `esc` closes.
"""

    def __init__(self, title: str, issuer: Issuer | None, save: Save, update: Update, test: Test) -> None:
        super().__init__(title, [], save)
        self._issuer = issuer
        self._original_type = issuer.type if issuer else None
        self._create = save
        self._update = update
        self._test = test
        self._saved: Issuer | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        issuer = self._issuer
        chosen = issuer.type if issuer else IssuerType.GENERIC_CA
        with Vertical(classes="dialog form-dialog issuer-dialog"):
            yield Label(self._title, classes="dialog-title", id="issuer-title")
            with VerticalScroll(classes="issuer-fields"):
                with Horizontal(classes="issuer-row"):
                    yield Label("Name", classes="issuer-label")
                    yield Input(issuer.name if issuer else "", id="field-name", compact=True)
                yield Static("", id="error-name", classes="field-error issuer-error", markup=False)
                with Horizontal(classes="issuer-row"):
                    yield Label("Type", classes="issuer-label")
                    yield Select(
                        [(t.value, t.value) for t in IssuerType],
                        value=chosen.value,
                        allow_blank=False,
                        id="field-type",
                        compact=True,
                    )
                yield Static("", id="error-type", classes="field-error issuer-error", markup=False)
                with Horizontal(classes="issuer-row"):
                    yield Label("", classes="issuer-label")
                    yield Checkbox("Enabled", issuer.enabled if issuer else True, id="field-enabled", compact=True)
                for issuer_type in IssuerType:
                    yield from self._type_group(issuer_type, chosen)
            yield Static("", id="issuer-saved", markup=False)
            yield Static("", id="issuer-test-result", markup=False)
            yield Static("", id="form-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Test connection", id="form-test", disabled=True)
                yield Button("Cancel", id="form-cancel")
                yield Button("Save", id="form-save", variant="primary")

    def _type_group(self, issuer_type: IssuerType, chosen: IssuerType) -> ComposeResult:
        config = self._issuer.config if self._issuer and self._issuer.type is issuer_type else {}
        stored_secrets = set(self._issuer.secret_fields) if self._issuer and self._issuer.type is issuer_type else set()
        group = Vertical(classes="type-fields", id=f"group-{issuer_type.value}")
        group.display = issuer_type is chosen
        group.border_title = f"{issuer_type.value} settings"
        with group:
            for spec in fields_of(issuer_type):
                with Horizontal(classes="issuer-row"):
                    yield Label(spec.label, classes="issuer-label")
                    yield self._input(issuer_type, spec, config, spec.name in stored_secrets)
                help_text = ARGS_HINT if spec.kind == ARGS and not spec.help else spec.help
                if spec.kind == ARGS and spec.help:
                    help_text = f"{spec.help}; {ARGS_HINT}"
                if help_text:
                    yield Static(help_text, classes="issuer-help", markup=False)
                yield Static(
                    "", id=f"error-{issuer_type.value}-{spec.name}", classes="field-error issuer-error", markup=False
                )

    def _input(self, issuer_type: IssuerType, spec: ConfigField, config: dict[str, Any], stored: bool) -> Any:
        wid = f"cfg-{issuer_type.value}-{spec.name}"
        if spec.kind == CHOICE:
            current = str(config.get(spec.name) or spec.choices[0])
            options = [(c, c) for c in spec.choices]
            if current not in spec.choices:  # keep what is stored visible; the engine says what is wrong
                options.append((current, current))
            return Select(options, value=current, allow_blank=False, id=wid, compact=True)
        if spec.kind == SECRET:
            placeholder = UNCHANGED if stored else "(secret: kept sealed, never shown)"
            return Input("", placeholder=placeholder, password=True, id=wid, compact=True)
        return Input(shown_text(spec, config), placeholder=spec.placeholder, id=wid, compact=True)

    def on_mount(self) -> None:
        self.query_one("#field-name", Input).focus()

    # ------------------------------------------------------------------ type switching
    @property
    def chosen_type(self) -> IssuerType:
        value = self.query_one("#field-type", Select).value
        return IssuerType(str(value)) if value in {t.value for t in IssuerType} else IssuerType.GENERIC_CA

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "field-type":
            return
        event.stop()
        chosen = self.chosen_type
        for issuer_type in IssuerType:
            self.query_one(f"#group-{issuer_type.value}").display = issuer_type is chosen
        self.clear_errors()

    # ------------------------------------------------------------------ values
    def values(self) -> dict[str, Any]:
        """Name, type, enabled and the chosen type's configuration; InvalidInput when a value cannot be read."""
        issuer_type = self.chosen_type
        texts = {spec.name: self._text(issuer_type, spec) for spec in fields_of(issuer_type)}
        current = self._saved or self._issuer
        same_type = current is not None and current.type is issuer_type
        base = current.config if current is not None and same_type else {}
        return {
            "name": self.query_one("#field-name", Input).value.strip(),
            "type": issuer_type.value,
            "enabled": self.query_one("#field-enabled", Checkbox).value,
            "config": build_config(issuer_type, texts, base),
        }

    def _text(self, issuer_type: IssuerType, spec: ConfigField) -> str:
        widget = self.query_one(f"#cfg-{issuer_type.value}-{spec.name}")
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        assert isinstance(widget, Input)
        return widget.value

    def show_error(self, field_name: str | None, message: str) -> None:
        target: str | None = None
        if field_name in ("name", "type"):
            target = field_name
        else:
            name = field_for_message(self.chosen_type, field_name, message)
            if name is not None:
                target = f"{self.chosen_type.value}-{name}"
        error = self.query_one(f"#error-{target}" if target else "#form-error", Static)
        error.update(message)
        error.add_class("shown")
        if target:
            widget_id = f"#field-{target}" if target in ("name", "type") else f"#cfg-{target}"
            self.query_one(widget_id).focus()

    # ------------------------------------------------------------------ saving and testing
    def action_save(self) -> None:
        self.clear_errors()
        try:
            values = self.values()
        except InvalidInput as exc:
            self.show_error(exc.field, exc.message)
            return
        self.run_worker(partial(self._run_save, values), exclusive=True, group="form-save")

    async def _run_save(self, values: dict[str, Any]) -> None:
        current = self._saved or self._issuer
        try:
            if current is None:
                result = await self.app.calls.run(self._create, values)  # type: ignore[attr-defined]
            else:
                result = await self.app.calls.run(self._update, current, values)  # type: ignore[attr-defined]
        except InvalidInput as exc:
            self.show_error(exc.field, exc.message)
            return
        except CertctlError as exc:
            self.show_error(None, str(exc))
            return
        self._saved_as(result)

    def _saved_as(self, issuer: Issuer) -> None:
        """Stay open on the saved issuer: secrets now read "(unchanged)", the test button works."""
        self._saved = issuer
        self.query_one("#issuer-title", Label).update(f"Edit issuer '{issuer.name}'")
        for spec in fields_of(issuer.type):
            if spec.kind == SECRET:
                field = self.query_one(f"#cfg-{issuer.type.value}-{spec.name}", Input)
                field.value = ""
                field.placeholder = UNCHANGED if spec.name in issuer.secret_fields else field.placeholder
        saved = self.query_one("#issuer-saved", Static)
        saved.update(f"Saved issuer '{issuer.name}' ({issuer.id}). Test the connection, or close the form.")
        saved.add_class("shown")
        self.query_one("#form-test", Button).disabled = False
        self.query_one("#form-cancel", Button).label = "Close"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        event.prevent_default()  # FormScreen's handler would take any other button for Cancel
        if event.button.id == "form-test":
            self.action_test_connection()
        elif event.button.id == "form-save":
            self.action_save()
        else:
            self.action_cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "test_connection":
            return self._saved is not None
        return True

    def action_test_connection(self) -> None:
        if self._saved is None:
            return
        result = self.query_one("#issuer-test-result", Static)
        result.remove_class("ok", "failed")
        result.update(f"Testing the connection of '{self._saved.name}'…")
        result.add_class("shown")
        self.run_worker(partial(self._run_test, self._saved.id), exclusive=True, group="issuer-test")

    async def _run_test(self, issuer_id: str) -> None:
        result = self.query_one("#issuer-test-result", Static)
        try:
            check = await self.app.calls.run(self._test, issuer_id)  # type: ignore[attr-defined]
        except CertctlError as exc:
            result.update(f"failed: {exc}")
            result.add_class("failed")
            return
        result.update(check_text(check))
        result.add_class("ok" if check.ok else "failed")

    def action_cancel(self) -> None:
        self.dismiss(self._saved)
