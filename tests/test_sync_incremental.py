"""Incremental sync: unchanged files are skipped, changed ones applied, nothing missed.

Files are given an mtime an hour back unless a test needs otherwise, so their stamps
are trusted by size and mtime alone (a stamp taken within 2 s of the file's mtime is
checked by hash: see ``notifier.calendars.folders.RACY_NS``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from notifier.calendars import folders as folders_module
from notifier.store import Store
from notifier.store.bulk import insert_many
from notifier.store.models import CalendarFile, Change, Event
from notifier.tracking.sync import sync_calendars

T0 = datetime(2030, 3, 1, 12, tzinfo=UTC)


def cal(case: str, n: int, *, day: int = 10, title: str = "Hearing") -> str:
    out = [f'[case]\nid = "{case}"\ntitle = "People v. {case}"\ntimezone = "UTC"\n']
    for i in range(n):
        out.append(f'\n[[events]]\nid = "e{i}"\nkind = "hearing"\ntitle = "{title} {i}"\n'
                   f"date = 2030-03-{day + i % 10:02d}\n")
    return "".join(out)


def write(cal_dir: Path, name: str, text: str, *, age: float = 3600.0) -> Path:
    p = cal_dir / name
    p.write_text(text, encoding="utf-8")
    then = time.time() - age
    os.utime(p, (then, then))
    return p


class Counter:
    """Counts file reads and parses in the calendar folder scanner."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        self.parses = 0
        real_read, real_parse = folders_module._read, folders_module.parse_calendar

        def read(*a: Any) -> bytes:
            self.reads += 1
            return real_read(*a)

        def parse(*a: Any) -> Any:
            self.parses += 1
            return real_parse(*a)
        monkeypatch.setattr(folders_module, "_read", read)
        monkeypatch.setattr(folders_module, "parse_calendar", parse)

    def reset(self) -> None:
        self.reads = self.parses = 0


def live(store: Store, source: str) -> set[str]:
    with store.read() as s:
        return set(s.exec(select(Event.uid).where(Event.source == source,
                                                  Event.removed_at == None)).all())  # noqa: E711


def kinds(store: Store) -> list[str]:
    with store.read() as s:
        return [c.kind for c in s.exec(select(Change).order_by(Change.id)).all()]


def test_unchanged_files_are_neither_read_nor_parsed_even_after_a_restart(
        store: Store, cal_dir: Path, folders: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        write(cal_dir, f"c{i}.toml", cal(f"c{i}", 4))
    count = Counter(monkeypatch)
    first = sync_calendars(store, folders, now=T0)
    assert first.ok and len(first.changes) == 12 and count.parses == 3

    count.reset()
    again = Store(store.url)  # a restart: the stamps are in the database
    try:
        report = sync_calendars(again, folders, now=T0 + timedelta(minutes=1))
    finally:
        again.close()
    assert report.ok and report.changes == [] and report.files == 3
    assert report.unchanged == 3 and (count.reads, count.parses) == (0, 0)

    # An edit is picked up, and only that file is read.
    count.reset()
    write(cal_dir, "c1.toml", cal("c1", 4, day=20))
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=2))
    assert {c.kind for c in report.changes} == {"rescheduled_later"}
    assert len(report.changes) == 4 and (count.reads, count.parses) == (1, 1)


def test_same_content_with_a_new_mtime_is_hashed_not_parsed(
        store: Store, cal_dir: Path, folders: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(cal_dir, "c.toml", cal("c", 3))
    assert sync_calendars(store, folders, now=T0).ok
    count = Counter(monkeypatch)
    os.utime(p, (time.time() - 60, time.time() - 60))  # touched, same bytes
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=1))
    assert report.changes == [] and (count.reads, count.parses) == (1, 0)
    count.reset()  # the new mtime was stored: the next pass does not even read it
    assert sync_calendars(store, folders, now=T0 + timedelta(minutes=2)).changes == []
    assert count.reads == 0


def test_a_same_size_edit_within_the_mtime_granularity_is_still_seen(
        store: Store, cal_dir: Path, folders: Any) -> None:
    # Written just now: the stamp is "racy" (taken within 2 s of the mtime), so the
    # next pass hashes the file even though size and mtime are unchanged.
    p = write(cal_dir, "c.toml", cal("c", 2, title="Hearing"), age=0)
    assert sync_calendars(store, folders, now=T0).ok
    st = p.stat()
    p.write_text(cal("c", 2, title="Hearsay"), encoding="utf-8")  # same length
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_size == st.st_size
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=1))
    assert [c.kind for c in report.changes] == ["title_changed", "title_changed"]


