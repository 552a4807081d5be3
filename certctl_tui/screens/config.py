"""Configuration lists: issuers, profiles, owners, teams and renewal policies.

Each is a table with a detail view (``enter``), a create form (``n``), an edit form
(``e``) and delete with confirmation (``d``). Forms show the engine's validation message
under the field it names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Label, Static

from certctl_engine.domain import (
    ExtendedKeyUsage,
    Issuer,
    IssuerCheck,
    KeyAlgorithm,
    Owner,
    Profile,
    RenewalPolicy,
    Team,
)
from certctl_engine.errors import CertctlError, InvalidInput
from certctl_tui.format import stamp
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import Field, FormScreen
from certctl_tui.widgets.issuer_form import IssuerFormScreen, check_text
from certctl_tui.widgets.paged_table import highlighted_key


class DetailView(ModalScreen[None]):
    """Every field of one configuration object."""

    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="detail.close", tooltip="Close the detail")]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self._title = title
        self._rows = rows

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, value in self._rows:
            table.add_row(key, Text(value))
        with Vertical(classes="dialog detail-dialog"):
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll():
                yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)


class ResourceListScreen(CertctlScreen):
    """A small list loaded whole (configuration objects number in the tens)."""

    RESOURCE = "object"
    COLUMNS: ClassVar[list[tuple[str, str]]] = []
    MUTATING_ACTIONS = frozenset({"new", "edit", "delete"})

    BINDINGS = [
        Binding("n", "new", "New", id="config.new", tooltip="Create a new one"),
        Binding("e", "edit", "Edit", id="config.edit", tooltip="Edit the highlighted one"),
        Binding("d", "delete", "Delete", id="config.delete", tooltip="Delete the highlighted one (confirm)"),
        Binding("q", "quit_list", "Quit", id="config.quit", tooltip="Quit certctl"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Any] = {}

    @property
    def HELP(self) -> str:  # type: ignore[override]
        return (
            f"## {self.SCREEN_NAME}\n`enter` shows every field, `n` creates, `e` edits, `d` deletes "
            "(asks first). Forms show the engine's message under the field it concerns."
        )

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="config-info", markup=False)
        yield DataTable(id="config-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        table.focus()
        self.refresh_data()

    # subclasses
    def load(self) -> Sequence[Any]:
        raise NotImplementedError

    def cells(self, item: Any) -> list[Any]:
        raise NotImplementedError

    def fields(self, item: Any | None) -> list[Field]:
        raise NotImplementedError

    def create(self, values: dict[str, Any]) -> Any:
        raise NotImplementedError

    def update(self, item: Any, values: dict[str, Any]) -> Any:
        raise NotImplementedError

    def delete(self, item: Any) -> None:
        raise NotImplementedError

    def detail_rows(self, item: Any) -> list[tuple[str, str]]:
        rows = []
        for name in getattr(item, "__slots__", ()):
            value = getattr(item, name)
            if hasattr(value, "isoformat"):
                value = stamp(value) + " UTC"
            elif isinstance(value, (dict, list, tuple)):
                value = json.dumps(value, default=str) if isinstance(value, dict) else ", ".join(map(str, value))
            rows.append((name.replace("_", " "), str(value) if value not in (None, "") else "-"))
        return rows

    # loading
    def refresh_data(self, *, live: bool = False) -> None:
        self.engine_work(self.load, self._show, title=self.SCREEN_NAME, group="load", exclusive=True)

    def _show(self, items: Sequence[Any]) -> None:
        table = self.query_one(DataTable)
        keep = self.highlighted()
        row = table.cursor_row
        table.clear()
        self.items = {item.id: item for item in items}
        for item in items:
            table.add_row(*self.cells(item), key=item.id)
        if keep is not None and keep.id in table.rows:
            table.move_cursor(row=table.get_row_index(keep.id), scroll=False)
        elif table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        self.query_one("#config-info", Static).update(self.info_text(len(items)))
        self.capp.mark_loaded()

    def info_text(self, count: int) -> str:
        """The line above the table: how many, and the keys that act on them."""
        return f"{self.SCREEN_NAME}: {count} · enter details" + (
            "" if self.capp.read_only else " · n new · e edit · d delete"
        )

    def highlighted(self) -> Any | None:
        return self.items.get(highlighted_key(self.query_one(DataTable)) or "")

    # actions
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        item = self.items.get(event.row_key.value or "")
        if item is not None:
            self.app.push_screen(DetailView(f"{self.RESOURCE} {item.name}", self.detail_rows(item)))

    def _form(self, title: str, item: Any | None, save: Callable[[dict[str, Any]], Any]) -> None:
        def done(result: Any) -> None:
            if result is not None:
                self.capp.toast("Saved", f"{self.RESOURCE} '{result.name}' saved")
                self.refresh_data()

        self.app.push_screen(FormScreen(title, self.fields(item), save), done)

    def action_new(self) -> None:
        self._form(f"New {self.RESOURCE}", None, self.create)

    def action_edit(self) -> None:
        item = self.highlighted()
        if item is not None:
            self._form(f"Edit {self.RESOURCE} '{item.name}'", item, lambda values: self.update(item, values))

    def action_delete(self) -> None:
        item = self.highlighted()
        if item is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.engine_work(
                    lambda: self.delete(item),
                    lambda _r: self._deleted(item),
                    title=f"Delete {self.RESOURCE}",
                )

        self.app.push_screen(
            ConfirmDialog(
                f"Delete {self.RESOURCE}", f"Delete {self.RESOURCE} '{item.name}' ({item.id})?", yes_label="Delete"
            ),
            answered,
        )

    def _deleted(self, item: Any) -> None:
        self.capp.toast("Deleted", f"{self.RESOURCE} '{item.name}' deleted")
        self.refresh_data()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(f"New {self.RESOURCE}", f"Create a {self.RESOURCE} (n)", self.action_new, True),
            PaletteCommand(
                f"Edit {self.RESOURCE}", f"Edit the highlighted {self.RESOURCE} (e)", self.action_edit, True
            ),
            PaletteCommand(
                f"Delete {self.RESOURCE}", f"Delete the highlighted {self.RESOURCE} (d)", self.action_delete, True
            ),
        ]

    # helpers for subclasses
    @property
    def engine(self) -> Any:
        return self.capp.engine

    @property
    def actor(self) -> Any:
        return self.capp.actor


def _changes(item: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Only the fields whose value differs from the object's."""
    out = {}
    for key, value in values.items():
        current = getattr(item, key, None)
        if isinstance(current, tuple):
            current = list(current)
        if value != current:
            out[key] = value
    return out


