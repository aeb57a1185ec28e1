"""``all.ics`` after changes recorded while the daemon was stopped: the stored snapshot
patched from the newer Change rows, so that a restart serves it at once instead of
waiting for the full warm-up.

Call :func:`patch` with the stored snapshot, its :class:`~.layout.Layout` and the
fingerprint now (:data:`.rows.FINGERPRINT`). Only the cases touched since the
snapshot was stored are read (those of the events named by newer Change rows, and
cases added, deleted or edited: their digests differ); within them, an event whose
fragment digest is unchanged keeps its bytes, any other is rendered again. Every other
entry keeps its bytes, except that entries which left the feed by the clock are dropped.
The result is byte for byte what rendering every row now gives, with the same
``Last-Modified`` and expiry. Returns None (the caller then waits for the warm-up)
when the snapshot cannot be trusted that far: other options or code, or Change rows
deleted or committed out of id order (the same test :mod:`.cache` applies while running).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from . import ical, layout, persist, rows
from .ical import FeedOptions, Fragment
from .layout import Layout, Row
from .persist import StoredFeed


@dataclass
class Patched:
    feed: StoredFeed  # keyed by the fingerprint now; ``layout`` left empty
    layout: Layout  # offsets placed in ``feed.body``
    rendered: int  # fragments rendered again


def _touched(conn: sa.Connection, old: Layout, digests: dict[str, str],
             changed: set[str]) -> set[str]:
    """Case ids whose fragments may differ from the stored ones."""
    touched = {k for k in digests.keys() | old.cases.keys() if digests.get(k) != old.cases.get(k)}
    touched |= {c for u, c in zip(old.col("uid"), old.col("case"), strict=True) if u in changed}
    ev = rows.EVENT
    for chunk in rows.chunks(sorted(changed)):
        touched.update(conn.execute(sa.select(ev.c.case_id).where(ev.c.uid.in_(chunk)))
                       .scalars())
    return touched


def _merged(kept: list[int], fresh: list[Row], old: Layout) -> list[int | Row]:
    """``kept`` (entry indexes, in feed order) with the ``fresh`` rows put in their places:
    a binary search each, so that a few changes do not sort 100,000 entries again."""
    fresh = sorted(fresh, key=lambda r: (r[3], r[1], r[2]))
    out: list[int | Row] = []
    at = 0
    for r in fresh:
        to = bisect.bisect_left(kept, (r[3], r[1], r[2]), lo=at, key=old.sort_key)
        out += kept[at:to]
        out.append(r)
        at = to
    out += kept[at:]
    return out


def patch(conn: sa.Connection, stored: StoredFeed, old: Layout, opts: FeedOptions,
          fingerprint: tuple[Any, ...], now: datetime) -> Patched | None:
    if old.base != persist.options_digest(opts) or (fingerprint[0] or 0) < old.max_change:
        return None
    newer = rows.uids_changed_since(conn, old.max_change)
    if old.changes + len(newer) != fingerprint[1]:
        return None  # rows deleted, or committed out of id order
    cases = rows.all_cases(conn)
    digests = {k: layout.case_digest(c) for k, c in cases.items()}
    touched = _touched(conn, old, digests, set(newer))
    view = memoryview(stored.body)
    now_text = layout.utc_text(now) or ""
    case_of, expires, uids = old.col("case"), old.col("expires"), old.col("uid")
    # Entries of untouched cases keep their bytes, unless they left the feed by the clock.
    kept = [i for i in range(len(old)) if case_of[i] not in touched
            and not (expires[i] and expires[i] <= now_text)]
    before = {uids[i]: i for i in range(len(old)) if case_of[i] in touched}
    events = rows.events_where(conn, rows.EVENT.c.case_id,
                               sorted(touched & cases.keys()), opts.history)
    undated = ical.undated_by_case(events)
    contexts: dict[str, bytes] = {}
    fresh: dict[str, Fragment] = {}
    new_rows: list[Row] = []
    rendered = 0
    for ev in events:
        if not ical.in_feed(ev, now, opts.keep_cancelled):
            continue
        case, notes = cases[ev.case_id], undated.get(ev.case_id, ())
        if ev.case_id not in contexts:
            contexts[ev.case_id] = persist.case_context(opts, case, notes)
        digest = persist.fragment_digest(contexts[ev.case_id], ev)
        was = before.get(ev.uid)
        frag: Fragment | None
        if was is not None and old.col("digest")[was] == digest:
            frag = old.fragment(view, was)
        else:
            frag = ical.event_fragment(ev, case, notes, opts)
            rendered += 1
        if frag is not None:
            fresh[ev.uid] = frag
            new_rows.append(layout.row(ev, frag, digest, opts.keep_cancelled))
    refs = _merged(kept, new_rows, old)
    # The calendar's head, its time zones, then the entries: runs of the old body's bytes
    # as they are, with the fresh ones between (byte for byte ical.assemble's output).
    head, end = ical.assemble_parts(ical.all_header(opts), [], opts)
    zones = ical.timezone_blocks(old.time_zones(refs))
    body = b"".join([head, *zones, *old.pieces(view, refs, fresh), end])
    del view
    new = old.select(fingerprint[0] or 0, fingerprint[1], digests, refs)
    new.place(len(body))
    last_modified, valid_until = layout.validators(new, cases.values())
    feed = StoredFeed(persist.snapshot_key(opts, fingerprint), body, ical.etag(body),
                      last_modified, valid_until)
    return Patched(feed, new, rendered)
