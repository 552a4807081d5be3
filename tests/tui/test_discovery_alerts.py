"""Discovery, scan targets, notifications, policy rules and violations: snapshots and pilot flows.

Snapshots (120x40, demo dataset, frozen clock) live in snapshots/test_discovery_alerts/.
The flows act through the keys and forms and check the outcome in the engine; "scan now"
probes a real TLS listener the test opens on 127.0.0.1.
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
from textual.widgets import Checkbox, DataTable, Input, Select, Static
from tui_helpers import settle, wait_until

from certctl_engine.domain import Actor, DiscoveryStatus, NotificationStatus, PolicySeverity, PolicyType
from certctl_engine.engine import Engine
from certctl_engine.store.models import DiscoveredCertificateModel
from certctl_tui.screens import alerts, discovery
from certctl_tui.screens.alerts import NotificationsScreen, PolicyRulesScreen, ViolationsScreen
from certctl_tui.screens.config import DetailView
from certctl_tui.screens.discovery import DiscoveryScreen, ScanTargetsScreen
from certctl_tui.widgets.confirm import ConfirmDialog
from certctl_tui.widgets.form import FormScreen
from certctl_tui.widgets.record_list import RecordListScreen
from certctl_tui.widgets.scan_progress import ScanProgress

SIZE = (120, 40)
PRINTER_FINGERPRINT = "e0" * 32
"""The demo's printer certificate has a random RSA key; the snapshots pin its fingerprint."""


@pytest.fixture
def steady_demo(demo_engine: Engine) -> Engine:
    """The demo store with its one random value (the printer key's fingerprint) made fixed."""
    DiscoveredCertificateModel.update(fingerprint_sha256=PRINTER_FINGERPRINT).where(
        DiscoveredCertificateModel.common_name == "HP LaserJet MFP"
    ).execute()
    return demo_engine


# ---------------------------------------------------------------------- helpers
def text_of(widget: Any) -> str:
    lines = widget.render_lines(widget.region.reset_offset)
    return "\n".join("".join(segment.text for segment in line) for line in lines)


def row_ids(screen: RecordListScreen) -> list[str]:
    return [str(key.value) for key in screen.table.rows]


async def open_list(pilot: Any, screen: RecordListScreen) -> RecordListScreen:
    await settle(pilot)
    await pilot.app.push_screen(screen)
    await settle(pilot)
    await wait_until(pilot, lambda: screen.table.row_count > 0)
    return screen


async def highlight(pilot: Any, screen: RecordListScreen, record_id: str) -> None:
    await wait_until(pilot, lambda: record_id in screen.records)
    screen.table.move_cursor(row=screen.table.get_row_index(record_id))
    await settle(pilot)
    assert screen.highlighted() is not None and screen.highlighted().id == record_id


async def confirm_dialog(pilot: Any, *names: str) -> str:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmDialog)
    question = str(dialog.query_one("#confirm-question", Static).render())
    for name in names:
        assert name in question, question
    assert dialog.focused is not None and dialog.focused.id == "confirm-no"  # the default is No
    return question


async def open_form(pilot: Any) -> FormScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, FormScreen))
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, FormScreen)
    return form


def field_error(form: FormScreen, name: str) -> str:
    return str(form.query_one(f"#error-{name}", Static).render())


def unmanaged_by_cn(engine: Engine) -> dict[str, str]:
    return {d.common_name: d.id for d in engine.discovery.list(status=DiscoveryStatus.UNMANAGED, limit=100).items}


def toasts(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


# ---------------------------------------------------------------------- snapshots
async def tables_sized(pilot: Any, timeout: float = 5.0) -> None:
    """Wait until every table has sized its auto-width columns (done on a later idle refresh)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tables = [t for screen in pilot.app.screen_stack for t in screen.query(DataTable)]
        if not any(getattr(t, "_require_update_dimensions", False) for t in tables):
            return
        await pilot.pause(0.05)
    raise AssertionError("tables never finished sizing their columns")


def go(
    factory: Callable[[], Any], *steps: Callable[[Any], Any], keys: tuple[str, ...] = ()
) -> Callable[[Any], Awaitable[None]]:
    """A run_before: push the screen, wait for its rows, run each step, press keys, wait again."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        screen = factory()
        await pilot.app.push_screen(screen)
        await settle(pilot)
        await wait_until(pilot, lambda: screen.table.row_count > 0)
        for step in steps:
            step(pilot.app)
            await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await tables_sized(pilot)
        await settle(pilot)

    return run_before


def test_discovery_snapshot(snap_compare, make_app, steady_demo) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(DiscoveryScreen, keys=("down", "space")))


