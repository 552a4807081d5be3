"""Notifications, policy rules and policy violations.

Notifications lists the alerts certctl sent (or tried to), newest first; the ones not yet
read are marked, ``enter`` shows one in full, ``r`` marks it read. Policy rules lists the
rules every certificate is held to, with create and edit forms (the engine's message
appears under the field it concerns) and an enable/disable toggle. Violations lists the
certificates breaking a rule, open ones by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

from certctl_engine.domain import (
    Notification,
    NotificationStatus,
    Page,
    PolicyRule,
    PolicySeverity,
    PolicyType,
    PolicyViolationRecord,
)
from certctl_engine.errors import InvalidInput
from certctl_tui.format import stamp
from certctl_tui.screens.base import PaletteCommand
from certctl_tui.screens.config import DetailView
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import Field, FormScreen
from certctl_tui.widgets.record_list import RecordListScreen, cut, whole


def _notifications_screen() -> Screen[None]:
    return NotificationsScreen()


def _rules_screen() -> Screen[None]:
    return PolicyRulesScreen()


def _violations_screen() -> Screen[None]:
    return ViolationsScreen()


SCREEN_ENTRIES: dict[str, tuple[str, Callable[[], Screen[None]], tuple[str, ...]]] = {
    "notifications": ("Notifications", _notifications_screen, ("notif", "notes", "alerts")),
    "rules": ("Policy rules", _rules_screen, ("policy-rules", "rule", "pr")),
    "violations": ("Policy violations", _violations_screen, ("violation", "pv")),
}
"""Screen key -> (title, factory, command bar aliases), for the app's navigation."""

SEVERITY_STYLE: dict[str, str] = {
    PolicySeverity.WARNING.value: "yellow",
    PolicySeverity.ERROR.value: "bold red",
    PolicySeverity.CRITICAL.value: "bold white on red",
    "info": "cyan",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
}
UNREAD = Text("●", style="bold cyan")


# ---------------------------------------------------------------------- notifications
NOTIFICATION_STATUS_CHOICES: list[NotificationStatus | None] = [None, *NotificationStatus]
NOTIFICATION_STATUS_STYLE: dict[NotificationStatus, str] = {
    NotificationStatus.PENDING: "cyan",
    NotificationStatus.SENT: "green",
    NotificationStatus.FAILED: "bold red",
    NotificationStatus.READ: "dim",
}


def is_unread(item: Notification) -> bool:
    return item.status is not NotificationStatus.READ


