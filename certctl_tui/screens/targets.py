"""Deployment targets: where certificates go, who deploys there (an agent or the engine itself).

The list creates, edits and deletes targets. The form asks for the settings of the target's
type (files and paths, the host and port the served certificate is verified on); settings
without a field of their own stay editable as a JSON object. Before saving, the target's
connector checks the configuration, so a mistake shows under its field instead of at the
first deployment. A target's detail shows its configuration (secrets redacted by the
engine), the certificates mapped to it, and two actions: test the target now, and show the
server configuration lines that point the server at the deployed files.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from certctl_engine.connectors.targets import connector_for
from certctl_engine.domain import Agent, Target, TargetCheck, TargetType
from certctl_engine.errors import DeployError, InvalidInput, NotFound
from certctl_tui.format import stamp
from certctl_tui.screens.base import CertctlScreen, PaletteCommand
from certctl_tui.screens.config import ResourceListScreen
from certctl_tui.widgets.facts import agent_status_text, config_value, facts
from certctl_tui.widgets.form import Field, FormScreen

# The dashboard's screen registry: key -> (title, factory, command bar aliases).
SCREEN_ENTRIES: dict[str, tuple[str, Callable[[], Screen[Any]], tuple[str, ...]]] = {
    "targets": ("Targets", lambda: TargetsScreen(), ("target",)),
}

ENGINE = "engine"
"""How a target without an agent is named: the engine's built-in local agent deploys to it."""
EXTRA = "extra_config"
"""The form field holding the settings without a field of their own, as a JSON object."""


@dataclass(frozen=True)
class ConfigField:
    """One configuration setting the form asks for; ``kind`` text, args (an argument list), port, select."""

    key: str
    label: str
    kind: str = "text"
    placeholder: str = ""
    options: tuple[tuple[str, str], ...] = ()


_DIRECTORY = ConfigField("directory", "Directory (absolute; every file is written inside it)", placeholder="/etc/tls")
_HOST = ConfigField("host", "Verify on host (the served certificate is checked there)", placeholder="www.example.com")
_PORT = ConfigField("port", "Verify on port", "port", placeholder="443")


def _file(key: str, what: str, default: str = "") -> ConfigField:
    hint = f" (default {default})" if default else " (off unless named)"
    return ConfigField(key, f"{what} file name{hint}", placeholder=default)


