"""Sync: diff calendar specs against the store and record every change.

Call :func:`sync_calendars` for the configured folders (what ``notifier sync``
and the daemon's sync job do), or :func:`apply_calendar` for one spec inside a
write transaction (what remote sources use; :mod:`.apply` does it in bulk). Changed
files are grouped a few thousand events per transaction and each group is applied
together, in shared statements (:mod:`.batch`), with the files' stamps
(:mod:`.filestate`); a file in conflict with another is left out, and should a shared
statement fail, the group is rolled back and applied again file by file, each in a
savepoint of its own. So one bad file never blocks or corrupts the others, and a kill
at any point leaves every file either applied and stamped or as it was; a file that
fails to parse leaves its stored events exactly as they were. Files unchanged since
the last pass are not parsed at all.

A pass into a database that has never imported anything (first start, or a
database deleted and re-created) is a *baseline import* (:func:`is_empty`): with a
``baseline_hook`` its changes go there instead of to ``hook``, so the caller can
record history and plan reminders without announcing every event as "added".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from ..calendars.folders import FileStamp, scan
from ..errors import CalendarError
from ..specs import CalendarSpec, is_remote_source
from ..store import Store
from ..store.models import Case, Change, Event
from ..store.watch import is_database_fault
from ..timeutil import utcnow
from . import filestate
from .apply import (
    ET,
    ChangeHook,
    apply_calendar,
    remove_event,
    remove_events,
    take_written,
    when_of,
)
from .batch import apply_calendars

__all__ = ["ChangeHook", "SyncReport", "apply_calendar", "folder_of", "is_empty",
           "remove_event", "remove_events", "sync_calendars", "when_of"]
log = logging.getLogger(__name__)
# Files applied per transaction: one commit per file was most of a first import's
# time; a batch still holds the write lock only briefly (~0.1-0.3 s).
_BATCH_EVENTS = 5000
_BATCH_FILES = 100


@dataclass
class SyncReport:
    changes: list[Change] = field(default_factory=list)
    errors: list[CalendarError] = field(default_factory=list)
    files: int = 0
    baseline: bool = False  # a baseline import into an empty database (see module doc)
    unchanged: int = 0  # files skipped: as they were when last read

    @property
    def ok(self) -> bool:
        return not self.errors


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


def _apply_failed(report: SyncReport, source: str, e: Exception) -> None:
    log.exception("could not apply %s", source)
    report.errors.append(CalendarError(source, [
        f"{source}: could not be applied ({type(e).__name__}: {e}); its "
        "stored events are unchanged"]))


def sync_calendars(store: Store, folders: list[tuple[str, Path]], *, now: datetime | None = None,
                   hook: ChangeHook | None = None,
                   baseline_hook: ChangeHook | None = None,
                   verify: bool = False) -> SyncReport:
    """Read every changed calendar file and apply each one in its own transaction.

    A file unchanged since the last pass (size and mtime, else its content hash: see
    :func:`notifier.calendars.folders.scan`) is not parsed; one that failed to parse
    is reported with the same problems until it changes. ``verify`` hashes every
    file whatever its size and mtime say.

    With ``baseline_hook``, a pass that starts on an empty database (:func:`is_empty`)
    calls it instead of ``hook`` for every file, and says so in ``report.baseline``.
    """
    now = now or utcnow()
    with store.read() as s:
        known, stamped = filestate.known(s)
        if baseline_hook is not None:
            baseline = is_empty(s)
    found = scan(folders, {} if verify else known)
    report = SyncReport(errors=list(found.errors), files=len(found.seen),
                        unchanged=len(found.unchanged))
    if baseline_hook is not None:
        report.baseline = baseline
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

    for batch in _batches(found.calendars):
        _apply_batch(store, batch, report, found.stamps, now, live, hook)

    # Files that were deleted: their events are removed (a deliberate act, unlike a
    # file that failed to parse, whose events are kept as they were). Every file with
    # events has a stamp (the apply writes it; migration 0006 stamped older ones), so
    # the stamps of files no longer there name them; ``verify`` also scans the events.
    gone = [src for src in stamped if is_file_source(src) and src not in found.seen]
    if verify:
        with store.read() as s:
            gone = sorted({*gone, *_deleted_sources(s, is_file_source, found.seen)})
    if not (gone or found.stamps):
        return report
    with store.write() as s:
        store.serialize_sync(s)
        changes = []
        for src in gone:
            rows = s.execute(select(ET).where(ET.c.source == src, ET.c.removed_at.is_(None)))
            changes += remove_events(s, rows, now, where=f"{src} (file deleted)")
        if hook and changes:
            hook(s, changes, now)
        # Unchanged content under a new mtime, files that failed to parse or apply.
        filestate.save(s, found.stamps)
        filestate.forget(s, gone)
        report.changes += changes
    return report


def _batches(specs: list[CalendarSpec]) -> Iterator[list[CalendarSpec]]:
    """Files in groups of about ``_BATCH_EVENTS`` events (at most ``_BATCH_FILES``)."""
    batch: list[CalendarSpec] = []
    events = 0
    for spec in specs:
        batch.append(spec)
        events += len(spec.events)
        if events >= _BATCH_EVENTS or len(batch) >= _BATCH_FILES:
            yield batch
            batch, events = [], 0
    if batch:
        yield batch


def _apply_batch(store: Store, batch: list[CalendarSpec], report: SyncReport,
                 stamps: dict[str, FileStamp], now: datetime, live: Callable[[str], bool],
                 hook: ChangeHook | None) -> None:
    """Apply files in one transaction: all together (:func:`.batch.apply_calendars`),
    or, should that fail, each in a savepoint of its own (:func:`_apply_each`).

    A file in conflict with another is left out either way (its stored events stay as
    they were); each applied file's stamp commits with its events, so a kill at any
    point leaves every file applied and stamped, or neither.
    """
    try:
        done, errors = _apply_together(store, batch, stamps, now, live, hook)
        failed = [e.path for e in errors]
        report.errors += errors
    except DBAPIError as e:
        if is_database_fault(e):  # not a file's fault: the pass cannot go on
            raise
        log.info("applying %d files together failed (%s); applying them one by one",
                 len(batch), type(e).__name__)
        done, failed = _apply_each(store, batch, report, stamps, now, live, hook)
    except Exception as e:  # a file that breaks a statement: find it, apply the others
        log.info("applying %d files together failed (%s); applying them one by one",
                 len(batch), type(e).__name__)
        done, failed = _apply_each(store, batch, report, stamps, now, live, hook)
    for source, changes in done:
        stamps.pop(source, None)
        report.changes += changes
    for source in failed:
        stamp = stamps.pop(source, None)
        if stamp is not None:
            # Stamped all the same, matching no file or content: it is read and applied
            # again next pass, and a deletion of it is noticed.
            stamps[source] = replace(stamp, mtime_ns=-1, sha256="", problems=None)


Applied = list[tuple[str, list[Change]]]  # (source, its changes) of the applied files


def _apply_together(store: Store, batch: list[CalendarSpec], stamps: dict[str, FileStamp],
                    now: datetime, live: Callable[[str], bool],
                    hook: ChangeHook | None) -> tuple[Applied, list[CalendarError]]:
    """The batch's files in shared statements, its changes through one hook call."""
    with store.write() as s:
        store.serialize_sync(s)
        take_written(s)
        result = apply_calendars(s, batch, now, live)
        changes = result.all_changes
        if hook and changes:
            hook(s, changes, now)
        filestate.save(s, {src: stamps[src] for src in result.changes if src in stamps})
    return list(result.changes.items()), result.errors


