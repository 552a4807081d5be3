"""The certificate inventory: filtered as you type, sorted, marked, paged from the engine.

Only the pages the user has reached are loaded (50 rows each, through the engine's cursor
API); the next page loads as the cursor or the scroll nears the end. Live refresh reloads
the page under the cursor only and keeps the cursor on the same certificate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from certctl_engine.domain import (
    Certificate,
    CertificateFilter,
    CertificateSortField,
    CertificateStatus,
    Page,
    SortOrder,
)
from certctl_engine.errors import CertctlError
from certctl_tui.format import ago, expires_in, status_text, urgency_style
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.paged_table import PagedTable, highlighted_key

PAGE_SIZE = 50
FILTER_DEBOUNCE_SECONDS = 0.025

STATUS_CHOICES: list[tuple[CertificateStatus, ...]] = [
    (),
    (CertificateStatus.ACTIVE,),
    (CertificateStatus.EXPIRING,),
    (CertificateStatus.EXPIRED,),
    (CertificateStatus.FAILED,),
    (CertificateStatus.RENEWAL_IN_PROGRESS,),
    (CertificateStatus.PENDING,),
    (CertificateStatus.REVOKED,),
    (CertificateStatus.ARCHIVED,),
]
ExpiryRange = tuple[int | None, int]
"""(more than this many days left, or None; at most this many days left): the dashboard's buckets."""
EXPIRY_CHOICES: list[ExpiryRange | None] = [None, (None, 7), (7, 30), (30, 90)]


def expiry_text(expiry: ExpiryRange | None) -> str:
    """How the info line names an expiry filter: "expiring within 7d", "expiring in 8-30d"."""
    if expiry is None:
        return "any expiry"
    after, within = expiry
    return f"expiring within {within}d" if after is None else f"expiring in {after + 1}-{within}d"


# shift+letter -> the engine's sort (a CertificateSortField value, or "issuer" / "owner": by their names)
SORT_KEYS: dict[str, str] = {
    "C": CertificateSortField.COMMON_NAME.value,
    "N": CertificateSortField.NAME.value,
    "E": CertificateSortField.EXPIRES_AT.value,
    "S": CertificateSortField.STATUS.value,
    "I": "issuer",
    "O": "owner",
    "U": CertificateSortField.UPDATED_AT.value,
    "A": CertificateSortField.CREATED_AT.value,
}
# sort -> the column whose header shows the arrow
SORT_COLUMN: dict[str, str] = {
    CertificateSortField.COMMON_NAME.value: "cn",
    CertificateSortField.NAME.value: "cn",
    CertificateSortField.EXPIRES_AT.value: "expires",
    CertificateSortField.STATUS.value: "status",
    "issuer": "issuer",
    "owner": "owner",
}

COLUMNS: list[tuple[str, str, int]] = [
    ("mark", " ", 1),
    ("cn", "Common name", 24),
    ("sans", "SANs", 14),
    ("issuer", "Issuer", 10),
    ("owner", "Owner / team", 14),
    ("profile", "Profile", 10),
    ("status", "Status", 9),
    ("expires", "Expires", 10),
    ("deployed", "Deployed", 8),
]
_SHORT_STATUS = {CertificateStatus.RENEWAL_IN_PROGRESS: "Renewing"}


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


@dataclass
class References:
    """Names of the objects certificates point to, for display."""

    issuers: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


@dataclass
class LoadedPage:
    start_cursor: str | None
    ids: list[str]


def load_references(engine: Any) -> References:
    return References(
        issuers={i.id: i.name for i in engine.issuers.list()},
        owners={o.id: o.name for o in engine.ownership.list_owners()},
        teams={t.id: t.name for t in engine.ownership.list_teams()},
        profiles={p.id: p.name for p in engine.profiles.list()},
    )