TYPE_FIELDS: dict[TargetType, tuple[ConfigField, ...]] = {
    TargetType.FILES: (
        _DIRECTORY,
        _file("cert_file", "Certificate"),
        _file("chain_file", "Chain"),
        _file("fullchain_file", "Full chain"),
        _file("key_file", "Private key"),
        ConfigField("post_deploy_command", "Command after deployment (program and arguments)", "args"),
    ),
    TargetType.NGINX: (
        _DIRECTORY,
        _file("fullchain_file", "Full chain", "fullchain.pem"),
        _file("key_file", "Private key", "privkey.pem"),
        _HOST,
        _PORT,
    ),
    TargetType.APACHE: (
        _DIRECTORY,
        ConfigField(
            "layout",
            "File layout",
            "select",
            options=(("separate", "separate: cert, chain, key"), ("fullchain", "fullchain: full chain, key")),
        ),
        _file("cert_file", "Certificate (separate layout)", "cert.pem"),
        _file("chain_file", "Chain (separate layout)", "chain.pem"),
        _file("fullchain_file", "Full chain (fullchain layout)", "fullchain.pem"),
        _file("key_file", "Private key", "privkey.pem"),
        _HOST,
        _PORT,
    ),
    TargetType.HAPROXY: (
        _DIRECTORY,
        _file("combined_file", "Combined PEM (full chain, then key)", "haproxy.pem"),
        ConfigField("stats_socket", "Runtime API socket (absolute path; swaps the certificate without a reload)"),
        ConfigField("reload_command", "Reload command (program and arguments), without a socket", "args"),
        _HOST,
        _PORT,
    ),
    TargetType.CADDY: (
        _DIRECTORY,
        _file("fullchain_file", "Full chain", "fullchain.pem"),
        _file("key_file", "Private key", "privkey.pem"),
        ConfigField(
            "caddy_config", "Caddy configuration file (absolute path, required)", placeholder="/etc/caddy/Caddyfile"
        ),
        _HOST,
        _PORT,
    ),
    TargetType.TRAEFIK: (
        _DIRECTORY,
        ConfigField("name", "Name of the certificate pair (file names come from it; required)", placeholder="web"),
        ConfigField("config_directory", "Directory Traefik's file provider watches (default: the directory)"),
        ConfigField("stores", "TLS stores (comma-separated, e.g. default)", "list"),
        ConfigField("default_certificate", "Make it the default certificate of the store", "bool"),
    ),
    TargetType.ENVOY: (
        _DIRECTORY,
        ConfigField("secret_name", "SDS secret name (as the listener asks for it; required)", placeholder="web"),
        ConfigField(
            "data_source",
            "How the SDS file holds the pair",
            "select",
            options=(
                ("filename", "filename: points at the PEM files"),
                ("inline_string", "inline_string: PEMs inside the SDS file"),
                ("inline_bytes", "inline_bytes: base64 inside the SDS file"),
            ),
        ),
        _file("sds_file", "SDS", "<secret_name>.json"),
    ),
    TargetType.POSTFIX: (
        _DIRECTORY,
        ConfigField(
            "layout",
            "File layout",
            "select",
            options=(("separate", "separate: full chain, key"), ("chain_files", "chain_files: key + full chain")),
        ),
        _file("fullchain_file", "Full chain (separate layout)", "fullchain.pem"),
        _file("key_file", "Private key (separate layout)", "privkey.pem"),
        _file("chain_files_file", "Key and full chain (chain_files layout)", "chain.pem"),
        ConfigField("postfix_config_dir", "Postfix configuration directory (postfix -c; absolute)"),
    ),
    TargetType.DOVECOT: (
        _DIRECTORY,
        _file("fullchain_file", "Full chain", "fullchain.pem"),
        _file("key_file", "Private key", "privkey.pem"),
        ConfigField("dovecot_conf", "Dovecot configuration file (doveconf -c; absolute)"),
    ),
    TargetType.PKCS12: (
        _DIRECTORY,
        _file("keystore_file", "PKCS#12", "keystore.p12"),
        ConfigField("passphrase", "Passphrase (kept sealed)", "password"),
        ConfigField("alias", "Alias / friendly name", placeholder="certctl"),
        ConfigField("post_deploy_command", "Command after deployment (program and arguments)", "args"),
    ),
    TargetType.JAVA_KEYSTORE: (
        _DIRECTORY,
        _file("keystore_file", "Keystore", "keystore.jks"),
        ConfigField("passphrase", "Store passphrase (kept sealed; ASCII, 6 characters or more)", "password"),
        ConfigField("alias", "Alias", placeholder="certctl"),
        ConfigField("store_type", "Store type", "select", options=(("JKS", "JKS"), ("PKCS12", "PKCS12"))),
        ConfigField("post_deploy_command", "Command after deployment (program and arguments)", "args"),
    ),
}
OTHER_FIELDS: tuple[ConfigField, ...] = (_HOST, _PORT)
"""Types without a connector here yet keep their settings; host and port still drive verification."""


def fields_for(target_type: TargetType) -> tuple[ConfigField, ...]:
    return TYPE_FIELDS.get(target_type, OTHER_FIELDS)


def _shown(spec: ConfigField, value: Any) -> str | None:
    if value is None:
        return None
    if spec.kind == "args" and isinstance(value, (list, tuple)):
        return shlex.join(str(v) for v in value)
    return str(value)


