"""The demo a first run shows: from a fresh database, a reminder and then a change alert
reach a real local json:// sink within seconds (the demo's intervals shortened), the
log says so and `/` and the feed show the moved hearing.

Also: the demo file itself is valid, relative to now, and the historical example stays.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from channelkit import HttpSink
from sqlmodel import select
from waiting import wait_for

from notifier.calendars.demo import DEMO_CASE, DEMO_FILE, demo_calendar
from notifier.calendars.tomlfile import parse_toml_calendar
from notifier.config import Settings, parse_settings
from notifier.server.daemon import Daemon
from notifier.server.demo import Demo
from notifier.store import Store
from notifier.store.models import Change, Notification

REPO = Path(__file__).resolve().parent.parent


def test_demo_file_is_relative_to_now_and_valid() -> None:
    anchor = datetime.now(UTC).replace(microsecond=0)
    spec = parse_toml_calendar(demo_calendar(anchor, lead=timedelta(minutes=3), changed=False),
                               "calendars/demo.toml")
    by_id = {e.event_id: e for e in spec.events}
    assert by_id["status-hearing"].when.start == anchor + timedelta(hours=1, minutes=3)
    assert by_id["trial"].status == "tbd" and by_id["trial"].when.date is None
    assert all(e.when.date is None or e.when.date >= anchor.date() - timedelta(days=1)
               for e in spec.events)
    moved = parse_toml_calendar(demo_calendar(anchor, lead=timedelta(minutes=3), changed=True),
                                "calendars/demo.toml")
    before = by_id["motion-hearing"].when.start
    after = {e.event_id: e for e in moved.events}["motion-hearing"].when.start
    assert before is not None and after is not None and after - before > timedelta(days=2)


def test_the_shipped_demo_has_whole_minutes_and_the_move_updates_the_notes(
        tmp_path: Path) -> None:
    started = datetime(2026, 12, 2, 15, 53, 44, 512, tzinfo=UTC)
    demo = Demo(tmp_path, lambda: None, clock=lambda: started)
    demo.write()
    text = (tmp_path / DEMO_FILE).read_text(encoding="utf-8")
    starts = re.findall(r"^start = (\S+)$", text, re.M)
    assert len(starts) == 2 and all(s.endswith(":00") for s in starts), starts
    spec = parse_toml_calendar(text, "calendars/demo.toml")
    soon = {e.event_id: e for e in spec.events}["status-hearing"].when.start
    assert soon is not None and soon.second == 0
    due = soon - timedelta(hours=1)  # its 1h reminder: about 3 minutes after the start
    assert timedelta(minutes=2, seconds=30) <= due - started <= timedelta(minutes=3, seconds=30)
    assert "will move this hearing" in {e.event_id: e for e in spec.events}[
        "motion-hearing"].notes
    demo._change()  # what the timer does a minute after the reminder
    moved = {e.event_id: e for e in parse_toml_calendar(
        (tmp_path / DEMO_FILE).read_text(encoding="utf-8"), "calendars/demo.toml").events}
    assert moved["motion-hearing"].notes == \
        "Moved by the demo a minute after the first reminder."
    assert all(s.endswith(":00") for s in re.findall(
        r"^start = (\S+)$", (tmp_path / DEMO_FILE).read_text(encoding="utf-8"), re.M))


def _settings(tmp_path: Path, calendars: Path, sink: HttpSink) -> Settings:
    return parse_settings({
        "database": {"url": f"sqlite:///{tmp_path / 'demo.db'}"},
        "calendars": {"paths": [str(calendars)], "sync_interval": "1h"},
        "server": {"host": "127.0.0.1", "port": 0},
        "delivery": {"poll_interval": "2s"},
        "channels": [{"name": "desk", "url": sink.json_url("demo-hook")}],
    }, origin="test", base_dir=tmp_path)


def _run_demo(settings: Settings, calendars: Path, sink: HttpSink) -> tuple[list[str], str]:
    """One run of the demo as `run --demo` does it (reset, write, start), until its
    reminder and its move reached the sink; returns what the sink got in this run and
    the index page after the move."""
    with sink.lock:
        before = len(sink.requests)
    daemon = Daemon(settings, port=0)
    # The shipped demo: reminder due in 3 min, change a minute later, whole minutes;
    # here 3 s and 6 s, whole seconds.
    demo = Demo(calendars, daemon.engine.sync_now, label=settings.calendar_folders()[0][0],
                lead=timedelta(seconds=3), change_after=timedelta(seconds=6),
                step=timedelta(seconds=1))
    demo.reset(daemon.store)
    demo.write()
    assert (calendars / DEMO_FILE).exists()
    daemon.start()
    demo.start()
    try:
        def bodies() -> list[str]:
            with sink.lock:
                return [str(b) for _, b in sink.requests[before:]]

        wait_for(lambda: any("Status hearing" in b for b in bodies()), 30,
                 "the demo reminder at the json:// sink")
        wait_for(lambda: any("moved later" in b for b in bodies()), 30,
                 "the demo change alert at the json:// sink")
        reminder = next(i for i, b in enumerate(bodies()) if "Status hearing" in b)
        change = next(i for i, b in enumerate(bodies()) if "moved later" in b)
        assert reminder < change  # the reminder first, the change a moment later
        base = f"http://127.0.0.1:{daemon.port}"
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 200, 30,
                 "the feed cache")
        page = httpx.get(f"{base}/", timeout=10).text
        assert "Demo: State v. Example" in page and "People v. Harvey Weinstein" in page
        assert "Hearing on the motion to suppress" in page and "Jury trial" in page
        moved_day = demo.anchor.astimezone(ZoneInfo("America/New_York")).date() \
            + timedelta(days=5)
        assert f"{moved_day.day} {moved_day:%b}" in page  # the hearing's new date
        feed = httpx.get(f"{base}/calendars/{DEMO_CASE}.ics", timeout=10).text.replace(
            "\r\n ", "")  # unfolded
        assert "Hearing on the motion to suppress" in feed and "moved later" in feed
        assert "Moved by the demo a minute after the first reminder." in feed
        time.sleep(2.5)  # a poll interval: anything else this run would send
        return bodies(), page
    finally:
        demo.stop()
        assert daemon.stop(10)


def test_demo_from_a_fresh_database_reminds_then_alerts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    shutil.copy(REPO / "calendars" / "people-v-weinstein.toml", calendars)
    caplog.set_level(logging.INFO)
    with HttpSink() as sink:
        _run_demo(_settings(tmp_path, calendars, sink), calendars, sink)
    log = caplog.text
    assert "demo: wrote" in log and "demo: the court moved the motion hearing" in log
    assert "moved later" in log  # the change, as the sync logs it
    assert all(path == "/demo-hook" for path, _ in sink.requests)


def test_the_demo_run_again_on_the_same_database_starts_afresh_without_alerts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The README's first command run twice: the second run's new dates are no change
    of the first run's (no "moved earlier", "time changed" or correction); it shows its
    own reminder and move, and the case's history is this run's only."""
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    shutil.copy(REPO / "calendars" / "people-v-weinstein.toml", calendars)
    caplog.set_level(logging.INFO)
    with HttpSink() as sink:
        settings = _settings(tmp_path, calendars, sink)
        _run_demo(settings, calendars, sink)
        second_start = datetime.now(UTC)
        again, page = _run_demo(settings, calendars, sink)
    for word in ("moved earlier", "time changed", "Our reminder", "URGENT", "Hearing added"):
        assert not any(word in b for b in again), (word, again)
    assert sum("moved later" in b for b in again) == 1
    assert sum("Status hearing" in b and "Reminder" in b for b in again) == 1
    assert page.count("Moved from") == 1  # this run's move only
    assert "deleted the previous run's demo case (4 events" in caplog.text
    store = Store(settings.database_url())
    try:
        with store.read() as s:
            changes = s.exec(select(Change).where(Change.case_id == DEMO_CASE)).all()
            kinds = sorted({c.kind for c in changes})
            rows = s.exec(select(Notification).where(Notification.case_id == DEMO_CASE)).all()
            other = s.exec(select(Change).where(Change.case_id != DEMO_CASE)).all()
    finally:
        store.close()
    assert changes and all(c.at >= second_start for c in changes), kinds
    assert "rescheduled_earlier" not in kinds and "rescheduled_later" in kinds
    assert all(n.created_at >= second_start for n in rows)
    assert other  # the user's own case keeps its history