# ---------------------------------------------------------------------- issuers
class IssuerDetailView(DetailView):
    """An issuer's fields, and ``t`` to test its connection without leaving the detail."""

    BINDINGS = [
        Binding(
            "t",
            "test_connection",
            "Test connection",
            id="issuers.detail_test",
            tooltip="Reach the issuer's CA and show what works or precisely what does not",
        )
    ]

    def __init__(
        self, title: str, rows: list[tuple[str, str]], issuer_id: str, test: Callable[[str], IssuerCheck]
    ) -> None:
        super().__init__(title, rows)
        self._issuer_id = issuer_id
        self._test = test

    DEFAULT_CSS = """
    IssuerDetailView .detail-dialog VerticalScroll { height: auto; max-height: 28; }
    IssuerDetailView #issuer-test-result { height: auto; margin-top: 1; color: $text-muted; }
    """

    def on_mount(self) -> None:
        hint = "" if getattr(self.app, "read_only", False) else "t tests the connection to the CA"
        self.query_one(".detail-dialog").mount(Static(hint, id="issuer-test-result", markup=False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "test_connection" and getattr(self.app, "read_only", False))

    def action_test_connection(self) -> None:
        line = self.query_one("#issuer-test-result", Static)
        line.update("Testing the connection…")
        self.run_worker(self._run_test, group="issuer-test", exclusive=True, exit_on_error=False)

    async def _run_test(self) -> None:
        line = self.query_one("#issuer-test-result", Static)
        try:
            check = await self.app.calls.run(self._test, self._issuer_id)  # type: ignore[attr-defined]
        except CertctlError as exc:
            line.update(Text(f"failed: {exc}", style="bold red"))
            return
        line.update(Text(check_text(check), style="bold green" if check.ok else "bold red"))


class IssuersScreen(ResourceListScreen):
    SCREEN_NAME = "Issuers"
    RESOURCE = "issuer"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("name", "Name"),
        ("id", "Id"),
        ("type", "Type"),
        ("enabled", "Enabled"),
        ("secrets", "Secret fields"),
        ("updated", "Updated"),
    ]
    MUTATING_ACTIONS = frozenset({"new", "edit", "delete", "test_connection"})

    BINDINGS = [
        Binding(
            "t",
            "test_connection",
            "Test connection",
            id="issuers.test",
            tooltip="Reach the highlighted issuer's CA and show what works or precisely what does not",
        ),
    ]

    @property
    def HELP(self) -> str:  # type: ignore[override]
        return (
            "## Issuers\n`enter` shows every field, `n` creates, `e` edits, `d` deletes (asks first), "
            "`t` tests the connection to the CA (it may register an ACME account, so read-only mode hides it). "
            "The form shows the chosen type's settings; the engine's message appears next to the field."
        )

    def info_text(self, count: int) -> str:
        return super().info_text(count) + ("" if self.capp.read_only else " · t test connection")

    def load(self) -> Sequence[Issuer]:
        return self.engine.issuers.list()

    def cells(self, item: Issuer) -> list[Any]:
        return [
            item.name,
            item.id,
            item.type.value,
            "yes" if item.enabled else Text("no", style="dim"),
            ", ".join(item.secret_fields) or "-",
            stamp(item.updated_at),
        ]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        event.prevent_default()  # the issuer's own detail, with the connection test, not the generic one
        item = self.items.get(event.row_key.value or "")
        if item is not None:
            self.app.push_screen(IssuerDetailView(f"issuer {item.name}", self.detail_rows(item), item.id, self.test))

    def _form(self, title: str, item: Any | None, save: Callable[[dict[str, Any]], Any]) -> None:
        def done(result: Issuer | None) -> None:
            if result is not None:
                self.capp.toast("Saved", f"issuer '{result.name}' saved")
                self.refresh_data()

        self.app.push_screen(IssuerFormScreen(title, item, self.create, self.update, self.test), done)

    def create(self, values: dict[str, Any]) -> Issuer:
        return self.engine.issuers.create(
            values["name"], values["type"], values["config"], actor=self.actor, enabled=values["enabled"]
        )

    def update(self, item: Issuer, values: dict[str, Any]) -> Issuer:
        changes = _changes(item, {k: values[k] for k in ("name", "enabled")})
        if values["type"] != item.type.value:
            changes["type"] = values["type"]
        if values["config"] != item.config:
            changes["config"] = values["config"]
        if not changes:
            raise InvalidInput("nothing changed")
        return self.engine.issuers.update(item.id, actor=self.actor, **changes)

    def delete(self, item: Issuer) -> None:
        self.engine.issuers.delete(item.id, actor=self.actor)

    def test(self, issuer_id: str) -> IssuerCheck:
        return self.engine.issuance.test_issuer(issuer_id, actor=self.actor)

    def action_test_connection(self) -> None:
        item = self.highlighted()
        if item is None:
            return
        self.engine_work(lambda: self.test(item.id), lambda check: self._tested(item, check), title="Test connection")

    def _tested(self, item: Issuer, check: IssuerCheck) -> None:
        title = f"Issuer '{item.name}': connection {'ok' if check.ok else 'failed'}"
        self.app.notify(check.message, title=title, severity="information" if check.ok else "error", markup=False)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            *super().palette_commands(),
            PaletteCommand(
                "Test issuer connection", "Reach the highlighted issuer's CA (t)", self.action_test_connection, True
            ),
        ]