def form_fields(
    target_type: TargetType, item: Target | None, agents: Sequence[Agent], *, agent_id: str | None = None
) -> list[Field]:
    """The form of a target of ``target_type``: name, who deploys, the type's settings, the rest as JSON."""
    config = dict(item.config) if item else {}
    own = fields_for(target_type)
    extra = {k: v for k, v in config.items() if k not in {f.key for f in own}}
    out = [
        Field("name", "Name", value=item.name if item else ""),
        Field(
            "agent_id",
            "Deployed by (an agent, or none: the engine itself)",
            "select",
            item.agent_id if item else agent_id,
            [(a.id, f"{a.name} ({a.hostname or a.id})") for a in agents],
        ),
    ]
    for spec in own:
        if spec.kind == "select":
            out.append(Field(spec.key, spec.label, "select", config.get(spec.key), spec.options))
        elif spec.kind in ("password", "bool", "list"):
            # A stored secret arrives redacted; sent back unchanged, the engine keeps the sealed value.
            default: Any = False if spec.kind == "bool" else None
            out.append(Field(spec.key, spec.label, spec.kind, config.get(spec.key, default)))
        else:
            out.append(
                Field(spec.key, spec.label, value=_shown(spec, config.get(spec.key)), placeholder=spec.placeholder)
            )
    out.append(
        Field(
            EXTRA,
            "Other settings (JSON object; secrets show as ******** and are kept unless changed)",
            value=json.dumps(extra, sort_keys=True) if extra else "",
            placeholder='{"mode": "0644", "check_after_reload": true}',
        )
    )
    out.append(Field("enabled", "Enabled", "bool", item.enabled if item else True))
    return out


def build_config(target_type: TargetType, values: dict[str, Any]) -> dict[str, Any]:
    """The configuration object from the form's values; empty fields are left out (defaults apply)."""
    raw_extra = (values.get(EXTRA) or "").strip()
    config: dict[str, Any] = {}
    if raw_extra:
        try:
            parsed = json.loads(raw_extra)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not valid JSON: {exc.msg} at character {exc.pos}", field=EXTRA) from None
        if not isinstance(parsed, dict):
            raise InvalidInput("the other settings must be a JSON object", field=EXTRA)
        config.update(parsed)
    for spec in fields_for(target_type):
        value = values.get(spec.key)
        if value in (None, ""):
            continue
        if spec.kind == "args":
            try:
                config[spec.key] = shlex.split(str(value))
            except ValueError as exc:
                raise InvalidInput(f"{spec.key}: {exc}", field=spec.key) from None
        elif spec.kind == "port":
            try:
                config[spec.key] = int(str(value))
            except ValueError:
                raise InvalidInput(f"port must be a number, not {value!r}", field=spec.key) from None
        else:
            config[spec.key] = value
    return config


def check_config(target_type: TargetType, config: dict[str, Any], agent_id: str | None) -> None:
    """The connector's own check of ``config``, as a deployment would run it.

    Owner and group name accounts of the machine that deploys: for a target an agent
    deploys to, they are left to that agent. Types without a connector here are not checked.
    """
    try:
        connector = connector_for(target_type)
    except DeployError:
        return
    checked = {k: v for k, v in config.items() if not (agent_id and k in ("owner", "group"))}
    connector.validate_config(checked)