def test_discovery_dismiss_confirm_snapshot(snap_compare, make_app, steady_demo) -> None:
    keys = ("space", "down", "down", "space", "d")
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(DiscoveryScreen, keys=keys))


def test_discovery_claim_form_snapshot(snap_compare, make_app, steady_demo) -> None:
    """The claim form saved without an issuer: the message sits under the issuer field."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(DiscoveryScreen, keys=("c", "ctrl+s")))


def test_read_only_discovery_snapshot(snap_compare, make_app, steady_demo) -> None:
    assert snap_compare(make_app(read_only=True), terminal_size=SIZE, run_before=go(DiscoveryScreen))


def test_scan_targets_snapshot(snap_compare, make_app, steady_demo) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(ScanTargetsScreen))


def test_scan_target_form_error_snapshot(snap_compare, make_app, steady_demo) -> None:
    """A loopback range without the allow flag: the engine's refusal under the CIDR field."""

    def fill(app: Any) -> None:
        app.screen.query_one("#field-name", Input).value = "Lab"
        app.screen.query_one("#field-cidrs", Input).value = "127.0.0.0/8"
        app.screen.action_save()

    new = go(ScanTargetsScreen, lambda app: app.screen.action_new(), fill)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=new)


def test_notifications_snapshot(snap_compare, make_app, steady_demo) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(NotificationsScreen))


def test_policy_rules_snapshot(snap_compare, make_app, steady_demo) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(PolicyRulesScreen))


def test_violations_snapshot(snap_compare, make_app, steady_demo) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=go(ViolationsScreen))


# ---------------------------------------------------------------------- discovery flows
@pytest.mark.anyio
async def test_claim_marked_rows_makes_them_managed_certificates(make_app, demo_engine) -> None:
    ids = unmanaged_by_cn(demo_engine)
    jenkins, airflow = ids["jenkins.example.com"], ids["airflow.example.com"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, DiscoveryScreen())
        assert set(row_ids(screen)) == set(ids.values())  # Unmanaged by default
        await highlight(pilot, screen, jenkins)
        await pilot.press("space")
        await highlight(pilot, screen, airflow)
        await pilot.press("space")
        await pilot.press("c")
        form = await open_form(pilot)
        form.query_one("#field-issuer_id", Select).value = "iss-local"
        form.query_one("#field-owner_id", Select).value = "o-alice"
        await pilot.press("ctrl+s")
        question = await confirm_dialog(pilot, "2 certificates", "jenkins.example.com", "airflow.example.com")
        assert "Local" in question or "iss-local" in question
        await pilot.press("y")
        await wait_until(pilot, lambda: jenkins not in screen.records and airflow not in screen.records)
        for discovery_id, cn in ((jenkins, "jenkins.example.com"), (airflow, "airflow.example.com")):
            found = demo_engine.discovery.get(discovery_id)
            assert found.status is DiscoveryStatus.MANAGED
            assert found.managed_certificate_id
            cert = demo_engine.certificates.get(found.managed_certificate_id)
            assert cert.common_name == cn
            assert cert.issuer_id == "iss-local" and cert.owner_id == "o-alice"
        assert any("claimed 2" in m for m in toasts(app))
        assert not screen.marked


