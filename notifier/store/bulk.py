"""Many-row INSERTs and UPDATEs at driver speed.

:func:`insert_many` and :func:`update_many` write a list of row dicts as one
``executemany`` (an insert may skip rows whose unique key is stored already). On
SQLite (the ``sqlite3`` driver) the statement goes to the driver directly, with
values encoded here exactly as SQLAlchemy's column types would store them (naive-UTC
``YYYY-MM-DD HH:MM:SS.ffffff`` datetimes, ISO dates): SQLAlchemy's per-value
processing cost more than the inserts themselves for a 100,000-event import. On
PostgreSQL (psycopg 3) inserts are a ``COPY`` (an executemany when skipping), updates
an executemany (psycopg pipelines both); other drivers get ordinary Core statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session

from .models import UTCDateTime

Encode = Callable[[Any], Any] | None


def _utc_text(v: dt.datetime | None) -> str | None:
    if v is None:
        return None
    if v.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _cached(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``f`` remembering its results for one statement (most rows share ``now``)."""
    seen: dict[Any, Any] = {}

    def get(v: Any) -> Any:
        try:
            return seen[v]
        except KeyError:
            out = seen[v] = f(v)
            return out
    return get


def _date_text(v: dt.date | None) -> str | None:
    return None if v is None else v.isoformat()


def _encoder(col: sa.Column[Any]) -> Encode:
    t = col.type
    if isinstance(t, UTCDateTime):
        return _cached(_utc_text)
    if isinstance(t, sa.DateTime):
        raise TypeError(f"{col}: only UTCDateTime columns are encoded here")
    if isinstance(t, sa.Date):
        return _date_text
    if isinstance(t, sa.Boolean):
        return lambda v: None if v is None else int(v)
    return None


def _raw_sqlite(s: Session) -> bool:
    dialect = s.get_bind().dialect
    return dialect.name == "sqlite" and dialect.driver == "pysqlite"


def _tuples(table: sa.Table, cols: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[Any]:
    # Column by column: map() of one encoder over a column runs at C speed.
    columns = []
    for c in cols:
        values = [r[c] for r in rows]
        enc = _encoder(table.c[c])
        columns.append(list(map(enc, values)) if enc else values)
    return list(zip(*columns, strict=True))


def _naive_utc(v: dt.datetime | None) -> dt.datetime | None:
    if v is None:
        return None
    if v.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return v.astimezone(UTC).replace(tzinfo=None)


def _write_postgres(s: Session, table: sa.Table, rows: Sequence[dict[str, Any]],
                    skip_existing: str | None) -> bool:
    """The rows in through psycopg 3: a COPY, or with ``skip_existing`` an ``INSERT ...
    ON CONFLICT DO NOTHING`` executemany (COPY cannot skip; psycopg pipelines it).
    False if the connection is not psycopg 3's."""
    raw: Any = s.connection().connection.driver_connection
    if raw is None or not hasattr(raw, "pipeline"):  # not psycopg 3
        return False
    cols = list(rows[0])
    columns = []
    for c in cols:
        values = [r[c] for r in rows]
        utc = isinstance(table.c[c].type, UTCDateTime)
        columns.append(list(map(_naive_utc, values)) if utc else values)
    names = ", ".join(f'"{c}"' for c in cols)
    with raw.cursor() as cur:
        if skip_existing:
            marks = ", ".join("%s" for _ in cols)
            cur.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) '
                            f'ON CONFLICT ("{skip_existing}") DO NOTHING',
                            list(zip(*columns, strict=True)))
            return True
        with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    return True


def next_ids(s: Session, table: sa.Table, n: int) -> list[int]:
    """``n`` new ids for ``table``'s integer primary key ``id``, to insert explicitly.

    SQLite: max + 1 onwards (what it would assign; no AUTOINCREMENT), so call it inside
    the write transaction, which holds the lock. PostgreSQL: taken from the column's
    sequence, so concurrent inserts never collide.
    """
    if n <= 0:
        return []
    if s.get_bind().dialect.name == "postgresql":
        seq = sa.text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                      "FROM generate_series(1, :n)")
        return [int(i) for i in s.execute(seq, {"n": n}).scalars()]
    start = (s.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1
    return list(range(start, start + n))


def insert_many(s: Session, table: sa.Table, rows: Sequence[dict[str, Any]], *,
                skip_existing: str | None = None) -> None:
    """INSERT every row (all with the same keys): one executemany, or COPY on PostgreSQL.

    With ``skip_existing`` (a column with a unique index), a row whose value there is
    stored already is skipped (``ON CONFLICT DO NOTHING``), an executemany everywhere."""
    if not rows:
        return
    if not _raw_sqlite(s):
        if s.get_bind().dialect.name == "postgresql" and _write_postgres(
                s, table, rows, skip_existing):
            return
        stmt: Any = insert(table)
        if skip_existing:
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            dialect = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            stmt = dialect(table).on_conflict_do_nothing(index_elements=[skip_existing])
        s.execute(stmt, list(rows))
        return
    cols = list(rows[0])
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" for _ in cols)
    skip = f' ON CONFLICT ("{skip_existing}") DO NOTHING' if skip_existing else ""
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}){skip}'
    s.connection().exec_driver_sql(sql, _tuples(table, cols, rows))


def update_many(s: Session, table: sa.Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE the row whose ``key`` column equals each dict's ``key`` value, setting the
    dict's other values (every dict with the same keys), in one executemany."""
    if not rows:
        return
    cols = [c for c in rows[0] if c != key]
    if not _raw_sqlite(s):
        stmt = (update(table).where(table.c[key] == bindparam("b_key"))
                .values({c: bindparam(c) for c in cols}))
        s.execute(stmt, [{**{c: r[c] for c in cols}, "b_key": r[key]} for r in rows])
        return
    sets = ", ".join(f'"{c}" = ?' for c in cols)
    sql = f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = ?'
    s.connection().exec_driver_sql(sql, _tuples(table, [*cols, key], rows))


def detached(model: type[Any], rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Model objects in no session holding ``rows`` (every field given), unvalidated.

    What ``model.model_construct(**row)`` gives, at a tenth of its cost (a 100,000-event
    import returns one Change per event): the row dict becomes the object's ``__dict__``
    and pydantic's bookkeeping attributes are set as ``model_construct`` sets them.
    """
    configure_mappers()  # reading a detached object's attributes needs the mappers
    new, put = object.__new__, object.__setattr__
    out = []
    for row in rows:
        obj = new(model)
        put(obj, "__dict__", row)
        put(obj, "__pydantic_fields_set__", set(row))
        put(obj, "__pydantic_extra__", None)
        put(obj, "__pydantic_private__", None)
        out.append(obj)
    return out


def select_in(s: Session, stmt: sa.Select[Any], column: sa.ColumnElement[Any],
              keys: Sequence[Any], chunk: int = 500) -> list[Any]:
    """The rows of ``stmt`` whose ``column`` is one of ``keys``.

    PostgreSQL: one query, the keys sent as one array parameter (``= ANY``), however
    many; elsewhere one ``IN`` per ``chunk`` keys (SQLite's bound-variable limit).
    """
    if not keys:
        return []
    if s.get_bind().dialect.name == "postgresql":
        param = sa.bindparam("keys", list(keys), type_=sa.ARRAY(column.type))
        return list(s.execute(stmt.where(column == sa.any_(param))))
    out: list[Any] = []
    for i in range(0, len(keys), chunk):
        out += s.execute(stmt.where(column.in_(keys[i:i + chunk])))
    return out