# ---------------------------------------------------------------------- profiles
def _key_rules_text(profile: Profile | None) -> str:
    if profile is None:
        return "ECDSA:256, RSA:2048"
    return ", ".join(f"{r.algorithm.value}:{r.min_size}" for r in profile.allowed_key_algorithms)


def _parse_key_rules(items: list[str]) -> list[dict[str, Any]]:
    rules = []
    for item in items:
        algorithm, _, size = item.partition(":")
        try:
            rules.append({"algorithm": algorithm.strip(), "min_size": int(size or 0)})
        except ValueError:
            raise InvalidInput(
                f"'{item}' must be ALGORITHM:MIN_BITS, e.g. RSA:2048", field="allowed_key_algorithms"
            ) from None
    return rules


class ProfilesScreen(ResourceListScreen):
    SCREEN_NAME = "Profiles"
    RESOURCE = "profile"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("name", "Name"),
        ("id", "Id"),
        ("keys", "Keys"),
        ("ttl", "Max TTL"),
        ("ekus", "EKUs"),
        ("approval", "Approval"),
        ("enabled", "Enabled"),
    ]

    def load(self) -> Sequence[Profile]:
        return self.engine.profiles.list()

    def cells(self, item: Profile) -> list[Any]:
        ttl = item.max_ttl_seconds
        ttl_text = f"{ttl // 86400}d" if ttl >= 86400 else f"{ttl // 60}m"
        return [
            item.name,
            item.id,
            _key_rules_text(item),
            ttl_text,
            ", ".join(e.value for e in item.allowed_ekus),
            "yes" if item.requires_approval else "no",
            "yes" if item.enabled else Text("no", style="dim"),
        ]

    def fields(self, item: Profile | None) -> list[Field]:
        return [
            Field("name", "Name", value=item.name if item else ""),
            Field("description", "Description", value=item.description if item else ""),
            Field(
                "allowed_key_algorithms",
                "Key algorithms (ALGORITHM:MIN_BITS, comma-separated; " + "/".join(k.value for k in KeyAlgorithm) + ")",
                "list",
                [s.strip() for s in _key_rules_text(item).split(",")],
            ),
            Field("max_ttl_seconds", "Max TTL (seconds)", "int", item.max_ttl_seconds if item else 90 * 86400),
            Field(
                "allowed_ekus",
                "EKUs (comma-separated: " + ", ".join(e.value for e in ExtendedKeyUsage) + ")",
                "list",
                [e.value for e in item.allowed_ekus] if item else ["serverAuth"],
            ),
            Field(
                "required_san_patterns",
                "Required SAN patterns (comma-separated regexes)",
                "list",
                list(item.required_san_patterns) if item else [],
            ),
            Field(
                "allow_short_lived", "Allow short-lived (< 1 hour)", "bool", item.allow_short_lived if item else False
            ),
            Field("requires_approval", "Requires approval", "bool", item.requires_approval if item else False),
            Field("enabled", "Enabled", "bool", item.enabled if item else True),
        ]

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        values = dict(values)
        values["allowed_key_algorithms"] = _parse_key_rules(values["allowed_key_algorithms"])
        return values

    def create(self, values: dict[str, Any]) -> Profile:
        values = self._values(values)
        return self.engine.profiles.create(values.pop("name"), actor=self.actor, **values)

    def update(self, item: Profile, values: dict[str, Any]) -> Profile:
        values = self._values(values)
        current_rules = [{"algorithm": r.algorithm.value, "min_size": r.min_size} for r in item.allowed_key_algorithms]
        if values["allowed_key_algorithms"] == current_rules:
            values.pop("allowed_key_algorithms")
        ekus = [e.value for e in item.allowed_ekus]
        if values["allowed_ekus"] == ekus:
            values.pop("allowed_ekus")
        changes = {k: v for k, v in values.items() if k in ("allowed_key_algorithms", "allowed_ekus")}
        changes.update(_changes(item, {k: v for k, v in values.items() if k not in changes}))
        return self.engine.profiles.update(item.id, actor=self.actor, **changes)

    def delete(self, item: Profile) -> None:
        self.engine.profiles.delete(item.id, actor=self.actor)


