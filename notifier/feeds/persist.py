"""Feed pieces kept in the database, so that a restarted daemon serves at once.

:class:`~notifier.feeds.cache.FeedService` calls these through :mod:`.restarts`;
nothing else needs to.

- **Fragments** (table ``feed_fragment``): each event's serialised VEVENT with a
  :func:`fragment_digest` of everything its bytes depend on (the event and its
  recent changes, its case, the case's undated events, the feed options and
  :func:`code_version`). A restart loads them and reuses one only when the digest
  computed from the rows *now* is equal; any other is rendered again, never served.
- **Snapshot** (table ``feed_snapshot``): the whole ``all.ics`` as last rendered,
  keyed by :func:`snapshot_key` (the cache's data fingerprint, the options and the
  code version). While a restarted daemon is still warming up, ``all.ics`` is
  served from it if the key computed now is the same, i.e. no change was recorded
  since it was stored; the fingerprint is the one the running cache trusts. Its
  :mod:`.layout` says where each fragment lies in it, so that a restart takes
  fragments as slices of it and patches it after offline changes (:mod:`.patch`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import io
import operator
import zlib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import icalendar
import sqlalchemy as sa

from .. import __version__, specs, timeutil
from ..store import Store
from ..store.models import FeedFragment, FeedSnapshot
from ..tracking import diff
from . import ical, vtimezone
from .ical import FeedCase, FeedEvent, FeedOptions, Fragment

FT: sa.Table = FeedFragment.__table__  # type: ignore[attr-defined]
ST: sa.Table = FeedSnapshot.__table__  # type: ignore[attr-defined]
_BATCH = 2000
_PIECE = 1 << 20  # bytes of a snapshot's body compressed at a time
ALL = "all"


def _blake(*parts: bytes) -> Any:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p)
    return h


def _tzdata_version() -> str:
    """The zone data in use: a new release can move local times, hence the bytes."""
    try:
        return importlib.metadata.version("tzdata")
    except importlib.metadata.PackageNotFoundError:
        pass
    for base in zoneinfo.TZPATH:
        try:
            with open(Path(base) / "tzdata.zi", encoding="ascii") as f:
                return f.readline().strip()
        except OSError:
            continue
    return "unknown"


@functools.cache
def code_version() -> str:
    """A digest of the code and data that shape the bytes of a feed: the source of
    the modules that render it, the versions of notifier and icalendar, the zone data.
    Editing any of them invalidates every stored fragment and snapshot."""
    h = _blake()
    for mod in (ical, vtimezone, specs, diff, timeutil):
        h.update(Path(mod.__file__ or "").read_bytes())
    h.update(f"{__version__}|{icalendar.__version__}|{_tzdata_version()}".encode())
    return str(h.hexdigest())


def _options(opts: FeedOptions) -> bytes:
    return f"{code_version()}|{opts!r}".encode()


def options_digest(opts: FeedOptions) -> str:
    """The options and code version a stored piece was made with, as one digest."""
    return str(_blake(_options(opts)).hexdigest())


def case_context(opts: FeedOptions, case: FeedCase, undated: tuple[str, ...]) -> bytes:
    """The part of a fragment's digest shared by the events of one case."""
    return bytes(_blake(_options(opts), repr(case).encode(), repr(undated).encode()).digest())


# Every field but ``changes``, read at once: a tuple's repr costs half a dataclass's.
_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(FeedEvent)
                                if f.name != "changes"))


def fragment_digest(context: bytes, ev: FeedEvent) -> str:
    """What a stored fragment must match to be served: ``context`` from
    :func:`case_context` and every field of the event (its changes included)."""
    values = (_FIELDS(ev), [(c.at, c.summary) for c in ev.changes])
    return str(_blake(context, repr(values).encode()).hexdigest())


def snapshot_key(opts: FeedOptions, fingerprint: tuple[Any, ...]) -> str:
    return str(_blake(_options(opts), repr(fingerprint).encode()).hexdigest())


# -- fragments -------------------------------------------------------------------------
def load_fragments(conn: sa.Connection) -> dict[str, tuple[str, Fragment]]:
    """Every stored fragment: uid -> (digest, fragment). Not yet checked."""
    rows = conn.execute(sa.select(FT.c.uid, FT.c.digest, FT.c.data, FT.c.tzid,
                                  FT.c.first_year, FT.c.last_year))
    return {uid: (digest, Fragment(bytes(data), tzid, (y0, y1)))
            for uid, digest, data, tzid, y0, y1 in rows}