class NotificationsScreen(RecordListScreen):
    SCREEN_NAME = "Notifications"
    RECORD = "notification"
    MUTATING_ACTIONS = frozenset({"mark_read"})
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = [
        ("unread", " ", 1),
        ("created", "Created (UTC)", 16),
        ("type", "Type", 18),
        ("channel", "Channel", 9),
        ("recipient", "Recipient", 20),
        ("status", "Status", 7),
        ("message", "Message", 33),
    ]
    HELP = """
## Notifications
Alerts on every channel, newest first; `●` marks the ones nobody has read yet.

| key | does |
|---|---|
| `t` | cycle the status filter: pending, sent, failed, read, any |
| `enter` | show the notification in full (message, delivery error) |
| `r` | mark the highlighted notification read |
"""

    BINDINGS = [
        Binding("t", "cycle_status", "Status", id="notifications.status", tooltip="Cycle the status filter"),
        Binding("r", "mark_read", "Mark read", id="notifications.read", tooltip="Mark the notification read"),
        Binding("q", "quit_list", "Quit", show=False, id="notifications.quit", tooltip="Quit certctl"),
    ]

    def __init__(self, *, status: NotificationStatus | None = None) -> None:
        super().__init__()
        self.status = status

    def fetch(self, cursor: str | None, limit: int) -> Page[Notification]:
        return self.capp.engine.notifications.list(status=self.status, limit=limit, cursor=cursor)

    def row_cells(self, record: Notification) -> list[Any]:
        return [
            UNREAD if is_unread(record) else " ",
            stamp(record.created_at),
            record.type.value,
            record.channel.value,
            cut(record.recipient, 20),
            Text(record.status.value, style=NOTIFICATION_STATUS_STYLE[record.status]),
            cut(record.subject or record.message, 33),
        ]

    def title_of(self, record: Notification) -> str:
        return f"{record.type.value} {record.id}"

    def describe(self, record: Notification) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        delivery = f"{record.status.value}, {record.attempts} attempt(s)"
        if record.sent_at is not None:
            delivery += f", sent {stamp(record.sent_at)} UTC"
        rows: list[tuple[str, Text]] = [
            ("Message", Text(record.message)),
            ("To", Text(f"{record.recipient} via {record.channel.value}")),
            ("Certificate", Text(record.certificate_id or "-")),
            ("Delivery", Text(delivery, style=NOTIFICATION_STATUS_STYLE[record.status])),
        ]
        if record.error:
            rows.append(("Error", Text(record.error, style="red")))
        for key, value in rows:
            table.add_row(key, value)
        return table

    def info_parts(self) -> list[str]:
        unread = sum(1 for n in self.records.values() if is_unread(n))
        return ["status " + (self.status.value if self.status else "any"), f"{unread} unread"]

    def action_cycle_status(self) -> None:
        self.status = NOTIFICATION_STATUS_CHOICES[
            (NOTIFICATION_STATUS_CHOICES.index(self.status) + 1) % len(NOTIFICATION_STATUS_CHOICES)
        ]
        self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        item = self.records.get(event.row_key.value or "")
        if item is None:
            return
        rows = [
            ("Type", item.type.value),
            ("Status", item.status.value + ("" if is_unread(item) else " (read)")),
            ("Channel", f"{item.channel.value} ({item.channel_id or 'no channel id'})"),
            ("Recipient", item.recipient),
            ("Certificate", item.certificate_id or "-"),
            ("Severity", item.severity or "-"),
            ("Subject", item.subject or "-"),
            ("Message", item.message),
            ("Attempts", str(item.attempts)),
            ("Created", f"{stamp(item.created_at)} UTC"),
            ("Sent", f"{stamp(item.sent_at)} UTC" if item.sent_at else "-"),
            ("Error", item.error or "-"),
        ]
        self.app.push_screen(DetailView(f"notification {item.id}", rows))

    def action_mark_read(self) -> None:
        item = self.highlighted()
        if item is None:
            return
        if not is_unread(item):
            self.capp.toast("Mark read", f"notification {item.id} is already read")
            return
        engine, actor = self.capp.engine, self.capp.actor

        def done(updated: Notification) -> None:
            self.capp.toast("Mark read", f"{updated.type.value} notification {updated.id} marked read")
            if self.status is None:
                self.replace(updated)
                self.update_info()
            else:
                self.refresh_data()

        self.engine_work(lambda: engine.notifications.mark_read(item.id, actor=actor), done, title="Mark read")

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Cycle notification status filter", "pending, sent, failed, read, any (t)", self.action_cycle_status
            ),
            PaletteCommand(
                "Mark notification read", "Mark the highlighted notification read (r)", self.action_mark_read, True
            ),
        ]


# ---------------------------------------------------------------------- policy rules
CONFIG_KEY: dict[PolicyType, str] = {
    PolicyType.ALLOWED_ISSUERS: "issuers",
    PolicyType.ALLOWED_DOMAINS: "domains",
    PolicyType.ALLOWED_ENVIRONMENTS: "environments",
    PolicyType.REQUIRED_METADATA: "fields",
    PolicyType.RENEWAL_LEAD_TIME: "min_days",
}
CONFIG_HELP = (
    "AllowedIssuers: issuer ids · AllowedDomains: domains · AllowedEnvironments: environments · "
    "RequiredMetadata: owner, team, ... or tags.<key> · RenewalLeadTime: minimum days (one number)"
)


