"""The dispatcher's per-message SQL: claim due rows, record one outcome.

These two operations run once per message sent (a claim per batch, a recorded
outcome per message), each in its own committed transaction. :func:`for_writer`
gives the right implementation for a :class:`~notifier.store.LaneWriter`:

- :class:`CoreLane` (any database): :func:`notifier.outbox.claim` and
  :func:`notifier.outbox.finish` through SQLAlchemy on the lane's connection;
- :class:`SqliteLane`: the same statements run on the ``sqlite3`` connection
  itself. Through SQLAlchemy's execution layer (statement cache, parameter and
  result processing, transaction events) they cost more CPU than the SQL: about
  half of the dispatcher's own time per message. Values are converted with the
  columns' own SQLAlchemy bind and result processors, so what is stored and read
  back is the same as through SQLAlchemy (``tests/test_lanesql.py`` runs both
  paths on the same rows and compares every column).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import configure_mappers

from . import outbox
from .models import WAITING, Notification, UTCDateTime
from .store import LaneWriter


class Lane(Protocol):
    """Claims and records for one dispatcher lane (one thread)."""

    def claim(self, now: datetime, lease: timedelta, limit: int, *,
              channel: str | None = None, exclude: Sequence[str] = ()) -> list[Notification]:
        ...

    def finish(self, n: Notification, now: datetime, status: str, *,
               held: datetime | None = None, error: str | None = None,
               retry_at: datetime | None = None, late: bool = False,
               outcome: str | None = None, duration_ms: int = 0) -> bool:
        ...


def for_writer(writer: LaneWriter) -> Lane:
    """The fastest correct :class:`Lane` for this writer's database."""
    if writer.dialect.name == "sqlite" and writer.dialect.driver == "pysqlite":
        return SqliteLane(writer)
    return CoreLane(writer)


class CoreLane:
    """Claims and records through SQLAlchemy (:mod:`notifier.outbox`)."""

    def __init__(self, writer: LaneWriter) -> None:
        self.writer = writer

    def claim(self, now: datetime, lease: timedelta, limit: int, *,
              channel: str | None = None, exclude: Sequence[str] = ()) -> list[Notification]:
        return self.writer.run(lambda conn: outbox.claim(conn, now, lease, limit,
                                                         channel=channel, exclude=exclude))

    def finish(self, n: Notification, now: datetime, status: str, **kw: Any) -> bool:
        return self.writer.run(lambda conn: outbox.finish(conn, n, now, status, **kw))


_DUE = ("((status IN ({waiting}) AND next_attempt_at <= :now) "
        "OR (status = 'sending' AND claimed_until < :now))").format(
    waiting=", ".join(f"'{w}'" for w in WAITING))


class SqliteLane:
    """Claims and records with the ``sqlite3`` driver directly (same SQL as
    :func:`outbox.claim` / :func:`outbox.finish` on SQLite)."""

    def __init__(self, writer: LaneWriter) -> None:
        self.writer = writer
        dialect = writer.dialect
        self._time = _bind(UTCDateTime(), dialect)
        self._columns = [c.name for c in outbox.NT.c]
        self._results = [(c.name, c.type.dialect_impl(dialect).result_processor(dialect, None))
                         for c in outbox.NT.c]
        self._claims: dict[tuple[bool, int], str] = {}
        configure_mappers()  # reading a Notification's attributes needs them

    def _claim_sql(self, channel: bool, exclude: int) -> str:
        key = (channel, exclude)
        sql = self._claims.get(key)
        if sql is None:
            where = _DUE
            if channel:
                where = f"channel = :channel AND {where}"
            elif exclude:
                names = ", ".join(f":x{i}" for i in range(exclude))
                where = f"channel NOT IN ({names}) AND {where}"
            # Unlike outbox.claim, the UPDATE does not test ``where`` again: in one
            # BEGIN IMMEDIATE transaction nothing writes between the pick and the
            # update, and with that test SQLite walked every due row a second time.
            sql = self._claims[key] = (
                "UPDATE notification SET status = 'sending', claimed_until = :until, "
                "attempts = attempts + 1, updated_at = :now "
                f"WHERE id IN (SELECT id FROM notification WHERE {where} "
                f"ORDER BY next_attempt_at LIMIT :limit) RETURNING {', '.join(self._columns)}")
        return sql

    def claim(self, now: datetime, lease: timedelta, limit: int, *,
              channel: str | None = None, exclude: Sequence[str] = ()) -> list[Notification]:
        sql = self._claim_sql(channel is not None, 0 if channel is not None else len(exclude))
        params: dict[str, Any] = {"now": self._time(now), "until": self._time(now + lease),
                                  "limit": limit, "channel": channel}
        if channel is None:
            params.update({f"x{i}": name for i, name in enumerate(exclude)})
        results = self._results

        def work(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return db.execute(sql, params).fetchall()

        rows = [Notification.model_construct(**{
            name: (proc(v) if proc is not None else v)
            for (name, proc), v in zip(results, raw, strict=True)})
            for raw in self.writer.run_driver(work)]
        rows.sort(key=lambda n: (n.next_attempt_at, n.id or 0))
        return rows

    def finish(self, n: Notification, now: datetime, status: str, *,
               held: datetime | None = None, error: str | None = None,
               retry_at: datetime | None = None, late: bool = False,
               outcome: str | None = None, duration_ms: int = 0) -> bool:
        at = self._time(now)
        lease = held if held is not None else n.claimed_until
        row = {"id": n.id, "status": status, "now": at, "error": error, "late": int(late),
               "sent_at": at if status == "sent" else None,
               "retry_at": self._time(retry_at) if retry_at is not None else None,
               "held": self._time(lease) if lease is not None else None}
        delivery = {"nid": n.id or 0, "channel": n.channel, "at": at,
                    "outcome": outcome or status, "error": error, "ms": duration_ms}

        def work(db: sqlite3.Connection) -> bool:
            cur = db.execute(outbox.FINISH_SQL, row)
            db.execute(outbox.DELIVERY_SQL, delivery)
            return bool(cur.rowcount)

        return self.writer.run_driver(work)


def _bind(type_: Any, dialect: Dialect) -> Callable[[Any], Any]:
    proc = type_.dialect_impl(dialect).bind_processor(dialect)
    return proc if proc is not None else (lambda v: v)