@pytest.mark.anyio
async def test_claim_without_an_issuer_is_refused_in_the_form(make_app, demo_engine) -> None:
    jenkins = unmanaged_by_cn(demo_engine)["jenkins.example.com"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, DiscoveryScreen())
        await highlight(pilot, screen, jenkins)
        await pilot.press("c")
        form = await open_form(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "choose the issuer" in field_error(form, "issuer_id")
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert demo_engine.discovery.get(jenkins).status is DiscoveryStatus.UNMANAGED


@pytest.mark.anyio
async def test_dismiss_marked_rows_after_confirming(make_app, demo_engine) -> None:
    ids = unmanaged_by_cn(demo_engine)
    wiki, grafana = ids["intranet-wiki.example.com"], ids["grafana-old.example.com"]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, DiscoveryScreen())
        await highlight(pilot, screen, wiki)
        await pilot.press("space")
        await highlight(pilot, screen, grafana)
        await pilot.press("space")
        await pilot.press("d")
        await confirm_dialog(pilot, "2 certificates", "intranet-wiki.example.com", "10.0.1.15:443", "10.0.1.16:8443")
        await pilot.press("y")
        await wait_until(pilot, lambda: wiki not in screen.records and grafana not in screen.records)
        assert demo_engine.discovery.get(wiki).status is DiscoveryStatus.DISMISSED
        assert demo_engine.discovery.get(grafana).status is DiscoveryStatus.DISMISSED
        others = set(ids.values()) - {wiki, grafana}
        assert {demo_engine.discovery.get(i).status for i in others} == {DiscoveryStatus.UNMANAGED}
        await pilot.press("t")  # Managed
        await pilot.press("t")  # Dismissed
        await wait_until(pilot, lambda: {wiki, grafana} <= set(row_ids(screen)))
        assert all(screen.records[i].status is DiscoveryStatus.DISMISSED for i in row_ids(screen))


@pytest.mark.anyio
async def test_no_in_the_confirm_changes_nothing(make_app, demo_engine) -> None:
    jenkins = unmanaged_by_cn(demo_engine)["jenkins.example.com"]
    sequence = demo_engine.audit.latest_sequence()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, DiscoveryScreen())
        await highlight(pilot, screen, jenkins)
        await pilot.press("d")
        await confirm_dialog(pilot, "1 certificate", "jenkins.example.com", "/etc/ssl/certs/jenkins.pem")
        await pilot.press("enter")  # the focused button is No
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("c")
        form = await open_form(pilot)
        form.query_one("#field-issuer_id", Select).value = "iss-local"
        await pilot.press("ctrl+s")
        await confirm_dialog(pilot, "jenkins.example.com")
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen
        assert demo_engine.discovery.get(jenkins).status is DiscoveryStatus.UNMANAGED
        assert demo_engine.audit.latest_sequence() == sequence
        assert toasts(app).count("cancelled; nothing changed") == 2


# ---------------------------------------------------------------------- scan targets
class TLSListener:
    """A TLS server on 127.0.0.1 serving a fresh self-signed certificate; holds handshakes until released."""

    def __init__(self, directory: Path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback-scan.test")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("loopback-scan.test")]), critical=False)
            .sign(key, hashes.SHA256())
        )
        self.fingerprint = self.cert.fingerprint(hashes.SHA256()).hex()
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.release = threading.Event()
        self.accepted = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.set()
            self.release.wait(10)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop = True
        self.release.set()
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def tls_listener(tmp_path: Path) -> Iterator[TLSListener]:
    listener = TLSListener(tmp_path)
    try:
        yield listener
    finally:
        listener.close()