class CertificatesScreen(CertctlScreen):
    SCREEN_NAME = "Certificates"
    MUTATING_ACTIONS = frozenset({"renew_marked"})
    HELP = """
## Certificates
The inventory, loaded a page at a time from the store (it stays instant at 100,000 rows).

| key | does |
|---|---|
| `/` | filter as you type over CN, SANs, name, owner, team and issuer; `enter` back to the table, `esc` clears |
| `!` | first in the filter, inverts it: `!staging` shows what does not match `staging` |
| `t` | cycle the status filter |
| `w` | cycle the expiry window: 0-7, 8-30, 31-90 days left (the dashboard's buckets) |
| `C` `N` `E` `S` `I` `O` `U` `A` | sort by CN, name, expiry, status, issuer, owner, updated, added (again: reverse) |
| `space` | mark the row; `r` renews the marked rows (or the current one) |
| `enter` | open the certificate |

Colours: red expires within 7 days (or expired/failed), yellow within 30, green later.
"""

    BINDINGS = [
        Binding(
            "slash",
            "filter",
            "Filter",
            id="certs.filter",
            tooltip="Filter as you type over CN, SANs, name; a leading ! inverts",
        ),
        Binding("t", "cycle_status", "Status", id="certs.status", tooltip="Cycle the status filter"),
        Binding(
            "w", "cycle_expiry", "Window", id="certs.expiry", tooltip="Cycle the expiry window: 0-7 / 8-30 / 31-90 days"
        ),
        Binding("space", "mark", "Mark", id="certs.mark", tooltip="Mark or unmark the row for bulk renewal"),
        Binding("r", "renew_marked", "Renew", id="certs.renew", tooltip="Renew the marked rows (or this one)"),
        Binding("q", "quit_list", "Quit", id="certs.quit", tooltip="Quit certctl"),
        *[
            Binding(
                key,
                f"sort('{fld}')",
                f"Sort {fld}",
                show=False,
                id=f"certs.sort.{fld}",
                tooltip=f"Sort by {fld.replace('_', ' ')}; again to reverse",
            )
            for key, fld in SORT_KEYS.items()
        ],
    ]

    def __init__(self, *, flt: CertificateFilter | None = None, title: str | None = None) -> None:
        super().__init__()
        base = flt or CertificateFilter()
        self.base_filter = replace(base, statuses=(), expiring_within_days=None, expiring_after_days=None, query=None)
        self.statuses: tuple[CertificateStatus, ...] = base.statuses
        self.expiry: ExpiryRange | None = (
            (base.expiring_after_days, base.expiring_within_days) if base.expiring_within_days is not None else None
        )
        self.query_text = base.query or ""
        self.sort: str = CertificateSortField.EXPIRES_AT.value
        self.order = SortOrder.ASC
        self.list_title = title
        self.refs = References()
        self.certs: dict[str, Certificate] = {}
        self.pages: list[LoadedPage] = []
        self.next_cursor: str | None = None
        self.marked: set[str] = set()
        self.total: int | None = None
        self._generation = 0
        self._loading_more = False
        self._debounce: Timer | None = None
        self._last_filter_reload = 0.0
        #: Number of table updates (benchmarks and tests wait on it) and when the last one was painted.
        self.updates = 0
        self.painted_at = 0.0

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(
            self.query_text,
            placeholder="filter: CN, SAN, name, owner, team or issuer (!text: not matching)",
            id="filter",
        )
        yield Static("", id="cert-info", markup=False)
        yield PagedTable(id="certs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(PagedTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        filter_input = self.query_one("#filter", Input)
        filter_input.display = bool(self.query_text)
        table.focus()
        self._update_headers()
        self.reload(with_references=True)

    @property
    def table(self) -> PagedTable:
        return self.query_one(PagedTable)

    def current_filter(self) -> CertificateFilter:
        return replace(
            self.base_filter,
            statuses=self.statuses,
            expiring_within_days=self.expiry[1] if self.expiry else None,
            expiring_after_days=self.expiry[0] if self.expiry else None,
            query=self.query_text or None,
        )

    # ------------------------------------------------------------------ rows
    def row_cells(self, cert: Certificate) -> list[Any]:
        now = self.capp.now()
        refs = self.refs
        style = urgency_style(cert, now)
        others = [s for s in cert.sans if s != cert.common_name]
        sans = (_cut(others[0], 11) + (f" +{len(others) - 1}" if len(others) > 1 else "")) if others else "-"
        owner = refs.owners.get(cert.owner_id or "", cert.owner_id or "")
        team = refs.teams.get(cert.team_id or "", cert.team_id or "")
        who = "/".join(p for p in (owner, team) if p) or "-"
        profile = refs.profiles.get(cert.certificate_profile_id or "", cert.certificate_profile_id or "-")
        status = status_text(cert.status)
        status.plain = _SHORT_STATUS.get(cert.status, cert.status.value)
        return [
            Text("●", style="bold magenta") if cert.id in self.marked else " ",
            Text(_cut(cert.common_name, 24), style=style),
            _cut(sans, 14),
            _cut(refs.issuers.get(cert.issuer_id, cert.issuer_id), 10),
            _cut(who, 14),
            _cut(profile, 10),
            status,
            expires_in(cert, now),
            ago(cert.last_deployment_at, now) if cert.last_deployment_at else "-",
        ]

    def _add_rows(self, items: tuple[Certificate, ...]) -> list[str]:
        table = self.table
        ids: list[str] = []
        for cert in items:
            self.certs[cert.id] = cert
            if cert.id in table.rows:
                continue
            table.add_row(*self.row_cells(cert), key=cert.id)
            ids.append(cert.id)
        return ids

    def highlighted_id(self) -> str | None:
        return highlighted_key(self.table)

    # ------------------------------------------------------------------ loading
    def _fetch(self, cursor: str | None) -> Page[Certificate]:
        return self.capp.engine.certificates.list(
            self.current_filter(), sort=self.sort, order=self.order, limit=PAGE_SIZE, cursor=cursor
        )

    def reload(self, *, with_references: bool = False) -> None:
        """Load the first page again for the current filter and sort (cursor back on top)."""
        self._generation += 1
        generation = self._generation
        engine = self.capp.engine
        need_refs = with_references or not self.refs.issuers

        def load() -> tuple[References | None, Page[Certificate]]:
            refs = load_references(engine) if need_refs else None
            return refs, self._fetch(None)

        def show(result: tuple[References | None, Page[Certificate]]) -> None:
            if generation != self._generation:
                return
            refs, page = result
            if refs is not None:
                self.refs = refs
            table = self.table
            table.clear()
            self.certs.clear()
            ids = self._add_rows(page.items)
            self.pages = [LoadedPage(None, ids)]
            self.next_cursor = page.next_cursor
            self._loading_more = False
            if table.row_count:
                table.move_cursor(row=0, scroll=True)
            self._updated()
            self.capp.mark_loaded()
            self._count()

        self.engine_work(load, show, title="Certificates", group="load", exclusive=True)

    def _count(self) -> None:
        generation = self._generation
        flt = self.current_filter()

        def done(total: int) -> None:
            if generation == self._generation:
                self.total = total
                self._update_info()

        self.total = None
        self._update_info()
        self.engine_work(
            lambda: self.capp.engine.certificates.count(flt), done, title="Certificates", group="count", exclusive=True
        )

    def on_paged_table_near_end(self, _message: PagedTable.NearEnd) -> None:
        if self.table.near_end():
            self.load_more()

    def load_more(self) -> None:
        if self._loading_more or self.next_cursor is None:
            return
        self._loading_more = True
        generation = self._generation
        cursor = self.next_cursor

        def show(page: Page[Certificate]) -> None:
            if generation != self._generation:
                return
            ids = self._add_rows(page.items)
            self.pages.append(LoadedPage(cursor, ids))
            self.next_cursor = page.next_cursor
            self._loading_more = False
            self._updated()
            self._update_info()

        self.engine_work(lambda: self._fetch(cursor), show, title="Certificates", group="more")

    def refresh_data(self, *, live: bool = False) -> None:
        if not live or not self.pages:
            self.reload(with_references=True)
            return
        self._reload_visible_page()

    def _page_of_row(self, row: int) -> int:
        start = 0
        for index, page in enumerate(self.pages):
            if row < start + len(page.ids):
                return index
            start += len(page.ids)
        return max(0, len(self.pages) - 1)

    def _reload_visible_page(self) -> None:
        """Live refresh: fetch the page under the cursor again; update cells in place when the rows are the same."""
        table = self.table
        index = self._page_of_row(table.cursor_row)
        page_state = self.pages[index]
        generation = self._generation
        engine = self.capp.engine

        def load() -> tuple[References, Page[Certificate]]:
            return load_references(engine), self._fetch(page_state.start_cursor)

        def show(result: tuple[References, Page[Certificate]]) -> None:
            if generation != self._generation:
                return
            self.refs, page = result
            new_ids = [c.id for c in page.items]
            keep = self.highlighted_id()
            if new_ids == page_state.ids:
                for cert in page.items:
                    self.certs[cert.id] = cert
                    for (key, _label, _width), value in zip(COLUMNS, self.row_cells(cert), strict=True):
                        table.update_cell(cert.id, key, value)
            else:
                cursor_row = table.cursor_row
                drop = [i for p in self.pages[index:] for i in p.ids]
                for cert_id in drop:
                    if cert_id in table.rows:
                        table.remove_row(cert_id)
                    self.certs.pop(cert_id, None)
                self.pages = self.pages[:index]
                ids = self._add_rows(page.items)
                self.pages.append(LoadedPage(page_state.start_cursor, ids))
                self.next_cursor = page.next_cursor
                self._loading_more = False
                if keep is not None and keep in table.rows:
                    table.move_cursor(row=table.get_row_index(keep), scroll=False)
                elif table.row_count:
                    table.move_cursor(row=min(cursor_row, table.row_count - 1), scroll=False)
            self._updated()
            self.capp.mark_loaded()
            self._count()

        self.engine_work(load, show, title="Certificates", group="load", exclusive=True)

    def _updated(self) -> None:
        self.updates += 1
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.painted_at = time.perf_counter()

    # ------------------------------------------------------------------ header / info
    def _update_headers(self) -> None:
        table = self.table
        arrow = " ▲" if self.order is SortOrder.ASC else " ▼"
        sorted_column = SORT_COLUMN.get(self.sort)
        for key, label, _width in COLUMNS:
            column = table.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.label = Text(label + (arrow if key == sorted_column else ""))
        table.refresh()
        self._update_info()

    def _update_info(self) -> None:
        parts: list[str] = []
        if self.list_title:
            parts.append(self.list_title)
        if self.query_text.startswith("!") and self.query_text[1:].strip():
            parts.append(f"not matching '{self.query_text[1:].strip()}'")
        elif self.query_text and not self.query_text.startswith("!"):
            parts.append(f"filter '{self.query_text}'")
        parts.append("status " + ("+".join(s.value for s in self.statuses) if self.statuses else "any"))
        parts.append(expiry_text(self.expiry))
        parts.append(f"sort {self.sort} {'asc' if self.order is SortOrder.ASC else 'desc'}")
        shown = self.table.row_count if self.is_mounted else 0
        if self.total is not None:
            parts.append(f"{self.total} certificates ({shown} loaded)")
        else:
            parts.append(f"{shown} loaded")
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        # One fixed line (height 1 in the stylesheet): no layout pass, which would repaint the table too.
        self.query_one("#cert-info", Static).update(" · ".join(parts), layout=False)

    # ------------------------------------------------------------------ filter
    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.display = True
        filter_input.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        event.stop()
        self.query_text = event.value.strip()
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        # Leading and trailing edge: the first keystroke after a pause reloads at once, keystrokes
        # that follow within the debounce window are folded into one reload at its end.
        since = time.monotonic() - self._last_filter_reload
        if since >= FILTER_DEBOUNCE_SECONDS:
            self._filter_reload()
        else:
            self._debounce = self.set_timer(FILTER_DEBOUNCE_SECONDS - since, self._filter_reload)

    def _filter_reload(self) -> None:
        self._debounce = None
        self._last_filter_reload = time.monotonic()
        self.reload()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            self.table.focus()

    def action_back(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if filter_input.display or self.query_text:
            had_text = bool(self.query_text)
            filter_input.value = ""
            filter_input.display = False
            self.query_text = ""
            self.table.focus()
            if had_text:
                if self._debounce is not None:
                    self._debounce.stop()
                self.reload()
            return
        super().action_back()

    def action_cycle_status(self) -> None:
        try:
            index = STATUS_CHOICES.index(self.statuses)
        except ValueError:
            index = 0
        self.statuses = STATUS_CHOICES[(index + 1) % len(STATUS_CHOICES)]
        self.reload()

    def action_cycle_expiry(self) -> None:
        try:
            index = EXPIRY_CHOICES.index(self.expiry)
        except ValueError:
            index = 0
        self.expiry = EXPIRY_CHOICES[(index + 1) % len(EXPIRY_CHOICES)]
        self.reload()

    def action_sort(self, value: str) -> None:
        if value not in SORT_KEYS.values():
            return
        if value == self.sort:
            self.order = SortOrder.DESC if self.order is SortOrder.ASC else SortOrder.ASC
        else:
            self.sort, self.order = value, SortOrder.ASC
        self._update_headers()
        self.reload()

    # ------------------------------------------------------------------ rows: open, mark, renew
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.open_detail(event.row_key.value)

    def open_detail(self, cert_id: str) -> None:
        from certctl_tui.screens.certificate_detail import CertificateDetailScreen

        self.app.push_screen(CertificateDetailScreen(cert_id))

    def action_mark(self) -> None:
        cert_id = self.highlighted_id()
        if cert_id is None:
            return
        if cert_id in self.marked:
            self.marked.discard(cert_id)
        else:
            self.marked.add(cert_id)
        self.table.update_cell(cert_id, "mark", Text("●", style="bold magenta") if cert_id in self.marked else " ")
        row = self.table.cursor_row
        if row < self.table.row_count - 1:
            self.table.move_cursor(row=row + 1)
        self._update_info()

    def action_renew_marked(self) -> None:
        ids = [i for i in self.marked if i in self.certs] or ([self.highlighted_id()] if self.highlighted_id() else [])
        ids = [i for i in ids if i]
        if not ids:
            return
        names = [self.certs[i].name if i in self.certs else i for i in sorted(ids)]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        question = f"Renew {len(ids)} certificate{'s' if len(ids) > 1 else ''} ({shown})? Each gets a new key."

        def answered(yes: bool | None) -> None:
            if yes:
                self._renew(sorted(ids))

        self.app.push_screen(ConfirmDialog("Renew", question, yes_label="Renew", danger=False), answered)

    def _renew(self, ids: list[str]) -> None:
        engine, actor = self.capp.engine, self.capp.actor

        def renew_all() -> tuple[int, list[str]]:
            done, failures = 0, []
            for cert_id in ids:
                try:
                    engine.issuance.renew(cert_id, actor=actor)
                    done += 1
                except CertctlError as exc:
                    failures.append(f"{cert_id}: {exc}")
            return done, failures

        def finished(result: tuple[int, list[str]]) -> None:
            done, failures = result
            self.marked.difference_update(ids)
            if failures:
                self.app.notify(
                    "\n".join(failures[:5]),
                    title=f"Renewed {done}, {len(failures)} failed",
                    severity="error",
                    timeout=10,
                    markup=False,
                )
            else:
                self.capp.toast("Renewed", f"{done} certificate{'s' if done != 1 else ''} renewed")
            self.refresh_data(live=True)

        self.engine_work(renew_all, finished, title="Renew")

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("Filter certificates", "Filter as you type (/)", self.action_filter),
            PaletteCommand("Cycle status filter", "All, Active, Expiring, ... (t)", self.action_cycle_status),
            PaletteCommand("Cycle expiry window", "Any, 0-7, 8-30, 31-90 days (w)", self.action_cycle_expiry),
            *[
                PaletteCommand(
                    f"Sort by {f.replace('_', ' ')}",
                    f"Sort the inventory ({k})",
                    lambda f=f: self.action_sort(f),
                )
                for k, f in SORT_KEYS.items()
            ],
            PaletteCommand(
                "Renew marked certificates",
                "Renew the marked rows, or the current one (r)",
                self.action_renew_marked,
                mutating=True,
            ),
        ]
