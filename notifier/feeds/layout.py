"""Where each VEVENT lies in a stored ``all.ics``: the snapshot's table of contents.

Stored beside the snapshot body (column ``feed_snapshot.layout``, zlib-compressed
JSON) by :meth:`~notifier.feeds.cache.FeedService.save_snapshot`, so that a restart

- takes every event's fragment as a slice of the one snapshot body (one copy in
  memory, nothing read from ``feed_fragment``) once its digest matches the rows, and
- after changes recorded while the daemon was stopped, patches the body
  (:mod:`.patch`): it knows which Change rows and cases it already contains (the
  newest Change id, the Change count and a digest of every case), and each entry's
  sort key, so the re-rendered events go to their places.

An entry: uid, case id, event id, sort key (UTC time text, ``~`` for none), digest
(:func:`~notifier.feeds.persist.fragment_digest`), byte length, TZID (or null), the
years its time zone block must cover, its ``updated_at`` and when it leaves the
feed by the clock (or null): everything the body, ``Last-Modified`` and the expiry
of a feed built from the same rows would take from it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import ical
from .ical import FeedCase, FeedEvent, Fragment
from .persist import StoredFeed

VERSION = 1
# Indexes into an entry (a list, as JSON gives it: 100,000 of them are read at a start).
UID, CASE, EVENT_ID, SORT, DIGEST, LENGTH, TZID, Y0, Y1, UPDATED, EXPIRES, OFFSET = range(12)
NO_TIME = "~"  # after every time, as ical.sort_key puts undated-time events last
Entry = list  # [uid, case, event id, sort, digest, length, tzid, y0, y1, updated, expires]


def utc_text(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def utc_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def case_digest(case: FeedCase) -> str:
    """What a case's fragments and the feeds' validators take from the case row."""
    return hashlib.blake2b(repr(case).encode(), digest_size=16).hexdigest()


def entry(ev: FeedEvent, frag: Fragment, digest: str, keep: timedelta) -> Entry:
    return [ev.uid, ev.case_id, ev.event_id, utc_text(ev.sort_utc) or NO_TIME, digest,
            len(frag.data), frag.tzid, frag.years[0], frag.years[1],
            utc_text(ev.updated_at), utc_text(ical.expires_at(ev, keep))]


def sort_key(e: Entry) -> tuple[str, str, str]:
    """The order of :func:`ical.sort_key`, from an entry's text."""
    return e[SORT], e[CASE], e[EVENT_ID]


@dataclass
class Layout:
    """A snapshot's contents: what it was built from and its entries in feed order."""

    base: str  # persist.options_digest: options and code version
    max_change: int  # newest Change id included (0: none)
    changes: int  # Change rows counted
    cases: dict[str, str]  # case id -> case_digest
    entries: list[Entry]  # with OFFSET appended by :func:`decode`

    def encode(self) -> bytes:
        doc = {"v": VERSION, "base": self.base, "max_change": self.max_change,
               "changes": self.changes, "cases": self.cases,
               "entries": [e[:OFFSET] for e in self.entries]}
        return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)

    def fragment(self, view: memoryview, e: Entry) -> Fragment:
        """Entry ``e`` as a fragment whose bytes are a slice of the body (``view``)."""
        at = e[OFFSET]
        return Fragment(view[at:at + e[LENGTH]], e[TZID], (e[Y0], e[Y1]))


def decode(data: bytes | None, body_length: int) -> Layout | None:
    """The layout of a body of ``body_length`` bytes, or None when missing, damaged, of
    another version or not fitting the body (the snapshot is then served only as is)."""
    if not data:
        return None
    try:
        doc = json.loads(zlib.decompress(data))
        if doc.get("v") != VERSION:
            return None
        entries: list[Entry] = doc["entries"]
        if not place(entries, body_length):
            return None
        return Layout(str(doc["base"]), int(doc["max_change"]), int(doc["changes"]),
                      dict(doc["cases"]), entries)
    except (zlib.error, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def place(entries: list[Entry], body_length: int) -> bool:
    """Give every entry (without an offset yet) its OFFSET in a body of ``body_length``
    bytes, where the fragments come last, right before ``END:VCALENDAR``."""
    at = body_length - len(ical.END) - sum(e[LENGTH] for e in entries)
    if at < 0:
        return False
    for e in entries:
        e.append(at)
        at += e[LENGTH]
    return True


def validators(entries: Sequence[Entry], cases: Iterable[FeedCase],
               ) -> tuple[datetime | None, datetime | None]:
    """(Last-Modified, valid until) of a feed of these entries, as a render gives them."""
    stamps = [e[UPDATED] for e in entries if e[UPDATED]]
    newest = utc_from_text(max(stamps)) if stamps else None
    case_times = [c.updated_at for c in cases if c.updated_at]
    last = max([t for t in (newest, *case_times) if t is not None], default=None)
    ends = [e[EXPIRES] for e in entries if e[EXPIRES]]
    return last, utc_from_text(min(ends)) if ends else None


def same_body(stored: StoredFeed | None, parts: Sequence[bytes | memoryview]) -> bytes | None:
    """The stored snapshot's body when it is byte for byte ``parts`` joined (a restart
    with nothing changed, or a patched one): kept instead of a second copy of the bytes."""
    if stored is None or len(stored.body) != sum(len(p) for p in parts):
        return None
    view, at = memoryview(stored.body), 0
    for p in parts:
        if view[at:at + len(p)] != p:
            return None
        at += len(p)
    return stored.body
