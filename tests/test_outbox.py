"""Outbox through real syncs on a real SQLite file: alerts, re-planning, claims, pruning."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from conftest import WriteCal
from outboxhelpers import Recorder, make_settings, utc
from sqlmodel import select

from notifier.config import Settings
from notifier.notify import outbox
from notifier.notify.dispatch import Dispatcher
from notifier.store import Store
from notifier.store.models import Delivery, Notification
from notifier.tracking.sync import sync_calendars

CASE = """
[case]
id = "c"
title = "People v. Test"
timezone = "America/New_York"
"""


def cal(write_cal: WriteCal, when: str, status: str = "scheduled") -> None:
    write_cal("c.toml", CASE + f"""
[[events]]
id = "h"
kind = "hearing"
title = "Hearing"
{when}
status = "{status}"
""")


def sync(store: Store, folders: list[tuple[str, Path]], settings: Settings,
         now: datetime) -> list[str]:
    report = sync_calendars(store, folders, now=now, hook=outbox.change_hook(settings))
    assert report.ok, report.errors
    return [c.kind for c in report.changes]


def rows(store: Store, **where: object) -> list[Notification]:
    with store.read() as s:
        q = select(Notification)
        for k, v in where.items():
            q = q.where(getattr(Notification, k) == v)
        return list(s.exec(q.order_by(Notification.due_at)).all())


NOW = utc(2025, 6, 20, 12)


def test_new_event_gets_alert_and_future_reminders(store: Store, write_cal: WriteCal,
                                                   folders, settings: Settings) -> None:
    cal(write_cal, "start = 2025-07-02T09:30:00")
    assert sync(store, folders, settings, NOW) == ["added"]
    [alert] = rows(store, type="change")
    assert alert.status == "pending" and alert.due_at == NOW and alert.channel == "log"
    rem = rows(store, type="reminder")
    assert [r.due_at for r in rem] == [utc(2025, 6, 25, 13, 30), utc(2025, 7, 1, 13, 30),
                                       utc(2025, 7, 2, 11, 30)]
    # Re-syncing and re-planning changes nothing (dedupe keys).
    assert sync(store, folders, settings, NOW) == []
    with store.write() as s:
        assert outbox.replan_all(s, settings, NOW)["inserted"] == 0
    assert len(rows(store)) == 4


def test_event_added_shortly_before_start_gets_no_stale_reminders(
        store: Store, write_cal: WriteCal, folders, settings: Settings) -> None:
    cal(write_cal, "start = 2025-06-20T09:00:00")  # 13:00 UTC, one hour after NOW
    sync(store, folders, settings, NOW)
    assert rows(store, type="reminder") == []
    assert len(rows(store, type="change")) == 1


def test_tbd_then_dated_plans_reminders(store: Store, write_cal: WriteCal, folders,
                                        settings: Settings) -> None:
    cal(write_cal, "", status="tbd")
    sync(store, folders, settings, NOW)
    assert rows(store, type="reminder") == []
    cal(write_cal, "date = 2025-07-02")
    assert sync(store, folders, settings, NOW + timedelta(hours=1)) == ["date_set"]
    assert len(rows(store, type="reminder")) == 2  # 7d and 1d at 09:00 local
    alerts = rows(store, type="change")
    assert "date set" in json.loads(alerts[-1].payload)["changes"][0]["summary"]


def test_reschedule_withdraws_old_plans_new_and_corrects_a_sent_one(
        store: Store, write_cal: WriteCal, folders, settings: Settings) -> None:
    cal(write_cal, "start = 2025-07-02T09:30:00")
    sync(store, folders, settings, NOW)
    rec = Recorder()
    # The 7-day reminder goes out on time.
    at = utc(2025, 6, 25, 13, 30, 5)
    stats = Dispatcher(store, settings, sender=rec, clock=lambda: at).run_once()
    assert stats.sent == 2  # the "added" alert and the 7d reminder
    cal(write_cal, "start = 2025-07-09T09:30:00")
    assert sync(store, folders, settings, at + timedelta(hours=1)) == ["rescheduled_later"]
    rem = rows(store, type="reminder")
    by_status = {(r.status, r.due_at) for r in rem}
    assert ("sent", utc(2025, 6, 25, 13, 30)) in by_status
    assert ("withdrawn", utc(2025, 7, 1, 13, 30)) in by_status
    assert ("withdrawn", utc(2025, 7, 2, 11, 30)) in by_status
    assert {d for s, d in by_status if s == "pending"} == {
        utc(2025, 7, 2, 13, 30), utc(2025, 7, 8, 13, 30), utc(2025, 7, 9, 11, 30)}
    alert = rows(store, type="change")[-1]
    payload = json.loads(alert.payload)
    assert "Wed 2 Jul 2025" in payload["changes"][0]["summary"]
    assert "Wed 9 Jul 2025" in payload["changes"][0]["summary"]
    # Plain words: what our reminder said, and what is true now.
    assert payload["corrections"] == [
        "Our reminder of Wed 25 Jun said Wed 2 Jul 2025 09:30 EDT; the hearing is now "
        "Wed 9 Jul 2025 09:30 EDT."]
    Dispatcher(store, settings, sender=rec, clock=lambda: at + timedelta(hours=1)).run_once()
    title, body = rec.sent[-1][1:3]
    assert title == ("Hearing moved later: Wed 2 Jul 2025 09:30 EDT -> Wed 9 Jul 2025 09:30 EDT"
                     " — People v. Test")
    assert "Our reminder of Wed 25 Jun said" in body and "reminder sent earlier" not in body
    # Moving back revives the withdrawn reminders instead of losing them.
    cal(write_cal, "start = 2025-07-02T09:30:00")
    sync(store, folders, settings, at + timedelta(hours=2))
    pending = {r.due_at for r in rows(store, type="reminder", status="pending")}
    assert pending == {utc(2025, 7, 1, 13, 30), utc(2025, 7, 2, 11, 30)}


def test_cancellation_withdraws_pending_and_alerts(store: Store, write_cal: WriteCal, folders,
                                                   settings: Settings) -> None:
    cal(write_cal, "start = 2025-07-02T09:30:00")
    sync(store, folders, settings, NOW)
    cal(write_cal, "start = 2025-07-02T09:30:00", status="cancelled")
    assert sync(store, folders, settings, NOW + timedelta(hours=1)) == ["cancelled"]
    assert {r.status for r in rows(store, type="reminder")} == {"withdrawn"}
    rec = Recorder()
    Dispatcher(store, settings, sender=rec, clock=lambda: NOW + timedelta(hours=1)).run_once()
    title, body = rec.sent[-1][1:3]
    assert title == "Hearing on Wed 2 Jul 2025 09:30 EDT cancelled — People v. Test"
    assert "When: Wed 2 Jul 2025 09:30 EDT (court time): cancelled" in body


def test_moved_earlier_within_72h_alert_is_urgent(store: Store, write_cal: WriteCal, folders,
                                                  settings: Settings) -> None:
    cal(write_cal, "start = 2025-07-02T09:30:00")
    sync(store, folders, settings, NOW)
    cal(write_cal, "start = 2025-06-22T09:30:00")
    assert sync(store, folders, settings, NOW) == ["rescheduled_earlier"]
    alert = rows(store, type="change")[-1]
    assert alert.urgent
    rec = Recorder()
    Dispatcher(store, settings, sender=rec, clock=lambda: NOW).run_once()
    assert any(t.startswith("URGENT: Hearing moved earlier") and u for _c, t, _b, u in rec.sent)


def test_channels_get_their_own_rows(tmp_path: Path, db_url: str, store: Store,
                                     write_cal: WriteCal, folders) -> None:
    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "a", "url": "json://127.0.0.1:1/"},
        {"name": "b", "url": "json://127.0.0.1:1/", "notify": ["change"]}])
    cal(write_cal, "start = 2025-07-02T09:30:00")
    sync(store, folders, settings, NOW)
    assert sorted(r.channel for r in rows(store, type="change")) == ["a", "b"]
    assert {r.channel for r in rows(store, type="reminder")} == {"a"}


def _fill(store: Store, n: int, now: datetime) -> None:
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"test:{i}", "test", "log", now, now,
                                              {"text": f"n{i}"}) for i in range(n)])


def test_two_claimers_never_get_the_same_row(db_url: str, store: Store) -> None:
    _fill(store, 300, NOW)
    got: list[list[int]] = [[], []]
    ready = threading.Barrier(2)
    # Two engines on one file, as two processes would have (Alembic is not thread-safe,
    # so they are opened here, not in the threads).
    stores = [Store(db_url), Store(db_url)]

    def worker(i: int) -> None:
        own = stores[i]
        ready.wait(10)
        try:
            for _ in range(1000):
                time.sleep(0.001)  # "sending" between claims lets the other one in
                with own.write() as s:
                    batch = outbox.claim(s, NOW, timedelta(minutes=1), 7)
                if not batch:
                    return
                got[i] += [n.id for n in batch if n.id is not None]
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not set(got[0]) & set(got[1])
    assert len(got[0]) + len(got[1]) == 300 and got[0] and got[1]


def test_expired_lease_is_reclaimed_once(store: Store) -> None:
    _fill(store, 1, NOW)
    lease = timedelta(seconds=30)
    with store.write() as s:
        [first] = outbox.claim(s, NOW, lease, 10)
    with store.write() as s:
        assert outbox.claim(s, NOW + timedelta(seconds=29), lease, 10) == []
        assert outbox.next_due(s) == NOW + lease
    with store.write() as s:
        [again] = outbox.claim(s, NOW + timedelta(seconds=31), lease, 10)
    assert again.id == first.id and again.attempts == 2
    with store.write() as s:
        assert outbox.finish(s, again, NOW, "sent")
        assert not outbox.finish(s, again, NOW, "sent")  # not ours any more


def test_release_hands_rows_back_uncounted(store: Store) -> None:
    _fill(store, 2, NOW)
    with store.write() as s:
        claimed = outbox.claim(s, NOW, timedelta(minutes=5), 10)
        outbox.release(s, [n.id for n in claimed if n.id], NOW)
    assert {(r.status, r.attempts) for r in rows(store)} == {("pending", 0)}


def test_prune_deletes_only_old_finished_rows(store: Store, settings: Settings) -> None:
    _fill(store, 3, NOW)
    rec = Recorder()
    Dispatcher(store, settings, sender=rec, clock=lambda: NOW).run_once()
    _fill(store, 4, NOW)  # keys test:0..3: 0-2 exist (sent); test:3 is new and pending
    with store.write() as s:
        assert outbox.prune(s, NOW + timedelta(days=89), timedelta(days=90)) == 0
        assert outbox.prune(s, NOW + timedelta(days=91), timedelta(days=90)) == 3
    assert [r.status for r in rows(store)] == ["pending"]
    with store.read() as s:
        assert s.exec(select(Delivery)).all() == []


def test_horizon_materialises_later_reminders_on_replan(store: Store, write_cal: WriteCal,
                                                        folders, settings: Settings) -> None:
    cal(write_cal, "start = 2025-08-20T09:30:00")  # two months after NOW
    sync(store, folders, settings, NOW)
    assert rows(store, type="reminder") == []  # nothing due within 14 days yet
    with store.write() as s:
        assert outbox.replan_all(s, settings, utc(2025, 8, 1, 12))["inserted"] == 1  # the 7d
    with store.write() as s:
        assert outbox.replan_all(s, settings, utc(2025, 8, 10, 12))["inserted"] == 2
    assert len(rows(store, type="reminder")) == 3


def test_changes_to_events_already_over_are_history_not_alerts(
        store: Store, write_cal: WriteCal, folders, settings: Settings) -> None:
    # First import of a hearing that is already over: recorded, but no alert.
    cal(write_cal, "date = 2025-06-03", status="completed")
    assert sync(store, folders, settings, NOW) == ["added"]
    assert rows(store, type="change") == []
    # Moved to another past date (a court tidying old entries): still no alert.
    cal(write_cal, "date = 2025-06-04", status="completed")
    assert sync(store, folders, settings, NOW + timedelta(minutes=1)) == ["rescheduled_later"]
    assert rows(store, type="change") == []
    # Moved from the past into the future: that is news.
    cal(write_cal, "date = 2025-07-09")
    kinds = sync(store, folders, settings, NOW + timedelta(minutes=2))
    assert kinds == ["rescheduled_later", "status_changed"]
    (alert,) = rows(store, type="change")
    summaries = [c["summary"] for c in json.loads(alert.payload)["changes"]]
    assert summaries[0] == "Hearing moved later: Wed 4 Jun 2025 -> Wed 9 Jul 2025"
