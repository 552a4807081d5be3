"""The agents, agent groups and targets screens: snapshots on the demo dataset, and pilot flows
whose outcome is checked in the engine (groups created, edited, deleted, members included and
excluded; targets created, tested, their snippets shown; nothing mutating in read-only mode).

The SVGs live in snapshots/test_agents_targets/; accept deliberate changes with
``pytest tests/tui/test_agents_targets.py --snapshot-update`` after looking at them.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from textual.widget import Widget
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_helpers import FIXED, settle, wait_until

from certctl_engine.domain import Actor, MembershipType, TargetType
from certctl_engine.errors import NotFound
from certctl_tui.screens.agents import (
    SCREEN_ENTRIES as AGENT_ENTRIES,
)
from certctl_tui.screens.agents import (
    AgentDetailScreen,
    AgentGroupDetailScreen,
    AgentGroupsScreen,
    AgentsScreen,
)
from certctl_tui.screens.targets import SCREEN_ENTRIES as TARGET_ENTRIES
from certctl_tui.screens.targets import TargetDetailScreen, TargetsScreen
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import FormScreen

SIZE = (120, 40)
MUTATING = {"new", "edit", "delete", "include", "exclude", "reset"}


# ---------------------------------------------------------------------- helpers
def shown(widget: Widget) -> str:
    """The text a widget paints now."""
    lines = widget.render_lines(widget.region.reset_offset)
    return "\n".join("".join(segment.text for segment in line) for line in lines)


def squeezed(text: str) -> str:
    """Without whitespace and box sides: a long line wrapped inside a box still compares equal."""
    return "".join(text.replace("│", " ").split())


def row_keys(table: DataTable[Any]) -> list[str]:
    return [str(key.value) for key in table.rows]


async def tables_sized(pilot: Any, timeout: float = 5.0) -> None:
    """Wait until every table has sized its auto-width columns (done on a later idle refresh)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tables = [t for screen in pilot.app.screen_stack for t in screen.query(DataTable)]
        if not any(getattr(t, "_require_update_dimensions", False) for t in tables):
            return
        await pilot.pause(0.05)
    raise AssertionError("tables never finished sizing their columns")


