"""Prepared-statement bulk writes store exactly what Peewee would, and raise what Peewee raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee
import pytest

from certctl_engine.engine import Engine
from certctl_engine.store.bulk import insert_rows, select_in, update_rows
from certctl_engine.store.models import TeamModel

T0 = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def _rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"team-{i}",
            "name": f"Team {i}",
            "description": "",
            "created_at": T0 + timedelta(hours=i),
            "updated_at": T0,
        }
        for i in range(count)
    ]


def test_rows_round_trip_through_peewee(engine: Engine) -> None:
    db = engine.store.database
    with engine.store.write():
        insert_rows(db, TeamModel, _rows(3))
    # Peewee reads back exactly what was written, time zone and microseconds included.
    stored = {t.id: t for t in TeamModel.select().where(TeamModel.id.startswith("team-"))}
    assert set(stored) == {"team-0", "team-1", "team-2"}
    assert stored["team-2"].created_at == T0 + timedelta(hours=2)
    assert stored["team-2"].name == "Team 2"

    with engine.store.write():
        changed = update_rows(db, TeamModel, "id", [{"id": "team-1", "name": "Renamed"}, {"id": "nope", "name": "x"}])
    assert changed == 1
    assert TeamModel.get_by_id("team-1").name == "Renamed"
    assert TeamModel.get_by_id("team-0").name == "Team 0"

    found = select_in(db, TeamModel, ("id", "created_at"), "id", ["team-0", "team-2", "missing"])
    assert sorted(found) == [("team-0", T0), ("team-2", T0 + timedelta(hours=2))]
    assert select_in(db, TeamModel, ("id",), "id", []) == []


def test_a_clash_raises_peewees_integrity_error_and_writes_nothing(engine: Engine) -> None:
    db = engine.store.database
    with engine.store.write():
        insert_rows(db, TeamModel, _rows(1))
    clash = [*_rows(2)[1:], {**_rows(1)[0], "id": "team-other"}]  # same unique name as team-0
    with pytest.raises(peewee.IntegrityError), engine.store.write():
        insert_rows(db, TeamModel, clash)
    assert TeamModel.select().where(TeamModel.id.in_(["team-1", "team-other"])).count() == 0


def test_unknown_field_is_named(engine: Engine) -> None:
    with pytest.raises(ValueError, match="TeamModel has no field 'colour'"):
        insert_rows(engine.store.database, TeamModel, [{"id": "t", "colour": "red"}])


def test_left_out_columns_get_the_models_defaults(engine: Engine) -> None:
    with engine.store.write():
        insert_rows(engine.store.database, TeamModel, [{"id": "team-d", "name": "Defaults"}])
    row = TeamModel.get_by_id("team-d")
    assert row.description == "" and row.created_at is not None and row.updated_at is not None
