"""Where each VEVENT lies in a stored ``all.ics``: the snapshot's table of contents.

Stored beside the snapshot body (column ``feed_snapshot.layout``) by
:meth:`~notifier.feeds.cache.FeedService.save_snapshot`, so that a restart

- takes every event's fragment as a slice of the one snapshot body (one copy in
  memory, nothing read from ``feed_fragment``) once its digest matches the rows, and
- after changes recorded while the daemon was stopped, patches the body
  (:mod:`.patch`): it knows which Change rows and cases it already contains (the
  newest Change id, the Change count and a digest of every case), and each entry's
  sort key, so the re-rendered events go to their places.

Per entry, in feed order: uid, case id, event id, sort key (UTC time text, ``~`` for
none), digest (:func:`~notifier.feeds.persist.fragment_digest`), byte length, TZID (or
null), the years its time zone block must cover, its ``updated_at`` and when it leaves
the feed by the clock (or null): everything the body, ``Last-Modified`` and the expiry
of a feed built from the same rows take from it. Kept by column (zlib-compressed: a
line of JSON for the header, then one JSON array per column), and a column is parsed
only when used: a restart with nothing changed needs six of the eleven, as arrays of
numbers and shared strings rather than 100,000 objects per entry.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from . import ical
from .ical import FeedCase, FeedEvent, Fragment
from .persist import StoredFeed

VERSION = 2
COLUMNS = ("uid", "case", "event", "sort", "digest", "length", "tzid", "y0", "y1", "updated",
           "expires")
_NUMBERS = {"length": "q", "y0": "l", "y1": "l"}
_REPEATED = frozenset({"case", "sort", "tzid", "updated", "expires"})  # uids, digests do not
_ENCODE_AT_ONCE = 5000  # entries of a column turned into JSON at a time
NO_TIME = "~"  # after every time, as ical.sort_key puts events without one last
Row = tuple[Any, ...]  # one entry, the values in COLUMNS order


def utc_text(t: datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def utc_from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def case_digest(case: FeedCase) -> str:
    """What a case's fragments and the feeds' validators take from the case row."""
    return hashlib.blake2b(repr(case).encode(), digest_size=16).hexdigest()


def row(ev: FeedEvent, frag: Fragment, digest: str, keep: timedelta) -> Row:
    return (ev.uid, ev.case_id, ev.event_id, utc_text(ev.sort_utc) or NO_TIME, digest,
            len(frag.data), frag.tzid, frag.years[0], frag.years[1],
            utc_text(ev.updated_at), utc_text(ical.expires_at(ev, keep)))


@dataclass
class Layout:
    """A snapshot's contents: what it was built from and its entries in feed order."""

    base: str  # persist.options_digest: options and code version
    max_change: int  # newest Change id included (0: none)
    changes: int  # Change rows counted
    cases: dict[str, str]  # case id -> case_digest
    _raw: dict[str, bytes] = field(default_factory=dict, repr=False)  # not parsed yet
    _cols: dict[str, Any] = field(default_factory=dict, repr=False)
    offsets: array[int] = field(default_factory=lambda: array("q"))

    @classmethod
    def of_rows(cls, base: str, max_change: int, changes: int, cases: dict[str, str],
                rows: Iterable[Row]) -> Layout:
        new = cls(base, max_change, changes, cases)
        cols: list[Any] = [array(_NUMBERS[c]) if c in _NUMBERS else [] for c in COLUMNS]
        pool: dict[Any, Any] = {}  # one object per distinct value of a repeated column
        shared = [c in _REPEATED for c in COLUMNS]
        for r in rows:
            for col, value, same in zip(cols, r, shared, strict=True):
                col.append(pool.setdefault(value, value) if same else value)
        new._cols = dict(zip(COLUMNS, cols, strict=True))
        return new

    def select(self, max_change: int, changes: int, cases: dict[str, str],
               refs: Sequence[int | Row]) -> Layout:
        """A new layout of these entries: an int is this layout's entry, a tuple a row."""
        new = Layout(self.base, max_change, changes, cases)
        for k, c in enumerate(COLUMNS):
            col = self.col(c)
            values = [col[r] if type(r) is int else r[k] for r in refs]  # type: ignore[index]
            new._cols[c] = array(_NUMBERS[c], values) if c in _NUMBERS else values
        return new

    def col(self, name: str) -> Any:
        """One column, parsed on first use."""
        got = self._cols.get(name)
        if got is None:
            values = json.loads(self._raw.pop(name))
            if name in _NUMBERS:
                got = array(_NUMBERS[name], values)
            elif name in _REPEATED:  # one object per distinct value
                pool: dict[Any, Any] = {}
                got = [pool.setdefault(v, v) for v in values]
            else:
                got = values
            self._cols[name] = got
        return got

    def __len__(self) -> int:
        return len(self.col("length"))

    def sort_key(self, i: int) -> tuple[str, str, str]:
        """The order of :func:`ical.sort_key`, from entry ``i``'s text."""
        return self.col("sort")[i], self.col("case")[i], self.col("event")[i]

    def place(self, body_length: int) -> bool:
        """Compute each entry's offset in a body of ``body_length`` bytes, where the
        fragments come last, right before ``END:VCALENDAR``; False if they cannot fit."""
        lengths = self.col("length")
        at = body_length - len(ical.END) - sum(lengths)
        if at < 0 or (lengths and min(lengths) <= 0):
            return False
        self.offsets = array("q", accumulate(lengths, initial=at))
        self.offsets.pop()
        return True

    def pieces(self, view: memoryview, refs: Sequence[int | Row],
               fresh: dict[str, Fragment]) -> list[memoryview | bytes]:
        """The bytes of ``refs`` in order (an int: this layout's entry in ``view``, a row:
        ``fresh[uid]``), entries adjacent in the body joined into one slice."""
        offsets, lengths = self.offsets, self.col("length")
        out: list[memoryview | bytes] = []
        start = end = -1
        for r in refs:
            if type(r) is int:
                if offsets[r] == end:
                    end += lengths[r]
                    continue
                if end > start:
                    out.append(view[start:end])
                start, end = offsets[r], offsets[r] + lengths[r]
            else:
                if end > start:
                    out.append(view[start:end])
                start = end = -1
                out.append(fresh[r[0]].data)  # type: ignore[index]
        if end > start:
            out.append(view[start:end])
        return out

    def time_zones(self, refs: Sequence[int | Row]) -> list[Fragment]:
        """One bodiless fragment per distinct (TZID, years) of ``refs``: what
        :func:`ical.timezone_blocks` needs to write their VTIMEZONEs."""
        tz, y0, y1 = self.col("tzid"), self.col("y0"), self.col("y1")
        seen = {(tz[r], y0[r], y1[r]) if type(r) is int else (r[6], r[7], r[8])  # type: ignore[index]
                for r in refs}
        return [Fragment(b"", t, (a, b)) for t, a, b in seen if t is not None]

    def fragment(self, view: memoryview, i: int) -> Fragment:
        """Entry ``i`` as a fragment whose bytes are a slice of the body (``view``)."""
        at = self.offsets[i]
        return Fragment(view[at:at + self.col("length")[i]], self.col("tzid")[i],
                        (self.col("y0")[i], self.col("y1")[i]))

    def encode(self) -> bytes:
        """The layout compressed, one column at a time (a column's JSON is megabytes at
        100,000 entries: never all of them at once)."""
        head = {"v": VERSION, "base": self.base, "max_change": self.max_change,
                "changes": self.changes, "cases": self.cases}
        z = zlib.compressobj(1)
        out = [z.compress(json.dumps(head, separators=(",", ":")).encode())]
        for c in COLUMNS:
            col = self._cols.get(c)
            out.append(z.compress(b"\n"))
            if col is None:
                out.append(z.compress(self._raw[c]))
                continue
            out.append(z.compress(b"["))
            for i in range(0, len(col), _ENCODE_AT_ONCE):  # the JSON array, a piece at a time
                piece = col[i:i + _ENCODE_AT_ONCE]
                text = json.dumps(piece.tolist() if isinstance(piece, array) else piece,
                                  separators=(",", ":"))
                out.append(z.compress((text[1:-1] if i == 0 else "," + text[1:-1]).encode()))
            out.append(z.compress(b"]"))
        out.append(z.flush())
        return b"".join(out)


