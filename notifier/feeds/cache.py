"""Cached feeds over the store: what the web server and ``notifier feed export`` call.

Create one :class:`FeedService` per process (``FeedService(store, options)``, see
:func:`options_from`) and call :meth:`FeedService.get` for every request (or
:meth:`FeedService.followed` for a subscriber's calendar of several cases); it
returns the cached bytes while nothing changed. Share the same instance between
the web app and anything else that serves feeds.

How invalidation works: each call runs one cheap query (:data:`FINGERPRINT`: the
newest Change id and the Change count, the Case count and newest Case update).
Every write to an event by :mod:`notifier.tracking.sync` records a Change row, so a sync
by any process (``notifier sync`` beside the daemon) moves the fingerprint and
the very next request sees it. Then only the events named by the new Change rows
are reloaded, only VEVENTs whose inputs changed are serialised again, and the
feeds are re-assembled from cached fragments. Anything unexpected (fewer rows,
ids out of order) falls back to a full reload. Cancelled events that age out of
the feed expire the cached feed by the clock.

Whole feeds are kept in a least-recently-used cache bounded by bytes
(``[feed] cache_mb``), and a ``kinds`` filter is cut down to the kinds that events
actually have, so query strings chosen by a client cannot grow memory: every
value naming no kind maps to the same (empty) feed.

Starting: :meth:`FeedService.warm` renders ``all.ics`` once (the daemon calls it
in the background); :attr:`FeedService.ready` says whether that is done. Callers
that must not wait long pass ``wait=`` and get :class:`FeedBusy` when the cache
is still being built.

Restarts (``persist=True``, the default; :mod:`.restarts` is that side of the
cache): fragments are kept in the database (:mod:`.persist`: the snapshot of
``all.ics`` that :meth:`FeedService.save_snapshot` stores after warming and at
shutdown, with its :mod:`.layout`) and reused only while their digest matches the
rows, so a restart renders only what changed. Until :meth:`FeedService.warm` is
done, ``all.ics`` is served from that snapshot, patched from newer Change rows if
need be (:mod:`.early`, :mod:`.patch`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cachetools import LRUCache

from ..config import Settings
from ..store import Store
from ..timeutil import utcnow
from . import ical, layout, onecopy, persist, rows
from .ical import FeedCase, FeedEvent, FeedOptions, Fragment
from .rendered import MB, FeedBusy, Rendered, Snapshot, options_from
from .restarts import Restarts
from .rows import FINGERPRINT

# (case id, None for all, or a set of case ids for a subscriber's calendar; kinds)
FeedKey = tuple[str | frozenset[str] | None, frozenset[str] | None]
log = logging.getLogger(__name__)


class FeedService:
    """Feeds rendered from the store, cached per event fragment and per whole feed."""

    def __init__(self, store: Store, options: FeedOptions,
                 clock: Callable[[], datetime] = utcnow, *, cache_bytes: int = 64 * MB,
                 persist: bool = True) -> None:
        self.store = store
        self.options = options
        self.clock = clock
        self._lock = threading.RLock()
        self._warm = threading.Event()
        self._fp: tuple[Any, ...] | None = None
        self._version = 0
        self._cases: dict[str, FeedCase] = {}
        self._events: dict[str, FeedEvent] = {}
        self._ordered: tuple[FeedEvent, ...] = ()
        self._undated: dict[str, tuple[str, ...]] = {}
        # uid -> (inputs, fragment, digest): kept while the inputs are equal.
        self._frags: dict[str, tuple[tuple[object, ...], Fragment | None, str]] = {}
        self._kinds: frozenset[str] = frozenset()
        # Bounded by bytes: one feed of a large calendar is megabytes, and the
        # (case, kinds) keys come from query strings.
        self._feeds: LRUCache[FeedKey, Rendered] = LRUCache(
            maxsize=cache_bytes, getsizeof=lambda r: len(r.body))
        # all.ics is kept outside the LRU whatever its size: the cached fragments are
        # views into its body (see _share), so holding it costs no memory of its own.
        self._all: Rendered | None = None
        self.fragments_rendered = 0  # for tests and the benchmark
        self.fragments_reused = 0  # taken from the database after a check of their digest
        self._all_events: list[FeedEvent] = []  # in all.ics, in order (for its layout)
        # What is kept in the database across restarts (None: nothing).
        self._restarts = Restarts(store, options) if persist else None

    @classmethod
    def from_settings(cls, store: Store, settings: Settings,
                      clock: Callable[[], datetime] = utcnow) -> FeedService:
        return cls(store, options_from(settings), clock,
                   cache_bytes=settings.feed.cache_mb * MB)

    @contextmanager
    def _locked(self, wait: float | None) -> Iterator[None]:
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise FeedBusy(f"feed cache busy for more than {wait:g} s")
        try:
            yield
        finally:
            self._lock.release()

    @property
    def cached(self) -> tuple[int, int]:
        """Whole feeds held: (count, bytes)."""
        with self._lock:
            return len(self._feeds), int(self._feeds.currsize)

    # -- start-up ------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once :meth:`warm` has run (whether or not it succeeded)."""
        return self._warm.is_set()

    def warm(self) -> None:
        """Load everything and render ``all.ics``, so that the first subscriber does not
        pay for the full render; then store the snapshot and drop stored fragments of
        events gone. Marks the service ready even when it fails (requests then load
        on demand and report their own errors)."""
        r = self._restarts
        try:
            if r is not None:  # an unchanged all.ics is then kept as stored, not built again
                self._from_snapshot(self.clock())
            self._get(None)
        finally:
            if r is not None:
                with self._lock:
                    r.warmed()  # the fragments no feed needs now
            self._warm.set()
            if r is not None:
                r.early.drop()
        if r is not None:
            try:
                self.save_snapshot()
                persist.prune_fragments(self.store)
            except sa.exc.SQLAlchemyError as e:
                log.warning("feed snapshot not stored (a restart warms up from fragments): %s",
                            e)

    def save_snapshot(self) -> None:
        """Store ``all.ics`` as it is now for the next start (unless stored already).
        Does nothing before :meth:`warm` is done (it stores one itself)."""
        if self._restarts is None or not self.ready:
            return
        with self._lock:
            rendered = self._get(None)
            assert rendered is not None
            keep = self.options.keep_cancelled
            self._restarts.save(rendered, self._fp or (0, 0), self._cases,
                                (layout.row(ev, f, d, keep) for ev in self._all_events
                                 for _, f, d in (self._frags[ev.uid],) if f is not None),
                                self.clock)

    def _from_snapshot(self, now: datetime) -> Rendered | None:
        """``all.ics`` from the stored snapshot while warming (patched if stale)."""
        r = self._restarts
        if r is None or self.ready:
            return None
        got = r.early_feed(now)
        self.fragments_rendered += r.early.take_rendered()
        return got

    # -- freshness -----------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload what changed in the database since the last call; True if anything did."""
        with self._lock:
            with self.store.engine.connect() as conn:
                fp = tuple(conn.execute(FINGERPRINT).one())
                if fp == self._fp:
                    return False
                if self._fp is None or not self._load_changed(conn, self._fp, fp):
                    self._load_all(conn)
                self._fp = fp
            self._rebuild()
            return True

    def _load_all(self, conn: sa.Connection) -> None:
        self._cases = rows.all_cases(conn)
        if self._restarts is not None and not self._frags:  # a start
            self._restarts.load(conn)
        same = rows.same_values({})
        changes = rows.changes_of(conn, None, self.options.history, same)
        self._events = {r.uid: rows.event_of(r, changes.get(r.uid, ()), same)
                        for r in conn.execute(sa.select(rows.EVENT))}

    def _load_changed(self, conn: sa.Connection, old: tuple[Any, ...],
                      new: tuple[Any, ...]) -> bool:
        """Apply only the rows behind a fingerprint move; False means "reload everything"."""
        old_max, old_count = old[0] or 0, old[1]
        newer = rows.uids_changed_since(conn, old_max)
        if (new[0] or 0) < old_max or old_count + len(newer) != new[1]:
            return False  # rows deleted, or committed out of id order: start over
        if old[2:] != new[2:]:
            cases = rows.all_cases(conn)
            # Keep equal objects so unchanged cases' fragments stay valid by identity.
            self._cases = {k: self._cases[k] if self._cases.get(k) == v else v
                           for k, v in cases.items()}
        for ev in rows.events_where(conn, rows.EVENT.c.uid, sorted(set(newer)),
                                    self.options.history):
            self._events[ev.uid] = ev
        return True

    def _rebuild(self) -> None:
        self._version += 1
        self._feeds.clear()
        self._all = None
        if self._restarts is not None:
            self._restarts.rebuilt()
        live = [e for e in self._events.values() if e.case_id in self._cases]
        self._ordered = tuple(sorted(live, key=ical.sort_key))
        self._undated = ical.undated_by_case(live)
        self._kinds = frozenset(e.kind for e in live)

    # -- rendering -----------------------------------------------------------------
    def _fragment(self, ev: FeedEvent) -> Fragment | None:
        case = self._cases[ev.case_id]
        undated = self._undated.get(ev.case_id, ())
        hit = self._frags.get(ev.uid)
        if hit is not None:
            (e, c, u), held, _ = hit
            if (e is ev or e == ev) and (c is case or c == case) and u == undated:
                return held
        r = self._restarts
        digest, frag = r.stored(ev, case, undated) if r is not None else ("", None)
        if frag is not None:
            self.fragments_reused += 1
        else:
            frag = ical.event_fragment(ev, case, undated, self.options)
            self.fragments_rendered += 1
            if frag is not None and r is not None:
                r.rendered(ev.uid, digest, frag)
        self._frags[ev.uid] = ((ev, case, undated), frag, digest)
        return frag

    def get(self, case_id: str | None = None, kinds: frozenset[str] | None = None,
            now: datetime | None = None, *, wait: float | None = None) -> Rendered | None:
        """The feed of every case (``case_id`` None) or one case; None if no such case.

        ``kinds`` None means every kind; kinds no event has are ignored, and when
        none of the asked kinds exists the feed has no events (a subscription made
        before the first sentencing is set keeps working). ``wait`` bounds the
        wait for a cache being built (:class:`FeedBusy`)."""
        if case_id is None and kinds is None and self._restarts is not None and not self.ready:
            early = self._from_snapshot(now or self.clock())
            if early is not None:
                return early
        return self._get(case_id, kinds, now, wait=wait)

    def _get(self, case_id: str | None = None, kinds: frozenset[str] | None = None,
             now: datetime | None = None, *, wait: float | None = None) -> Rendered | None:
        with self._locked(wait):
            self.refresh()
            if case_id is not None and case_id not in self._cases:
                return None
            # Only kinds that exist reach the key and the feed's name: query strings
            # neither mint cache entries nor put their bytes in the calendar. Any case
            # ("Hearing", as CATEGORIES and the pages write it, finds "hearing").
            chosen = None if kinds is None else _matching(kinds, self._kinds)
            return self._cached((case_id, chosen), now or self.clock())

    def followed(self, case_ids: Collection[str], now: datetime | None = None, *,
                 wait: float | None = None) -> Rendered:
        """One feed of several cases (a subscriber's own calendar), cached under the set
        of cases like the others; cases not known (any more) are left out."""
        with self._locked(wait):
            self.refresh()
            wanted = frozenset(c for c in case_ids if c in self._cases)
            return self._cached((wanted, None), now or self.clock())

    def _cached(self, key: FeedKey, now: datetime) -> Rendered:
        hit = self._all if key == (None, None) else self._feeds.get(key)
        if hit and hit.version == self._version and (
                hit.valid_until is None or now < hit.valid_until):
            return hit
        rendered = self._render(key, now)
        if key == (None, None):
            self._all = rendered
        elif len(rendered.body) <= self._feeds.maxsize:
            self._feeds[key] = rendered
        return rendered

    def _render(self, key: FeedKey, now: datetime) -> Rendered:
        case_id, kinds = key
        wanted = case_id if isinstance(case_id, frozenset) else \
            None if case_id is None else frozenset((case_id,))
        keep = self.options.keep_cancelled
        chosen = [e for e in self._ordered
                  if (wanted is None or e.case_id in wanted)
                  and (kinds is None or e.kind in kinds) and ical.in_feed(e, now, keep)]
        pairs = [(e, f) for e in chosen if (f := self._fragment(e)) is not None]
        frags = [f for _, f in pairs]
        if self._restarts is not None:  # before the body is built: less memory held at once
            self._restarts.store_dirty()
        if case_id is None:
            header = ical.all_header(self.options, kinds)
        elif isinstance(case_id, frozenset):
            header = ical.followed_header(self.options)
        else:
            header = ical.case_header(self._cases[case_id], self._undated.get(case_id, ()),
                                      self.options, kinds)
        parts = ical.assemble_parts(header, frags, self.options)
        del frags
        if case_id is None and kinds is None:
            kept = self._restarts.kept if self._restarts is not None else None
            body = layout.same_body(kept, parts) or self._joined(parts, pairs)
            if kept is not None and body is kept.body:
                views = onecopy.fragment_views(body, [len(f.data) for _, f in pairs])
                for i, v in enumerate(views):
                    self._point(pairs, i, v)
            self._all_events = [e for e, _ in pairs]
        else:
            body = b"".join(parts)
        expiries = [t for e in chosen if (t := ical.expires_at(e, keep)) is not None]
        cases = self._cases.values() if wanted is None else [self._cases[c] for c in wanted]
        stamps = [e.updated_at for e in chosen] + [c.updated_at for c in cases if c.updated_at]
        return Rendered(body=body, etag=ical.etag(body),
                        last_modified=max(stamps) if stamps else None,
                        version=self._version, valid_until=min(expiries, default=None))

    def _joined(self, parts: list[bytes | memoryview],
                pairs: list[tuple[FeedEvent, Fragment]]) -> bytes:
        """``all.ics`` joined from ``parts``, each fragment of ``pairs`` then a view into it."""
        try:
            return onecopy.joined(parts, len(pairs), lambda i, v: self._point(pairs, i, v))
        except BaseException:
            self._frags.clear()  # some may have let their bytes go: rendered again
            raise

    def _point(self, pairs: list[tuple[FeedEvent, Fragment]], i: int,
               view: memoryview | None) -> None:
        """Fragment ``i`` of ``pairs`` is now ``view`` (into all.ics): cache that one. None:
        its bytes were copied into the body being built, so let them go meanwhile."""
        ev, f = pairs[i]
        if view is not None and isinstance(f.data, memoryview) and f.data.obj is view.obj:
            return  # a view into the same body already
        key, _, digest = self._frags[ev.uid]
        pairs[i] = (ev, Fragment(b"" if view is None else view, f.tzid, f.years))
        self._frags[ev.uid] = (key, pairs[i][1], digest)

    def snapshot(self, *, wait: float | None = None) -> Snapshot:
        """Current cases and events (refreshed first), for the HTML pages."""
        with self._locked(wait):
            self.refresh()
            return Snapshot(cases=dict(self._cases), events=self._ordered)

    def case_ids(self) -> list[str]:
        with self._lock:
            self.refresh()
            return sorted(self._cases)

    # -- static export -------------------------------------------------------------
    def export(self, out: Path, now: datetime | None = None) -> list[Path]:
        """Write ``all.ics`` and one ``{case}.ics`` per case: the bytes the server serves."""
        now = now or self.clock()
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for case_id in [None, *self.case_ids()]:
            rendered = self.get(case_id, now=now)
            assert rendered is not None
            path = out / f"{case_id or 'all'}.ics"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(rendered.body)
            os.replace(tmp, path)
            written.append(path)
        return written


def _matching(asked: frozenset[str], known: frozenset[str]) -> frozenset[str]:
    """The known kinds among ``asked``, compared without regard to case."""
    folded = {a.casefold() for a in asked}
    return frozenset(k for k in known if k.casefold() in folded)
