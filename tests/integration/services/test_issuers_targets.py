"""Issuers and targets: CRUD, secret fields redacted in views, sealed at rest, and the secret key check."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql

from certctl_engine.domain import Actor, IssuerType, TargetType
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict, IntegrityError, InvalidInput, NotFound, StoreError
from certctl_engine.services.secret_config import REDACTED
from certctl_engine.store.models import AgentModel, AuditEventModel, IssuerModel, TargetModel

ACME_URL = "https://acme.example.com/directory"
PLANTED = "PLANTED-SECRET-8f3a9c"
ZERO_KEY = "00" * 32
ONE_KEY = "11" * 32


def refused(engine: Engine, error: type[Exception], call: Any) -> Any:
    before = engine.audit.latest_sequence()
    with pytest.raises(error) as info:
        call()
    assert engine.audit.latest_sequence() == before
    return info.value


def last_event(engine: Engine) -> Any:
    return engine.audit.list(limit=1).items[0]


def make_agent(engine: Engine, agent_id: str, name: str | None = None) -> str:
    with engine.store.write():
        AgentModel.create(id=agent_id, name=name or agent_id, status="Online")
    return agent_id


def acme_config(**extra: Any) -> dict[str, Any]:
    return {"directory_url": ACME_URL, "eab_kid": "kid-1", "eab_hmac": "s3cr3t-hmac", "password": "p", **extra}


# --------------------------------------------------------------------------- issuers


def test_create_issuer_redacts_secret_fields(engine: Engine, actor: Actor) -> None:
    before = engine.audit.latest_sequence()
    issuer = engine.issuers.create("LE staging", "ACME", acme_config(email="ops@example.com"), actor=actor)

    assert issuer.name == "LE staging"
    assert issuer.type is IssuerType.ACME
    assert issuer.enabled is True
    assert issuer.id.startswith("issuer")
    assert issuer.config == {
        "directory_url": ACME_URL,
        "email": "ops@example.com",
        "eab_kid": "kid-1",
        "eab_hmac": REDACTED,
        "password": REDACTED,
    }
    assert REDACTED == "********"
    assert issuer.secret_fields == ("eab_hmac", "password")
    assert engine.issuers.get(issuer.id) == issuer
    assert engine.issuers.list() == [issuer]

    assert engine.audit.latest_sequence() == before + 1
    event = last_event(engine)
    assert (event.action, event.resource_type, event.resource_id, event.actor) == (
        "create_issuer",
        "issuer",
        issuer.id,
        actor.name,
    )
    assert event.details == {"name": "LE staging", "type": "ACME", "secret_fields": ["eab_hmac", "password"]}


def test_connector_config_has_the_real_values(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    assert engine.issuers.connector_config(issuer.id) == acme_config()


def test_issuer_without_secrets(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("Local", IssuerType.OPENSSL, {"validity_days": 90}, actor=actor, enabled=False)
    assert issuer.config == {"validity_days": 90}
    assert issuer.secret_fields == ()
    assert issuer.enabled is False
    assert engine.issuers.connector_config(issuer.id) == {"validity_days": 90}


def test_update_with_placeholder_keeps_secret_and_new_value_replaces_it(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    shown = engine.issuers.get(issuer.id).config  # what a face would send back after editing one field

    before = engine.audit.latest_sequence()
    updated = engine.issuers.update(
        issuer.id, actor=actor, config={**shown, "directory_url": "https://acme2.example.com/dir", "password": "p2"}
    )

    assert updated.config == {
        "directory_url": "https://acme2.example.com/dir",
        "eab_kid": "kid-1",
        "eab_hmac": REDACTED,
        "password": REDACTED,
    }
    assert updated.secret_fields == ("eab_hmac", "password")
    assert engine.issuers.connector_config(issuer.id) == {
        "directory_url": "https://acme2.example.com/dir",
        "eab_kid": "kid-1",
        "eab_hmac": "s3cr3t-hmac",  # kept: the placeholder was sent back
        "password": "p2",  # replaced
    }
    assert engine.audit.latest_sequence() == before + 1
    event = last_event(engine)
    assert (event.action, event.resource_id, event.details) == ("update_issuer", issuer.id, {"changed": ["config"]})
    assert "p2" not in str(event.details)


def test_update_config_replaces_the_whole_config(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    updated = engine.issuers.update(issuer.id, actor=actor, config={"directory_url": ACME_URL, "token": REDACTED})
    # Omitted fields are dropped; a placeholder for a secret that was never stored is dropped too.
    assert updated.config == {"directory_url": ACME_URL}
    assert updated.secret_fields == ()
    assert engine.issuers.connector_config(issuer.id) == {"directory_url": ACME_URL}


def test_update_issuer_other_fields(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    updated = engine.issuers.update(issuer.id, actor=actor, name="Vault", type="vaultpki", enabled=False)
    assert (updated.name, updated.type, updated.enabled) == ("Vault", IssuerType.VAULT_PKI, False)
    assert engine.issuers.connector_config(issuer.id) == acme_config()  # config untouched
    assert last_event(engine).details == {"changed": ["name", "type", "enabled"]}


def test_update_issuer_refusals(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    engine.issuers.create("Other", IssuerType.OPENSSL, actor=actor)

    err = refused(engine, InvalidInput, lambda: engine.issuers.update(issuer.id, actor=actor))
    assert err.message == "nothing to update: give at least one field"
    err = refused(engine, Conflict, lambda: engine.issuers.update(issuer.id, actor=actor, name="Other"))
    assert "'Other'" in str(err)
    err = refused(engine, InvalidInput, lambda: engine.issuers.update(issuer.id, actor=actor, type="Bogus"))
    assert "Bogus" in err.message
    err = refused(engine, InvalidInput, lambda: engine.issuers.update(issuer.id, actor=actor, config=["x"]))
    assert err.field == "config"
    refused(engine, NotFound, lambda: engine.issuers.update("issuer-nope", actor=actor, name="x"))

    assert engine.issuers.get(issuer.id) == issuer
    assert engine.issuers.connector_config(issuer.id) == acme_config()


def test_unknown_issuer_type_names_the_allowed_types(engine: Engine, actor: Actor) -> None:
    err = refused(engine, InvalidInput, lambda: engine.issuers.create("X", "LetsEncrypt", {}, actor=actor))
    assert (
        err.message == "unknown issuer type 'LetsEncrypt'; expected one of: ACME, GenericCA, StepCA, OpenSSL, VaultPKI"
    )
    assert engine.issuers.list() == []


def test_issuer_type_is_matched_case_insensitively(engine: Engine, actor: Actor) -> None:
    assert engine.issuers.create("X", "stepca", actor=actor).type is IssuerType.STEP_CA


def test_issuer_config_must_be_a_mapping_with_text_keys(engine: Engine, actor: Actor) -> None:
    for bad in (["directory_url"], {1: "x"}, "url"):
        err = refused(engine, InvalidInput, lambda bad=bad: engine.issuers.create("X", "ACME", bad, actor=actor))
        assert err.field == "config"


def test_duplicate_issuer_name_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    err = refused(engine, Conflict, lambda: engine.issuers.create("LE", IssuerType.OPENSSL, actor=actor))
    assert "'LE'" in str(err)
    assert len(engine.issuers.list()) == 1


def test_get_unknown_issuer_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound) as info:
        engine.issuers.get("issuer-nope")
    assert (info.value.resource, info.value.identifier) == ("issuer", "issuer-nope")
    with pytest.raises(NotFound):
        engine.issuers.connector_config("issuer-nope")


def test_delete_issuer(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    before = engine.audit.latest_sequence()
    engine.issuers.delete(issuer.id, actor=actor)
    assert engine.audit.latest_sequence() == before + 1
    assert (last_event(engine).action, last_event(engine).resource_id) == ("delete_issuer", issuer.id)
    with pytest.raises(NotFound):
        engine.issuers.get(issuer.id)
    refused(engine, NotFound, lambda: engine.issuers.delete(issuer.id, actor=actor))


def test_delete_issuer_used_by_a_certificate_is_a_conflict(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
    engine.certificates.create(name="web", common_name="web.example.com", issuer_id=issuer.id, actor=actor)

    err = refused(engine, Conflict, lambda: engine.issuers.delete(issuer.id, actor=actor))

    assert str(err) == f"issuer '{issuer.id}' still issues 1 certificate(s); move or archive them first"
    assert engine.issuers.get(issuer.id) == issuer


def test_sealed_secrets_are_bound_to_their_row(engine: Engine, actor: Actor) -> None:
    a = engine.issuers.create("A", IssuerType.ACME, acme_config(), actor=actor)
    b = engine.issuers.create("B", IssuerType.ACME, {"directory_url": ACME_URL, "password": "other"}, actor=actor)
    with engine.store.write():
        sealed = IssuerModel.get_by_id(a.id).secrets_encrypted
        IssuerModel.update(secrets_encrypted=sealed).where(IssuerModel.id == b.id).execute()
    with pytest.raises(IntegrityError, match=f"issuer:{b.id}"):
        engine.issuers.connector_config(b.id)
    assert engine.issuers.connector_config(a.id) == acme_config()


# --------------------------------------------------------------------------- targets


def test_create_target_without_agent(engine: Engine, actor: Actor) -> None:
    before = engine.audit.latest_sequence()
    target = engine.targets.create(
        "edge", TargetType.NGINX, {"cert_path": "/etc/nginx/cert.pem", "api_token": "tok-1"}, actor=actor
    )

    assert (target.name, target.type, target.agent_id, target.enabled) == ("edge", TargetType.NGINX, None, True)
    assert target.id.startswith("target")
    assert target.config == {"cert_path": "/etc/nginx/cert.pem", "api_token": REDACTED}
    assert target.secret_fields == ("api_token",)
    assert engine.targets.get(target.id) == target
    assert engine.targets.connector_config(target.id) == {"cert_path": "/etc/nginx/cert.pem", "api_token": "tok-1"}

    assert engine.audit.latest_sequence() == before + 1
    event = last_event(engine)
    assert (event.action, event.resource_type, event.resource_id, event.actor) == (
        "create_target",
        "target",
        target.id,
        actor.name,
    )
    assert event.details == {"name": "edge", "type": "NGINX", "agent_id": None, "secret_fields": ["api_token"]}


def test_create_target_with_agent(engine: Engine, actor: Actor) -> None:
    agent_id = make_agent(engine, "agent-web1")
    target = engine.targets.create(
        "edge", "haproxy", {"pem_path": "/etc/haproxy/web.pem"}, actor=actor, agent_id=agent_id
    )
    assert (target.agent_id, target.type) == ("agent-web1", TargetType.HAPROXY)
    assert [t.id for t in engine.targets.list(agent_id)] == [target.id]


def test_create_target_with_unknown_agent_is_not_found(engine: Engine, actor: Actor) -> None:
    err = refused(
        engine, NotFound, lambda: engine.targets.create("edge", TargetType.NGINX, actor=actor, agent_id="agent-nope")
    )
    assert (err.resource, err.identifier) == ("agent", "agent-nope")
    assert engine.targets.list() == []


def test_unknown_target_type_names_the_allowed_types(engine: Engine, actor: Actor) -> None:
    err = refused(engine, InvalidInput, lambda: engine.targets.create("edge", "Lighttpd", actor=actor))
    assert err.message.startswith("unknown target type 'Lighttpd'; expected one of: NGINX, Apache, HAProxy")
    assert err.message.endswith("JavaKeystore, Files")


def test_duplicate_target_name_per_agent_is_a_conflict(engine: Engine, actor: Actor) -> None:
    a1 = make_agent(engine, "agent-1")
    a2 = make_agent(engine, "agent-2")
    engine.targets.create("edge", TargetType.NGINX, actor=actor, agent_id=a1)

    err = refused(engine, Conflict, lambda: engine.targets.create("edge", TargetType.APACHE, actor=actor, agent_id=a1))
    assert str(err) == "agent 'agent-1' already has a target named 'edge'"

    # The same name on another agent, or with no agent, is fine ...
    engine.targets.create("edge", TargetType.NGINX, actor=actor, agent_id=a2)
    engine.targets.create("edge", TargetType.NGINX, actor=actor)
    # ... but only once without an agent either.
    refused(engine, Conflict, lambda: engine.targets.create("edge", TargetType.NGINX, actor=actor))

    assert len(engine.targets.list()) == 3
    assert [t.agent_id for t in engine.targets.list(a1)] == [a1]


def test_duplicate_target_id_is_a_conflict(engine: Engine, actor: Actor) -> None:
    engine.targets.create("a", TargetType.FILES, actor=actor, id="target-x")
    err = refused(engine, Conflict, lambda: engine.targets.create("b", TargetType.FILES, actor=actor, id="target-x"))
    assert "target-x" in str(err)


def test_update_target(engine: Engine, actor: Actor) -> None:
    agent_id = make_agent(engine, "agent-1")
    target = engine.targets.create(
        "edge", TargetType.NGINX, {"cert_path": "/a.pem", "api_token": "tok-1", "password": "pw"}, actor=actor
    )

    before = engine.audit.latest_sequence()
    updated = engine.targets.update(
        target.id,
        actor=actor,
        name="edge-2",
        type="Caddy",
        agent_id=agent_id,
        config={"cert_path": "/b.pem", "api_token": REDACTED, "password": "pw2"},
        enabled=False,
    )

    assert (updated.name, updated.type, updated.agent_id, updated.enabled) == (
        "edge-2",
        TargetType.CADDY,
        "agent-1",
        False,
    )
    assert updated.config == {"cert_path": "/b.pem", "api_token": REDACTED, "password": REDACTED}
    assert updated.secret_fields == ("api_token", "password")
    assert engine.targets.connector_config(target.id) == {
        "cert_path": "/b.pem",
        "api_token": "tok-1",
        "password": "pw2",
    }
    assert engine.audit.latest_sequence() == before + 1
    event = last_event(engine)
    assert (event.action, event.resource_id) == ("update_target", target.id)
    assert event.details == {"changed": ["name", "type", "agent_id", "config", "enabled"]}

    detached = engine.targets.update(target.id, actor=actor, agent_id=None)
    assert detached.agent_id is None


def test_update_target_refusals(engine: Engine, actor: Actor) -> None:
    agent_id = make_agent(engine, "agent-1")
    target = engine.targets.create("edge", TargetType.NGINX, {"api_token": "t"}, actor=actor, agent_id=agent_id)
    engine.targets.create("other", TargetType.NGINX, actor=actor, agent_id=agent_id)

    err = refused(engine, Conflict, lambda: engine.targets.update(target.id, actor=actor, name="other"))
    assert str(err) == "agent 'agent-1' already has a target named 'other'"
    err = refused(engine, NotFound, lambda: engine.targets.update(target.id, actor=actor, agent_id="agent-nope"))
    assert err.identifier == "agent-nope"
    err = refused(engine, InvalidInput, lambda: engine.targets.update(target.id, actor=actor))
    assert err.message == "nothing to update: give at least one field"
    refused(engine, NotFound, lambda: engine.targets.update("target-nope", actor=actor, name="x"))

    assert engine.targets.get(target.id) == target
    assert engine.targets.connector_config(target.id) == {"api_token": "t"}


def test_delete_target(engine: Engine, actor: Actor) -> None:
    target = engine.targets.create("edge", TargetType.NGINX, actor=actor)
    before = engine.audit.latest_sequence()
    engine.targets.delete(target.id, actor=actor)
    assert engine.audit.latest_sequence() == before + 1
    assert (last_event(engine).action, last_event(engine).resource_id) == ("delete_target", target.id)
    with pytest.raises(NotFound) as info:
        engine.targets.get(target.id)
    assert info.value.resource == "target"
    assert engine.targets.list() == []
    refused(engine, NotFound, lambda: engine.targets.delete(target.id, actor=actor))


# --------------------------------------------------------------------------- secrets at rest


def plant_secrets(engine: Engine, actor: Actor) -> None:
    issuer = engine.issuers.create(
        "LE",
        IssuerType.ACME,
        {"directory_url": ACME_URL, "eab_kid": "kid-1", "eab_hmac": PLANTED, "password": "p"},
        actor=actor,
    )
    target = engine.targets.create(
        "edge", TargetType.NGINX, {"cert_path": "/a.pem", "api_token": PLANTED + "-target"}, actor=actor
    )
    # Also through an update, and mentioned by name only in audit details.
    engine.issuers.update(issuer.id, actor=actor, config={"directory_url": ACME_URL, "password": PLANTED + "-2"})
    assert engine.issuers.connector_config(issuer.id)["password"] == PLANTED + "-2"
    assert engine.targets.connector_config(target.id)["api_token"] == PLANTED + "-target"


def sqlite_files(db_path: Path) -> dict[str, bytes]:
    found = {}
    for suffix in ("", "-wal", "-journal"):
        path = Path(str(db_path) + suffix)
        if path.exists():
            found[path.name] = path.read_bytes()
    return found


def test_secrets_are_not_stored_in_plain_text_in_sqlite(
    sqlite_engine: Engine, actor: Actor, store_env: dict[str, str]
) -> None:
    db_path = sqlite_engine.location.path
    assert db_path is not None
    plant_secrets(sqlite_engine, actor)
    needle = PLANTED.encode()

    while_open = sqlite_files(db_path)
    assert db_path.name in while_open
    for name, content in while_open.items():
        assert needle not in content, f"planted secret found in {name} while the store is open"

    sqlite_engine.close()
    after_close = sqlite_files(db_path)
    assert after_close, "the database file exists"
    for name, content in after_close.items():
        assert needle not in content, f"planted secret found in {name}"
    # The plain part of the config is there, so we looked in the right place.
    assert any(ACME_URL.encode() in content for content in {**while_open, **after_close}.values())

    key_file = Path(store_env["CERTCTL_HOME"]) / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_key_file_readable_by_others_is_refused(store_env: dict[str, str]) -> None:
    db = str(Path(store_env["CERTCTL_HOME"]) / "certctl.db")
    Engine.open(db, env=store_env).close()
    key_file = Path(store_env["CERTCTL_HOME"]) / "secret.key"
    os.chmod(key_file, 0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        Engine.open(db, env=store_env)
    os.chmod(key_file, 0o600)
    Engine.open(db, env=store_env).close()


@pytest.mark.postgres
def test_secrets_are_not_stored_in_plain_text_in_postgresql(
    postgres_url: str, store_env: dict[str, str], actor: Actor
) -> None:
    with Engine.open(postgres_url, env=store_env) as engine:
        plant_secrets(engine, actor)

    conn = psycopg2.connect(postgres_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            tables = [row[0] for row in cur.fetchall()]
            models = (IssuerModel, TargetModel, AuditEventModel)
            assert {m._meta.table_name for m in models} <= set(tables)
            rows_seen = 0
            for table in tables:
                cur.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table)))
                for (text,) in cur.fetchall():
                    rows_seen += 1
                    assert PLANTED not in text, f"planted secret found in table {table}: {text[:200]}"
            cur.execute(sql.SQL("SELECT config::text FROM {}").format(sql.Identifier(IssuerModel._meta.table_name)))
            assert ACME_URL in cur.fetchone()[0]
    finally:
        conn.close()
    assert rows_seen > 0


# --------------------------------------------------------------------------- the secret key check


@pytest.fixture
def isolated_default_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep any key file the engine puts in the process's default data dir inside a temp dir."""
    home = tmp_path / "default-home"
    monkeypatch.setenv("CERTCTL_HOME", str(home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return home


@pytest.mark.parametrize(
    ("first_key", "second_key", "second_source"),
    [
        (None, ZERO_KEY, "CERTCTL_SECRET_KEY"),  # key file first, then a key in the environment
        (ONE_KEY, None, "secret.key"),  # key in the environment first, then a (new) key file
        (ONE_KEY, ZERO_KEY, "CERTCTL_SECRET_KEY"),
    ],
)
def test_opening_with_a_different_secret_key_is_refused(
    store_url: str,
    store_env: dict[str, str],
    actor: Actor,
    isolated_default_home: Path,
    first_key: str | None,
    second_key: str | None,
    second_source: str,
) -> None:
    def env_with(key: str | None) -> dict[str, str]:
        return {**store_env, "CERTCTL_SECRET_KEY": key} if key else dict(store_env)

    with Engine.open(store_url, env=env_with(first_key)) as engine:
        issuer = engine.issuers.create("LE", IssuerType.ACME, acme_config(), actor=actor)
        events = engine.audit.latest_sequence()

    with pytest.raises(StoreError) as info:
        Engine.open(store_url, env=env_with(second_key))
    message = str(info.value)
    assert "secret key" in message
    assert second_source in message
    assert "is not the one this store's secrets were written with" in message
    assert "CERTCTL_SECRET_KEY" in message

    # The refused open closed its store and wrote nothing: the right key still works.
    with Engine.open(store_url, env=env_with(first_key)) as engine:
        assert engine.issuers.connector_config(issuer.id) == acme_config()
        assert engine.audit.latest_sequence() == events
        assert engine.audit.verify().ok


def test_malformed_secret_key_is_invalid_input(store_url: str, store_env: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as info:
        Engine.open(store_url, env={**store_env, "CERTCTL_SECRET_KEY": "not-a-key"})
    assert info.value.field == "CERTCTL_SECRET_KEY"
    # The failed open released the store.
    Engine.open(store_url, env={**store_env, "CERTCTL_SECRET_KEY": ZERO_KEY}).close()


@pytest.mark.postgres
def test_postgresql_key_file_follows_the_given_env(
    postgres_url: str, store_env: dict[str, str], isolated_default_home: Path
) -> None:
    Engine.open(postgres_url, env=store_env).close()
    assert (Path(store_env["CERTCTL_HOME"]) / "secret.key").exists()
    assert not (isolated_default_home / "secret.key").exists()


def test_nested_secrets_are_sealed_and_redacted(sqlite_engine: Engine, actor: Actor) -> None:
    target = sqlite_engine.targets.create(
        "f5", "F5", {"connection": {"host": "lb.example.com", "password": "NESTED-PW-77"}}, actor=actor
    )
    assert target.config == {"connection": {"host": "lb.example.com", "password": "********"}}
    assert target.secret_fields == ("connection.password",)
    assert sqlite_engine.targets.connector_config(target.id) == {
        "connection": {"host": "lb.example.com", "password": "NESTED-PW-77"}
    }
    # Sending the redacted view back keeps the stored secret; a new value replaces it.
    sqlite_engine.targets.update(target.id, config=target.config, actor=actor)
    assert sqlite_engine.targets.connector_config(target.id)["connection"]["password"] == "NESTED-PW-77"
    path = sqlite_engine.location.path
    assert path is not None
    sqlite_engine.close()
    raw = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
    )
    assert b"NESTED-PW-77" not in raw


def test_a_local_ca_is_tested_on_the_engines_clock(store_url: str, store_env: dict[str, str]) -> None:
    """Whether the CA can sign is asked at the engine's time: a clock past the CA's end says it cannot."""
    from datetime import UTC, datetime

    from frozen_clock import Clock

    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    with Engine.open(store_url, env=store_env, clock=clock) as engine:
        actor = Actor("alice")
        engine.issuers.create("Local", "GenericCA", {}, actor=actor, id="iss-local")
        engine.ca.init("iss-local", actor=actor, validity_days=30)
        assert engine.issuance.test_issuer("iss-local", actor=actor).ok
        clock.advance(days=31)
        check = engine.issuance.test_issuer("iss-local", actor=actor)
        assert not check.ok and "the local CA cannot sign" in check.message, check
