"""/healthz tells the truth: a full disk, a scheduled job that raised, and private mode.

Real SQLite files throughout; the disk is "full" through ``PRAGMA max_page_count``,
which makes SQLite answer exactly as on a full disk (SQLITE_FULL).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from waiting import until
from webhelpers import LiveServer

from notifier import metrics
from notifier.config import Settings, parse_settings
from notifier.server.health import health_report
from notifier.server.scheduler import Engine
from notifier.server.web import create_app
from notifier.store import Store
from notifier.store.models import Delivery, Notification, SourceState
from notifier.timeutil import utcnow

SECRET_BITS = ("secret-hearing", "family-email", "Internal detail", "HTTP 403", "court-feed")


def _settings(tmp_path: Path, db_url: str, **extra: Any) -> Settings:
    return parse_settings({"database": {"url": db_url}, **extra}, origin="test",
                          base_dir=tmp_path, env={})



def test_disk_full_seen_by_a_write_is_degraded_until_a_write_succeeds(
        store: Store, settings: Settings) -> None:
    big = "x" * 200_000
    now = utcnow()
    with pytest.raises(OperationalError, match="full"), store.write() as s:
        pages = s.execute(text("PRAGMA page_count")).scalar()
        s.execute(text(f"PRAGMA max_page_count = {pages}"))
        s.add(Notification(dedupe_key="big", type="test", channel="log", due_at=now,
                           next_attempt_at=now, payload=big))
    rep = health_report(store, None, settings)
    assert rep.status_code == 200 and rep.body["status"] == "degraded", rep.body
    [problem] = rep.body["database_problems"]
    assert problem["problem"] == "full" and str(store.watch.path) in problem["detail"]
    store.close()  # the connection with the page limit goes; space is "freed"
    with store.write() as s:
        s.add(Notification(dedupe_key="big", type="test", channel="log", due_at=now,
                           next_attempt_at=now, payload=big))
    rep = health_report(store, None, settings)
    assert rep.body["status"] == "ok" and "database_problems" not in rep.body, rep.body


def test_a_scheduled_job_that_raised_is_degraded_with_its_reason_until_it_runs_clean(
        tmp_path: Path, db_url: str, store: Store, write_cal: Any, cal_dir: Path) -> None:
    write_cal("c.toml", """
        [case]
        id = "c"
        title = "People v. Job"
        timezone = "UTC"
        """)
    settings = _settings(tmp_path, db_url, calendars={"paths": [str(cal_dir)],
                                                      "sync_interval": "1s"})
    engine = Engine(store, settings)
    engine.start()
    db = store.watch.path
    assert db is not None

    def rename(a: str, b: str) -> None:
        conn = sqlite3.connect(db, timeout=10)
        conn.execute(f"ALTER TABLE {a} RENAME TO {b}")
        conn.commit()
        conn.close()

    try:
        assert until(lambda: engine.last_sync is not None, 10)
        assert health_report(store, engine, settings).body["status"] == "ok"
        # The table every sync pass reads (unchanged files touch no other).
        rename("calendar_file", "calendar_file_away")
        assert until(lambda: "sync" in engine.job_failures, 10)
        rep = health_report(store, engine, settings)
        assert rep.status_code == 200 and rep.body["status"] == "degraded", rep.body
        assert "no such table: calendar_file" in rep.body["jobs"]["sync"]["error"], rep.body
        rename("calendar_file_away", "calendar_file")
        assert until(lambda: "sync" not in engine.job_failures, 10)
        assert "jobs" not in health_report(store, engine, settings).body
    finally:
        assert engine.shutdown(5)


def _seed_private_details(store: Store) -> None:
    """A held source change, a source error and a failing channel, as the daemon leaves them."""
    now = utcnow()
    with store.write() as s:
        s.add(SourceState(name="court-feed", last_status="held", held_at=now, failures=2,
                          held_summary=json.dumps(["c1/secret-hearing: moved Wed 2 Jul -> "
                                                   "Wed 9 Jul"]),
                          last_error="source 'court-feed': Internal detail from the server"))
        n = Notification(dedupe_key="k", type="change", channel="family-email", due_at=now,
                         next_attempt_at=now, status="dead", case_id="c1",
                         event_uid="c1/secret-hearing@notifier", last_error="HTTP 403")
        s.add(n)
        s.flush()
        assert n.id is not None
        s.add(Delivery(notification_id=n.id, channel="family-email", attempted_at=now,
                       outcome="dead", error="HTTP 403 for c1/secret-hearing"))
    metrics.record_notification("change", "dead", channel="family-email", duration_s=0.1)


@pytest.mark.parametrize("private", [True, False])
def test_private_mode_healthz_and_metrics_show_counts_and_states_only(
        tmp_path: Path, db_url: str, store: Store, private: bool) -> None:
    settings = _settings(tmp_path, db_url, feed={"private": private},
                         channels=[{"name": "family-email", "url": "json://127.0.0.1:9/x"}],
                         sources=[{"name": "court-feed", "url": "https://court.example.org/x.ics",
                                   "case": "c1", "timezone": "UTC"}])
    _seed_private_details(store)
    with LiveServer(create_app(settings, store)) as srv:
        health = httpx.get(srv.url + "/healthz", timeout=10)
        prom = httpx.get(srv.url + "/metrics", timeout=10).text
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded", body
    assert "notifier_delivery_duration_seconds_count" in prom
    shown = [b for b in SECRET_BITS if b in health.text]
    if private:
        assert shown == [], health.text
        assert body["sources"] == {"total": 1, "unhealthy": 1, "held": 1}
        assert body["channels"] == {"total": 1, "unhealthy": 1, "dead": 1}
        assert body["notifications"]["dead"] == 1
        assert "family-email" not in prom
    else:  # public: the operator's detail, as before
        assert set(shown) == set(SECRET_BITS) - {"HTTP 403"}, health.text
        assert 'channel="family-email"' in prom


def test_a_deleted_database_is_not_silently_recreated_empty(store: Store,
                                                            settings: Settings) -> None:
    db = store.watch.path
    assert db is not None and db.exists()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store.close()  # every new connection from here on finds no file
    with pytest.raises(OperationalError, match="unable to open"), store.read() as s:
        s.execute(text("SELECT count(*) FROM event")).scalar()
    assert not db.exists()
    rep = health_report(store, None, settings)
    assert rep.status_code == 503 and rep.body["database"] == "gone", rep.body


def test_private_view_counts_failing_lanes_without_their_channel_names() -> None:
    from notifier.server.health import private_view

    body = {"status": "degraded", "dispatch_lanes": [
        {"lane": "court-watch-slack", "failing_since": "2026-12-02T07:00:00+00:00",
         "failures": 4, "reason": "disk_full"},
        {"lane": "newsroom-email", "failing_since": "2026-12-02T07:00:01+00:00",
         "failures": 3, "reason": "disk_full"}]}
    view = private_view(body)
    assert view["dispatch_lanes"] == {"failing": 2, "reasons": ["disk_full"]}
    assert "court-watch-slack" not in str(view) and "newsroom-email" not in str(view)


def test_readyz_is_503_without_the_database_while_livez_stays_200(
        store: Store, settings: Settings) -> None:
    with LiveServer(create_app(settings, store)) as srv:
        assert until(lambda: httpx.get(srv.url + "/readyz", timeout=10).status_code == 200, 30)
        assert httpx.get(srv.url + "/readyz", timeout=10).json()["database"] == "ok"
        db = store.watch.path
        assert db is not None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        store.close()
        ready = httpx.get(srv.url + "/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["database"] in ("unreachable", "gone"), ready.text
        assert httpx.get(srv.url + "/livez", timeout=10).status_code == 200
