"""The same code on PostgreSQL: migrations, sync and history.

Needs a server: set NOTIFIER_TEST_POSTGRES_URL (``.ci/postgres.sh`` starts one and
prints it; CI always does). Each test gets a fresh database.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from notifier.store import Store
from notifier.store.models import Event
from notifier.store.queries import history
from notifier.tracking.sync import sync_calendars

ADMIN_URL = os.environ.get("NOTIFIER_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not ADMIN_URL, reason="no PostgreSQL server: run `.ci/postgres.sh` and set "
    "NOTIFIER_TEST_POSTGRES_URL to its output (CI does)")



def test_migrations_match_models_on_postgres(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, SQLModel.metadata) == []


def test_sync_and_history_on_postgres(pg_store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    head = ('[case]\nid = "c1"\ntitle = "P v. X"\ntimezone = "America/New_York"\n'
            '[[events]]\nid = "h"\nkind = "hearing"\ntitle = "Hearing"\n')
    t = datetime(2025, 6, 1, 12, tzinfo=UTC)
    write_cal("c1.toml", head + 'start = 2025-07-02T09:30:00\nduration = "1h"\n')
    assert [c.kind for c in sync_calendars(pg_store, folders, now=t).changes] == ["added"]
    write_cal("c1.toml", head + 'start = 2025-07-09T09:30:00\nduration = "1h"\n'
              'status = "postponed"\n')
    r = sync_calendars(pg_store, folders, now=t.replace(hour=13))
    assert [c.kind for c in r.changes] == ["rescheduled_later", "postponed"]
    assert sync_calendars(pg_store, folders, now=t.replace(hour=14)).changes == []
    with pg_store.read() as s:
        ev = s.get(Event, "c1/h@notifier")
        assert ev is not None
        assert ev.start_utc == datetime(2025, 7, 9, 13, 30, tzinfo=UTC)
        assert [h.kind for h in history(s, ev.uid)] == ["added", "rescheduled_later",
                                                       "postponed"]


def test_concurrent_syncs_record_each_change_once(pg_store: Store, write_cal, folders,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A `notifier sync` beside the daemon's sync: every change recorded exactly once."""
    import threading
    import time

    import notifier.tracking.apply as sync_module

    real_classify = sync_module.diff.classify

    def slow_classify(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.01)  # widen the read-then-write window inside the transaction
        return real_classify(*args, **kwargs)

    monkeypatch.setattr(sync_module.diff, "classify", slow_classify)

    from sqlmodel import func, select

    from notifier.store.models import Change

    head = ('[case]\nid = "c1"\ntitle = "P v. X"\ntimezone = "UTC"\n')

    def events(year: int) -> str:
        return "".join(f'[[events]]\nid = "e{i}"\ntitle = "Hearing {i}"\n'
                       f'date = {year}-01-{i + 1:02d}\n' for i in range(20))

    write_cal("c1.toml", head + events(2030))
    second = Store(pg_store.url)
    try:
        for round_ in range(3):
            if round_:
                write_cal("c1.toml", head + events(2030 + round_))
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(store: Store, barrier: threading.Barrier,
                    errors: list[BaseException]) -> None:
                try:
                    barrier.wait(timeout=10)
                    sync_calendars(store, folders)
                except BaseException as e:
                    errors.append(e)

            threads = [threading.Thread(target=run, args=(st, barrier, errors))
                       for st in (pg_store, second)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert not errors and not any(t.is_alive() for t in threads)
        with pg_store.read() as s:
            n = s.exec(select(func.count()).select_from(Change)).one()
        assert n == 20 * 3  # added once, then moved twice: never twice each
    finally:
        second.close()


def test_lane_claims_and_records_on_postgres(pg_store: Store,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Claim and finish through a lane's kept connection (the dispatcher's path): two
    lanes never get the same row, and a lost connection is replaced, not used again."""
    from datetime import timedelta

    from sqlmodel import func, select

    from notifier.notify import dispatch_sql, outbox
    from notifier.store.models import Delivery, Notification

    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    with pg_store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"t:{i}", "test", "hook", now, now, {"n": i})
                               for i in range(30)])
    lease = timedelta(minutes=1)
    with pg_store.lane_writer() as a, pg_store.lane_writer() as b:
        la, lb = dispatch_sql.for_writer(a), dispatch_sql.for_writer(b)
        assert isinstance(la, dispatch_sql.CoreLane)  # the driver-level path is SQLite's
        first = la.claim(now, lease, 20, channel="hook")
        second = lb.claim(now, lease, 20, channel="hook")
        assert len(first) == 20 and len(second) == 10
        assert not {n.id for n in first} & {n.id for n in second}
        assert first[0].status == "sending" and first[0].attempts == 1
        assert first[0].due_at == now  # aware UTC, like the ORM's
        # The server drops a's connection (restart, idle timeout): the next
        # transaction runs on a new one.
        with pg_store.engine.connect() as admin:
            pid = a.run(lambda c: c.exec_driver_sql("SELECT pg_backend_pid()").scalar())
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        for n in first + second:
            assert la.finish(n, now, "sent")
        assert "database connection lost; reconnecting" in caplog.text
        assert not la.finish(first[0], now, "sent")  # not ours now
    with pg_store.read() as s:
        assert s.exec(select(func.count()).select_from(Notification)
                      .where(Notification.status == "sent")).one() == 30
        assert s.exec(select(func.count()).select_from(Delivery)).one() == 31


def test_bulk_writes_on_postgres_keep_times_ids_and_the_sequence(  # type: ignore[no-untyped-def]
        pg_store: Store, write_cal, folders) -> None:
    from notifier.store.models import Case, Change

    events = "".join(f'[[events]]\nid = "e{i}"\ntitle = "Hearing {i}"\n'
                     f'start = 2030-03-{1 + i:02d}T09:30:00\nduration = "1h"\n' for i in range(30))
    write_cal("c1.toml", '[case]\nid = "c1"\ntitle = "P v. X"\ntimezone = "America/New_York"\n'
              + events)
    t = datetime(2030, 2, 1, 12, tzinfo=UTC)
    report = sync_calendars(pg_store, folders, now=t)
    ids = [c.id for c in report.changes]
    assert len(ids) == 30 and ids == sorted(ids) and len(set(ids)) == 30
    with pg_store.write() as s:  # an ORM insert after the bulk one: the sequence moved on
        s.add(Change(event_uid="c1/e0@notifier", case_id="c1", kind="note", field="event",
                     summary="x", at=t))
    with pg_store.read() as s:
        ev = s.get(Event, "c1/e3@notifier")
        assert ev is not None and ev.created_at == t
        assert ev.start_utc == datetime(2030, 3, 4, 14, 30, tzinfo=UTC)
        assert ev.sort_utc == ev.start_utc and ev.date is not None
        case = s.get(Case, "c1")
        assert case is not None
        stored = {c.id: c.summary for c in s.exec(select(Change)).all()}
        assert set(ids) < set(stored) and max(stored) > max(ids)
