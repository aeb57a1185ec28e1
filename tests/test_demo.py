"""The demo a first run shows: from a fresh database, a reminder and then a change alert
reach a real local json:// sink within seconds (the demo's intervals shortened), the
log says so and `/` and the feed show the moved hearing.

Also: the demo file itself is valid, relative to now, and the historical example stays.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from channelkit import HttpSink
from waiting import wait_for

from notifier.calendars.demo import DEMO_CASE, DEMO_FILE, demo_calendar
from notifier.calendars.tomlfile import parse_toml_calendar
from notifier.config import parse_settings
from notifier.server.daemon import Daemon
from notifier.server.demo import Demo

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


def test_demo_from_a_fresh_database_reminds_then_alerts(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    shutil.copy(REPO / "calendars" / "people-v-weinstein.toml", calendars)
    with HttpSink() as sink:
        settings = parse_settings({
            "database": {"url": f"sqlite:///{tmp_path / 'demo.db'}"},
            "calendars": {"paths": [str(calendars)], "sync_interval": "1h"},
            "server": {"host": "127.0.0.1", "port": 0},
            "delivery": {"poll_interval": "2s"},
            "channels": [{"name": "desk", "url": sink.json_url("demo-hook")}],
        }, origin="test", base_dir=tmp_path)
        daemon = Daemon(settings, port=0)
        # The shipped demo: reminder due in 3 min, change a minute later; here 3 s and 6 s.
        demo = Demo(calendars, daemon.engine.sync_now, lead=timedelta(seconds=3),
                    change_after=timedelta(seconds=6))
        caplog.set_level(logging.INFO)
        demo.write()
        assert (calendars / DEMO_FILE).exists()
        daemon.start()
        demo.start()
        try:
            def bodies() -> list[str]:
                with sink.lock:
                    return [str(b) for _, b in sink.requests]

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
        finally:
            demo.stop()
            assert daemon.stop(10)
    log = caplog.text
    assert "demo: wrote" in log and "demo: the court moved the motion hearing" in log
    assert "moved later" in log  # the change, as the sync logs it
    assert all(path == "/demo-hook" for path, _ in sink.requests)