def _apply_each(store: Store, batch: list[CalendarSpec], report: SyncReport,
                stamps: dict[str, FileStamp], now: datetime, live: Callable[[str], bool],
                hook: ChangeHook | None) -> tuple[Applied, list[str]]:
    """Apply files in one transaction, each in a savepoint of its own.

    A file that fails is rolled back to its savepoint alone (its stored events stay
    as they were) and the others commit.
    """
    done: Applied = []
    failed: list[str] = []
    try:
        with store.write() as s:
            store.serialize_sync(s)
            for spec in batch:
                take_written(s)  # nothing a failed file wrote may reach the next hook
                try:
                    with s.begin_nested():
                        changes = apply_calendar(s, spec, now, live=live)
                        if hook and changes:
                            hook(s, changes, now)
                        stamp = stamps.get(spec.source)
                        if stamp is not None:  # with the events it describes, or not at all
                            filestate.save(s, {spec.source: stamp})
                    done.append((spec.source, changes))
                except CalendarError as e:
                    report.errors.append(e)
                    failed.append(spec.source)
                except DBAPIError as e:
                    if is_database_fault(e):  # not this file's fault: the pass cannot go on
                        raise
                    _apply_failed(report, spec.source, e)
                    failed.append(spec.source)
                except Exception as e:  # one broken file must never stop the others
                    _apply_failed(report, spec.source, e)
                    failed.append(spec.source)
    except DBAPIError as e:
        if is_database_fault(e):
            raise
        for source, _ in done:  # the commit failed: none of them is applied
            _apply_failed(report, source, e)
        failed += [source for source, _ in done]
        done = []
    return done, failed


def _deleted_sources(s: Session, is_file_source: Callable[[str], bool],
                     seen: set[str]) -> list[str]:
    """Calendar files with live events that are no longer in their (readable) folder."""
    sources = s.execute(select(ET.c.source).where(ET.c.removed_at.is_(None)).distinct())
    return [src for (src,) in sources if is_file_source(src) and src not in seen]
