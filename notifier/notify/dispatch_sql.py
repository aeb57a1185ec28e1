"""The dispatcher's per-message SQL: claim due rows, read the event as it is now,
record one outcome.

These run once per message sent (a claim per batch; a read and a recorded outcome
per message), each in its own transaction. :func:`for_writer` gives the right
implementation for a :class:`~notifier.store.LaneWriter`:

- :class:`CoreLane` (any database): :func:`notifier.notify.outbox.claim`,
  :func:`notifier.notify.outbox.finish` and Core selects through SQLAlchemy;
- :class:`SqliteLane`: the same statements run on the lane's ``sqlite3``
  connection itself. Through SQLAlchemy's execution layer (statement cache,
  parameter and result processing, ORM loading, transaction events) they cost more
  CPU than the SQL: most of the dispatcher's own time per message. Values are
  converted with the columns' own SQLAlchemy bind and result processors, so what
  is stored and read back is the same as through SQLAlchemy
  (``tests/test_dispatch_sql.py`` runs both paths on the same rows and compares them).

Rows come back as read-only model objects in no session (``model_construct``):
reading attributes works; changes are written with statements, never through them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import configure_mappers

from ..store import LaneWriter
from ..store.models import WAITING, Case, Event, Notification, UTCDateTime
from . import outbox
from .planner import REMINDABLE

UPCOMING = 10  # how many of a case's next events EventNow.upcoming holds
# Date-only events are looked for from this long before now: a trial over several
# days that started yesterday is not over. Timed events that have ended are left out.
LOOKBACK = timedelta(days=2)
ET = Event.__table__  # type: ignore[attr-defined]
CT = Case.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EventNow:
    """An event as stored now, its case, and the case's next events."""

    event: Event
    case: Case
    _rows: Sequence[Any]  # the next events' rows, built into Events only when read
    _build: Callable[[Any], Event]

    def upcoming(self) -> Iterator[Event]:
        """The case's dated, scheduled or tentative, not removed events from
        :data:`LOOKBACK` before now, less the timed ones that have ended, in time
        order (at most :data:`UPCOMING`). Date-only ones may be over: check with
        :func:`notifier.notify.planner.is_over`."""
        return map(self._build, self._rows)


def _event_model(values: Any) -> Event:
    return Event.model_construct(**values)


class Lane(Protocol):
    """Claims, reads and records for one dispatcher lane (one thread)."""

    def event_now(self, uid: str, now: datetime) -> EventNow | None:
        ...

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


def _upcoming(now: datetime) -> Any:
    return (select(ET).where(ET.c.case_id == bindparam("case_id"), ET.c.removed_at.is_(None),
                             ET.c.status.in_(REMINDABLE), ET.c.sort_utc > now - LOOKBACK,
                             or_(ET.c.start_utc.is_(None),
                                 func.coalesce(ET.c.end_utc, ET.c.start_utc) > now))
            .order_by(ET.c.sort_utc).limit(UPCOMING))


class CoreLane:
    """Claims, reads and records through SQLAlchemy (:mod:`notifier.notify.outbox`)."""

    def __init__(self, writer: LaneWriter) -> None:
        self.writer = writer
        configure_mappers()

    def event_now(self, uid: str, now: datetime) -> EventNow | None:
        with self.writer.store.read() as s:
            ev = s.execute(select(ET).where(ET.c.uid == uid)).mappings().first()
            case = s.execute(select(CT).where(CT.c.id == ev["case_id"])).mappings().first() \
                if ev is not None else None
            if ev is None or case is None:
                return None
            nxt = s.execute(_upcoming(now), {"case_id": case["id"]}).mappings().all()
        return EventNow(_event_model(ev), Case.model_construct(**case), nxt, _event_model)

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
        self._notification = _Rows(outbox.NT, Notification, dialect)
        self._event = _Rows(ET, Event, dialect)
        self._case = _Rows(CT, Case, dialect)
        cols = ", ".join(self._event.names)
        statuses = ", ".join(f"'{x}'" for x in REMINDABLE)
        self._event_sql = f"SELECT {cols} FROM event WHERE uid = ?"
        self._case_sql = f'SELECT {", ".join(self._case.names)} FROM "case" WHERE id = ?'
        self._upcoming_sql = (
            f"SELECT {cols} FROM event WHERE case_id = ? AND removed_at IS NULL "
            f"AND status IN ({statuses}) AND sort_utc > ? "
            "AND (start_utc IS NULL OR COALESCE(end_utc, start_utc) > ?) "
            f"ORDER BY sort_utc LIMIT {UPCOMING}")
        self._claims: dict[tuple[bool, int], str] = {}
        configure_mappers()  # reading a model's attributes needs them

    def event_now(self, uid: str, now: datetime) -> EventNow | None:
        after, at = self._time(now - LOOKBACK), self._time(now)

        def work(db: sqlite3.Connection) -> EventNow | None:
            ev = db.execute(self._event_sql, (uid,)).fetchone()
            case = db.execute(self._case_sql, (ev[self._event.index["case_id"]],)).fetchone() \
                if ev is not None else None
            if ev is None or case is None:
                return None
            nxt = db.execute(self._upcoming_sql,
                             (case[self._case.index["id"]], after, at)).fetchall()
            return EventNow(self._event.build(ev), self._case.build(case), nxt,
                            self._event.build)

        return self.writer.run_driver(work, write=False)

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
                f"ORDER BY {outbox.PRIORITY_SQL}, next_attempt_at LIMIT :limit) "
                f"RETURNING {', '.join(self._notification.names)}")
        return sql

    def claim(self, now: datetime, lease: timedelta, limit: int, *,
              channel: str | None = None, exclude: Sequence[str] = ()) -> list[Notification]:
        sql = self._claim_sql(channel is not None, 0 if channel is not None else len(exclude))
        params: dict[str, Any] = {"now": self._time(now), "until": self._time(now + lease),
                                  "limit": limit, "channel": channel}
        if channel is None:
            params.update({f"x{i}": name for i, name in enumerate(exclude)})
        def work(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return db.execute(sql, params).fetchall()

        rows = [self._notification.build(raw) for raw in self.writer.run_driver(work)]
        rows.sort(key=outbox.claim_order)
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
            done = bool(db.execute(outbox.FINISH_SQL, row).rowcount)
            recorded = db.execute(outbox.PRIOR_SQL, delivery).fetchone()[0] \
                if n.attempts > 1 else 0
            repeat = outbox.possible_repeat(n.attempts, recorded, done)
            db.execute(outbox.DELIVERY_SQL, {**delivery, "repeat": int(repeat)})
            return done

        return self.writer.run_driver(work)


class _Rows:
    """Builds read-only model objects from a table's raw driver rows (all columns, in
    table order), converting values with the columns' SQLAlchemy result processors."""

    def __init__(self, table: Any, model: Any, dialect: Dialect) -> None:
        self.model = model
        self.names = [c.name for c in table.c]
        self.index = {name: i for i, name in enumerate(self.names)}
        self._procs = [(c.name, c.type.dialect_impl(dialect).result_processor(dialect, None))
                       for c in table.c]

    def build(self, raw: Sequence[Any]) -> Any:
        return self.model.model_construct(**{
            name: (proc(v) if proc is not None else v)
            for (name, proc), v in zip(self._procs, raw, strict=True)})


def _bind(type_: Any, dialect: Dialect) -> Callable[[Any], Any]:
    proc = type_.dialect_impl(dialect).bind_processor(dialect)
    return proc if proc is not None else (lambda v: v)