# ---------------------------------------------------------------------- owners, teams
class OwnersScreen(ResourceListScreen):
    SCREEN_NAME = "Owners"
    RESOURCE = "owner"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [("name", "Name"), ("id", "Id"), ("email", "Email"), ("team", "Team")]

    def __init__(self) -> None:
        super().__init__()
        self.teams: dict[str, str] = {}

    def load(self) -> Sequence[Owner]:
        self.teams = {t.id: t.name for t in self.engine.ownership.list_teams()}
        return self.engine.ownership.list_owners()

    def cells(self, item: Owner) -> list[Any]:
        return [item.name, item.id, item.email or "-", self.teams.get(item.team_id or "", item.team_id or "-")]

    def fields(self, item: Owner | None) -> list[Field]:
        return [
            Field("name", "Name", value=item.name if item else ""),
            Field("email", "Email", value=item.email if item else ""),
            Field(
                "team_id",
                "Team",
                "select",
                item.team_id if item else None,
                sorted(self.teams.items(), key=lambda kv: kv[1]),
            ),
        ]

    def create(self, values: dict[str, Any]) -> Owner:
        return self.engine.ownership.create_owner(values["name"], values["email"], values["team_id"], actor=self.actor)

    def update(self, item: Owner, values: dict[str, Any]) -> Owner:
        return self.engine.ownership.update_owner(item.id, actor=self.actor, **_changes(item, values))

    def delete(self, item: Owner) -> None:
        self.engine.ownership.delete_owner(item.id, actor=self.actor)


