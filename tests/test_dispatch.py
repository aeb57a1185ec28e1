"""Dispatcher with an injected clock: late/missed, re-check before sending, retries, Apprise."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import WriteCal
from outboxhelpers import Recorder, Sink, make_settings, utc
from sqlalchemy import text
from sqlmodel import SQLModel, select

from notifier.config import Settings
from notifier.errors import DeliveryError
from notifier.notify import outbox
from notifier.notify.dispatch import Dispatcher
from notifier.notify.lane_health import backoff
from notifier.store import Store, alembic_config
from notifier.store.models import Delivery, Event, Notification
from notifier.tracking.sync import sync_calendars

NOW = utc(2025, 6, 20, 12)
DUE_1D = utc(2025, 7, 1, 13, 30)  # the 1d reminder of a hearing at 09:30 EDT on 2 July


def planned(store: Store, write_cal: WriteCal, folders: list[tuple[str, Path]],
            settings: Settings, start: str = "2025-07-02T09:30:00") -> None:
    write_cal("c.toml", f"""
[case]
id = "c"
title = "People v. Test"
timezone = "America/New_York"

[[events]]
id = "h"
kind = "hearing"
title = "Hearing"
start = {start}
status = "scheduled"
""")
    sync_calendars(store, folders, now=NOW, hook=outbox.change_hook(settings))
    Dispatcher(store, settings, sender=Recorder(), clock=lambda: NOW).run_once()  # the alert


def reminder(store: Store, due: datetime) -> Notification:
    with store.read() as s:
        return s.exec(select(Notification).where(Notification.type == "reminder",
                                                 Notification.due_at == due)).one()


def run_at(store: Store, settings: Settings, at: datetime, rec: Recorder | None = None):  # type: ignore[no-untyped-def]
    return Dispatcher(store, settings, sender=rec or Recorder(), clock=lambda: at,
                      rng=random.Random(1)).run_once()


def test_on_time_reminder_is_sent_not_late(store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    rec = Recorder()
    assert run_at(store, settings, DUE_1D + timedelta(seconds=2), rec).sent == 1
    n = reminder(store, DUE_1D)
    assert n.status == "sent" and not n.late and n.attempts == 1
    assert rec.sent[0][1].startswith("Reminder: Hearing in 1 day") and "late" not in rec.sent[0][2]


def test_late_within_grace_is_sent_marked_late(store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    rec = Recorder()
    stats = run_at(store, settings, DUE_1D + timedelta(hours=5), rec)  # grace is 6h
    assert stats.sent == 1 and stats.missed == 1  # 1d sent late; the 7d one is days stale
    n = reminder(store, DUE_1D)
    assert n.status == "sent" and n.late
    assert "Sent late" in rec.sent[0][2] and "Tue 01 Jul 09:30 EDT" in rec.sent[0][2]
    assert reminder(store, utc(2025, 6, 25, 13, 30)).status == "missed"


def test_late_beyond_grace_is_missed_never_sent(store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    rec = Recorder()
    run_at(store, settings, DUE_1D + timedelta(hours=7), rec)
    n = reminder(store, DUE_1D)
    assert n.status == "missed" and "late_grace" in (n.last_error or "")
    assert all("in 1d" not in t for _c, t, _b, _u in rec.sent)
    # A restart never resends or resurrects it.
    with store.write() as s:
        outbox.replan_all(s, settings, DUE_1D + timedelta(hours=8))
    run_at(store, settings, DUE_1D + timedelta(hours=8), rec)
    assert reminder(store, DUE_1D).status == "missed"


def test_reminder_after_event_started_is_missed(store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    rec = Recorder()
    run_at(store, settings, utc(2025, 7, 2, 13, 31), rec)  # one minute after the start
    assert {r.status for r in _all(store, "reminder")} == {"missed"}
    assert not [t for _c, t, _b, _u in rec.sent if t.startswith("Reminder")]


def _all(store: Store, ntype: str) -> list[Notification]:
    with store.read() as s:
        return list(s.exec(select(Notification).where(Notification.type == ntype)).all())


def test_event_moved_behind_the_outboxes_back_is_withdrawn_at_send_time(
        store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    with store.write() as s:  # e.g. another process changed the event without the hook
        ev = s.exec(select(Event)).one()
        ev.start_utc = ev.start_utc + timedelta(days=7)  # type: ignore[operator]
        ev.sort_utc = ev.start_utc
        s.add(ev)
    rec = Recorder()
    assert run_at(store, settings, DUE_1D + timedelta(seconds=1), rec).withdrawn == 2
    assert rec.sent == []
    assert reminder(store, DUE_1D).status == "withdrawn"


def test_transient_failures_back_off_then_dead_letter(tmp_path, db_url, store, write_cal,  # type: ignore[no-untyped-def]
                                                      folders) -> None:
    settings = make_settings(tmp_path, db_url, delivery={"max_attempts": 3, "backoff": "10s"})
    planned(store, write_cal, folders, settings)
    rec = Recorder()
    rec.fail = DeliveryError("503 from server")
    at = DUE_1D
    for attempt in (1, 2):
        run_at(store, settings, at, rec)
        n = reminder(store, DUE_1D)
        assert n.status == "failed" and n.attempts == attempt and n.last_error == "503 from server"
        wait = n.next_attempt_at - at
        top = timedelta(seconds=10 * 2 ** (attempt - 1))
        assert top / 2 <= wait <= top
        assert run_at(store, settings, n.next_attempt_at - timedelta(seconds=1), rec).handled == 0
        at = n.next_attempt_at
    run_at(store, settings, at, rec)
    n = reminder(store, DUE_1D)
    assert n.status == "dead" and n.attempts == 3
    with store.read() as s:
        outcomes = [d.outcome for d in s.exec(select(Delivery).where(
            Delivery.notification_id == n.id).order_by(Delivery.id)).all()]
    assert outcomes == ["retry", "retry", "dead"]


def test_permanent_failure_is_dead_at_once(store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    rec = Recorder()
    rec.fail = DeliveryError("401 bad token", permanent=True)
    assert run_at(store, settings, DUE_1D, rec).dead == 1
    assert reminder(store, DUE_1D).status == "dead"


def test_backoff_is_capped() -> None:
    from notifier.config import DeliverySettings
    cfg = DeliverySettings(backoff="30s", backoff_max="1h")
    rng = random.Random(0)
    assert backoff(20, cfg, rng) <= timedelta(hours=1)
    assert timedelta(seconds=15) <= backoff(1, cfg, rng) <= timedelta(seconds=30)


def test_apprise_channel_posts_to_a_local_webhook(tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    with Sink() as sink:
        settings = make_settings(tmp_path, db_url, channels=[{"name": "hook", "url": sink.url}])
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row("test:1", "test", "hook", NOW, NOW,
                                                  {"title": "t", "text": "hello"})])
        assert Dispatcher(store, settings, clock=lambda: NOW).run_once().sent == 1
    assert sink.bodies == {"hello": 1}


def test_unreachable_webhook_is_retried_and_secret_url_not_in_error(tmp_path, db_url,  # type: ignore[no-untyped-def]
                                                                    store) -> None:
    with Sink() as sink:
        port = sink.port  # closed after the block: nothing listens there any more
    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "hook", "url": f"json://127.0.0.1:{port}/secret-token"}])
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row("test:1", "test", "hook", NOW, NOW, {"text": "x"})])
    assert Dispatcher(store, settings, clock=lambda: NOW).run_once().failed == 1
    with store.read() as s:
        n = s.exec(select(Notification)).one()
    assert n.status == "failed" and "hook" in (n.last_error or "")
    assert "secret-token" not in (n.last_error or "")


def test_unconfigured_channel_is_dead(store, settings) -> None:  # type: ignore[no-untyped-def]
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row("test:1", "test", "gone", NOW, NOW, {"text": "x"})])
    assert Dispatcher(store, settings, clock=lambda: NOW).run_once().dead == 1


def test_migrations_match_models(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, SQLModel.metadata) == []


def test_upgrade_from_0001_keeps_rows(db_url: str) -> None:
    old = Store(db_url, migrate=False)
    old.migrate("0001")
    with old.engine.begin() as conn:
        conn.execute(text("INSERT INTO \"case\" (id, title, timezone, tags, source, created_at, "
                          "updated_at) VALUES ('c', 'T', 'UTC', '[]', 'x', '2025-01-01 00:00:00',"
                          " '2025-01-01 00:00:00')"))
    old.close()
    new = Store(db_url)
    assert new.current_revision() == new.head_revision()
    with new.engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM \"case\"")).scalar_one() == "T"
        assert conn.execute(text("SELECT count(*) FROM notification")).scalar_one() == 0
    command.downgrade(alembic_config(new.engine), "0001")
    new.close()


def test_payload_is_json(store, write_cal, folders, settings) -> None:  # type: ignore[no-untyped-def]
    planned(store, write_cal, folders, settings)
    payload = json.loads(reminder(store, DUE_1D).payload)
    assert payload["offset_text"] == "1d" and payload["event"]["case_id"] == "c"


def _queue(store: Store, n: int) -> None:
    """``n`` due test notifications t0, t1, ... for the log channel."""
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"test:{i}", "test", "log", NOW, NOW,
                                              {"title": f"t{i}", "text": "x"})
                               for i in range(n)])


def test_a_batch_whose_lease_is_half_spent_gets_a_fresh_one_before_the_next_send(
        tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    # Slow sends (20 s each against a 60 s lease): without care the last rows of a
    # batch would be sent after their lease ran out, when another dispatcher process
    # may have claimed them as well.
    settings = make_settings(tmp_path, db_url, delivery={"lease": "60s"})
    clock = [NOW]
    _queue(store, 6)
    seen: list[tuple[str, datetime | None, datetime]] = []

    def slow(channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        with store.read() as s:
            n = s.exec(select(Notification).where(Notification.payload.contains(  # type: ignore[attr-defined]
                f'"title": "{title}"'))).one()
        seen.append((title, n.claimed_until, clock[0]))
        clock[0] += timedelta(seconds=20)

    d = Dispatcher(store, settings, sender=slow, clock=lambda: clock[0], batch=5)
    stats = d.run_once()
    d.close()
    assert stats.sent == 6 and sorted(t for t, _, _ in seen) == [f"t{i}" for i in range(6)]
    assert all(until is not None and until - at >= timedelta(seconds=30)
               for _t, until, at in seen), seen
    with store.read() as s:
        rows = s.exec(select(Notification)).all()
        assert {n.attempts for n in rows} == {1}  # a hand-back is not an attempt
        assert len(s.exec(select(Delivery)).all()) == 6


def test_rows_another_dispatcher_claimed_after_the_lease_ran_out_are_left_to_it(
        tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    # The first send takes longer than the whole lease; meanwhile a second dispatcher
    # process claims the batch's (expired) rows. This one must not send them, hand
    # them back or finish them: they are the other's now.
    settings = make_settings(tmp_path, db_url, delivery={"lease": "60s"})
    clock = [NOW]
    _queue(store, 5)
    sent: list[str] = []
    other: list[Notification] = []

    def very_slow(channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        sent.append(title)
        clock[0] += timedelta(seconds=70)
        if not other:
            with store.write() as s:  # the other process
                other.extend(outbox.claim(s, clock[0], timedelta(seconds=60), 10))

    d = Dispatcher(store, settings, sender=very_slow, clock=lambda: clock[0], batch=5)
    stats = d.run_once()
    d.close()
    assert sent == ["t0"] and len(other) == 5
    assert stats.sent == 1  # attempted and recorded, though its lease was lost
    with store.read() as s:
        rows = s.exec(select(Notification).order_by(Notification.id)).all()
        deliveries = s.exec(select(Delivery)).all()
    # every row is the other dispatcher's, untouched: still sending, its lease, 2 attempts
    assert {(n.status, n.claimed_until, n.attempts) for n in rows} == {
        ("sending", NOW + timedelta(seconds=130), 2)}
    assert [x.notification_id for x in deliveries] == [rows[0].id]


def test_a_short_lease_for_the_channel_timeouts_is_warned_about(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    from notifier.notify.dispatch import lease_warning

    ok = make_settings(tmp_path, db_url, channels=[{"name": "a", "url": "json://127.0.0.1:9"}])
    assert lease_warning(ok) is None  # the defaults: 2m lease, 15s timeout
    short = make_settings(tmp_path, db_url, delivery={"lease": "30s"}, channels=[
        {"name": "a", "url": "json://127.0.0.1:9"},
        {"name": "slow", "url": "json://127.0.0.1:9", "timeout": "20s"}])
    why = lease_warning(short)
    assert why is not None and "'slow'" in why and "0:00:30" in why


def test_an_outcome_write_on_a_busy_database_is_retried_not_left_to_be_resent(
        tmp_path, db_url, store, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from notifier.notify import dispatch, dispatch_sql

    settings = make_settings(tmp_path, db_url)
    _queue(store, 1)
    real = dispatch_sql.SqliteLane.finish
    fails = [2]

    def busy_twice(self, *a, **kw):  # type: ignore[no-untyped-def]
        if fails[0]:
            fails[0] -= 1
            raise sqlite3.OperationalError("database is locked")
        return real(self, *a, **kw)

    monkeypatch.setattr(dispatch_sql.SqliteLane, "finish", busy_twice)
    caplog.set_level("INFO", logger="notifier")
    monkeypatch.setattr(dispatch, "BACKOFF_FIRST", 0.01)
    rec = Recorder()
    stats = run_at(store, settings, NOW, rec)
    assert stats.sent == 1 and len(rec.sent) == 1 and fails == [0]
    with store.read() as s:
        [n] = s.exec(select(Notification)).all()
        assert n.status == "sent"
        assert len(s.exec(select(Delivery)).all()) == 1
    # The first failure is logged with its reason; the next one only counts (summary).
    assert caplog.text.count("database is locked") == 1
    assert "recovered after 2 failure(s) (database_locked)" in caplog.text


def test_an_outcome_whose_commit_reported_an_error_but_landed_is_not_recorded_twice(
        tmp_path, db_url, store, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    # PostgreSQL can report an error from a COMMIT that did commit (the connection
    # dropped on the way back): the retry must not add a second Delivery row.
    import sqlite3

    from notifier.notify import dispatch, dispatch_sql

    settings = make_settings(tmp_path, db_url)
    _queue(store, 1)
    real = dispatch_sql.SqliteLane.finish
    calls = [0]

    def lands_then_errors(self, *a, **kw):  # type: ignore[no-untyped-def]
        calls[0] += 1
        real(self, *a, **kw)
        if calls[0] == 1:
            raise sqlite3.OperationalError("server closed the connection unexpectedly")
        return True

    monkeypatch.setattr(dispatch_sql.SqliteLane, "finish", lands_then_errors)
    monkeypatch.setattr(dispatch, "BACKOFF_FIRST", 0.01)
    stats = run_at(store, settings, NOW)
    assert stats.sent == 1 and calls == [1]
    with store.read() as s:
        [n] = s.exec(select(Notification)).all()
        assert n.status == "sent" and len(s.exec(select(Delivery)).all()) == 1
    assert "another dispatcher" not in caplog.text