@pytest.mark.anyio
async def test_scan_now_finds_the_loopback_listener(make_app, demo_engine, tls_listener) -> None:
    target = demo_engine.discovery.create_target(
        "Loopback lab",
        ["127.0.0.1/32"],
        actor=Actor("test"),
        ports=[tls_listener.port],
        allow_reserved=True,
        timeout_ms=8000,
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, ScanTargetsScreen())
        await highlight(pilot, screen, target.id)
        progress = screen.query_one(ScanProgress)
        try:
            await pilot.press("s")
            # The listener holds the handshake: the scan is under way and the dashboard still answers.
            await wait_until(pilot, tls_listener.accepted.is_set)
            await pilot.pause(0.1)
            assert progress.running == "Loopback lab" and progress.display
            assert "Scanning Loopback lab" in text_of(progress.query_one("#scan-label"))
            await pilot.press("up", "down")
            await pilot.pause(0.05)
            assert screen.highlighted().id == target.id
            await pilot.press("s")  # a second scan while one runs is refused with a warning
            await pilot.pause(0.05)
            assert any("is running" in m for m in toasts(app))
        finally:
            tls_listener.release.set()  # never leave the scan (and the app's exit) waiting on the listener
        await wait_until(pilot, lambda: progress.running is None, timeout=15)
        await settle(pilot)
        assert "1 certificate(s) found, 1 new" in text_of(progress.query_one("#scan-label"))
        found = [
            d for d in demo_engine.discovery.list(limit=100).items if d.source_path == f"127.0.0.1:{tls_listener.port}"
        ]
        assert [d.fingerprint_sha256 for d in found] == [tls_listener.fingerprint]
        assert found[0].common_name == "loopback-scan.test" and found[0].status is DiscoveryStatus.UNMANAGED
        await wait_until(pilot, lambda: screen.records[target.id].last_scan_certs_found == 1)
        assert demo_engine.discovery.get_target(target.id).last_scan_at is not None


@pytest.mark.anyio
async def test_create_scan_target_shows_the_guard_inline_then_saves(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, ScanTargetsScreen())
        before = row_ids(screen)
        await pilot.press("n")
        form = await open_form(pilot)
        form.query_one("#field-name", Input).value = "Lab"
        form.query_one("#field-cidrs", Input).value = "127.0.0.0/24"
        form.query_one("#field-ports", Input).value = "443, https"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "ports must be whole" in field_error(form, "ports"))
        form.query_one("#field-ports", Input).value = "443, 8443"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "loopback" in field_error(form, "cidrs"))
        assert "allow_reserved" in field_error(form, "cidrs")
        assert [t.name for t in demo_engine.discovery.list_targets()].count("Lab") == 0
        form.query_one("#field-allow_reserved", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen and len(row_ids(screen)) == len(before) + 1)
        created = next(t for t in demo_engine.discovery.list_targets() if t.name == "Lab")
        assert created.cidrs == ("127.0.0.0/24",) and created.ports == (443, 8443) and created.allow_reserved
        assert screen.highlighted().id == created.id


# ---------------------------------------------------------------------- notifications
@pytest.mark.anyio
async def test_notifications_newest_first_enter_shows_r_marks_read(make_app, demo_engine) -> None:
    expected = [n.id for n in demo_engine.notifications.list(limit=100).items]
    pending = demo_engine.notifications.list(status=NotificationStatus.PENDING).items[0]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, NotificationsScreen())
        assert row_ids(screen) == expected
        created = [screen.records[i].created_at for i in row_ids(screen)]
        assert created == sorted(created, reverse=True)
        await highlight(pilot, screen, pending.id)
        assert str(screen.table.get_cell(pending.id, "unread")) == "●"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailView)
        detail = "".join(text_of(w) for w in app.screen.query(Static)).split()
        assert "".join(pending.message.split()) in "".join(detail)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.records[pending.id].status is NotificationStatus.READ)
        assert demo_engine.notifications.get(pending.id).status is NotificationStatus.READ
        assert str(screen.table.get_cell(pending.id, "unread")) == " "
        await pilot.press("t", "t", "t", "t")  # pending, sent, failed, read
        await wait_until(pilot, lambda: screen.status is NotificationStatus.READ and pending.id in screen.records)
        assert all(screen.records[i].status is NotificationStatus.READ for i in row_ids(screen))


