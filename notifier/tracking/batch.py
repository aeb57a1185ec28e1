"""Apply many calendar specs at once: one read of each kind, one write of each kind.

:func:`apply_calendars` gives the outcome of :func:`.apply.apply_calendar` run on each
spec in turn (same rows, same Change rows in the same order, same conflicts), but
reads the stored cases and events of the whole batch in one query each (per 500 keys
on SQLite) and writes the batch's new events, changed events and Change rows as one
statement each (:mod:`notifier.store.bulk`: executemany, COPY on PostgreSQL), so a
first import of 1,000 files costs a few dozen round trips instead of 15 per file.

A spec that conflicts with a live owner (a case or UID defined elsewhere) is left
out, with the :class:`~notifier.errors.CalendarError` ``apply_calendar`` would raise;
the specs after it see what the ones before it wrote, as they would one by one. Any
other failure propagates: the caller rolls the batch back and applies its files one
at a time (:mod:`.sync`), so a file that breaks a statement fails alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from ..errors import CalendarError
from ..specs import CalendarSpec
from ..store.bulk import insert_many, select_in, update_many
from ..store.models import Case, Change
from . import diff
from .apply import (
    _IN_CHUNK,
    _SPEC_FIELDS,
    ET,
    apply_cases,
    case_conflict,
    case_stamp,
    expire,
    owner_conflict,
    record,
    snapshot,
    spec_values,
    tz_of,
    written,
)

_HELD = "notifier.cases_held"
# What an update writes: everything a spec or a removal can change.
_UPDATED = (*_SPEC_FIELDS, "source", "removed_at", "sequence", "updated_at")


@dataclass
class BatchResult:
    changes: dict[str, list[Change]] = field(default_factory=dict)  # source -> its changes
    errors: list[CalendarError] = field(default_factory=list)  # specs left out

    @property
    def all_changes(self) -> list[Change]:
        return [c for changes in self.changes.values() for c in changes]


def _read(s: Session, column: Any, keys: Sequence[str], *extra: Any) -> list[Any]:
    """Rows of ``column``'s table whose ``column`` is one of ``keys`` (and ``extra``)."""
    return select_in(s, select(column.table).where(*extra), column, keys, _IN_CHUNK)


