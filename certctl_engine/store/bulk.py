"""Writing many rows with one prepared statement.

Peewee builds the SQL of every row it inserts or updates; for a batch of hundreds that
costs more than the database's own work. Here the statement is written once from the
model's metadata and run with the driver's ``executemany``, each value still passing
through its field's ``db_value`` so stored values are exactly what Peewee would store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import peewee

# The driver's exceptions turned into Peewee's (IntegrityError and the rest), as Peewee's own
# statements raise them, so callers catch one family whichever path wrote.
_driver_errors = peewee.__exception_wrapper__


def _quote(database: peewee.Database, name: str) -> str:
    quote = database.quote
    return f"{quote[0]}{name}{quote[1]}"


def _fields(model: type[peewee.Model], names: Sequence[str]) -> list[peewee.Field]:
    try:
        return [model._meta.fields[name] for name in names]
    except KeyError as exc:
        raise ValueError(f"{model.__name__} has no field {exc.args[0]!r}") from None


def insert_rows(database: peewee.Database, model: type[peewee.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT every row (all rows have the same keys, the model's field names; the others get their defaults)."""
    if not rows:
        return
    given = list(rows[0])
    # Columns left out get the model's default, as Peewee's own insert would give them.
    defaults = {
        name: field.default
        for name, field in model._meta.fields.items()
        if name not in given and field.default is not None
    }
    names = [*given, *defaults]
    fields = _fields(model, names)
    columns = ", ".join(_quote(database, f.column_name) for f in fields)
    marks = ", ".join([database.param] * len(fields))
    sql = f"INSERT INTO {_quote(database, model._meta.table_name)} ({columns}) VALUES ({marks})"

    def value(row: Mapping[str, Any], name: str) -> Any:
        if name in row:
            return row[name]
        default = defaults[name]
        return default() if callable(default) else default

    params = [tuple(f.db_value(value(row, n)) for f, n in zip(fields, names, strict=True)) for row in rows]
    with _driver_errors:
        database.cursor().executemany(sql, params)


def update_rows(
    database: peewee.Database,
    model: type[peewee.Model],
    key: str,
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """UPDATE each row matched by its ``key`` field with its other fields; returns rows changed."""
    if not rows:
        return 0
    names = [n for n in rows[0] if n != key]
    fields = _fields(model, names)
    key_field = _fields(model, [key])[0]
    assignments = ", ".join(f"{_quote(database, f.column_name)} = {database.param}" for f in fields)
    sql = (
        f"UPDATE {_quote(database, model._meta.table_name)} SET {assignments} "
        f"WHERE {_quote(database, key_field.column_name)} = {database.param}"
    )
    params = [
        (*(f.db_value(row[n]) for f, n in zip(fields, names, strict=True)), key_field.db_value(row[key]))
        for row in rows
    ]
    cursor = database.cursor()
    with _driver_errors:
        cursor.executemany(sql, params)
    return cursor.rowcount


def select_in(
    database: peewee.Database,
    model: type[peewee.Model],
    columns: Sequence[str],
    key: str,
    values: Sequence[Any],
) -> list[tuple[Any, ...]]:
    """Rows whose ``key`` is one of ``values``, as tuples of ``columns`` in Python form.

    One statement with a placeholder per value (callers pass batches of a few hundred).
    """
    if not values:
        return []
    fields = _fields(model, columns)
    key_field = _fields(model, [key])[0]
    names = ", ".join(_quote(database, f.column_name) for f in fields)
    marks = ", ".join([database.param] * len(values))
    sql = (
        f"SELECT {names} FROM {_quote(database, model._meta.table_name)} "
        f"WHERE {_quote(database, key_field.column_name)} IN ({marks})"
    )
    cursor = database.execute_sql(sql, [key_field.db_value(v) for v in values])
    converters = [f.python_value for f in fields]
    return [tuple(convert(value) for convert, value in zip(converters, row, strict=True)) for row in cursor]
