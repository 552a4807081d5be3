"""The audit trail: newest first, filterable, paged; event detail; verify the hash chain."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from certctl_engine.domain import AuditEvent, AuditVerification, Page
from certctl_tui.format import stamp
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.widgets.paged_table import PagedTable, highlighted_key

PAGE_SIZE = 50
FILTER_KEYS = {"actor": "actor", "action": "action", "type": "resource_type", "id": "resource_id"}


def parse_audit_filter(text: str) -> dict[str, str]:
    """``actor:NAME action:NAME type:TYPE id:ID``; a bare word is an action."""
    out: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and key in FILTER_KEYS and value:
            out[FILTER_KEYS[key]] = value
        elif not sep:
            out["action"] = token
    return out


class AuditEventScreen(ModalScreen[None]):
    """One audit event with its details and hashes."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="event.close", tooltip="Close the event")]

    def __init__(self, event_id: str) -> None:
        super().__init__()
        self.event_id = event_id

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog detail-dialog"):
            yield Label(f"Audit event {self.event_id}", classes="dialog-title")
            with VerticalScroll():
                yield Static("loading…", id="event-body", markup=False)

    def on_mount(self) -> None:
        self.run_worker(self._load, exit_on_error=False)

    async def _load(self) -> None:
        app: Any = self.app
        try:
            event: AuditEvent = await app.calls.run(app.engine.audit.get, self.event_id)
        except Exception as exc:
            app.toast_error("Audit event", exc)
            self.dismiss(None)
            return
        body = (
            f"#{event.sequence}  {stamp(event.timestamp)} UTC\n"
            f"actor     {event.actor} ({event.actor_type})\n"
            f"action    {event.action}\n"
            f"resource  {event.resource_type}/{event.resource_id}\n"
            f"hash      {event.hash}\n"
            f"previous  {event.previous_hash}\n\n"
            f"{json.dumps(event.details, indent=2, default=str)}"
        )
        self.query_one("#event-body", Static).update(body)

    def action_close(self) -> None:
        self.dismiss(None)


class AuditScreen(CertctlScreen):
    SCREEN_NAME = "Audit trail"
    HELP = """
## Audit trail
Every change, newest first, chained by hashes.

| key | does |
|---|---|
| `/` | filter: `actor:NAME action:NAME type:TYPE id:ID` (a bare word is an action) |
| `enter` | the event's details and hashes |
| `v` | verify the whole hash chain and show the result |
"""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="audit.filter", tooltip="Filter by actor:, action:, type:, id:"),
        Binding("v", "verify", "Verify chain", id="audit.verify", tooltip="Check the audit hash chain"),
        Binding("q", "quit_list", "Quit", id="audit.quit", tooltip="Quit certctl"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, str] = {}
        self.next_cursor: str | None = None
        self._loading_more = False
        self._generation = 0
        self.verification: AuditVerification | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="actor:NAME action:NAME type:TYPE id:ID", id="audit-filter")
        yield Static("", id="audit-info", markup=False)
        yield PagedTable(id="audit", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(PagedTable)
        for key, label in (
            ("seq", "#"),
            ("time", "Time (UTC)"),
            ("actor", "Actor"),
            ("action", "Action"),
            ("resource", "Resource"),
        ):
            table.add_column(label, key=key)
        self.query_one("#audit-filter", Input).display = False
        table.focus()
        self.refresh_data()

    def _fetch(self, cursor: str | None) -> Page[AuditEvent]:
        return self.capp.engine.audit.list(limit=PAGE_SIZE, cursor=cursor, **self.filters)

    def _add(self, events: tuple[AuditEvent, ...]) -> None:
        table = self.query_one(PagedTable)
        for event in events:
            if event.id not in table.rows:
                table.add_row(
                    str(event.sequence),
                    stamp(event.timestamp),
                    event.actor,
                    event.action,
                    f"{event.resource_type}/{event.resource_id}",
                    key=event.id,
                )

    def refresh_data(self, *, live: bool = False) -> None:
        self._generation += 1
        generation = self._generation

        def show(page: Page[AuditEvent]) -> None:
            if generation != self._generation:
                return
            table = self.query_one(PagedTable)
            keep = highlighted_key(table) if live else None
            table.clear()
            self._add(page.items)
            self.next_cursor = page.next_cursor
            self._loading_more = False
            if keep and keep in table.rows:
                table.move_cursor(row=table.get_row_index(keep), scroll=False)
            self._info()
            self.capp.mark_loaded()

        self.engine_work(lambda: self._fetch(None), show, title="Audit trail", group="load", exclusive=True)

    def on_paged_table_near_end(self, _message: PagedTable.NearEnd) -> None:
        if self._loading_more or self.next_cursor is None or not self.query_one(PagedTable).near_end():
            return
        self._loading_more = True
        cursor, generation = self.next_cursor, self._generation

        def show(page: Page[AuditEvent]) -> None:
            if generation != self._generation:
                return
            self._add(page.items)
            self.next_cursor = page.next_cursor
            self._loading_more = False
            self._info()

        self.engine_work(lambda: self._fetch(cursor), show, title="Audit trail", group="more")

    def _info(self) -> None:
        table = self.query_one(PagedTable)
        parts = [f"{table.row_count} events loaded" + (" (more below)" if self.next_cursor else "")]
        if self.filters:
            parts.append("filter " + " ".join(f"{k}={v}" for k, v in self.filters.items()))
        if self.verification is not None:
            v = self.verification
            parts.append(
                f"chain intact: {v.events_checked} events verified"
                if v.ok
                else f"chain BROKEN at #{v.first_broken_sequence}: {v.problem}"
            )
        self.query_one("#audit-info", Static).update(" · ".join(parts))

    def action_filter(self) -> None:
        box = self.query_one("#audit-filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.filters = parse_audit_filter(event.value)
        self.query_one(PagedTable).focus()
        self.refresh_data()

    def action_back(self) -> None:
        box = self.query_one("#audit-filter", Input)
        if box.display or self.filters:
            box.value = ""
            box.display = False
            had = bool(self.filters)
            self.filters = {}
            self.query_one(PagedTable).focus()
            if had:
                self.refresh_data()
            return
        super().action_back()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.app.push_screen(AuditEventScreen(event.row_key.value))

    def action_verify(self) -> None:
        def done(result: AuditVerification) -> None:
            self.verification = result
            self._info()
            if result.ok:
                self.capp.toast("Audit chain intact", f"{result.events_checked} events verified")
            else:
                self.app.notify(
                    f"first broken event #{result.first_broken_sequence} ({result.first_broken_event_id}): "
                    f"{result.problem}",
                    title="Audit chain BROKEN",
                    severity="error",
                    timeout=15,
                    markup=False,
                )

        self.engine_work(self.capp.engine.audit.verify, done, title="Verify audit chain")

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Verify audit chain", "Walk the hash chain and report the first broken event (v)", self.action_verify
            ),
            PaletteCommand("Filter audit events", "actor:, action:, type:, id: (/)", self.action_filter),
        ]