def test_verify_rereads_a_file_whose_size_and_mtime_were_kept(
        store: Store, cal_dir: Path, folders: Any) -> None:
    p = write(cal_dir, "c.toml", cal("c", 1, title="Hearing"))
    assert sync_calendars(store, folders, now=T0).ok
    st = p.stat()
    p.write_text(cal("c", 1, title="Hearsay"), encoding="utf-8")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` or a restore might
    assert sync_calendars(store, folders, now=T0 + timedelta(minutes=1)).changes == []
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=2), verify=True)
    assert [c.kind for c in report.changes] == ["title_changed"]


def test_a_file_that_failed_to_parse_is_reported_every_pass_and_retried_when_it_changes(
        store: Store, cal_dir: Path, folders: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    write(cal_dir, "c.toml", cal("c", 2))
    assert sync_calendars(store, folders, now=T0).ok
    write(cal_dir, "c.toml", cal("c", 2) + '\n[[events]]\nid = "x"\n')  # no title
    count = Counter(monkeypatch)
    first = sync_calendars(store, folders, now=T0 + timedelta(minutes=1))
    assert count.parses == 1 and [e.path for e in first.errors] == ["calendars/c.toml"]
    count.reset()
    second = sync_calendars(store, folders, now=T0 + timedelta(minutes=2))
    assert count.parses == 0, "an unchanged bad file is not parsed again"
    assert [str(e) for e in second.errors] == [str(e) for e in first.errors]
    assert "calendars/c.toml" in str(second.errors[0]) and "title" in str(second.errors[0])
    assert live(store, "calendars/c.toml") == {"c/e0@notifier", "c/e1@notifier"}
    write(cal_dir, "c.toml", cal("c", 3))
    fixed = sync_calendars(store, folders, now=T0 + timedelta(minutes=3))
    assert fixed.ok and [c.kind for c in fixed.changes] == ["added"]


def test_a_skipped_file_that_is_deleted_has_its_events_removed(
        store: Store, cal_dir: Path, folders: Any) -> None:
    p = write(cal_dir, "gone.toml", cal("g", 2))
    write(cal_dir, "kept.toml", cal("k", 1))
    assert sync_calendars(store, folders, now=T0).ok
    assert sync_calendars(store, folders, now=T0 + timedelta(minutes=1)).unchanged == 2
    p.unlink()
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=2))
    assert [c.kind for c in report.changes] == ["removed", "removed"]
    assert live(store, "calendars/gone.toml") == set()
    with store.read() as s:
        assert s.get(CalendarFile, "calendars/gone.toml") is None
    # Put back unchanged: read again (its stamp went with it), events restored.
    write(cal_dir, "gone.toml", cal("g", 2))
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=3))
    assert [c.kind for c in report.changes] == ["restored", "restored"]


def test_a_file_whose_apply_failed_is_applied_once_the_conflict_is_gone(
        store: Store, cal_dir: Path, folders: Any) -> None:
    first = write(cal_dir, "a.toml", cal("same", 1))
    write(cal_dir, "b.toml", cal("same", 2, day=20))
    report = sync_calendars(store, folders, now=T0)
    assert [e.path for e in report.errors] == ["calendars/b.toml"]
    first.unlink()  # b.toml itself is unchanged
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=1))
    assert report.ok and live(store, "calendars/b.toml") == {"same/e0@notifier",
                                                             "same/e1@notifier"}


def test_a_failing_file_in_a_batch_is_rolled_back_alone_and_retried(
        store: Store, cal_dir: Path, folders: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(4):
        write(cal_dir, f"c{i}.toml", cal(f"c{i}", 2))

    def hook(s: Any, changes: list[Change], now: datetime) -> None:
        if any(c.case_id == "c2" for c in changes):
            raise RuntimeError("the outbox could not be written")
    report = sync_calendars(store, folders, now=T0, hook=hook)
    assert [e.path for e in report.errors] == ["calendars/c2.toml"]
    assert "RuntimeError" in str(report.errors[0])
    assert {c.case_id for c in report.changes} == {"c0", "c1", "c3"}
    assert live(store, "calendars/c2.toml") == set()
    with store.read() as s:
        assert {c.case_id for c in s.exec(select(Change)).all()} == {"c0", "c1", "c3"}
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=1))
    assert report.ok and {c.case_id for c in report.changes} == {"c2"}
    assert sorted(kinds(store)) == ["added"] * 8


def test_pruned_events_come_back_when_their_unchanged_file_is_configured_again(
        tmp_path: Path, store: Store, cal_dir: Path, folders: Any) -> None:
    from notifier.config import parse_settings
    from notifier.tracking import orphans

    write(cal_dir, "c.toml", cal("c", 2))
    assert sync_calendars(store, folders, now=T0).ok
    other = tmp_path / "elsewhere"
    other.mkdir()
    settings = parse_settings({"database": {"url": store.url},
                               "calendars": {"paths": [str(other)]}},
                              origin="test", base_dir=tmp_path, env={})
    assert len(orphans.prune(store, settings, T0 + timedelta(minutes=1))) == 2
    report = sync_calendars(store, folders, now=T0 + timedelta(minutes=2))
    assert [c.kind for c in report.changes] == ["restored", "restored"]


def test_bulk_rows_are_stored_exactly_as_the_orm_stores_them(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        start = datetime(2030, 3, 1, 9, 30, 0, 5, tzinfo=UTC)
        common: dict[str, Any] = dict(
            case_id="c", event_id="e", source="s", title="T", date=date(2030, 3, 1),
            end_date=None, start_utc=start, end_utc=start + timedelta(hours=2),
            sort_utc=start, created_at=T0, updated_at=T0.astimezone())
        with store.write() as s:
            from notifier.store.models import Case
            s.add(Case(id="c", title="C", source="s"))
            s.flush()
            s.add(Event(uid="orm", **common))
            s.flush()
            full = {c.name: None for c in Event.__table__.columns}  # type: ignore[attr-defined]
            insert_many(s, Event.__table__, [{**full, "uid": "bulk", "kind": "event",  # type: ignore[attr-defined]
                                              "status": "scheduled", "sequence": 0,
                                              **common}])
        db = sqlite3.connect(tmp_path / "x.db")
        rows = {r[0]: r[1:] for r in db.execute(
            "SELECT uid, date, start_utc, end_utc, sort_utc, created_at, updated_at, "
            "removed_at FROM event")}
        db.close()
        assert rows["bulk"] == rows["orm"]
        with store.read() as s:
            bulk, orm = s.get(Event, "bulk"), s.get(Event, "orm")
            assert bulk is not None and orm is not None
            assert (bulk.start_utc, bulk.updated_at) == (start, T0) == \
                (orm.start_utc, orm.updated_at)
    finally:
        store.close()