# ---------------------------------------------------------------------- policies
@pytest.mark.anyio
async def test_create_a_policy_rule_through_the_form(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, PolicyRulesScreen())
        await pilot.press("n")
        form = await open_form(pilot)
        form.query_one("#field-name", Input).value = "Short lead time"
        form.query_one("#field-type", Select).value = PolicyType.RENEWAL_LEAD_TIME.value
        form.query_one("#field-config", Input).value = "fourteen"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "one whole number of days" in field_error(form, "config"))
        form.query_one("#field-config", Input).value = "400"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "from 1 to 365" in field_error(form, "config"))  # the engine's own check
        form.query_one("#field-config", Input).value = "21"
        form.query_one("#field-severity", Select).value = PolicySeverity.ERROR.value
        await pilot.press("ctrl+s")
        await wait_until(
            pilot, lambda: app.screen is screen and any(r.name == "Short lead time" for r in screen.records.values())
        )
        rule = next(r for r in demo_engine.policies.list_rules() if r.name == "Short lead time")
        assert rule.type is PolicyType.RENEWAL_LEAD_TIME and rule.config == {"min_days": 21}
        assert rule.severity is PolicySeverity.ERROR and rule.enabled
        assert screen.highlighted().id == rule.id


@pytest.mark.anyio
async def test_edit_and_toggle_a_policy_rule(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, PolicyRulesScreen())
        await highlight(pilot, screen, "pr-allowed-environments")
        await pilot.press("t")
        await wait_until(pilot, lambda: not screen.records["pr-allowed-environments"].enabled)
        assert not demo_engine.policies.get_rule("pr-allowed-environments").enabled
        await pilot.press("e")
        form = await open_form(pilot)
        assert form.query_one("#field-config", Input).value == "production, staging, development"
        form.query_one("#field-config", Input).value = "production, staging, development, corporate"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        rule = demo_engine.policies.get_rule("pr-allowed-environments")
        assert rule.config == {"environments": ["production", "staging", "development", "corporate"]}
        assert not rule.enabled


@pytest.mark.anyio
async def test_violations_open_by_default_with_rule_and_certificate(make_app, demo_engine) -> None:
    open_ones = demo_engine.policies.list_violations(limit=100).items
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, ViolationsScreen())
        assert row_ids(screen) == [v.id for v in open_ones]
        first = open_ones[0]
        panel = text_of(screen.query_one("#records-detail"))
        assert first.message in panel and first.certificate_id in panel and first.rule_id in panel
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.include_resolved)
        assert "open and resolved" in str(screen.query_one("#records-info", Static).render())


# ---------------------------------------------------------------------- read-only, registration
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("factory", "mutating"),
    [
        (DiscoveryScreen, {"claim", "dismiss_marked"}),
        (ScanTargetsScreen, {"scan", "new", "delete"}),
        (NotificationsScreen, {"mark_read"}),
        (PolicyRulesScreen, {"new", "edit", "toggle_enabled", "delete"}),
    ],
)
async def test_read_only_hides_every_mutating_key(make_app, demo_engine, factory, mutating) -> None:
    sequence = demo_engine.audit.latest_sequence()
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_list(pilot, factory())
        assert mutating == screen.MUTATING_ACTIONS
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not actions & mutating
        commands = [c for c in screen.palette_commands() if c.mutating]
        assert commands and not {c.title for c in commands} & {c.title for c in app.get_system_commands(screen)}
        await pilot.press("c", "d", "s", "n", "e", "t", "r")
        await settle(pilot)
        assert app.screen is screen
        assert demo_engine.audit.latest_sequence() == sequence


def test_every_binding_is_remappable_and_explained() -> None:
    for screen in (DiscoveryScreen, ScanTargetsScreen, NotificationsScreen, PolicyRulesScreen, ViolationsScreen):
        for binding in screen.BINDINGS:
            assert binding.id and binding.description and binding.tooltip, (screen.__name__, binding.key)


def test_screen_entries_name_each_screen_once() -> None:
    entries = {**discovery.SCREEN_ENTRIES, **alerts.SCREEN_ENTRIES}
    assert set(entries) == {"discovery", "scan-targets", "notifications", "rules", "violations"}
    names = [alias for key, (_t, _f, aliases) in entries.items() for alias in (key, *aliases)]
    assert len(names) == len(set(names))
    kinds = {key: type(factory()).__name__ for key, (_t, factory, _a) in entries.items()}
    assert kinds == {
        "discovery": "DiscoveryScreen",
        "scan-targets": "ScanTargetsScreen",
        "notifications": "NotificationsScreen",
        "rules": "PolicyRulesScreen",
        "violations": "ViolationsScreen",
    }