def test_run_demo_on_a_taken_port_leaves_the_running_demo_alone(tmp_path: Path) -> None:
    """A second `notifier run --demo` while the first holds the port stops with the
    port error before it deletes or rewrites anything of the demo case."""
    import socket
    import subprocess
    import sys

    calendars = tmp_path / "calendars"
    calendars.mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "demo.db"}"\n'
                       f'[calendars]\npaths = ["{calendars}"]\n'
                       f'[server]\nhost = "127.0.0.1"\nport = {port}\n')
        settings = parse_settings({"database": {"url": f"sqlite:///{tmp_path / 'demo.db'}"},
                                   "calendars": {"paths": [str(calendars)]}},
                                  origin="test", base_dir=tmp_path)
        store = Store(settings.database_url())
        try:  # a first run's demo case, synced
            text = demo_calendar(datetime.now(UTC), lead=timedelta(minutes=3), changed=False)
            (calendars / DEMO_FILE).write_text(text, encoding="utf-8")
            from notifier.tracking.sync import sync_calendars
            sync_calendars(store, settings.calendar_folders())
            written = (calendars / DEMO_FILE).read_text(encoding="utf-8")
            with store.read() as s:
                before = len(s.exec(select(Change).where(Change.case_id == DEMO_CASE)).all())
        finally:
            store.close()
        assert before
        done = subprocess.run([sys.executable, "-m", "notifier", "--config", str(cfg), "run",
                               "--demo"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "deleted the previous run's demo case" not in done.stderr
    assert (calendars / DEMO_FILE).read_text(encoding="utf-8") == written
    store = Store(settings.database_url())
    try:
        with store.read() as s:
            after = len(s.exec(select(Change).where(Change.case_id == DEMO_CASE)).all())
    finally:
        store.close()
    assert after == before