def config_text(rule_type: PolicyType, config: dict[str, Any]) -> str:
    """A rule's configuration as the form and the table show it: its values, comma-separated."""
    value = config.get(CONFIG_KEY[rule_type])
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def parse_config(rule_type: PolicyType | str, values: list[str]) -> dict[str, Any]:
    """The form's comma-separated values as the rule configuration the engine checks."""
    try:
        kind = PolicyType(rule_type)
    except ValueError:
        raise InvalidInput(
            f"'{rule_type}' is not a policy type; use one of {', '.join(t.value for t in PolicyType)}", field="type"
        ) from None
    key = CONFIG_KEY[kind]
    if kind is PolicyType.RENEWAL_LEAD_TIME:
        if len(values) != 1 or not values[0].isdigit():
            raise InvalidInput("a RenewalLeadTime rule needs one whole number of days, e.g. 14", field="config")
        return {key: int(values[0])}
    return {key: values}


class PolicyRulesScreen(RecordListScreen):
    SCREEN_NAME = "Policy rules"
    RECORD = "policy rule"
    MUTATING_ACTIONS = frozenset({"new", "edit", "toggle_enabled", "delete"})
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = [
        ("name", "Name", 28),
        ("type", "Type", 19),
        ("severity", "Severity", 8),
        ("enabled", "Enabled", 7),
        ("config", "Configuration", 30),
        ("updated", "Updated (UTC)", 16),
    ]
    HELP = """
## Policy rules
Rules every managed certificate is held to, on create, issue, renew and on a schedule.
Critical rules refuse the operation; the others record a violation.

| key | does |
|---|---|
| `n` | new rule: name, type, severity and the values it allows or requires |
| `e` | edit the highlighted rule |
| `t` | enable or disable the highlighted rule |
| `d` | delete the highlighted rule and its violations (confirm) |
| `enter` | the rule's open violations |
"""

    BINDINGS = [
        Binding("n", "new", "New", id="rules.new", tooltip="Create a policy rule"),
        Binding("e", "edit", "Edit", id="rules.edit", tooltip="Edit the highlighted rule"),
        Binding(
            "t", "toggle_enabled", "Enable/disable", id="rules.toggle", tooltip="Enable or disable the highlighted rule"
        ),
        Binding("d", "delete", "Delete", id="rules.delete", tooltip="Delete the highlighted rule (confirm)"),
        Binding("q", "quit_list", "Quit", show=False, id="rules.quit", tooltip="Quit certctl"),
    ]

    def fetch(self, cursor: str | None, limit: int) -> Page[PolicyRule]:
        return whole(self.capp.engine.policies.list_rules())

    def row_cells(self, record: PolicyRule) -> list[Any]:
        return [
            cut(record.name, 28),
            record.type.value,
            Text(record.severity.value, style=SEVERITY_STYLE[record.severity.value]),
            "yes" if record.enabled else Text("no", style="dim"),
            cut(config_text(record.type, record.config), 30),
            stamp(record.updated_at),
        ]

    def title_of(self, record: PolicyRule) -> str:
        return f"policy rule {record.name}"

    def describe(self, record: PolicyRule) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        effect = "refuses the operation" if record.severity is PolicySeverity.CRITICAL else "records a violation"
        rows = [
            ("Id", record.id),
            ("Type", f"{record.type.value} ({CONFIG_KEY[record.type]}: {config_text(record.type, record.config)})"),
            ("Severity", f"{record.severity.value}: a breach {effect}"),
            ("Enabled", "yes" if record.enabled else "no (not checked)"),
            ("Created / updated", f"{stamp(record.created_at)} / {stamp(record.updated_at)} UTC"),
        ]
        for key, value in rows:
            table.add_row(key, Text(value))
        return table

    def _fields(self, rule: PolicyRule | None) -> list[Field]:
        fields = [Field("name", "Name", value=rule.name if rule else "")]
        if rule is None:
            fields.append(
                Field(
                    "type",
                    "Type",
                    "select",
                    PolicyType.ALLOWED_DOMAINS.value,
                    [(t.value, t.value) for t in PolicyType],
                    allow_blank=False,
                )
            )
        fields += [
            Field(
                "severity",
                "Severity (Critical refuses the operation)",
                "select",
                rule.severity.value if rule else PolicySeverity.WARNING.value,
                [(s.value, s.value) for s in PolicySeverity],
                allow_blank=False,
            ),
            Field(
                "config",
                "Values (comma-separated)",
                "list",
                [v.strip() for v in config_text(rule.type, rule.config).split(",")] if rule else [],
                help=CONFIG_HELP,
            ),
            Field("enabled", "Enabled", "bool", rule.enabled if rule else True),
        ]
        return fields

    def action_new(self) -> None:
        engine, actor = self.capp.engine, self.capp.actor

        def save(values: dict[str, Any]) -> PolicyRule:
            config = parse_config(values["type"], values["config"])
            return engine.policies.create_rule(
                values["name"],
                values["type"],
                config,
                actor=actor,
                severity=values["severity"],
                enabled=values["enabled"],
            )

        self.app.push_screen(FormScreen("New policy rule", self._fields(None), save), self._saved)

    def action_edit(self) -> None:
        rule = self.highlighted()
        if rule is None:
            return
        engine, actor = self.capp.engine, self.capp.actor

        def save(values: dict[str, Any]) -> PolicyRule:
            config = parse_config(rule.type, values["config"])
            changes: dict[str, Any] = {}
            if values["name"] != rule.name:
                changes["name"] = values["name"]
            if config != rule.config:
                changes["config"] = config
            if values["severity"] != rule.severity.value:
                changes["severity"] = values["severity"]
            if values["enabled"] != rule.enabled:
                changes["enabled"] = values["enabled"]
            if not changes:
                raise InvalidInput("nothing changed")
            return engine.policies.update_rule(rule.id, actor=actor, **changes)

        title = f"Edit {rule.type.value} rule '{rule.name}'"
        self.app.push_screen(FormScreen(title, self._fields(rule), save), self._saved)

    def _saved(self, rule: PolicyRule | None) -> None:
        if rule is not None:
            self.capp.toast("Saved", f"policy rule '{rule.name}' saved ({rule.id})")
            self.reload(keep=rule.id)

    def action_toggle_enabled(self) -> None:
        rule = self.highlighted()
        if rule is None:
            return
        engine, actor = self.capp.engine, self.capp.actor

        def done(updated: PolicyRule) -> None:
            state = "enabled" if updated.enabled else "disabled"
            self.capp.toast("Policy rule", f"'{updated.name}' {state}")
            self.replace(updated)

        self.engine_work(
            lambda: engine.policies.update_rule(rule.id, actor=actor, enabled=not rule.enabled),
            done,
            title="Policy rule",
        )

    def action_delete(self) -> None:
        rule = self.highlighted()
        if rule is None:
            return
        engine, actor = self.capp.engine, self.capp.actor

        def deleted(_result: None) -> None:
            self.capp.toast("Deleted", f"policy rule '{rule.name}' deleted")
            self.refresh_data()

        def answered(yes: bool | None) -> None:
            if yes:
                self.engine_work(
                    lambda: engine.policies.delete_rule(rule.id, actor=actor), deleted, title="Delete rule"
                )
            else:
                self.capp.toast("Delete rule", "cancelled; nothing changed")

        question = f"Delete policy rule '{rule.name}' ({rule.id}) and all its violations?"
        self.app.push_screen(ConfirmDialog("Delete policy rule", question, yes_label="Delete"), answered)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        rule = self.records.get(event.row_key.value or "")
        if rule is not None:
            self.app.push_screen(ViolationsScreen(rule=rule))

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("New policy rule", "Create a policy rule (n)", self.action_new, True),
            PaletteCommand("Edit policy rule", "Edit the highlighted rule (e)", self.action_edit, True),
            PaletteCommand(
                "Enable/disable policy rule", "Toggle the highlighted rule (t)", self.action_toggle_enabled, True
            ),
            PaletteCommand("Delete policy rule", "Delete the highlighted rule (d)", self.action_delete, True),
        ]


