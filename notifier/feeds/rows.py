"""Rows of the store read as feed data: cases, events and their recent changes.

:mod:`.cache` (the running feed cache) and :mod:`.patch` (a restart after an offline
change) read through these; nothing here keeps state. :data:`FINGERPRINT` is the one
cheap query whose answer moves whenever a feed may have changed: every write to an
event records a Change row, and cases are counted and their newest update taken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from ..store.models import Case, Change, Event
from .ical import FeedCase, FeedChange, FeedEvent

FINGERPRINT = sa.text(
    'SELECT (SELECT max(id) FROM change), (SELECT count(*) FROM change), '
    '(SELECT count(*) FROM "case"), (SELECT max(updated_at) FROM "case")'
)
CASE: sa.Table = Case.__table__  # type: ignore[attr-defined]
EVENT: sa.Table = Event.__table__  # type: ignore[attr-defined]
CHANGE: sa.Table = Change.__table__  # type: ignore[attr-defined]
CHUNK = 500


def chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    """``items`` in pieces small enough for an ``IN (...)`` on every database."""
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def case_of(row: Any) -> FeedCase:
    return FeedCase(id=row.id, title=row.title, timezone=row.timezone, court=row.court,
                    judge=row.judge, url=row.url, updated_at=row.updated_at)


def all_cases(conn: sa.Connection) -> dict[str, FeedCase]:
    return {r.id: case_of(r) for r in conn.execute(sa.select(CASE))}


def same_values(pool: dict[Any, Any]) -> Callable[[Any], Any]:
    """One shared object per equal value: a court's 100,000 events repeat a few case
    ids, kinds, statuses and sync times, each otherwise its own object in memory."""
    def same(value: Any) -> Any:
        return pool.setdefault(value, value)
    return same


def _as_is(value: Any) -> Any:
    return value


def event_of(row: Any, changes: tuple[FeedChange, ...],
             same: Callable[[Any], Any] = _as_is) -> FeedEvent:
    # Dates and times repeat (a court sits on a few hundred days, at a few times of day),
    # and so do judges and links; titles, places and notes mostly do not.
    start = same(row.start_utc)
    return FeedEvent(
        uid=row.uid, case_id=same(row.case_id), event_id=row.event_id, kind=same(row.kind),
        title=row.title, status=same(row.status), date=same(row.date),
        end_date=same(row.end_date), start_utc=start, end_utc=same(row.end_utc),
        sort_utc=start if row.sort_utc == start else same(row.sort_utc),
        location=row.location, notes=row.notes, url=same(row.url), judge=same(row.judge),
        sequence=row.sequence, removed_at=row.removed_at, created_at=same(row.created_at),
        updated_at=same(row.updated_at), changes=changes)


def changes_of(conn: sa.Connection, uids: Sequence[str] | None, keep: int,
               same: Callable[[Any], Any] = _as_is) -> dict[str, tuple[FeedChange, ...]]:
    """The newest ``keep`` changes of the given events (all events for None)."""
    if keep <= 0:
        return {}
    ct = CHANGE
    q = sa.select(ct.c.event_uid, ct.c.at, ct.c.summary).order_by(
        ct.c.event_uid, ct.c.at.desc(), ct.c.id.desc())
    out: dict[str, list[FeedChange]] = {}
    queries = [q] if uids is None else [q.where(ct.c.event_uid.in_(c)) for c in chunks(uids)]
    for query in queries:
        for uid, at, text in conn.execute(query):
            got = out.setdefault(uid, [])
            if len(got) < keep:
                got.append(FeedChange(same(at), same(text)))
    return {k: tuple(v) for k, v in out.items()}


def events_where(conn: sa.Connection, column: sa.Column[Any], values: Sequence[str],
                 keep: int) -> list[FeedEvent]:
    """The events whose ``column`` (``uid`` or ``case_id``) is one of ``values``, with
    their recent changes."""
    rows = [r for chunk in chunks(values)
            for r in conn.execute(sa.select(EVENT).where(column.in_(chunk)))]
    changes = changes_of(conn, sorted(r.uid for r in rows), keep)
    return [event_of(r, changes.get(r.uid, ())) for r in rows]


def uids_changed_since(conn: sa.Connection, after: int) -> list[str]:
    """The event uids of every Change row with an id above ``after`` (one per row)."""
    ct = CHANGE
    return list(conn.execute(sa.select(ct.c.event_uid).where(ct.c.id > after)).scalars())
