"""Reminders are never held back by a backlog of change alerts on their channel."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from channelkit import HttpSink
from conftest import WriteCal
from outboxhelpers import make_settings, utc

from notifier.notify import dispatch_sql, outbox
from notifier.notify.dispatch import Dispatcher
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

NOW = utc(2025, 6, 20, 12)
DUE_1D = utc(2025, 7, 1, 13, 30)  # the 1d reminder of the hearing at 09:30 EDT on 2 July
ALERTS = 60


def _calendar(write_cal: WriteCal) -> None:
    """One hearing whose 1-day reminder is planned, and ALERTS far-off hearings that
    each raise an "added" alert (and no reminder within the horizon). Each far hearing
    is a case of its own: several alerts of one case would be grouped into one message."""
    for i in range(ALERTS):
        write_cal(f"far{i}.toml", f'[case]\nid = "far{i}"\ntitle = "Far {i}"\n'
                  f'[[events]]\nid = "f"\nkind = "hearing"\ntitle = "Far {i}"\n'
                  f'date = 2026-03-{i % 28 + 1:02d}\n')
    write_cal("c.toml", '[case]\nid = "c"\ntitle = "People v. Test"\n'
              'timezone = "America/New_York"\n'
              '[[events]]\nid = "h"\nkind = "hearing"\ntitle = "Hearing"\n'
              'start = 2025-07-02T09:30:00\n')


def test_a_due_reminder_overtakes_the_alerts_queued_before_it(
        tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    with HttpSink(hang=0.02) as sink:  # a slow local webhook: every send takes >= 20 ms
        settings = make_settings(tmp_path, db_url, reminders={"offsets": ["1d"]},
                                 channels=[{"name": "hook", "url": sink.json_url()}])
        _calendar(write_cal)
        sync_calendars(store, folders, now=NOW, hook=outbox.change_hook(settings))
        # The real clock, shifted so that the reminder falls due 0.5 s into the drain
        # of the alerts queued ahead of it (>= 60 x 20 ms).
        t0 = time.monotonic()
        start = DUE_1D - timedelta(seconds=0.5)
        dispatcher = Dispatcher(store, settings,
                                clock=lambda: start + timedelta(seconds=time.monotonic() - t0))
        stats = dispatcher.run_once()
        dispatcher.close()
    total = ALERTS + 2  # the alerts (the hearing's own "added" too) and the reminder
    assert stats.sent == total and stats.handled == total
    titles = [str(body.get("title", "")) if isinstance(body, dict) else ""
              for _path, body in sink.requests]
    assert len(titles) == total  # each sent once
    where = [i for i, t in enumerate(titles) if t.startswith("Reminder")]
    assert len(where) == 1
    # Sent at the first claim after it fell due, while most alerts were still queued
    # (before, it waited for the whole queue: it came last).
    assert where[0] < ALERTS - 10, titles
    lateness = sink.times[where[0]] - t0 - 0.5
    assert lateness < 0.02 * ALERTS, lateness


def _seed(store: Store) -> None:
    old = NOW - timedelta(hours=1)
    rows = [outbox.new_row(f"alert:{i}", "change", "hook", old + timedelta(seconds=i), old,
                           {"text": f"alert {i}"}) for i in range(5)]
    rows += [outbox.new_row("rem", "reminder", "hook", NOW - timedelta(seconds=1), old,
                            {"text": "reminder"}),
             outbox.new_row("dig", "digest", "hook", NOW - timedelta(seconds=2), old,
                            {"text": "digest"}),
             outbox.new_row("rem-later", "reminder", "hook", NOW + timedelta(minutes=1), old,
                            {"text": "not due"})]
    with store.write() as s:
        outbox.insert_rows(s, rows)


def _claim_keys(store: Store, limit: int, fast: bool) -> list[str]:
    with store.lane_writer() as writer:
        lane = dispatch_sql.for_writer(writer) if fast else dispatch_sql.CoreLane(writer)
        return [n.dedupe_key for n in lane.claim(NOW, timedelta(minutes=2), limit,
                                                 channel="hook")]


@pytest.mark.parametrize("fast", [False, True], ids=["sqlalchemy", "sqlite3-driver"])
def test_claims_take_due_reminders_and_digests_before_older_alerts(store: Store,
                                                                   fast: bool) -> None:
    _seed(store)
    assert _claim_keys(store, 2, fast) == ["dig", "rem"]
    assert _claim_keys(store, 10, fast) == [f"alert:{i}" for i in range(5)]



def test_claims_take_due_reminders_first_on_postgres(pg_store: Store) -> None:
    _seed(pg_store)
    assert _claim_keys(pg_store, 2, True) == ["dig", "rem"]
    assert _claim_keys(pg_store, 10, True) == [f"alert:{i}" for i in range(5)]


