"""A dispatch lane whose database work fails backs off, logs at a bounded rate, shows in
/healthz, and recovers with nothing lost (issue 12, High 3; the real full disk is in
``tests/faults/test_fault_disk_full.py``)."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from outboxhelpers import Sink, make_settings
from sqlmodel import select
from waiting import until

from notifier.notify import dispatch_sql, outbox
from notifier.notify.lane_health import LaneHealth, reason_class
from notifier.server.health import health_report
from notifier.server.scheduler import Engine
from notifier.store import Store
from notifier.store.models import Notification


def test_a_failing_claim_backs_off_and_recovers_with_nothing_lost(
        tmp_path: Path, db_url: str, store: Store, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="notifier")
    now = datetime.now(UTC)
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"test:{i}", "test", "hook", now, now,
                                              {"title": "t", "text": f"n{i}"})
                               for i in range(5)])
    real = dispatch_sql.SqliteLane.claim
    full = [True]
    calls = [0]

    def claim(self, *a, **kw):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if full[0] and kw.get("channel") == "hook":
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *a, **kw)

    monkeypatch.setattr(dispatch_sql.SqliteLane, "claim", claim)
    with Sink() as sink:
        settings = make_settings(tmp_path, db_url, delivery={"poll_interval": "2s"},
                                 channels=[{"name": "hook", "url": sink.url}])
        engine = Engine(store, settings, sync=False)
        engine.start()
        try:
            time.sleep(4)
            failing = engine.dispatcher.lane_failures()
            # Before the fix the lane re-armed itself at once: hundreds of claims and
            # tracebacks a second. Backing off 0.5, 1, 2, 2 s: about 5 tries in 4 s.
            assert calls[0] < 20, calls[0]
            lines = [r for r in caplog.records if r.name.startswith("notifier")]
            assert len(lines) <= 3, [r.getMessage() for r in lines]
            assert "database or disk is full" in caplog.text and "disk_full" in caplog.text
            assert [(f.lane, f.reason) for f in failing] == [("hook", "disk_full")]
            assert failing[0].failures >= 3
            report = health_report(store, engine, settings)
            assert report.status_code == 200 and report.body["status"] == "degraded"
            [lane] = report.body["dispatch_lanes"]
            assert lane["lane"] == "hook" and lane["reason"] == "disk_full"
            assert sink.url not in str(report.body) and not sink.bodies

            full[0] = False
            assert until(lambda: len(sink.bodies) == 5, 10), sink.bodies
        finally:
            assert engine.shutdown(5)
    assert set(sink.bodies) == {f"n{i}" for i in range(5)}
    assert max(sink.bodies.values()) == 1
    assert "dispatch lane hook recovered after" in caplog.text
    assert engine.dispatcher.lane_failures() == []
    assert health_report(store, engine, settings).body.get("dispatch_lanes") is None
    with store.read() as s:
        assert {n.status for n in s.exec(select(Notification)).all()} == {"sent"}


def test_summaries_are_at_most_one_a_minute_and_the_backoff_is_capped(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="notifier")
    clock = [0.0]
    h = LaneHealth("hook", cap=30, first=0.5, monotonic=lambda: clock[0])
    err = sqlite3.OperationalError("database or disk is full")
    delays = []
    for _ in range(200):  # 200 failures over 100 s
        delays.append(h.failed(err, "claiming"))
        clock[0] += 0.5
    assert delays[:4] == [0.5, 1, 2, 4] and max(delays) == 30
    assert len(caplog.records) == 2  # the first failure, one summary after 60 s
    assert "200 failures" not in caplog.text and "121 failures in a row" in caplog.text
    state = h.state()
    assert state is not None and state.failures == 200 and state.persistent
    h.ok()
    assert h.state() is None and "recovered after 200 failure(s)" in caplog.text


def test_reason_classes_name_no_secret() -> None:
    from sqlalchemy.exc import OperationalError

    wrapped = OperationalError("UPDATE notification", {},
                               sqlite3.OperationalError("database is locked"))
    assert reason_class(wrapped) == "database_locked"
    assert reason_class(sqlite3.OperationalError("database or disk is full")) == "disk_full"
    assert reason_class(sqlite3.DatabaseError("database disk image is malformed")) == \
        "database_corrupt"
    assert reason_class(ValueError("postgresql://user:secret@host/db")) == "error"


def test_an_outcome_kept_failing_on_a_full_disk_is_recorded_once_it_fits_never_resent(
        tmp_path: Path, db_url: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: given up after 6 tries (about 15 s), the row stayed 'sending' and was sent
    # again once its lease ran out.
    from outboxhelpers import Recorder

    from notifier.notify import dispatch
    from notifier.notify.dispatch import Dispatcher
    from notifier.store.models import Delivery

    now = datetime.now(UTC)
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row("test:0", "test", "log", now, now,
                                              {"title": "t", "text": "x"})])
    real = dispatch_sql.SqliteLane.finish
    fails = [10]

    def full(self, *a, **kw):  # type: ignore[no-untyped-def]
        if fails[0]:
            fails[0] -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *a, **kw)

    monkeypatch.setattr(dispatch_sql.SqliteLane, "finish", full)
    monkeypatch.setattr(dispatch, "BACKOFF_FIRST", 0.001)
    rec = Recorder()
    d = Dispatcher(store, make_settings(tmp_path, db_url), sender=rec)
    assert d.run_once().sent == 1 and fails == [0]
    assert d.lane_failures() == []
    assert Dispatcher(store, make_settings(tmp_path, db_url), sender=rec,
                      clock=lambda: now + timedelta(hours=1)).run_once().handled == 0
    assert len(rec.sent) == 1
    with store.read() as s:
        [n] = s.exec(select(Notification)).all()
        assert n.status == "sent" and len(s.exec(select(Delivery)).all()) == 1


@pytest.mark.skipif(not os.environ.get("NOTIFIER_TEST_POSTGRES_URL"),
                    reason="no PostgreSQL server: run `.ci/postgres.sh` and set "
                    "NOTIFIER_TEST_POSTGRES_URL to its output (CI does)")
def test_on_postgresql_an_outcome_failing_on_a_full_disk_is_kept_and_classified(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same through SQLAlchemy (CoreLane), as PostgreSQL reports a full disk.
    import uuid

    import sqlalchemy as sa
    from outboxhelpers import Recorder

    from notifier.notify import dispatch
    from notifier.notify.dispatch import Dispatcher
    from notifier.store.models import Delivery

    admin_url = os.environ["NOTIFIER_TEST_POSTGRES_URL"]
    name = f"notifier_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    try:
        now = datetime.now(UTC)
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row("test:0", "test", "log", now, now,
                                                  {"title": "t", "text": "x"})])
        real = dispatch_sql.CoreLane.finish
        fails = [8]
        seen: list[str] = []

        def full(self, *a, **kw):  # type: ignore[no-untyped-def]
            if fails[0]:
                fails[0] -= 1
                err = sa.exc.OperationalError(
                    "UPDATE notification", {},
                    Exception('could not extend file "base/16384/16385": '
                              "No space left on device"))
                seen.append(reason_class(err))
                raise err
            return real(self, *a, **kw)

        monkeypatch.setattr(dispatch_sql.CoreLane, "finish", full)
        monkeypatch.setattr(dispatch, "BACKOFF_FIRST", 0.001)
        rec = Recorder()
        d = Dispatcher(store, make_settings(tmp_path, url), sender=rec)
        assert d.run_once().sent == 1 and fails == [0] and set(seen) == {"disk_full"}
        assert len(rec.sent) == 1 and d.lane_failures() == []
        with store.read() as s:
            [n] = s.exec(select(Notification)).all()
            assert n.status == "sent" and len(s.exec(select(Delivery)).all()) == 1
    finally:
        store.close()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()