# ---------------------------------------------------------------------- violations
class ViolationsScreen(RecordListScreen):
    SCREEN_NAME = "Policy violations"
    RECORD = "violation"
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = [
        ("severity", "Severity", 8),
        ("rule", "Rule", 24),
        ("cert", "Certificate", 20),
        ("message", "Message", 30),
        ("found", "Found (UTC)", 16),
        ("state", "State", 8),
    ]
    HELP = """
## Policy violations
Certificates breaking a policy rule, newest first; a violation is resolved when the
certificate is fixed (the scheduled check sees it).

| key | does |
|---|---|
| `a` | show resolved violations too, or only open ones |
| `enter` | open the certificate |
"""

    BINDINGS = [
        Binding("a", "toggle_resolved", "Resolved too", id="violations.resolved", tooltip="Show resolved ones too"),
        Binding("q", "quit_list", "Quit", show=False, id="violations.quit", tooltip="Quit certctl"),
    ]

    def __init__(self, *, rule: PolicyRule | None = None, include_resolved: bool = False) -> None:
        super().__init__()
        self.rule = rule
        self.include_resolved = include_resolved
        self.rule_names: dict[str, str] = {rule.id: rule.name} if rule else {}

    def fetch(self, cursor: str | None, limit: int) -> Page[PolicyViolationRecord]:
        engine = self.capp.engine
        if cursor is None:
            self.rule_names = {r.id: r.name for r in engine.policies.list_rules()}
        return engine.policies.list_violations(
            rule_id=self.rule.id if self.rule else None,
            include_resolved=self.include_resolved,
            limit=limit,
            cursor=cursor,
        )

    def row_cells(self, record: PolicyViolationRecord) -> list[Any]:
        return [
            Text(record.severity.value, style=SEVERITY_STYLE[record.severity.value]),
            cut(self.rule_names.get(record.rule_id, record.rule_id), 24),
            cut(record.certificate_id, 20),
            cut(record.message, 30),
            stamp(record.created_at),
            Text("resolved", style="green") if record.resolved_at else Text("open", style="bold"),
        ]

    def title_of(self, record: PolicyViolationRecord) -> str:
        return f"violation of {self.rule_names.get(record.rule_id, record.rule_id)}"

    def describe(self, record: PolicyViolationRecord) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        rows = [
            ("Message", record.message),
            ("Rule", f"{self.rule_names.get(record.rule_id, '?')} ({record.rule_id}), {record.severity.value}"),
            ("Certificate", record.certificate_id),
            ("Found", f"{stamp(record.created_at)} UTC"),
            ("Resolved", f"{stamp(record.resolved_at)} UTC" if record.resolved_at else "not yet"),
        ]
        for key, value in rows:
            table.add_row(key, Text(value))
        return table

    def info_parts(self) -> list[str]:
        parts = ["open and resolved" if self.include_resolved else "open only"]
        if self.rule is not None:
            parts.insert(0, f"rule {self.rule.name}")
        return parts

    def action_toggle_resolved(self) -> None:
        self.include_resolved = not self.include_resolved
        self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        record = self.records.get(event.row_key.value or "")
        if record is not None:
            from certctl_tui.screens.certificate_detail import CertificateDetailScreen

            self.app.push_screen(CertificateDetailScreen(record.certificate_id))

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(
                "Show resolved violations",
                "Show resolved violations too, or only open ones (a)",
                self.action_toggle_resolved,
            ),
        ]