def save_fragments(store: Store, items: Mapping[str, tuple[str, Fragment]]) -> None:
    """Insert or replace fragments (uid -> (digest, fragment))."""
    if not items:
        return
    uids = list(items)
    with store.write() as s:
        stmt: Any = _insert(s.get_bind().dialect.name, FT)
        stmt = stmt.on_conflict_do_update(index_elements=["uid"], set_={
            c: stmt.excluded[c] for c in ("digest", "data", "tzid", "first_year", "last_year")})
        for i in range(0, len(uids), _BATCH):  # in batches: a first start stores 100,000
            s.execute(stmt, [{"uid": uid, "digest": d, "data": f.data, "tzid": f.tzid,
                              "first_year": f.years[0], "last_year": f.years[1]}
                             for uid in uids[i:i + _BATCH] for d, f in (items[uid],)])


def prune_fragments(store: Store) -> None:
    """Delete the fragments of events no longer stored."""
    et = sa.table("event", sa.column("uid"))
    with store.write() as s:
        s.execute(sa.delete(FT).where(FT.c.uid.not_in(sa.select(et.c.uid))))


def _insert(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(table)


# -- snapshot --------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredFeed:
    key: str
    body: bytes
    etag: str
    last_modified: datetime | None
    valid_until: datetime | None
    layout: bytes | None = None  # compressed :class:`.layout.Layout`, if stored with it


def snapshot_key_stored(conn: sa.Connection, name: str = ALL) -> str | None:
    """The key of the stored snapshot (None without one, or one stored without a layout:
    then it is stored again, with one)."""
    return conn.execute(sa.select(ST.c.key).where(ST.c.name == name,
                                                  ST.c.layout.is_not(None))).scalar()


def load_snapshot(conn: sa.Connection, key: str | None, name: str = ALL) -> StoredFeed | None:
    """The stored feed ``name`` if it was stored under ``key`` (any key for None)."""
    query = sa.select(ST).where(ST.c.name == name)
    row = conn.execute(query if key is None else query.where(ST.c.key == key)).first()
    if row is None:
        return None
    try:
        body = zlib.decompress(row.body)
    except zlib.error:  # damaged: the warm-up builds the feed instead
        return None
    return StoredFeed(row.key, body, row.etag, row.last_modified, row.valid_until, row.layout)


def _compressed(data: bytes) -> bytes:
    """``data`` deflated (level 1) piece by piece into a buffer grown as written: its
    compressed blocks are not all held a second time to be joined at the end."""
    z, out, view = zlib.compressobj(1), io.BytesIO(), memoryview(data)
    for i in range(0, len(view), _PIECE):
        out.write(z.compress(view[i:i + _PIECE]))
    out.write(z.flush())
    return out.getvalue()


def save_snapshot(store: Store, feed: StoredFeed, now: datetime, name: str = ALL) -> None:
    # Compressed (80 MB of iCalendar text -> a tenth): less to write, to copy into the
    # database driver and for PRAGMA quick_check to read.
    body = _compressed(feed.body)
    with store.write() as s:
        s.execute(sa.delete(ST).where(ST.c.name == name))
        raw: Any = s.connection().connection.driver_connection
        # SQLite: the body written in place into a blob of its size, not bound as a
        # parameter (copied by the driver, then into a record: two more copies).
        in_place = s.get_bind().dialect.name == "sqlite" and hasattr(raw, "blobopen")
        s.execute(sa.insert(ST).values(name=name, key=feed.key,
                                       body=sa.func.zeroblob(len(body)) if in_place else body,
                                       etag=feed.etag, last_modified=feed.last_modified,
                                       valid_until=feed.valid_until, stored_at=now,
                                       layout=feed.layout))
        if in_place:
            rowid = s.execute(sa.text("SELECT rowid FROM feed_snapshot WHERE name = :n"),
                              {"n": name}).scalar_one()
            view = memoryview(body)
            with raw.blobopen("feed_snapshot", "body", rowid) as blob:
                for i in range(0, len(view), _PIECE):
                    blob.write(view[i:i + _PIECE])