class _Batch:
    """The stored state of the batch's events and cases, as the specs so far left it."""

    def __init__(self, s: Session, specs: Sequence[CalendarSpec], now: datetime) -> None:
        self.s, self.now = s, now
        uids = list(dict.fromkeys(e.uid for spec in specs for e in spec.events))
        rows = _read(s, ET.c.uid, uids)
        owned = _read(s, ET.c.source, [spec.source for spec in specs],
                      ET.c.removed_at.is_(None))
        self.events: dict[str, dict[str, Any]] = {r.uid: r._asdict() for r in [*rows, *owned]}
        self.stored = set(self.events)  # the rest are inserted
        self.by_source: dict[str, list[str]] = {}
        for r in owned:
            self.by_source.setdefault(r.source, []).append(r.uid)
        case_ids = list(dict.fromkeys([
            *(c.id for spec in specs for c in spec.cases),
            *(e.case_id for spec in specs for e in spec.events),
            *(r["case_id"] for r in self.events.values())]))
        self.cases: dict[str, Case] = {}
        for i in range(0, len(case_ids), _IN_CHUNK):  # ORM objects: the hook s.get()s them
            chunk = case_ids[i:i + _IN_CHUNK]
            self.cases.update((c.id, c) for c in s.scalars(
                select(Case).where(Case.id.in_(chunk))))  # type: ignore[attr-defined]
        self.touched: dict[str, None] = {}  # uids written, in order
        self.deltas: list[tuple[str, str, diff.Delta]] = []
        self.counts: list[tuple[str, int]] = []  # (source, number of its deltas)
        self._newest: datetime | None = None

    def stamp(self) -> datetime:
        """A case's ``updated_at``: as :func:`.apply.case_stamp`, later than every one
        given before in this batch (they are not in the database yet)."""
        if self._newest is None:
            at = case_stamp(self.s, self.now)
        else:
            at = max(self.now, self._newest + timedelta(microseconds=1))
        self._newest = at
        return at

    def problems(self, spec: CalendarSpec, live: Callable[[str], bool]) -> list[str]:
        out = []
        for c in spec.cases:
            row = self.cases.get(c.id)
            if row is not None and case_conflict(row.source, spec, live):
                out.append(f"{spec.source}: case id {c.id!r} is already defined in "
                           f"{row.source}")
        for e in spec.events:
            held = self.events.get(e.uid)
            if held is not None and held["case_id"] != e.case_id:
                out.append(f"{spec.source}: event UID {e.uid!r} already belongs to case "
                           f"{held['case_id']!r} ({held['source']})")
            elif held is not None and owner_conflict(held["source"], spec.source, live):
                out.append(f"{spec.source}: event UID {e.uid!r} is already defined in "
                           f"{held['source']}")
        return out

    def apply(self, spec: CalendarSpec) -> None:
        """What ``apply_calendar`` does for ``spec``, in memory (cases: ORM objects)."""
        s, now, events = self.s, self.now, self.events
        rows = {c.id: self.cases.get(c.id) for c in spec.cases}
        tzs = apply_cases(s, spec, now, rows, self.stamp)
        self.cases.update(rows)  # type: ignore[arg-type]  # apply_cases filled them in
        deltas: list[tuple[str, str, diff.Delta]] = []
        for e in spec.events:
            tz = tzs.get(e.case_id) or ZoneInfo(self.cases[e.case_id].timezone)
            ev = events.get(e.uid)
            if ev is None:
                events[e.uid] = {"uid": e.uid, "case_id": e.case_id, "event_id": e.event_id,
                                 "source": spec.source, **spec_values(e, tz), "sequence": 0,
                                 "removed_at": None, "created_at": now, "updated_at": now}
                self.touched[e.uid] = None
                deltas.append((e.uid, e.case_id, diff.added(e, tz)))
                continue
            found = [diff.restored(e, tz)] if ev["removed_at"] is not None else []
            found += diff.classify(snapshot(SimpleNamespace(**ev)), e, tz)
            if found or ev["source"] != spec.source:
                ev.update(spec_values(e, tz), source=spec.source, removed_at=None,
                          sequence=ev["sequence"] + 1 if found else ev["sequence"],
                          updated_at=now if found else ev["updated_at"])
                self.touched[e.uid] = None
                deltas += [(e.uid, e.case_id, d) for d in found]
        keep = {e.uid for e in spec.events}
        tzs_of: dict[str, ZoneInfo] = {}
        for uid in self.by_source.get(spec.source, ()):
            ev = events[uid]
            if uid in keep or ev["source"] != spec.source or ev["removed_at"] is not None:
                continue
            row = SimpleNamespace(**ev)
            deltas.append((uid, ev["case_id"], diff.removed(
                snapshot(row), tz_of(s, ev["case_id"], tzs_of), spec.source)))
            ev.update(removed_at=now, sequence=ev["sequence"] + 1, updated_at=now)
            self.touched[uid] = None
        self.deltas += deltas
        self.counts.append((spec.source, len(deltas)))

    def write(self) -> dict[str, list[Change]]:
        """Write the batch: cases, new events, changed events, Change rows."""
        s = self.s
        s.flush()  # the cases, before events that refer to them
        # Held for the session's life: its identity map only holds objects weakly, and
        # the change hook s.get()s every case (one query each were they dropped).
        s.info.setdefault(_HELD, []).extend(self.cases.values())
        touched = list(self.touched)
        insert_many(s, ET, [self.events[u] for u in touched if u not in self.stored])
        update_many(s, ET, "uid", [{"uid": u, **{k: self.events[u][k] for k in _UPDATED}}
                                   for u in touched if u in self.stored])
        fresh = written(s)
        fresh.update((u, SimpleNamespace(**self.events[u])) for u in touched)
        changes = record(s, self.deltas, self.now)
        expire(s, touched)
        out: dict[str, list[Change]] = {}
        at = 0
        for source, n in self.counts:
            out[source] = changes[at:at + n]
            at += n
        return out


def apply_calendars(s: Session, specs: Sequence[CalendarSpec], now: datetime,
                    live: Callable[[str], bool] = lambda _src: True) -> BatchResult:
    """Bring the store in line with every spec, in order, inside the caller's write
    transaction; return each applied spec's changes and the specs left out."""
    s.flush()  # ORM changes the caller made must be in the rows read below
    batch = _Batch(s, specs, now)
    result = BatchResult()
    for spec in specs:
        problems = batch.problems(spec, live)
        if problems:
            result.errors.append(CalendarError(spec.source, problems))
            continue
        batch.apply(spec)
    result.changes = batch.write()
    return result

