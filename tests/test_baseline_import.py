"""The first import into an empty database is a baseline: history and reminders, no alerts.

After a database is lost (or on a first start), every event of every calendar file
and source would otherwise be announced as "added" on every channel.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sourcekit import ics
from sqlmodel import select

from notifier.config import parse_settings
from notifier.notify import outbox
from notifier.server.scheduler import Engine
from notifier.store import Store
from notifier.store.models import Change, Notification
from notifier.tracking.sync import sync_calendars

NOW = datetime(2030, 3, 1, 12, tzinfo=UTC)
CASE = """
[case]
id = "c"
title = "People v. Baseline"
timezone = "UTC"
"""
EVENT = """
[[events]]
id = "{id}"
kind = "hearing"
title = "Hearing {id}"
start = 2030-03-05T09:30:00
"""


def _rows(store: Store) -> tuple[list[str], list[tuple[str, str]]]:
    with store.read() as s:
        history = [c.kind for c in s.exec(select(Change)).all()]
        notes = [(n.type, n.status) for n in s.exec(select(Notification)).all()]
    return history, notes


def test_first_sync_into_an_empty_database_plans_reminders_and_sends_no_alert(
        tmp_path: Path, db_url: str, store: Store, write_cal: Any, folders: Any) -> None:
    settings = parse_settings({"database": {"url": db_url}, "reminders": {"offsets": ["1d"]},
                               "channels": [{"name": "desk", "url": "json://127.0.0.1:9/x"}]},
                              origin="test", base_dir=tmp_path, env={})
    hooks = {"hook": outbox.change_hook(settings),
             "baseline_hook": outbox.change_hook(settings, alerts=False)}
    write_cal("c.toml", CASE + EVENT.format(id="a") + EVENT.format(id="b"))
    report = sync_calendars(store, folders, now=NOW, **hooks)
    assert report.baseline and len(report.changes) == 2
    history, notes = _rows(store)
    assert history == ["added", "added"]
    assert sorted(notes) == [("reminder", "pending")] * 2  # no ("change", ...)

    # Once anything is stored, an added event is news again.
    write_cal("c.toml", CASE + EVENT.format(id="a") + EVENT.format(id="b")
              + EVENT.format(id="new"))
    report = sync_calendars(store, folders, now=NOW + timedelta(minutes=1), **hooks)
    assert not report.baseline and [c.kind for c in report.changes] == ["added"]
    history, notes = _rows(store)
    assert sorted(notes) == [("change", "pending")] + [("reminder", "pending")] * 3


def test_a_pass_whose_files_all_failed_leaves_the_next_one_a_baseline(
        tmp_path: Path, db_url: str, store: Store, write_cal: Any, folders: Any) -> None:
    settings = parse_settings({"database": {"url": db_url}}, origin="test", base_dir=tmp_path,
                              env={})
    hooks = {"hook": outbox.change_hook(settings),
             "baseline_hook": outbox.change_hook(settings, alerts=False)}
    write_cal("c.toml", CASE + "[[events]]\nid = 'x'\n")  # invalid: nothing is stored
    assert sync_calendars(store, folders, now=NOW, **hooks).errors
    write_cal("c.toml", CASE + EVENT.format(id="a"))
    report = sync_calendars(store, folders, now=NOW, **hooks)
    assert report.baseline and report.changes
    assert {t for t, _s in _rows(store)[1]} == {"reminder"}


def test_sources_first_fetch_after_an_empty_start_is_a_baseline_too(
        tmp_path: Path, db_url: str, store: Store) -> None:
    feed = tmp_path / "court.ics"
    soon = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y%m%dT093000")
    feed.write_bytes(ics({"h1@court": ("Hearing", soon), "h2@court": ("Trial", soon)}))
    settings = parse_settings({
        "database": {"url": db_url}, "calendars": {"paths": []},
        "channels": [{"name": "desk", "url": "json://127.0.0.1:9/x"}],
        "sources": [{"name": "court", "url": str(feed), "case": "c",
                     "timezone": "America/New_York"}]},
        origin="test", base_dir=tmp_path, env={})
    at = [datetime.now(UTC)]
    engine = Engine(store, settings, sync=False, clock=lambda: at[0])
    engine.start()
    try:
        [report] = engine.poll_sources()
        assert report.error is None and len(report.changes) == 2
        assert {t for t, _s in _rows(store)[1]} == {"reminder"}
        # The baseline is over for this source: its next change is announced.
        feed.write_bytes(ics({"h1@court": ("Hearing", soon), "h2@court": ("Trial", soon),
                              "h3@court": ("Sentencing", soon)}))
        at[0] += timedelta(hours=1)  # the source's next fetch is due
        [report] = engine.poll_sources()
    finally:
        assert engine.shutdown(5)
    changes = [t for t, _s in _rows(store)[1] if t == "change"]
    assert len(report.changes) == 1 and changes == ["change"]