def decode(data: bytes | None, body_length: int) -> Layout | None:
    """The layout of a body of ``body_length`` bytes, or None when missing, damaged, of
    another version or not fitting the body (the snapshot is then served only as is)."""
    if not data:
        return None
    try:
        head, *lines = zlib.decompress(data).split(b"\n")
        doc = json.loads(head)
        if doc.get("v") != VERSION or len(lines) != len(COLUMNS):
            return None
        got = Layout(str(doc["base"]), int(doc["max_change"]), int(doc["changes"]),
                     dict(doc["cases"]), dict(zip(COLUMNS, lines, strict=True)))
        if not got.place(body_length):
            return None
        n = len(got)
        if any(len(got.col(c)) != n for c in ("uid", "digest", "tzid", "y0", "y1")):
            return None
        return got
    except (zlib.error, ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None


def validators(layout: Layout, cases: Iterable[FeedCase],
               ) -> tuple[datetime | None, datetime | None]:
    """(Last-Modified, valid until) of a feed of these entries, as a render gives them."""
    stamps = [t for t in layout.col("updated") if t]
    newest = utc_from_text(max(stamps)) if stamps else None
    case_times = [c.updated_at for c in cases if c.updated_at]
    last = max([t for t in (newest, *case_times) if t is not None], default=None)
    ends = [t for t in layout.col("expires") if t]
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
