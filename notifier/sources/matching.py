"""Give CSV rows that share a key the ids of the stored events they continue.

A CSV export without an upstream id column identifies a hearing by its key
fields (default: case number + kind), so a case's three status conferences share
one key. Numbering them by date order would shift every id when the earliest
one leaves the export (a false "moved later" for each of the others). Instead,
:func:`match_stored` (called by the engine inside the fetch's transaction)
assigns, per key group:

1. rows to stored events with exactly the same date/time (removed events too:
   a hearing that comes back keeps its history);
2. the remaining rows to the remaining live stored events nearest in time,
   same-date pairs first; an event already over is matched only on its own
   date (a pruned past hearing is not "moved" to a new one);
3. new ids (``key``, ``key-2``, ... whichever is free) to the rows left over.

Stored events left unmatched are simply missing from this fetch (the engine's
missing counters decide their removal).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from sqlmodel import Session, col, select

from ..specs import CalendarSpec, EventSpec, When
from ..store.models import Event
from ..tracking.sync import when_of
from .csvfile import CsvSpec, event_uid

_FAR = timedelta(days=100_000)  # distance to or from "date to be set"
_SUFFIX = re.compile(r"^(.+)-(\d+)$")


def _instant(w: When) -> datetime | None:
    if w.start is not None:
        return w.start
    if w.date is not None:
        return datetime.combine(w.date, time(0), UTC)
    return None


def _distance(a: When, b: When) -> timedelta:
    x, y = _instant(a), _instant(b)
    if x is None or y is None:
        return timedelta(0) if x is y else _FAR
    return abs(x - y)


def _group_of(ev: Event, keys: set[tuple[str, str]]) -> tuple[str, str] | None:
    """The key group a stored event was numbered in (an exact key wins over a suffix)."""
    if (ev.case_id, ev.event_id) in keys:
        return ev.case_id, ev.event_id
    m = _SUFFIX.match(ev.event_id)
    if m and (ev.case_id, m.group(1)) in keys:
        return ev.case_id, m.group(1)
    return None


def _assign(rows: Sequence[EventSpec], stored: Sequence[Event],
            is_over: Callable[[Event], bool]) -> dict[int, Event]:
    """Row index -> the stored event it continues (see the module docstring)."""
    out: dict[int, Event] = {}
    used: set[str] = set()
    # 1. identical date/time; live events before removed ones.
    for i, row in enumerate(rows):
        for ev in sorted(stored, key=lambda e: e.removed_at is not None):
            if ev.uid not in used and when_of(ev) == row.when:
                out[i] = ev
                used.add(ev.uid)
                break
    # 2. nearest remaining live events, same date first.
    pairs = []
    for i, row in enumerate(rows):
        if i in out:
            continue
        for j, ev in enumerate(stored):
            if ev.uid in used or ev.removed_at is not None:
                continue
            same_day = ev.date is not None and ev.date == row.when.date
            if not same_day and is_over(ev):
                continue
            pairs.append((not same_day, _distance(when_of(ev), row.when), j, i))
    for _far, _d, j, i in sorted(pairs):
        ev = stored[j]
        if i not in out and ev.uid not in used:
            out[i] = ev
            used.add(ev.uid)
    return out


def _free_id(key: str, case_id: str, name: str, taken: set[str]) -> tuple[str, str]:
    n = 1
    while True:
        event_id = key if n == 1 else f"{key}-{n}"
        uid = event_uid(case_id, event_id, name)
        if uid not in taken:
            return event_id, uid
        n += 1


def match_stored(s: Session, spec: CalendarSpec, source_name: str,
                 is_over: Callable[[Event], bool]) -> CalendarSpec:
    """``spec`` with its key groups' ids matched to the stored events (or as it was)."""
    if not isinstance(spec, CsvSpec) or not spec.groups:
        return spec
    stored = list(s.exec(select(Event).where(Event.source == spec.source)
                         .order_by(col(Event.sort_utc), col(Event.uid))).all())
    keys = set(spec.groups)
    by_group: dict[tuple[str, str], list[Event]] = {}
    for ev in stored:
        g = _group_of(ev, keys)
        if g is not None:
            by_group.setdefault(g, []).append(ev)
    taken = {ev.uid for ev in stored}
    events = list(spec.events)
    leftover: list[tuple[int, str]] = []
    for (case_id, key), idxs in spec.groups.items():
        rows = [events[i] for i in idxs]
        matched = _assign(rows, by_group.get((case_id, key), []), is_over)
        for n, i in enumerate(idxs):
            found = matched.get(n)
            if found is None:
                leftover.append((i, key))
            else:
                events[i] = replace(events[i], uid=found.uid, event_id=found.event_id)
    for i, key in leftover:
        event_id, uid = _free_id(key, events[i].case_id, source_name, taken)
        taken.add(uid)
        events[i] = replace(events[i], uid=uid, event_id=event_id)
    return replace(spec, events=events)