class TeamsScreen(ResourceListScreen):
    SCREEN_NAME = "Teams"
    RESOURCE = "team"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [("name", "Name"), ("id", "Id"), ("description", "Description")]

    def load(self) -> Sequence[Team]:
        return self.engine.ownership.list_teams()

    def cells(self, item: Team) -> list[Any]:
        return [item.name, item.id, item.description[:60] or "-"]

    def fields(self, item: Team | None) -> list[Field]:
        return [
            Field("name", "Name", value=item.name if item else ""),
            Field("description", "Description", value=item.description if item else ""),
        ]

    def create(self, values: dict[str, Any]) -> Team:
        return self.engine.ownership.create_team(values["name"], values["description"], actor=self.actor)

    def update(self, item: Team, values: dict[str, Any]) -> Team:
        return self.engine.ownership.update_team(item.id, actor=self.actor, **_changes(item, values))

    def delete(self, item: Team) -> None:
        self.engine.ownership.delete_team(item.id, actor=self.actor)


# ---------------------------------------------------------------------- renewal policies
class PoliciesScreen(ResourceListScreen):
    SCREEN_NAME = "Renewal policies"
    RESOURCE = "renewal policy"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("name", "Name"),
        ("id", "Id"),
        ("window", "Window"),
        ("auto", "Auto"),
        ("retries", "Retries"),
        ("alerts", "Alerts (days)"),
        ("profile", "Profile"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.profiles: dict[str, str] = {}

    def load(self) -> Sequence[RenewalPolicy]:
        self.profiles = {p.id: p.name for p in self.engine.profiles.list()}
        return self.engine.renewal_policies.list()

    def cells(self, item: RenewalPolicy) -> list[Any]:
        return [
            item.name,
            item.id,
            f"{item.renewal_window_days}d",
            "yes" if item.auto_renew else "no",
            f"{item.max_retries} every {item.retry_interval_minutes}m",
            ", ".join(map(str, item.effective_alert_thresholds)),
            self.profiles.get(item.certificate_profile_id or "", item.certificate_profile_id or "-"),
        ]

    def fields(self, item: RenewalPolicy | None) -> list[Field]:
        return [
            Field("name", "Name", value=item.name if item else ""),
            Field(
                "renewal_window_days",
                "Renewal window (days before expiry, 1-365)",
                "int",
                item.renewal_window_days if item else 30,
            ),
            Field("auto_renew", "Renew automatically", "bool", item.auto_renew if item else True),
            Field("max_retries", "Max retries (0-100)", "int", item.max_retries if item else 3),
            Field(
                "retry_interval_minutes", "Retry interval (minutes)", "int", item.retry_interval_minutes if item else 60
            ),
            Field(
                "alert_thresholds_days",
                "Alert thresholds (days, comma-separated)",
                "list",
                list(item.alert_thresholds_days) if item else [30, 14, 7, 0],
            ),
            Field(
                "certificate_profile_id",
                "Profile",
                "select",
                item.certificate_profile_id if item else None,
                sorted(self.profiles.items(), key=lambda kv: kv[1]),
            ),
        ]

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        values = dict(values)
        try:
            values["alert_thresholds_days"] = [int(v) for v in values["alert_thresholds_days"]]
        except ValueError:
            raise InvalidInput(
                "alert thresholds must be whole numbers of days", field="alert_thresholds_days"
            ) from None
        return values

    def create(self, values: dict[str, Any]) -> RenewalPolicy:
        values = self._values(values)
        return self.engine.renewal_policies.create(values.pop("name"), actor=self.actor, **values)

    def update(self, item: RenewalPolicy, values: dict[str, Any]) -> RenewalPolicy:
        return self.engine.renewal_policies.update(item.id, actor=self.actor, **_changes(item, self._values(values)))

    def delete(self, item: RenewalPolicy) -> None:
        self.engine.renewal_policies.delete(item.id, actor=self.actor)
