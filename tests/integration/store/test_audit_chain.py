"""The audit chain: written with every change, verifiable, linear under concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import psycopg2
import pytest

from certctl_engine.domain import Actor
from certctl_engine.engine import Engine
from certctl_engine.errors import Conflict
from certctl_engine.services.audit import GENESIS_HASH


def _raw_execute(engine: Engine, sql: str) -> None:
    """Tamper with the store behind the engine's back, as an attacker with file access would."""
    location = engine.location
    if location.is_sqlite:
        db = sqlite3.connect(str(location.path))
        db.execute(sql)
        db.commit()
        db.close()
    else:
        conn = psycopg2.connect(host=location.host, port=location.port, user=location.user, dbname=location.database)
        conn.autocommit = True
        conn.cursor().execute(sql)
        conn.close()


def _make_events(engine: Engine, actor: Actor, count: int) -> None:
    for index in range(count):
        engine.ownership.create_team(f"team {index}", actor=actor)


def test_events_chain_from_genesis(engine: Engine, actor: Actor) -> None:
    _make_events(engine, actor, 3)
    events = sorted(engine.audit.list().items, key=lambda e: e.sequence)
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[0].previous_hash == GENESIS_HASH
    assert events[1].previous_hash == events[0].hash
    assert events[2].previous_hash == events[1].hash
    assert all(e.actor == "alice@example.com" and e.action == "create_team" for e in events)
    result = engine.audit.verify()
    assert result.ok and result.events_checked == 3


def test_an_edited_event_is_named(engine: Engine, actor: Actor) -> None:
    _make_events(engine, actor, 6)
    target = next(e for e in engine.audit.list().items if e.sequence == 4)
    _raw_execute(engine, "UPDATE audit_events SET actor = 'mallory' WHERE sequence = 4")
    result = engine.audit.verify()
    assert not result.ok
    assert result.first_broken_sequence == 4
    assert result.first_broken_event_id == target.id
    assert result.events_checked == 3
    assert "changed" in (result.problem or "")


def test_a_deleted_event_is_named(engine: Engine, actor: Actor) -> None:
    _make_events(engine, actor, 5)
    _raw_execute(engine, "DELETE FROM audit_events WHERE sequence = 2")
    result = engine.audit.verify()
    assert not result.ok
    assert result.first_broken_sequence == 3
    assert "deleted" in (result.problem or "")


def test_a_rehashed_forgery_is_still_caught(engine: Engine, actor: Actor) -> None:
    """Recomputing one event's hash after an edit breaks the link to the next event."""
    _make_events(engine, actor, 4)
    from certctl_engine.services.audit import event_hash

    event = next(e for e in engine.audit.list().items if e.sequence == 2)
    forged = event_hash(
        sequence=2,
        previous_hash=event.previous_hash,
        actor="mallory",
        actor_type=str(event.actor_type),
        action=event.action,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        details='{"name":"team 1"}',
        timestamp=event.timestamp,
    )
    _raw_execute(engine, f"UPDATE audit_events SET actor = 'mallory', hash = '{forged}' WHERE sequence = 2")
    result = engine.audit.verify()
    assert result.first_broken_sequence == 3


def test_a_refused_change_writes_no_event(engine: Engine, actor: Actor) -> None:
    engine.ownership.create_team("Platform", actor=actor)
    before = engine.audit.latest_sequence()
    with pytest.raises(Conflict):
        engine.ownership.create_team("Platform", actor=actor)
    assert engine.audit.latest_sequence() == before


def test_the_event_rolls_back_with_its_change(engine: Engine, actor: Actor) -> None:
    """An error after the event is written inside the transaction leaves neither behind."""
    with pytest.raises(RuntimeError), engine.store.write():
        engine.ownership.create_team("Ghost", actor=actor)
        raise RuntimeError("crash after the write")
    assert engine.audit.latest_sequence() == 0
    assert engine.ownership.list_teams() == []


def test_list_filters_and_pages(engine: Engine, actor: Actor) -> None:
    _make_events(engine, actor, 7)
    engine.ownership.create_owner("Bob", actor=Actor("bob"))
    assert [e.actor for e in engine.audit.list(actor="bob").items] == ["bob"]
    assert len(engine.audit.list(action="create_team").items) == 7
    seen: list[int] = []
    cursor = None
    while True:
        page = engine.audit.list(limit=3, cursor=cursor)
        seen.extend(e.sequence for e in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(range(8, 0, -1))


def test_recording_outside_a_transaction_is_a_bug(engine: Engine, actor: Actor) -> None:
    with pytest.raises(RuntimeError, match="inside the write transaction"):
        engine.audit.record(actor, "x", "y", "z")


# --------------------------------------------------------------------------- concurrency


def test_threads_keep_the_chain_linear(engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            _make_events_named(engine, f"t{index}", 15)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = engine.audit.verify()
    assert result.ok and result.events_checked == 90
    assert engine.audit.latest_sequence() == 90


def _make_events_named(engine: Engine, prefix: str, count: int) -> None:
    actor = Actor(prefix)
    for index in range(count):
        engine.ownership.create_team(f"{prefix}-{index}", actor=actor)


def _process_writer(url: str, env: dict[str, str], prefix: str, count: int) -> None:
    with Engine.open(url, env=env) as engine:
        _make_events_named(engine, prefix, count)


def test_processes_keep_the_chain_linear(store_url: str, store_env: dict[str, str]) -> None:
    """Several engines in several processes write to one store at once (SQLite file or PostgreSQL)."""
    Engine.open(store_url, env=store_env).close()  # create the schema and key once
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_writer, args=(store_url, store_env, f"p{i}", 20)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with Engine.open(store_url, env=store_env) as engine:
        result = engine.audit.verify()
        assert result.ok and result.events_checked == 80
        actors = {e.actor for e in engine.audit.list(limit=500).items}
        assert actors == {"p0", "p1", "p2", "p3"}


def test_sqlite_file_edit_detected_after_close(sqlite_engine: Engine, actor: Actor) -> None:
    _make_events(sqlite_engine, actor, 3)
    path = sqlite_engine.location.path
    assert isinstance(path, Path)
    sqlite_engine.close()
    db = sqlite3.connect(path)
    db.execute("""UPDATE audit_events SET details = '{"name":"renamed"}' WHERE sequence = 1""")
    db.commit()
    db.close()
    with Engine.open(str(path), env={"CERTCTL_HOME": str(path.parent)}) as reopened:
        assert reopened.audit.verify().first_broken_sequence == 1
