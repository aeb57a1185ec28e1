"""Apply one calendar spec to the store in bulk: one read, set-based writes.

:func:`apply_calendar` diffs a spec against its stored events (read in one query per
500 UIDs) and writes the new events, the updated ones and their Change rows each as
one ``executemany`` (SQLAlchemy Core: multi-row ``INSERT ... RETURNING`` where the
database has it, so PostgreSQL gets no per-row round trips). :func:`remove_events`
marks events removed the same way. Both run inside the caller's write transaction.

The Change objects returned are detached (built from the written values, in no
session): the hooks and reports read them, nothing writes them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from ..errors import CalendarError
from ..specs import CalendarSpec, CaseSpec, EventSpec, When, is_remote_source
from ..store.bulk import detached, insert_many, next_ids, update_many
from ..store.models import Case, Change, Event
from . import diff

# Called inside the write transaction with the changes just recorded, so that
# work derived from them (the notification outbox) commits atomically with them.
ChangeHook = Callable[[Session, list[Change], datetime], None]
ET = Event.__table__  # type: ignore[attr-defined]
CT = Change.__table__  # type: ignore[attr-defined]
# One IN list per file would pass SQLite's bound-variable limit (999 before 3.32).
_IN_CHUNK = 500
_WRITTEN = "notifier.events_written"
_SPEC_FIELDS = ("kind", "title", "status", "date", "end_date", "start_utc", "end_utc",
                "sort_utc", "location", "notes", "url", "judge")


def when_of(ev: Any) -> When:
    return When(date=ev.date, end_date=ev.end_date, start=ev.start_utc, end=ev.end_utc)


def snapshot(ev: Any) -> diff.Snapshot:
    return diff.Snapshot(kind=ev.kind, title=ev.title, status=ev.status, when=when_of(ev),
                         location=ev.location, judge=ev.judge, notes=ev.notes, url=ev.url)


def spec_values(spec: EventSpec, tz: ZoneInfo) -> dict[str, Any]:
    w = spec.when
    return {"kind": spec.kind, "title": spec.title, "status": spec.status, "date": w.date,
            "end_date": w.end_date, "start_utc": w.start, "end_utc": w.end,
            "sort_utc": w.sort_utc(tz), "location": spec.location, "notes": spec.notes,
            "url": spec.url, "judge": spec.judge}


def _rules_json(spec: CaseSpec) -> str | None:
    r = spec.reminders
    if r.offsets is None and not r.kinds:
        return None
    return json.dumps({
        "offsets": None if r.offsets is None else [int(o.total_seconds()) for o in r.offsets],
        "kinds": {k: [int(o.total_seconds()) for o in v] for k, v in r.kinds},
    }, sort_keys=True)


def case_stamp(s: Session, now: datetime) -> datetime:
    """A case update time later than every stored one.

    Readers (the feed cache) notice case edits by the newest ``updated_at``; two
    cases edited in one pass (same ``now``), or by a process whose clock is behind,
    must still move it.
    """
    newest = s.scalar(select(func.max(Case.updated_at)))
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return now if newest is None or newest < now else newest + timedelta(microseconds=1)


def owner_conflict(owner: str, source: str, live: Callable[[str], bool]) -> bool:
    return owner != source and live(owner)


def case_conflict(owner: str, spec: CalendarSpec, live: Callable[[str], bool]) -> bool:
    """Whether ``spec`` may not define a case currently owned by ``owner``.

    A remote source only references its cases, so it never conflicts; a calendar
    file claims a case that a remote source created as a placeholder.
    """
    if not spec.defines_cases or is_remote_source(owner):
        return False
    return owner_conflict(owner, spec.source, live)


def stored_events(s: Session, uids: Sequence[str]) -> dict[str, Any]:
    """uid -> stored event row (Core rows, attribute access) for those of ``uids``."""
    out: dict[str, Any] = {}
    for i in range(0, len(uids), _IN_CHUNK):
        chunk = list(uids[i:i + _IN_CHUNK])
        out.update((r.uid, r) for r in s.execute(select(ET).where(ET.c.uid.in_(chunk))))
    return out


def apply_cases(s: Session, spec: CalendarSpec, now: datetime, rows: dict[str, Case | None],
                stamp: Callable[[], datetime]) -> dict[str, ZoneInfo]:
    """Create or update the spec's cases in ``rows`` (case id -> stored row or None:
    a created one is put there), as ORM objects added to ``s``, not flushed; return
    case id -> time zone for its events. ``stamp()`` gives an edited case's
    ``updated_at`` (see :func:`case_stamp`)."""
    tzs: dict[str, ZoneInfo] = {}
    for c in spec.cases:
        tzs[c.id] = c.tz
        row = rows[c.id]
        if row is not None and not spec.defines_cases and row.source != spec.source:
            tzs[c.id] = ZoneInfo(row.timezone)  # its definer's metadata stays
            continue
        if row is None:
            row = rows[c.id] = Case(id=c.id, title=c.title, source=spec.source, created_at=now)
        values = dict(title=c.title, court=c.court, judge=c.judge, url=c.url, timezone=c.timezone,
                      tags=json.dumps(list(c.tags)), reminders=_rules_json(c), source=spec.source)
        if any(getattr(row, k) != v for k, v in values.items()) or row not in s:
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = stamp()
            s.add(row)
    return tzs


def apply_calendar(s: Session, spec: CalendarSpec, now: datetime,
                   live: Callable[[str], bool] = lambda _src: True,
                   remove_missing: bool = True) -> list[Change]:
    """Bring the store in line with one calendar; return the Change rows written.

    ``live(source)`` says whether another source still exists; a case or UID owned
    by a live other source is a conflict (CalendarError), one owned by a vanished
    source is taken over (a renamed file keeps its history). Cases of a spec with
    ``defines_cases=False`` (remote sources) are created when missing and otherwise
    left as their owner defined them, so a source can add events to a file's case.
    """
    s.flush()  # ORM changes the caller made must be in the rows read below
    problems: list[str] = []
    cases = {c.id: s.get(Case, c.id) for c in spec.cases}  # one query each, even if absent
    for c in spec.cases:
        row = cases[c.id]
        if row is not None and case_conflict(row.source, spec, live):
            problems.append(f"{spec.source}: case id {c.id!r} is already defined in "
                            f"{row.source}")
    existing = stored_events(s, [e.uid for e in spec.events])
    for e in spec.events:
        held = existing.get(e.uid)
        if held is not None and held.case_id != e.case_id:
            problems.append(f"{spec.source}: event UID {e.uid!r} already belongs to case "
                            f"{held.case_id!r} ({held.source})")
        elif held is not None and owner_conflict(held.source, spec.source, live):
            problems.append(f"{spec.source}: event UID {e.uid!r} is already defined in "
                            f"{held.source}")
    if problems:
        raise CalendarError(spec.source, problems)

    tzs = apply_cases(s, spec, now, cases, lambda: case_stamp(s, now))
    s.flush()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: list[tuple[str, str, diff.Delta]] = []  # (uid, case id, delta)
    for e in spec.events:
        tz = tzs.get(e.case_id) or ZoneInfo(s.get(Case, e.case_id).timezone)  # type: ignore[union-attr]
        ev = existing.get(e.uid)
        if ev is None:
            inserts.append({"uid": e.uid, "case_id": e.case_id, "event_id": e.event_id,
                            "source": spec.source, **spec_values(e, tz), "sequence": 0,
                            "removed_at": None, "created_at": now, "updated_at": now})
            changes.append((e.uid, e.case_id, diff.added(e, tz)))
            continue
        deltas = [diff.restored(e, tz)] if ev.removed_at is not None else []
        deltas += diff.classify(snapshot(ev), e, tz)
        if deltas or ev.source != spec.source:
            updates.append({"uid": e.uid, **spec_values(e, tz), "source": spec.source,
                            "removed_at": None,
                            "sequence": ev.sequence + 1 if deltas else ev.sequence,
                            "updated_at": now if deltas else ev.updated_at})
            changes += [(e.uid, e.case_id, d) for d in deltas]
    insert_many(s, ET, inserts)
    update_many(s, ET, "uid", updates)
    fresh = written(s)
    fresh.update((r["uid"], SimpleNamespace(**r)) for r in inserts)
    for r in updates:
        fresh[r["uid"]] = SimpleNamespace(**{**existing[r["uid"]]._asdict(), **r})
    out = record(s, changes, now)
    touched = [*(r["uid"] for r in inserts), *(r["uid"] for r in updates)]
    if remove_missing:
        keep = {e.uid for e in spec.events}
        held = s.execute(select(ET.c.uid).where(ET.c.source == spec.source,
                                                ET.c.removed_at.is_(None))).scalars()
        gone = [uid for uid in held if uid not in keep]
        if gone:
            out += remove_events(s, stored_events(s, gone).values(), now, where=spec.source)
    expire(s, touched)
    return out


def record(s: Session, changes: Sequence[tuple[str, str, diff.Delta]],
           now: datetime) -> list[Change]:
    """Insert Change rows for (event uid, case id, delta) in one statement; return them."""
    if not changes:
        return []
    rows: list[dict[str, Any]] = [
        {"event_uid": uid, "case_id": case_id, "kind": d.kind, "field": d.field,
         "before": d.before, "after": d.after, "summary": d.summary, "at": now}
        for uid, case_id, d in changes]
    # Ids given explicitly (SQLite: what it would assign; PostgreSQL: from the
    # sequence): with RETURNING, SQLAlchemy sends one row per statement on SQLite.
    ids = next_ids(s, CT, len(rows))
    full = [{"id": i, **r} for i, r in zip(ids, rows, strict=True)]
    insert_many(s, CT, full)
    return detached(Change, full)  # (the dicts become theirs: nothing else keeps them)


def tz_of(s: Session, case_id: str, cache: dict[str, ZoneInfo]) -> ZoneInfo:
    tz = cache.get(case_id)
    if tz is None:
        case = s.get(Case, case_id)
        tz = cache[case_id] = ZoneInfo(case.timezone if case else "UTC")
    return tz


def remove_events(s: Session, rows: Iterable[Any], now: datetime, where: str) -> list[Change]:
    """Mark stored events (ORM objects or Core rows) removed; record a change for each."""
    rows = list(rows)
    if not rows:
        return []
    tzs: dict[str, ZoneInfo] = {}
    deltas = [(r.uid, r.case_id, diff.removed(snapshot(r), tz_of(s, r.case_id, tzs), where))
              for r in rows]
    values = [{"uid": r.uid, "removed_at": now, "sequence": r.sequence + 1,
               "updated_at": now} for r in rows]
    update_many(s, ET, "uid", values)
    fresh = written(s)
    for r, v in zip(rows, values, strict=True):
        base = r._asdict() if hasattr(r, "_asdict") else \
            {c.name: getattr(r, c.name) for c in ET.columns}
        fresh[r.uid] = SimpleNamespace(**{**base, **v})
    expire(s, [r.uid for r in rows])
    return record(s, deltas, now)


def remove_event(s: Session, row: Any, now: datetime, where: str) -> list[Change]:
    return remove_events(s, [row], now, where)


def written(s: Session) -> dict[str, Any]:
    """uid -> the event as this transaction last wrote it (attribute access, all columns).

    The change hook runs right after the writes, in the same session: it reads the
    events it needs from here instead of selecting back what was just written. Kept in
    ``Session.info``, so it ends with the session; :func:`take_written` empties it.
    """
    held: dict[str, Any] = s.info.setdefault(_WRITTEN, {})
    return held


def take_written(s: Session) -> dict[str, Any]:
    """What :func:`written` holds, removed from the session (read it once)."""
    held: dict[str, Any] = s.info.pop(_WRITTEN, {})
    return held


def expire(s: Session, uids: Iterable[str]) -> None:
    """Expire Event objects the session holds for ``uids``: Core wrote under them."""
    held = [obj for obj in s.identity_map.values() if isinstance(obj, Event)]
    if not held:
        return
    wanted = set(uids)
    for obj in held:
        if obj.uid in wanted:
            s.expire(obj)