def steps(*actions: Callable[[Any], Any]) -> Callable[[Any], Awaitable[None]]:
    """A snapshot's run_before: wait for the dashboard, run each action on the app, wait again."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for action in actions:
            outcome = action(pilot.app)
            if outcome is not None and hasattr(outcome, "__await__"):
                await outcome
            await settle(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await tables_sized(pilot)
        await settle(pilot)

    return run_before


def push(factory: Callable[[], Any]) -> Callable[[Any], Any]:
    return lambda app: app.push_screen(factory())


async def opened(pilot: Any, screen: Any) -> Any:
    await settle(pilot)
    await pilot.app.push_screen(screen)
    await settle(pilot)
    assert pilot.app.screen is screen
    return screen


def highlight(table: DataTable[Any], key: str) -> None:
    table.move_cursor(row=table.get_row_index(key))


def active_actions(app: Any) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values()}


async def confirm(pilot: Any, *names: str) -> ConfirmDialog:
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmDialog)
    question = str(dialog.query_one("#confirm-question", Static).render())
    for name in names:
        assert name in question
    assert dialog.focused is not None and dialog.focused.id == "confirm-no"  # No by default
    return dialog


def form_error(form: FormScreen, field: str) -> str:
    widget = form.query_one(f"#error-{field}", Static)
    return str(widget.render()) if widget.has_class("shown") else ""


# ---------------------------------------------------------------------- registry
def test_screen_entries_name_each_screen_once() -> None:
    entries = {**AGENT_ENTRIES, **TARGET_ENTRIES}
    assert set(entries) == {"agents", "groups", "targets"}
    kinds = {key: type(factory()) for key, (_title, factory, _aliases) in entries.items()}
    assert kinds == {"agents": AgentsScreen, "groups": AgentGroupsScreen, "targets": TargetsScreen}
    aliases = [a for _t, _f, names in entries.values() for a in names]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(entries)


# ---------------------------------------------------------------------- snapshots
def test_agents_list(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps(push(AgentsScreen)))


def test_agent_detail(snap_compare, make_app) -> None:
    assert snap_compare(
        make_app(), terminal_size=SIZE, run_before=steps(push(lambda: AgentDetailScreen("ag-web-prod")))
    )


def test_agent_groups_list(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps(push(AgentGroupsScreen)))


def test_agent_group_detail(snap_compare, make_app) -> None:
    detail = steps(push(lambda: AgentGroupDetailScreen("ag-manual")))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=detail)


def test_agent_group_form_error(snap_compare, make_app) -> None:
    def fill(app: Any) -> None:
        app.screen.query_one("#field-name", Input).value = "Subnet 7"
        app.screen.query_one("#field-match_ip_cidr", Input).value = "10.0.7.0/33"
        app.screen.action_save()

    new = steps(push(AgentGroupsScreen), lambda app: app.screen.action_new(), fill)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=new)


def test_targets_list(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps(push(TargetsScreen)))


def test_target_detail_tested(snap_compare, make_app) -> None:
    detail = steps(
        push(lambda: TargetDetailScreen("tgt-nginx-prod")),
        lambda app: app.screen.action_test(),
        lambda app: app.screen.action_snippet(),
    )
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=detail)


def test_target_form_error(snap_compare, make_app) -> None:
    def fill(app: Any) -> None:
        app.screen.query_one("#field-name", Input).value = "web files"
        app.screen.query_one("#field-directory", Input).value = "tls"
        app.screen.query_one("#field-cert_file", Input).value = "cert.pem"
        app.screen.action_save()

    new = steps(push(TargetsScreen), lambda app: app.screen.open_form(TargetType.FILES), fill)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=new)


# ---------------------------------------------------------------------- agents
pytest_anyio = pytest.mark.anyio


@pytest_anyio
async def test_agents_list_shows_every_agent_and_its_heartbeat(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, AgentsScreen())
        table = screen.table
        assert row_keys(table) == [a.id for a in demo_engine.agents.list()]
        iis = demo_engine.agents.get("ag-iis-prod")
        assert iis.last_heartbeat_at is not None
        hours = int((FIXED - iis.last_heartbeat_at).total_seconds() // 3600)
        row = [str(c) for c in table.get_row("ag-iis-prod")]
        assert row[2] == "Offline" and row[3] == f"{hours}h ago"
        assert row[4] == "windows/amd64" and row[5] == iis.ip_address
        highlight(table, "ag-web-prod")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AgentDetailScreen) and app.screen.agent_id == "ag-web-prod"


@pytest_anyio
async def test_agent_detail_lists_its_targets_and_its_waiting_jobs(make_app, demo_engine) -> None:
    target = demo_engine.targets.list("ag-web-prod")[0]
    certificate = demo_engine.deployments.mapped_certificates(target.id)[0]
    job = demo_engine.deployments.trigger(certificate, actor=Actor("tester"), target_ids=[target.id])[0]
    other = demo_engine.targets.list("ag-lb-prod")[0]
    elsewhere = demo_engine.deployments.trigger(
        demo_engine.deployments.mapped_certificates(other.id)[0], actor=Actor("tester"), target_ids=[other.id]
    )[0]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, AgentDetailScreen("ag-web-prod"))
        assert screen.view is not None
        assert [t.id for t in screen.view.targets] == [t.id for t in demo_engine.targets.list("ag-web-prod")]
        ids = [j.id for j in screen.view.jobs]
        assert job.id in ids and elsewhere.id not in ids
        assert target.name in shown(screen.query_one("#agent-targets"))
        assert job.id in shown(screen.query_one("#agent-jobs"))


# ---------------------------------------------------------------------- agent groups
@pytest_anyio
async def test_create_an_agent_group_through_the_form(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, AgentGroupsScreen())
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-name", Input).value = "ARM fleet"
        form.query_one("#field-description", Input).value = "arm64 Linux in DC3"
        form.query_one("#field-match_os", Input).value = "linux"
        form.query_one("#field-match_architecture", Input).value = "arm64"
        form.query_one("#field-match_ip_cidr", Input).value = "10.0.3.7/24"
        form.query_one("#field-match_version", Input).value = "1.*"
        form.query_one("#field-enabled", Checkbox).value = False
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: app.screen is screen and any(g.name == "ARM fleet" for g in screen.items.values())
        )
        made = next(g for g in demo_engine.agent_groups.list() if g.name == "ARM fleet")
        group = demo_engine.agent_groups.get(made.id)
        assert (group.description, group.match_os, group.match_architecture) == ("arm64 Linux in DC3", "linux", "arm64")
        assert (group.match_ip_cidr, group.match_version, group.enabled) == ("10.0.3.0/24", "1.*", False)
        assert [m.agent.id for m in demo_engine.agent_groups.members(made.id)] == ["ag-data-prod"]


@pytest_anyio
async def test_group_form_shows_the_engines_message_under_the_field_and_saves_nothing(make_app, demo_engine) -> None:
    before = [g.id for g in demo_engine.agent_groups.list()]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, AgentGroupsScreen())
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-name", Input).value = "Subnet 7"
        form.query_one("#field-match_ip_cidr", Input).value = "10.0.7.0/33"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(form_error(form, "match_ip_cidr")))
        assert "is not an IP network" in form_error(form, "match_ip_cidr")
        assert app.screen is form and form.focused is form.query_one("#field-match_ip_cidr")
        assert [g.id for g in demo_engine.agent_groups.list()] == before


@pytest_anyio
async def test_edit_an_agent_group(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, AgentGroupsScreen())
        highlight(screen.query_one(DataTable), "ag-windows")
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-match_os", Input).value == "windows"
        form.query_one("#field-match_version", Input).value = "1.0.*"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen and screen.items["ag-windows"].match_version == "1.0.*")
        group = demo_engine.agent_groups.get("ag-windows")
        assert (group.match_os, group.match_version, group.name) == ("windows", "1.0.*", "Windows")


@pytest_anyio
async def test_delete_a_group_asks_first_no_keeps_it_yes_removes_it(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, AgentGroupsScreen())
        highlight(screen.query_one(DataTable), "ag-datacenter-a")
        await pilot.press("d")
        await confirm(pilot, "Datacenter A", "ag-datacenter-a")
        await pilot.press("enter")  # the focused No
        await settle(pilot)
        assert app.screen is screen
        assert demo_engine.agent_groups.get("ag-datacenter-a").name == "Datacenter A"
        await pilot.press("d")
        await confirm(pilot, "Datacenter A")
        await pilot.press("y")
        await wait_until(pilot, lambda: "ag-datacenter-a" not in screen.items)
        with pytest.raises(NotFound):
            demo_engine.agent_groups.get("ag-datacenter-a")


@pytest_anyio
async def test_group_detail_members_with_their_reason_and_manual_membership(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, AgentGroupDetailScreen("ag-datacenter-a"))
        table = screen.table
        criteria = [m.agent.id for m in demo_engine.agent_groups.members("ag-datacenter-a")]
        assert sorted(criteria) == ["ag-iis-prod", "ag-lb-prod", "ag-web-prod"]
        assert row_keys(table) == criteria
        assert {str(table.get_row(k)[-1]) for k in criteria} == {"criteria"}
        assert "10.0.1.0/24" in shown(screen.query_one("#group-meta"))

        highlight(table, "ag-iis-prod")
        await pilot.press("x")
        await wait_until(pilot, lambda: str(table.get_row("ag-iis-prod")[-1]) == "excluded by hand")
        assert "ag-iis-prod" not in [m.agent.id for m in demo_engine.agent_groups.members("ag-datacenter-a")]

        await pilot.press("i")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        form.query_one("#field-agent_id", Select).value = "ag-data-prod"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "ag-data-prod" in row_keys(table))
        members = {m.agent.id: m.reason for m in demo_engine.agent_groups.members("ag-datacenter-a")}
        assert members["ag-data-prod"] == MembershipType.INCLUDE.value
        assert str(table.get_row("ag-data-prod")[-1]) == "included by hand"

        highlight(table, "ag-iis-prod")
        await pilot.press("u")
        await wait_until(pilot, lambda: str(table.get_row("ag-iis-prod")[-1]) == "criteria")
        assert "ag-iis-prod" in [m.agent.id for m in demo_engine.agent_groups.members("ag-datacenter-a")]


@pytest_anyio
async def test_read_only_shows_no_mutating_binding(make_app, demo_engine) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        for screen in (
            AgentsScreen(),
            AgentGroupsScreen(),
            AgentGroupDetailScreen("ag-datacenter-a"),
            TargetsScreen(),
            TargetDetailScreen("tgt-nginx-prod"),
        ):
            await opened(pilot, screen)
            assert not active_actions(app) & MUTATING, type(screen).__name__
            footer = " ".join(b.binding.description for b in app.screen.active_bindings.values() if b.binding.show)
            for word in ("New", "Edit", "Delete", "Include", "Exclude"):
                assert word not in footer.split()
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert not [t for t in titles if t.split()[0] in ("New", "Edit", "Delete", "Include", "Exclude", "Undo")]
            await pilot.press("n", "e", "d", "i", "x", "u")
            await settle(pilot)
            assert app.screen is screen
        assert {"test", "snippet"} <= active_actions(app)  # checks change nothing: still offered
        await pilot.press("escape", "escape")
    assert [m.reason for m in demo_engine.agent_groups.members("ag-datacenter-a")] == ["criteria"] * 3
    assert len(demo_engine.agent_groups.list()) == 5 and len(demo_engine.targets.list()) == 5


# ---------------------------------------------------------------------- targets
@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A TLS server on loopback serving a fresh self-signed certificate: (port, SHA-256 hex)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(2)
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], cert.fingerprint(hashes.SHA256()).hex()
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@pytest_anyio
async def test_target_test_action_shows_the_engines_check_message(make_app, demo_engine) -> None:
    expected = demo_engine.deployments.check_target("tgt-iis-prod")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetDetailScreen("tgt-iis-prod"))
        await pilot.press("t")
        await wait_until(pilot, lambda: screen.check is not None)
        assert screen.check == expected and not expected.ok
        text = squeezed(shown(screen.query_one("#target-check")))
        assert "Resultfailed" in text and "Message" + squeezed(expected.message) in text


@pytest_anyio
async def test_target_test_against_a_real_tls_server(make_app, demo_engine, tls_server, tmp_path) -> None:
    port, fingerprint = tls_server
    target = demo_engine.targets.create(
        "loopback files",
        TargetType.FILES,
        {"directory": str(tmp_path), "cert_file": "cert.pem", "host": "127.0.0.1", "port": port},
        actor=Actor("tester"),
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetDetailScreen(target.id))
        assert "engine" in shown(screen.query_one("#target-meta"))
        await pilot.press("t")
        await wait_until(pilot, lambda: screen.check is not None, timeout=15)
        assert screen.check is not None and screen.check.ok, screen.check
        assert f"127.0.0.1:{port} serves a certificate with SHA-256 {fingerprint[:16]}" in screen.check.message
        text = squeezed(shown(screen.query_one("#target-check")))
        assert "ResultokMessageconfigurationvalid" in text and fingerprint[:16] in text


@pytest_anyio
async def test_snippet_shows_the_lines_or_why_there_are_none(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetDetailScreen("tgt-nginx-prod"))
        mapped = demo_engine.deployments.mapped_certificates("tgt-nginx-prod")
        certs = shown(screen.query_one("#target-certs"))
        assert mapped and all(c in certs for c in mapped)
        assert "www.example.com" in shown(screen.query_one("#target-config"))
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.snippet is not None)
        assert screen.snippet == (True, demo_engine.deployments.snippet("tgt-nginx-prod"))
        assert "ssl_certificate /etc/nginx/tls/fullchain.pem;" in shown(screen.query_one("#target-snippet"))
        await pilot.press("escape")
        await settle(pilot)

        f5 = await opened(pilot, TargetDetailScreen("tgt-f5-prod"))
        assert "********" in shown(f5.query_one("#target-config"))  # the engine's redaction
        assert "demo-f5-password" not in shown(f5.query_one("#target-config"))
        await pilot.press("s")
        await wait_until(pilot, lambda: f5.snippet is not None)
        ok, message = f5.snippet  # type: ignore[misc]
        assert not ok and "F5 targets need no server configuration lines" in message
        assert squeezed(message) in squeezed(shown(f5.query_one("#target-snippet")))
        assert app.screen is f5


@pytest_anyio
async def test_create_a_files_target_through_the_form(make_app, demo_engine, tmp_path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetsScreen())
        await pilot.press("n")
        await settle(pilot)
        chooser = app.screen
        assert isinstance(chooser, FormScreen)
        chooser.query_one("#field-type", Select).value = TargetType.FILES.value
        await pilot.press("ctrl+s")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen) and form is not chooser
        form.query_one("#field-name", Input).value = "web files"
        form.query_one("#field-agent_id", Select).value = "ag-web-prod"
        form.query_one("#field-directory", Input).value = "relative/tls"
        form.query_one("#field-cert_file", Input).value = "cert.pem"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(form_error(form, "directory")))
        assert "must be an absolute path" in form_error(form, "directory")
        assert not [t for t in demo_engine.targets.list() if t.name == "web files"]

        form.query_one("#field-directory", Input).value = str(tmp_path)
        form.query_one("#field-key_file", Input).value = "key.pem"
        form.query_one("#field-post_deploy_command", Input).value = "systemctl reload 'my app'"
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: app.screen is screen and any(t.name == "web files" for t in screen.items.values())
        )
        made = next(t for t in demo_engine.targets.list() if t.name == "web files")
        target = demo_engine.targets.get(made.id)
        assert target.type is TargetType.FILES and target.agent_id == "ag-web-prod"
        assert target.config == {
            "directory": str(tmp_path),
            "cert_file": "cert.pem",
            "key_file": "key.pem",
            "post_deploy_command": ["systemctl", "reload", "my app"],
        }


@pytest_anyio
async def test_edit_keeps_the_secret_and_the_settings_without_a_field(make_app, demo_engine) -> None:
    before = demo_engine.targets.connector_config("tgt-f5-prod")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetsScreen())
        highlight(screen.query_one(DataTable), "tgt-f5-prod")
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-host", Input).value == "f5.example.com"
        form.query_one("#field-port", Input).value = "8443"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
    after = demo_engine.targets.connector_config("tgt-f5-prod")
    assert after == {**before, "port": 8443}
    assert after["password"] == "demo-f5-password"


@pytest_anyio
async def test_delete_a_target_asks_first(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetsScreen())
        highlight(screen.query_one(DataTable), "tgt-nginx-staging")
        await pilot.press("d")
        await confirm(pilot, "nginx staging", "tgt-nginx-staging")
        await pilot.press("n")
        await settle(pilot)
        assert demo_engine.targets.get("tgt-nginx-staging").name == "nginx staging"
        await pilot.press("d")
        await confirm(pilot, "nginx staging")
        await pilot.press("y")
        await wait_until(pilot, lambda: "tgt-nginx-staging" not in screen.items)
        with pytest.raises(NotFound):
            demo_engine.targets.get("tgt-nginx-staging")


@pytest_anyio
async def test_create_a_pkcs12_target_through_its_own_form(make_app, demo_engine, tmp_path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, TargetsScreen())
        await pilot.press("n")
        await settle(pilot)
        chooser = app.screen
        assert isinstance(chooser, FormScreen)
        chooser.query_one("#field-type", Select).value = TargetType.PKCS12.value
        await pilot.press("ctrl+s")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen) and form is not chooser
        assert form.query_one("#field-passphrase", Input).password  # typed, never shown
        form.query_one("#field-name", Input).value = "java app"
        form.query_one("#field-directory", Input).value = str(tmp_path)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(form_error(form, "passphrase")))  # the connector's own rule
        assert not [t for t in demo_engine.targets.list() if t.name == "java app"]
        form.query_one("#field-passphrase", Input).value = "changeit-please"
        form.query_one("#field-alias", Input).value = "app"
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: app.screen is screen and any(t.name == "java app" for t in screen.items.values())
        )
        made = next(t for t in demo_engine.targets.list() if t.name == "java app")
        assert made.type is TargetType.PKCS12 and "passphrase" in made.secret_fields
        assert demo_engine.targets.connector_config(made.id)["passphrase"] == "changeit-please"
        assert made.config["alias"] == "app" and made.config["directory"] == str(tmp_path)
