"""The issuer form per type and the connection test, on the demo dataset (frozen clock).

Snapshots (snapshots/test_issuer_forms/) show the form of two types, a refusal shown next to
its field and a connection test's outcome; the pilot flows check what reached the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_snapshots import SIZE, go, open_screen
from textual.binding import Binding
from textual.widgets import Button, Input, Select, Static
from tui_helpers import frozen, settle, wait_until

from certctl_engine.connectors.issuers.vault import VaultSettings
from certctl_engine.demo import seed_demo
from certctl_engine.domain import Actor, IssuerType
from certctl_engine.engine import Engine
from certctl_engine.errors import InvalidInput
from certctl_engine.services.secret_config import REDACTED
from certctl_tui.screens.config import IssuerDetailView, IssuersScreen
from certctl_tui.widgets.issuer_fields import build_config, field_for_message
from certctl_tui.widgets.issuer_form import IssuerFormScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def demo_engine(tmp_path: Path) -> Iterator[Engine]:
    """The demo store in this test's own directory.

    The shared fixture's fixed directory is emptied by every test that starts, in any pytest
    process; these tests open new store connections late (engine threads, connection tests),
    so they keep their store where no other run removes it. Nothing here shows the path.
    """
    engine = Engine.open(str(tmp_path / "demo.db"), env={"CERTCTL_HOME": str(tmp_path)}, clock=frozen)
    try:
        seed_demo(engine)
        yield engine
    finally:
        engine.close()


# ---------------------------------------------------------------------- helpers
def highlight(issuer_id: str) -> Any:
    def move(app: Any) -> None:
        table = app.screen.query_one("#config-table")
        table.move_cursor(row=table.get_row_index(issuer_id))

    return move


def choose_type(issuer_type: str) -> Any:
    return lambda app: setattr(app.screen.query_one("#field-type", Select), "value", issuer_type)


def fill(**values: str) -> Any:
    """Type into the form: ``name`` or ``<Type>__<field>`` (``VaultPKI__token``)."""

    def typed(app: Any) -> None:
        for key, text in values.items():
            wid = "#field-name" if key == "name" else "#cfg-" + key.replace("__", "-")
            app.screen.query_one(wid, Input).value = text

    return typed


async def open_issuers(pilot: Any) -> IssuersScreen:
    await settle(pilot)
    pilot.app.open_screen("issuers")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, IssuersScreen)
    return screen


async def new_form(pilot: Any) -> IssuerFormScreen:
    await open_issuers(pilot)
    await pilot.press("n")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, IssuerFormScreen)
    return form


def shown(form: IssuerFormScreen, wid: str) -> str:
    widget = form.query_one(wid, Static)
    return str(widget.render()) if widget.has_class("shown") or widget.id == "issuer-test-result" else ""


def vault_values(**extra: str) -> dict[str, str]:
    return {
        "name": "Vault PKI (edge)",
        "VaultPKI__address": "https://vault.edge.example.com:8200",
        "VaultPKI__mount": "pki-edge",
        "VaultPKI__role": "edge",
        "VaultPKI__token": "s.edge-token-1",
        **extra,
    }


# ---------------------------------------------------------------------- snapshots
def test_acme_form(snap_compare, make_app) -> None:
    """A new issuer switched to ACME: its settings, the challenge choice and the argument-list hints."""
    steps = go(open_screen("issuers"), lambda app: app.screen.action_new(), choose_type("ACME"))
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps)


def test_vault_edit_form(snap_compare, make_app) -> None:
    """The demo's Vault PKI issuer in the edit form: its settings filled in, the token "(unchanged)"."""
    steps = go(open_screen("issuers"), highlight("iss-vault"), lambda app: app.screen.action_edit())
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps)


def test_vault_form_with_validation_error(snap_compare, make_app) -> None:
    """The engine's refusal of Vault's address, shown under the address field."""
    steps = go(
        open_screen("issuers"),
        lambda app: app.screen.action_new(),
        choose_type("VaultPKI"),
        fill(**vault_values(VaultPKI__address="vault.edge.example.com:8200")),
        lambda app: app.screen.action_save(),
    )
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps)


def test_local_ca_connection_test(snap_compare, make_app) -> None:
    """The local CA's detail after ``t``: ok, and until when it can sign."""
    steps = go(
        open_screen("issuers"),
        highlight("iss-local"),
        lambda app: app.screen.query_one("#config-table").action_select_cursor(),
        keys=("t",),
    )
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=steps)