class TargetsScreen(ResourceListScreen):
    SCREEN_NAME = "Targets"
    RESOURCE = "target"
    COLUMNS: ClassVar[list[tuple[str, str]]] = [
        ("name", "Name"),
        ("id", "Id"),
        ("type", "Type"),
        ("agent", "Deployed by"),
        ("enabled", "Enabled"),
        ("secrets", "Secret fields"),
        ("updated", "Updated"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.agents: dict[str, Agent] = {}

    @property
    def HELP(self) -> str:  # type: ignore[override]
        return (
            "## Targets\nWhere certificates are deployed and who deploys there: an agent, or the engine "
            "itself. `enter` shows the configuration, the mapped certificates, and lets you test the target "
            "(`t`) or see its server configuration lines (`s`). `n` creates (the type first, then its "
            "settings), `e` edits, `d` deletes (asks first). The connector checks the settings before saving."
        )

    def load(self) -> Sequence[Target]:
        self.agents = {a.id: a for a in self.engine.agents.list()}
        return self.engine.targets.list()

    def agent_label(self, agent_id: str | None) -> str:
        if not agent_id:
            return ENGINE
        agent = self.agents.get(agent_id)
        return agent.name if agent else agent_id

    def cells(self, item: Target) -> list[Any]:
        return [
            item.name,
            item.id,
            item.type.value,
            self.agent_label(item.agent_id) if item.agent_id else Text(ENGINE, style="cyan"),
            "yes" if item.enabled else Text("no", style="dim"),
            ", ".join(item.secret_fields) or "-",
            stamp(item.updated_at),
        ]

    # ------------------------------------------------------------------ forms
    def _save(self, target_type: TargetType, item: Target | None) -> Callable[[dict[str, Any]], Target]:
        engine, actor = self.engine, self.actor

        def save(values: dict[str, Any]) -> Target:
            config = build_config(target_type, values)
            agent_id = values.get("agent_id") or None
            check_config(target_type, config, agent_id)
            if item is None:
                return engine.targets.create(
                    values["name"], target_type, config, actor=actor, agent_id=agent_id, enabled=values["enabled"]
                )
            changes: dict[str, Any] = {}
            if values["name"] != item.name:
                changes["name"] = values["name"]
            if agent_id != item.agent_id:
                changes["agent_id"] = agent_id
            if config != item.config:
                changes["config"] = config
            if values["enabled"] != item.enabled:
                changes["enabled"] = values["enabled"]
            if not changes:
                raise InvalidInput("nothing changed")
            return engine.targets.update(item.id, actor=actor, **changes)

        return save

    def open_form(self, target_type: TargetType, item: Target | None = None) -> None:
        title = f"Edit {target_type.value} target '{item.name}'" if item else f"New {target_type.value} target"

        def done(result: Target | None) -> None:
            if result is not None:
                self.capp.toast("Saved", f"target '{result.name}' saved")
                self.refresh_data()

        fields = form_fields(target_type, item, list(self.agents.values()))
        self.app.push_screen(FormScreen(title, fields, self._save(target_type, item)), done)

    def action_new(self) -> None:
        choice = [
            Field(
                "type",
                "Type of target (each type asks for its own settings next)",
                "select",
                TargetType.FILES.value,
                [(t.value, t.value) for t in TargetType],
                allow_blank=False,
            )
        ]

        def picked(values: dict[str, Any]) -> TargetType:
            try:
                return TargetType(values.get("type") or "")
            except ValueError:
                raise InvalidInput("pick a target type", field="type") from None

        def chosen(target_type: TargetType | None) -> None:
            if target_type is not None:
                self.open_form(target_type)

        self.app.push_screen(FormScreen("New target", choice, picked), chosen)

    def action_edit(self) -> None:
        item = self.highlighted()
        if item is not None:
            self.open_form(item.type, item)

    def delete(self, item: Target) -> None:
        self.engine.targets.delete(item.id, actor=self.actor)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        item = self.items.get(event.row_key.value or "")
        if item is not None:
            self.app.push_screen(TargetDetailScreen(item.id))


# ---------------------------------------------------------------------- detail
@dataclass(frozen=True)
class TargetView:
    target: Target
    agent: Agent | None
    certificates: tuple[str, ...]


def load_target_view(engine: Any, target_id: str) -> TargetView:
    target = engine.targets.get(target_id)
    agent = None
    if target.agent_id:
        try:
            agent = engine.agents.get(target.agent_id)
        except NotFound:
            agent = None
    return TargetView(target, agent, tuple(engine.deployments.mapped_certificates(target_id)))


def check_text(check: TargetCheck) -> Table:
    """The outcome of a target test: ok or failed, and the engine's message verbatim."""
    outcome = Text("ok" if check.ok else "failed", style="bold green" if check.ok else "bold red")
    return facts([("Result", outcome), ("Message", check.message)])


class TargetDetailScreen(CertctlScreen):
    SCREEN_NAME = "Target"
    HELP = """
## Target
The target's configuration as the engine shows it (secret values redacted), the
certificates mapped to it, and two checks that change nothing:

| key | does |
|---|---|
| `t` | test the target now: its configuration, the server's own configuration test, what it serves |
| `s` | the server configuration lines that point the server at the files certctl deploys |
"""

    BINDINGS = [
        Binding("t", "test", "Test", id="target.test", tooltip="Test the target now (changes nothing)"),
        Binding("s", "snippet", "Snippet", id="target.snippet", tooltip="Show the server configuration lines"),
        Binding("q", "back", "Back", show=False, id="target.close", tooltip="Back to the list"),
    ]

    DEFAULT_CSS = """
    TargetDetailScreen #target-body { height: 1fr; }
    TargetDetailScreen .box { height: auto; }
    TargetDetailScreen #target-top { height: auto; }
    TargetDetailScreen #target-meta { width: 1fr; }
    TargetDetailScreen #target-certs { width: 44; }
    """

    def __init__(self, target_id: str) -> None:
        super().__init__()
        self.target_id = target_id
        self.view: TargetView | None = None
        self.check: TargetCheck | None = None
        self.snippet: tuple[bool, str] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="target-body"):
            with Horizontal(id="target-top"):
                yield Static(Text("loading…", style="dim"), id="target-meta", classes="box")
                yield Static("", id="target-certs", classes="box")
            yield Static("", id="target-config", classes="box")
            with Vertical():
                yield Static(
                    Text("not run yet: press t to test the target", style="dim"), id="target-check", classes="box"
                )
                yield Static(
                    Text("press s for the server configuration lines", style="dim"), id="target-snippet", classes="box"
                )
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        for wid, title in (
            ("#target-meta", f"Target {self.target_id}"),
            ("#target-certs", "Mapped certificates"),
            ("#target-config", "Configuration"),
            ("#target-check", "Test"),
            ("#target-snippet", "Server configuration lines"),
        ):
            self.query_one(wid, Static).border_title = title
        self.refresh_data()

    def refresh_data(self, *, live: bool = False) -> None:
        engine, target_id = self.capp.engine, self.target_id
        self.engine_work(lambda: load_target_view(engine, target_id), self._show, title="Target", group="load")

    def _show(self, view: TargetView) -> None:
        self.view = view
        target = view.target
        self.title = f"certctl · Target {target.name}"
        if target.agent_id is None:
            deployer: Text | str = Text(f"{ENGINE} (its built-in local agent)", style="cyan")
        elif view.agent is None:
            deployer = Text(f"{target.agent_id} (not registered)", style="red")
        else:
            deployer = Text(f"{view.agent.name} ({view.agent.hostname or view.agent.id}) · ")
            deployer.append_text(agent_status_text(view.agent.status))
        meta = self.query_one("#target-meta", Static)
        meta.border_title = f"Target {target.name}"
        meta.update(
            facts(
                [
                    ("Id", target.id),
                    ("Type", target.type.value),
                    ("Deployed by", deployer),
                    ("Enabled", "yes" if target.enabled else Text("no", style="dim")),
                    ("Secret fields", ", ".join(target.secret_fields) or "-"),
                    ("Updated", f"{stamp(target.updated_at)} UTC"),
                ]
            )
        )
        certs = self.query_one("#target-certs", Static)
        certs.border_title = f"Mapped certificates ({len(view.certificates)})"
        certs.update(Text("\n".join(view.certificates)) if view.certificates else Text("none mapped", style="dim"))
        config = self.query_one("#target-config", Static)
        rows = [(key, config_value(value)) for key, value in sorted(target.config.items())]
        config.update(facts(rows) if rows else Text("empty", style="dim"))
        self.capp.mark_loaded()

    # ------------------------------------------------------------------ actions
    def action_test(self) -> None:
        engine, target_id = self.capp.engine, self.target_id
        box = self.query_one("#target-check", Static)
        box.update(Text("testing…", style="dim"))

        def done(check: TargetCheck) -> None:
            self.check = check
            box.update(check_text(check))

        self.engine_work(lambda: engine.deployments.check_target(target_id), done, title="Test target")

    def action_snippet(self) -> None:
        engine, target_id = self.capp.engine, self.target_id

        def fetch() -> tuple[bool, str]:
            try:
                return True, engine.deployments.snippet(target_id)
            except InvalidInput as exc:  # a type without snippets, or settings they cannot come from
                return False, str(exc)

        def done(result: tuple[bool, str]) -> None:
            self.snippet = result
            ok, text = result
            box = self.query_one("#target-snippet", Static)
            box.update(Text(text.rstrip("\n"), style="" if ok else "yellow"))

        self.engine_work(fetch, done, title="Snippet")

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("Test target", "Test the target now (t)", self.action_test),
            PaletteCommand("Show server configuration lines", "The snippet for this target (s)", self.action_snippet),
        ]
