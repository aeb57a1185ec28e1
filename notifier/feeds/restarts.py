"""The feed cache's side of restarts: what it reuses from earlier runs and keeps for later.

:class:`~notifier.feeds.cache.FeedService` holds one :class:`Restarts` when it
persists (``persist=True``, the default) and asks it, for each VEVENT it needs, for
:meth:`Restarts.stored`: the fragment an earlier run stored, reused only while its
digest equals the one computed from the rows now (:mod:`.persist`). Fragments it
renders instead are noted with :meth:`Restarts.rendered` and written by
:meth:`Restarts.store_dirty`. At a start, the stored snapshot of ``all.ics`` is served
until the warm-up is done (:meth:`Restarts.early_feed`, patched from newer Change rows
if need be: :mod:`.early`, :mod:`.patch`), and its :mod:`.layout` lets the warm-up take
fragments as slices of its body (:meth:`Restarts.load`). :meth:`Restarts.save` stores
``all.ics`` with its layout again, after the warm-up and at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..store import Store
from . import layout, onecopy, persist
from .early import EarlyFeed
from .ical import FeedCase, FeedEvent, FeedOptions, Fragment
from .layout import Layout
from .persist import StoredFeed
from .rendered import Rendered

# The cache's log: these lines are about the feeds it serves.
log = logging.getLogger("notifier.feeds.cache")


class Restarts:
    """Fragments and the ``all.ics`` snapshot kept in the database, for one FeedService."""

    def __init__(self, store: Store, options: FeedOptions) -> None:
        self.store = store
        self.options = options
        self.early = EarlyFeed(store, options)
        self.kept: StoredFeed | None = None  # the early feed, until all.ics is built
        self._saved: dict[str, tuple[str, Fragment]] = {}  # loaded, not yet checked
        # ... or, when the snapshot has a layout, slices of its body (one copy in memory)
        self._in_snapshot: tuple[memoryview, Layout, dict[str, int]] | None = None
        self._dirty: dict[str, tuple[str, Fragment]] = {}  # rendered, not yet stored
        self._contexts: dict[str, bytes] = {}  # case id -> persist.case_context
        self._stored_key: str | None = None  # key of the snapshot in the database

    def early_feed(self, now: datetime) -> Rendered | None:
        """``all.ics`` from the stored snapshot while warming (patched if stale)."""
        got = self.early.get(now)
        if got is None:
            return None
        self.kept = got
        return Rendered(body=got.body, etag=got.etag, last_modified=got.last_modified,
                        version=-1, valid_until=got.valid_until)

    def load(self, conn: sa.Connection) -> None:
        """At a start: what earlier runs rendered, to be checked when used."""
        got = self.early.layout()
        if got is not None:  # slices of the snapshot's body, checked when used
            self.kept = got[0]
            self._in_snapshot = (memoryview(got[0].body), got[1],
                                 {u: i for i, u in enumerate(got[1].col("uid"))})
        else:  # and the snapshot, if any, is stored again with a usable layout
            self._saved = persist.load_fragments(conn)
        self._stored_key = persist.snapshot_key_stored(conn) if got is not None else None

    def warmed(self) -> None:
        """Let go of what the warm-up did not need (call with the cache's lock held)."""
        self._saved.clear()
        self._in_snapshot = None
        self.kept = None

    def rebuilt(self) -> None:
        """The cases or their dates to be set may have changed: digest contexts again."""
        self._contexts.clear()

    def stored(self, ev: FeedEvent, case: FeedCase,
               undated: tuple[str, ...]) -> tuple[str, Fragment | None]:
        """``ev``'s digest now, and its stored fragment if that digest is the same."""
        ctx = self._contexts.get(ev.case_id)
        if ctx is None:
            ctx = self._contexts[ev.case_id] = persist.case_context(self.options, case, undated)
        digest = persist.fragment_digest(ctx, ev)
        saved = self._saved.pop(ev.uid, None) or self._from_layout(ev.uid)
        if saved is not None and saved[0] == digest:
            return saved  # the layout's string: one copy held once it is let go
        return digest, None

    def _from_layout(self, uid: str) -> tuple[str, Fragment] | None:
        """The snapshot's fragment of ``uid`` (a slice of its body) and its digest."""
        if self._in_snapshot is None:
            return None
        view, contents, where = self._in_snapshot
        i = where.pop(uid, None)
        return None if i is None else (contents.col("digest")[i], contents.fragment(view, i))

    def rendered(self, uid: str, digest: str, frag: Fragment) -> None:
        """A fragment rendered now, to be stored by :meth:`store_dirty`."""
        self._dirty[uid] = (digest, frag)

    def store_dirty(self) -> None:
        """Write the fragments rendered since the last call (kept for the next start)."""
        if not self._dirty:
            return
        try:
            persist.save_fragments(self.store, self._dirty)
        except sa.exc.SQLAlchemyError as e:  # the feed is served all the same
            log.warning("feed fragments not stored (tried again after the next change): %s", e)
            return
        self._dirty = {}

    def save(self, rendered: Rendered, fp: tuple[Any, ...], cases: Mapping[str, FeedCase],
             rows: Iterable[layout.Row], clock: Callable[[], datetime]) -> None:
        """Store ``rendered`` (``all.ics`` at fingerprint ``fp``, whose VEVENTs are
        ``rows``) with its layout, unless stored already."""
        key = persist.snapshot_key(self.options, fp)
        if key == self._stored_key:
            return
        onecopy.give_back()  # what the render let go, before the megabytes below
        contents = Layout.of_rows(  # encoded at once: the columns are let go before
            # the body is compressed
            persist.options_digest(self.options), fp[0] or 0, fp[1],
            {k: layout.case_digest(c) for k, c in cases.items()}, rows).encode()
        onecopy.give_back()
        persist.save_snapshot(self.store, StoredFeed(
            key, rendered.body, rendered.etag, rendered.last_modified,
            rendered.valid_until, contents), clock())
        self._stored_key = key