# ---------------------------------------------------------------------- flows
async def test_creating_a_vault_issuer_seals_its_token(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await new_form(pilot)
        choose_type("VaultPKI")(app)
        await settle(pilot)
        fill(**vault_values(VaultPKI__namespace="edge-ns"))(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # it stays open to test the connection
        assert "Saved issuer 'Vault PKI (edge)'" in shown(form, "#issuer-saved")
        assert form.query_one("#form-test", Button).disabled is False
        created = next(i for i in demo_engine.issuers.list() if i.name == "Vault PKI (edge)")
        issuer = demo_engine.issuers.get(created.id)
        assert issuer.type is IssuerType.VAULT_PKI
        assert issuer.enabled is True
        assert issuer.config == {
            "address": "https://vault.edge.example.com:8200",
            "mount": "pki-edge",
            "role": "edge",
            "token": REDACTED,
            "namespace": "edge-ns",
        }
        assert issuer.secret_fields == ("token",)
        assert demo_engine.issuers.connector_config(created.id)["token"] == "s.edge-token-1"
        # After the save the token reads "(unchanged)" and a second save keeps it.
        token = form.query_one("#cfg-VaultPKI-token", Input)
        assert (token.value, token.placeholder, token.password) == ("", "(unchanged)", True)
        fill(VaultPKI__role="edge2")(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert demo_engine.issuers.get(created.id).config["role"] == "edge2"
        assert demo_engine.issuers.connector_config(created.id)["token"] == "s.edge-token-1"
        await pilot.press("escape")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, IssuersScreen)
        assert created.id in screen.items


async def test_switching_type_shows_that_types_fields(make_app) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await new_form(pilot)

        def visible() -> list[str]:
            return [t.value for t in IssuerType if form.query_one(f"#group-{t.value}").display]

        assert visible() == ["GenericCA"]
        assert form.query_one("#cfg-GenericCA-validity_days", Input).region.height == 1
        for issuer_type, field in (("ACME", "directory_url"), ("VaultPKI", "token"), ("OpenSSL", "sign_script")):
            choose_type(issuer_type)(app)
            await settle(pilot)
            assert visible() == [issuer_type]
            assert form.query_one(f"#cfg-{issuer_type}-{field}").region.height == 1  # laid out, on screen
            assert form.query_one("#cfg-GenericCA-validity_days").region.height == 0
        assert form.query_one("#cfg-VaultPKI-token", Input).password is True
        assert form.values()["config"] == {}  # nothing typed: no setting sent


async def test_a_bad_value_shows_the_engines_message_and_creates_nothing(make_app, demo_engine) -> None:
    before = [i.id for i in demo_engine.issuers.list()]
    with pytest.raises(InvalidInput) as refused:
        VaultSettings.from_config({"address": "vault.edge.example.com:8200"}, complete=False)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await new_form(pilot)
        choose_type("VaultPKI")(app)
        await settle(pilot)
        fill(**vault_values(VaultPKI__address="vault.edge.example.com:8200"))(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert shown(form, "#error-VaultPKI-address") == refused.value.message
        assert app.focused is form.query_one("#cfg-VaultPKI-address")
        assert [i.id for i in demo_engine.issuers.list()] == before
        # An argument list that cannot be split is refused by the form, under its field.
        choose_type("OpenSSL")(app)
        await settle(pilot)
        fill(name="Signer", OpenSSL__sign_script="sign-csr --subject 'unclosed")(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = shown(form, "#error-OpenSSL-sign_script")
        assert error == "sign_script cannot be split into words: No closing quotation"
        assert [i.id for i in demo_engine.issuers.list()] == before
        # The GenericCA refusal names the whole configuration; it still lands on its field.
        choose_type("GenericCA")(app)
        await settle(pilot)
        fill(name="Short CA", GenericCA__validity_days="0")(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert shown(form, "#error-GenericCA-validity_days").startswith("validity_days must be a whole number")
        assert [i.id for i in demo_engine.issuers.list()] == before


async def test_argument_lists_are_split_like_a_shell(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await new_form(pilot)
        choose_type("OpenSSL")(app)
        await settle(pilot)
        fill(
            name="Script signer",
            OpenSSL__sign_script="/usr/local/bin/sign-csr --subject 'O=Example Org' --days 90",
            OpenSSL__timeout_seconds="12.5",
        )(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        created = next(i for i in demo_engine.issuers.list() if i.name == "Script signer")
        assert demo_engine.issuers.get(created.id).config == {
            "sign_script": ["/usr/local/bin/sign-csr", "--subject", "O=Example Org", "--days", "90"],
            "timeout_seconds": 12.5,
        }
        # Testing it from the form says precisely what is wrong: the program is not there.
        form.query_one("#form-test", Button).press()
        await settle(pilot)
        expected = demo_engine.issuance.test_issuer(created.id, actor=app.actor)
        assert not expected.ok
        assert shown(form, "#issuer-test-result") == f"failed: {expected.message}"
        await pilot.press("escape")
        await settle(pilot)
        # Edited again, the list is shown quoted back as typed.
        screen = app.screen
        assert isinstance(screen, IssuersScreen)
        highlight(created.id)(app)
        await pilot.press("e")
        await settle(pilot)
        edit = app.screen
        assert isinstance(edit, IssuerFormScreen)
        assert edit.query_one("#cfg-OpenSSL-sign_script", Input).value == (
            "/usr/local/bin/sign-csr --subject 'O=Example Org' --days 90"
        )


async def test_editing_keeps_an_untyped_secret_and_replaces_a_typed_one(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_issuers(pilot)
        highlight("iss-vault")(app)
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, IssuerFormScreen)
        assert form.query_one("#cfg-VaultPKI-token", Input).placeholder == "(unchanged)"
        fill(VaultPKI__role="web-internal")(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert demo_engine.issuers.get("iss-vault").config["role"] == "web-internal"
        assert demo_engine.issuers.connector_config("iss-vault")["token"] == "demo-vault-token"
        fill(VaultPKI__token="s.rotated")(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert demo_engine.issuers.connector_config("iss-vault")["token"] == "s.rotated"
        # Nothing typed since the last save: the engine is not asked to change anything.
        events = demo_engine.audit.latest_sequence()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert shown(form, "#form-error") == "nothing changed"
        assert demo_engine.audit.latest_sequence() == events


async def test_connection_test_of_the_local_ca_from_list_and_detail(make_app, demo_engine) -> None:
    expected = demo_engine.issuance.test_issuer("iss-local", actor=Actor("tests"))
    assert expected.ok and "can sign until" in expected.message
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_issuers(pilot)
        highlight("iss-local")(app)
        await pilot.press("t")
        await wait_until(pilot, lambda: bool(app._notifications))
        note = list(app._notifications)[-1]
        assert (note.title, note.message, note.severity) == (
            "Issuer 'Local Dev CA': connection ok",
            expected.message,
            "information",
        )
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, IssuerDetailView)
        await pilot.press("t")
        await settle(pilot)
        assert str(detail.query_one("#issuer-test-result", Static).render()) == f"ok: {expected.message}"


async def test_the_demo_acme_placeholder_says_so(make_app, demo_engine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_issuers(pilot)
        highlight("iss-acme-le")(app)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        text = str(app.screen.query_one("#issuer-test-result", Static).render())
        assert text.startswith("failed: ") and "placeholder from the demo data" in text


async def test_read_only_hides_the_connection_test(make_app) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_issuers(pilot)
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not actions & {"test_connection", "new", "edit", "delete"}
        assert "t test" not in str(screen.query_one("#config-info", Static).render())
        await pilot.press("t")
        await settle(pilot)
        assert not app._notifications
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, IssuerDetailView)
        assert "test_connection" not in {b.binding.action for b in app.screen.active_bindings.values()}


def test_every_issuer_binding_is_remappable_and_explained() -> None:
    for screen in (IssuersScreen, IssuerDetailView, IssuerFormScreen):
        for binding in screen.BINDINGS:
            assert isinstance(binding, Binding)
            assert binding.id and binding.description and binding.tooltip, (screen.__name__, binding.key)


def test_the_fields_build_a_configuration_over_the_stored_one() -> None:
    stored = {"address": "https://old", "token": REDACTED, "account_state": "kept", "namespace": "gone"}
    texts = {"address": " https://vault.example.com ", "role": "web", "namespace": "", "token": ""}
    assert build_config(IssuerType.VAULT_PKI, texts, stored) == {
        "address": "https://vault.example.com",
        "role": "web",
        "token": REDACTED,  # untyped secret: the engine keeps the stored one
        "account_state": "kept",  # not a form field: left as it is
    }
    assert build_config(IssuerType.VAULT_PKI, {"token": " s.x "}, {})["token"] == " s.x "
    assert build_config(IssuerType.GENERIC_CA, {"validity_days": "30"}, {}) == {"validity_days": 30}
    with pytest.raises(InvalidInput) as refused:
        build_config(IssuerType.GENERIC_CA, {"validity_days": "ninety"}, {})
    assert refused.value.field == "validity_days"
    assert field_for_message(IssuerType.GENERIC_CA, "config", "validity_days must be ...") == "validity_days"
    assert field_for_message(IssuerType.GENERIC_CA, "config", "sub-CA mode needs both ...") is None
