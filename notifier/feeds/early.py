"""``all.ics`` before the warm-up is done: the stored snapshot, served at once.

:class:`~notifier.feeds.cache.FeedService` holds one :class:`EarlyFeed` (in its
:class:`~notifier.feeds.restarts.Restarts`) until its warm-up ends.
:meth:`EarlyFeed.get` reads the fingerprint (one cheap query) and answers the
snapshot stored under the same key (nothing changed since), or the snapshot
patched from the newer Change rows (:mod:`.patch`), or None (the caller then
waits for the warm-up). Each answer is kept until the fingerprint moves, and a
fingerprint with no answer is not tried again. Whatever it serves is byte for byte
what a fresh render of the rows gives (only its version, -1, tells it apart).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..store import Store
from . import layout, patch, persist
from .ical import FeedOptions
from .layout import Layout
from .persist import StoredFeed
from .rows import FINGERPRINT

log = logging.getLogger(__name__)


class EarlyFeed:
    """The stored ``all.ics`` (patched if stale) and its layout, loaded on first use."""

    def __init__(self, store: Store, options: FeedOptions) -> None:
        self.store = store
        self.options = options
        self.rendered = 0  # fragments rendered by patches
        self._lock = threading.Lock()
        self._tried: str | None = None  # the key of the fingerprint last looked up
        self._feed: StoredFeed | None = None
        self._layout: Layout | None = None
        self._encoded: bytes | None = None  # the layout before decoding (decoded lazily)

    def get(self, now: datetime) -> StoredFeed | None:
        """The feed to serve now, or None when there is none to trust."""
        with self._lock:
            with self.store.engine.connect() as conn:
                fp = tuple(conn.execute(FINGERPRINT).one())
                key = persist.snapshot_key(self.options, fp)
                if key != self._tried:
                    self._load(conn, key, fp, now)
                    self._tried = key
            got = self._feed
        if got is None or (got.valid_until is not None and now >= got.valid_until):
            return None
        return got

    def _load(self, conn: sa.Connection, key: str, fp: tuple[Any, ...], now: datetime) -> None:
        self._feed, self._layout, self._encoded = None, None, None  # one body at a time
        stored = persist.load_snapshot(conn, None)
        if stored is None:
            return
        if stored.key == key:
            self._feed, self._encoded = stored, stored.layout
            return
        old = self._layout_of(stored)
        if old is None:
            return
        got = patch.patch(conn, stored, old, self.options, fp, now)
        if got is None:
            return
        log.info("feed snapshot patched from the changes since it was stored: %d event(s) "
                 "rendered again", got.rendered)
        self.rendered += got.rendered
        self._feed, self._layout = got.feed, got.layout

    def take_rendered(self) -> int:
        """Fragments rendered by patches since the last call (for the cache's counter)."""
        with self._lock:
            n, self.rendered = self.rendered, 0
            return n

    @staticmethod
    def _layout_of(feed: StoredFeed) -> Layout | None:
        return layout.decode(feed.layout, len(feed.body))

    def layout(self) -> tuple[StoredFeed, Layout] | None:
        """The feed last answered and where its fragments lie (None if unknown)."""
        with self._lock:
            if self._feed is None:
                return None
            if self._layout is None and self._encoded is not None:
                self._layout, self._encoded = self._layout_of(self._feed), None
            return None if self._layout is None else (self._feed, self._layout)

    def drop(self) -> StoredFeed | None:
        """Forget everything (the warm-up is done); returns the feed last answered."""
        with self._lock:
            feed, self._feed, self._layout, self._encoded = self._feed, None, None, None
            self._tried = None
            return feed
