"""Sync: diff calendar specs against the store and record every change.

Call :func:`sync_calendars` for the configured folders (what ``notifier sync``
and the daemon's sync job do), or :func:`apply_calendar` for one spec inside a
write transaction (what remote sources use). Each file is applied in its own
transaction, so one bad file never blocks or corrupts the others; a file that
fails to parse leaves its stored events exactly as they were.

A pass into a database that has never imported anything (first start, or a
database deleted and re-created) is a *baseline import* (:func:`is_empty`): with a
``baseline_hook`` its changes go there instead of to ``hook``, so the caller can
record history and plan reminders without announcing every event as "added".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, func, select

from ..calendars.folders import scan
from ..errors import CalendarError
from ..specs import CalendarSpec, CaseSpec, EventSpec, When, is_remote_source
from ..store import Store
from ..store.models import Case, Change, Event
from ..store.watch import is_database_fault
from ..timeutil import utcnow
from . import diff

log = logging.getLogger(__name__)

# Called inside the write transaction with the changes just recorded, so that
# work derived from them (the notification outbox) commits atomically with them.
ChangeHook = Callable[[Session, list[Change], datetime], None]
_IN_CHUNK = 500


@dataclass
class SyncReport:
    changes: list[Change] = field(default_factory=list)
    errors: list[CalendarError] = field(default_factory=list)
    files: int = 0
    baseline: bool = False  # a baseline import into an empty database (see module doc)

    @property
    def ok(self) -> bool:
        return not self.errors


def _snapshot(ev: Event) -> diff.Snapshot:
    return diff.Snapshot(kind=ev.kind, title=ev.title, status=ev.status, when=when_of(ev),
                         location=ev.location, judge=ev.judge, notes=ev.notes, url=ev.url)


def when_of(ev: Event) -> When:
    return When(date=ev.date, end_date=ev.end_date, start=ev.start_utc, end=ev.end_utc)


def _rules_json(spec: CaseSpec) -> str | None:
    r = spec.reminders
    if r.offsets is None and not r.kinds:
        return None
    return json.dumps({
        "offsets": None if r.offsets is None else [int(o.total_seconds()) for o in r.offsets],
        "kinds": {k: [int(o.total_seconds()) for o in v] for k, v in r.kinds},
    }, sort_keys=True)


def _fill(ev: Event, spec: EventSpec, tz: ZoneInfo) -> None:
    ev.kind, ev.title, ev.status = spec.kind, spec.title, spec.status
    ev.date, ev.end_date = spec.when.date, spec.when.end_date
    ev.start_utc, ev.end_utc = spec.when.start, spec.when.end
    ev.sort_utc = spec.when.sort_utc(tz)
    ev.location, ev.notes, ev.url, ev.judge = spec.location, spec.notes, spec.url, spec.judge


def _record(s: Session, ev: Event, deltas: Iterable[diff.Delta], now: datetime) -> list[Change]:
    rows = [Change(event_uid=ev.uid, case_id=ev.case_id, kind=d.kind, field=d.field,
                   before=d.before, after=d.after, summary=d.summary, at=now) for d in deltas]
    for r in rows:
        s.add(r)
    return rows


def _case_stamp(s: Session, now: datetime) -> datetime:
    """A case update time later than every stored one.

    Readers (the feed cache) notice case edits by the newest ``updated_at``; two
    cases edited in one pass (same ``now``), or by a process whose clock is behind,
    must still move it.
    """
    newest = s.exec(select(func.max(Case.updated_at))).one()
    if newest is not None and newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return now if newest is None or newest < now else newest + timedelta(microseconds=1)


def _owner_conflict(owner: str, source: str, live: Callable[[str], bool]) -> bool:
    return owner != source and live(owner)


def _case_conflict(owner: str, spec: CalendarSpec, live: Callable[[str], bool]) -> bool:
    """Whether ``spec`` may not define a case currently owned by ``owner``.

    A remote source only references its cases, so it never conflicts; a calendar
    file claims a case that a remote source created as a placeholder.
    """
    if not spec.defines_cases or is_remote_source(owner):
        return False
    return _owner_conflict(owner, spec.source, live)


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
    problems: list[str] = []
    for c in spec.cases:
        row = s.get(Case, c.id)
        if row is not None and _case_conflict(row.source, spec, live):
            problems.append(f"{spec.source}: case id {c.id!r} is already defined in "
                            f"{row.source}")
    uids = [e.uid for e in spec.events]
    existing: dict[str, Event] = {}
    # In chunks: one IN list per file would pass SQLite's bound-variable limit
    # (999 before SQLite 3.32) with a large calendar or source.
    for i in range(0, len(uids), _IN_CHUNK):
        chunk = uids[i:i + _IN_CHUNK]
        existing.update((e.uid, e) for e in s.exec(select(Event).where(col(Event.uid).in_(chunk))))
    for e in spec.events:
        held = existing.get(e.uid)
        if held is not None and held.case_id != e.case_id:
            problems.append(f"{spec.source}: event UID {e.uid!r} already belongs to case "
                            f"{held.case_id!r} ({held.source})")
        elif held is not None and _owner_conflict(held.source, spec.source, live):
            problems.append(f"{spec.source}: event UID {e.uid!r} is already defined in "
                            f"{held.source}")
    if problems:
        raise CalendarError(spec.source, problems)

    tzs: dict[str, ZoneInfo] = {}
    for c in spec.cases:
        tzs[c.id] = c.tz
        row = s.get(Case, c.id)
        if row is not None and not spec.defines_cases and row.source != spec.source:
            tzs[c.id] = ZoneInfo(row.timezone)  # its definer's metadata stays
            continue
        if row is None:
            row = Case(id=c.id, title=c.title, source=spec.source, created_at=now)
        values = dict(title=c.title, court=c.court, judge=c.judge, url=c.url, timezone=c.timezone,
                      tags=json.dumps(list(c.tags)), reminders=_rules_json(c), source=spec.source)
        if any(getattr(row, k) != v for k, v in values.items()) or row not in s:
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = _case_stamp(s, now)
            s.add(row)
    s.flush()

    changes: list[Change] = []
    for e in spec.events:
        tz = tzs.get(e.case_id) or ZoneInfo(s.get(Case, e.case_id).timezone)  # type: ignore[union-attr]
        ev = existing.get(e.uid)
        if ev is None:
            ev = Event(uid=e.uid, case_id=e.case_id, event_id=e.event_id, source=spec.source,
                        title=e.title, created_at=now, updated_at=now)
            _fill(ev, e, tz)
            s.add(ev)
            s.flush()
            changes += _record(s, ev, [diff.added(e, tz)], now)
            continue
        deltas = []
        if ev.removed_at is not None:
            deltas.append(diff.restored(e, tz))
        deltas += diff.classify(_snapshot(ev), e, tz)
        moved = ev.source != spec.source
        if deltas or moved:
            _fill(ev, e, tz)
            ev.source = spec.source
            ev.removed_at = None
            if deltas:
                ev.sequence += 1
                ev.updated_at = now
            s.add(ev)
            changes += _record(s, ev, deltas, now)
    if remove_missing:
        keep = set(uids)
        live_rows = s.exec(select(Event).where(Event.source == spec.source,
                                               col(Event.removed_at).is_(None))).all()
        for gone in live_rows:
            if gone.uid not in keep:
                changes += remove_event(s, gone, now, where=spec.source)
    s.flush()
    return changes


def remove_event(s: Session, row: Event, now: datetime, where: str) -> list[Change]:
    case = s.get(Case, row.case_id)
    tz = ZoneInfo(case.timezone if case else "UTC")
    d = diff.removed(_snapshot(row), tz, where)
    row.removed_at = now
    row.sequence += 1
    row.updated_at = now
    s.add(row)
    return _record(s, row, [d], now)


def folder_of(source: str) -> str:
    """The folder label of a calendar file's source key (``label/file name``).

    Folders are not searched recursively, so the label is everything before the last
    ``/``: with folders ``a`` and ``a/b``, ``a/b/x.toml`` is in ``a/b`` only.
    """
    return source.rpartition("/")[0]


def is_empty(s: Session) -> bool:
    """Whether the database has never imported anything: no case, event or change."""
    return all(s.exec(select(model).limit(1)).first() is None  # type: ignore[arg-type]
               for model in (Case, Event, Change))


def _apply_failed(report: SyncReport, spec: CalendarSpec, e: Exception) -> None:
    log.exception("could not apply %s", spec.source)
    report.errors.append(CalendarError(spec.source, [
        f"{spec.source}: could not be applied ({type(e).__name__}: {e}); its "
        "stored events are unchanged"]))


def sync_calendars(store: Store, folders: list[tuple[str, Path]], *, now: datetime | None = None,
                   hook: ChangeHook | None = None,
                   baseline_hook: ChangeHook | None = None) -> SyncReport:
    """Read every calendar file and apply each one in its own transaction.

    With ``baseline_hook``, a pass that starts on an empty database (:func:`is_empty`)
    calls it instead of ``hook`` for every file, and says so in ``report.baseline``.
    """
    now = now or utcnow()
    found = scan(folders)
    report = SyncReport(errors=list(found.errors), files=len(found.seen))
    if baseline_hook is not None:
        with store.read() as s:
            report.baseline = is_empty(s)
        if report.baseline:
            hook = baseline_hook
    readable = {label.rstrip("/") for label, _ in folders
                if label not in found.unreadable_dirs}
    unreadable = {label.rstrip("/") for label in found.unreadable_dirs}

    def is_file_source(src: str) -> bool:
        return not is_remote_source(src) and folder_of(src) in readable

    def live(src: str) -> bool:
        """Whether the owner of a case or event still exists.

        Remote sources and files under a folder we could not read count as live (we
        cannot tell). A calendar file that is in none of the folders we read has
        vanished (deleted, renamed, or its folder is now written differently in the
        config), so a file defining the same case or UIDs takes them over.
        """
        if src in found.seen or is_remote_source(src):
            return True
        return folder_of(src) in unreadable

    for spec in found.calendars:
        try:
            with store.write() as s:
                store.serialize_sync(s)
                changes = apply_calendar(s, spec, now, live=live)
                if hook and changes:
                    hook(s, changes, now)
                report.changes += changes
        except CalendarError as e:
            report.errors.append(e)
        except DBAPIError as e:
            if is_database_fault(e):  # not this file's fault: the pass cannot go on
                raise
            _apply_failed(report, spec, e)
        except Exception as e:  # one broken file must never stop the others
            _apply_failed(report, spec, e)

    # Files that were deleted: their events are removed (a deliberate act, unlike a
    # file that failed to parse, whose events are kept as they were).
    with store.write() as s:
        store.serialize_sync(s)
        sources = s.exec(select(Event.source).where(col(Event.removed_at).is_(None))
                         .distinct()).all()
        changes = []
        for src in sources:
            if not is_file_source(src) or src in found.seen:
                continue
            for row in s.exec(select(Event).where(Event.source == src,
                                                  col(Event.removed_at).is_(None))).all():
                changes += remove_event(s, row, now, where=f"{src} (file deleted)")
        if hook and changes:
            hook(s, changes, now)
        report.changes += changes
    return report
