"""Date truth: every calendar client reads every feed time as the calendar file means it.

About 10,000 events in 26 zones (tests/datetruth/generate.py) go the real way: calendar
files -> ``notifier sync`` -> the server's ``/calendars/all.ics`` on 127.0.0.1. Six
parsers read the feed: icalendar, vobject, Home Assistant's ``ical``,
recurring-ical-events, and through node ical.js (with the feed's VTIMEZONEs
registered, as Thunderbird and Nextcloud do) and node-ical. Each start and end must be
the instant (or the dates) the file means. Run with ``-s`` to see the summary line.
The node packages are pinned in tests/datetruth/package-lock.json (``npm ci`` there;
.ci/run does it, and this test does it once when node_modules is missing).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import icalendar
import pytest
import recurring_ical_events
import vobject
from click.testing import CliRunner
from ical.calendar_stream import IcsCalendarStream
from sqlmodel import col, select
from webhelpers import LiveServer, write_config

from notifier.cli import main
from notifier.config import Settings, load_settings
from notifier.feeds.cache import FeedService, options_from
from notifier.notify.messages import Renderer, context
from notifier.notify.planner import plan_alert, plan_reminders, reminder_payload
from notifier.server.web import create_app
from notifier.store import Store
from notifier.store.models import Case, Change, Event

HERE = Path(__file__).resolve().parent / "datetruth"
sys.path.insert(0, str(HERE))
from generate import ZONES, Truth, case_id, read_when, write_calendars  # noqa: E402

# The zones whose reminders, change alerts and case pages are checked too.
PAGE_ZONES = ("America/New_York", "Europe/Dublin", "Australia/Lord_Howe", "Antarctica/Troll",
              "Africa/Casablanca", "Pacific/Chatham", "America/Havana")

Value = datetime | date
Reading = dict[str, tuple[Value, Value]]


def _norm(v: Any) -> Value:
    """Timed values as UTC instants, dates as dates (a naive datetime is no answer)."""
    if isinstance(v, datetime):
        return v.astimezone(UTC) if v.tzinfo is not None else v
    return v


def read_icalendar(body: bytes) -> Reading:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): (_norm(e.decoded("DTSTART")), _norm(e.decoded("DTEND")))
            for e in cal.walk("VEVENT")}


def read_vobject(body: bytes) -> Reading:
    cal = vobject.readOne(body.decode("utf-8"))
    return {e.uid.value: (_norm(e.dtstart.value), _norm(e.dtend.value))
            for e in cal.vevent_list}


def read_ha_ical(body: bytes) -> Reading:
    cal = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    return {str(e.uid): (_norm(e.dtstart), _norm(e.dtend)) for e in cal.events}


def read_recurring(body: bytes) -> Reading:
    cal = icalendar.Calendar.from_ical(body)
    found = recurring_ical_events.of(cal).between(date(2020, 1, 1), date(2035, 1, 1))
    return {str(e["UID"]): (_norm(e["DTSTART"].dt), _norm(e["DTEND"].dt)) for e in found}


def _node() -> str | None:
    """node with the pinned packages installed, or None (then why is printed)."""
    node = shutil.which("node")
    if node is None:
        return None
    if not (HERE / "node_modules").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            return None
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True,
                       timeout=300, capture_output=True)
    return node


def start_node(path: Path) -> subprocess.Popen[bytes] | None:
    """ical.js and node-ical, in one node process (tests/datetruth/read.mjs)."""
    node = _node()
    if node is None:
        return None
    return subprocess.Popen([node, str(HERE / "read.mjs"), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TZ": "UTC"})


def read_node(proc: subprocess.Popen[bytes]) -> dict[str, Reading]:
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr.decode(errors="replace")[-2000:]
    raw = json.loads(stdout)

    def value(v: int | str) -> Value:
        return date.fromisoformat(v) if isinstance(v, str) else \
            datetime.fromtimestamp(v / 1000, UTC)

    return {name: {uid: (value(s), value(e)) for uid, (s, e) in got.items()}
            for name, got in raw.items()}


def disagreements(truth: dict[str, Truth], got: Reading) -> list[str]:
    out = []
    for uid, t in truth.items():
        have = got.get(uid)
        if have != (t.start, t.end):
            out.append(f"{uid} ({t.zone}, written {t.wall or t.start}): "
                       f"means {t.start} - {t.end}, read {have}")
    return out


@dataclass
class Loaded:
    truth: dict[str, Truth]
    body: bytes
    path: Path
    db_url: str
    settings: Settings
    pages: dict[str, str]  # case id -> its HTML page


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """The truth, the served feed and the case pages, loaded the real way
    (files -> sync -> server)."""
    root = tmp_path_factory.mktemp("datetruth")
    cals = root / "calendars"
    cals.mkdir()
    truth = write_calendars(cals)
    db_url = f"sqlite:///{root / 'notifier.db'}"
    config = write_config(root / "config.toml", db_url, cals)
    result = CliRunner().invoke(main, ["sync", "--config", str(config)])
    assert result.exit_code == 0, result.output
    settings = load_settings(config)
    store = Store(db_url)
    try:
        # Rendered before the server starts (as its start-up does), so that the
        # start-up wait stays short on a busy machine.
        feeds = FeedService(store, options_from(settings))
        feeds.get(None)
        with LiveServer(create_app(settings, store, feeds)) as srv:
            got = httpx.get(srv.url + "/calendars/all.ics", timeout=60)
            pages = {case_id(z): httpx.get(f"{srv.url}/cases/{case_id(z)}", timeout=60).text
                     for z in PAGE_ZONES}
    finally:
        store.close()
    assert got.status_code == 200
    path = root / "all.ics"
    path.write_bytes(got.content)
    return Loaded(truth, got.content, path, db_url, settings, pages)


def test_every_client_reads_every_time_as_the_file_means(feed: Loaded) -> None:
    truth, body, path = feed.truth, feed.body, feed.path
    assert len(truth) >= 10_000 and len(ZONES) >= 20
    assert sum(t.timed for t in truth.values()) > 8_000
    node = start_node(path)  # runs beside the Python parsers
    parsers: dict[str, Callable[[bytes], Reading]] = {
        "vobject": read_vobject, "recurring-ical-events": read_recurring,
        "icalendar": read_icalendar, "ical": read_ha_ical,
    }
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("fork")) as pool:
        running = {name: pool.submit(read, body) for name, read in parsers.items()}
        readings = {name: job.result(timeout=300) for name, job in running.items()}
    if node is not None:
        readings.update(read_node(node))
    bad = {name: disagreements(truth, got) for name, got in readings.items()}
    total = sum(len(v) for v in bad.values())
    print(f"\nDATE TRUTH: events={len(truth)} zones={len(ZONES)} parsers={len(readings)} "
          f"disagreements={total}")
    for name, wrong in bad.items():
        if wrong:
            print(f"  {name}: {len(wrong)} wrong, e.g. {wrong[0]}")
    assert total == 0, {name: (len(w), w[:3]) for name, w in bad.items() if w}
    if node is None:  # the Python clients agreed; the node ones could not be run
        pytest.skip("node/npm not installed (.ci/run installs Debian's nodejs and npm): "
                    "ical.js and node-ical were not run")
    assert len(readings) == 6




def _shown(text: str, uid: str, truth: Truth) -> str | None:
    """None when a shown time means the truth's instants, else what is wrong."""
    got = read_when(text, truth.zone)
    if got != (truth.start, truth.end):
        return f"{uid} ({truth.zone}): means {truth.start} - {truth.end}, shows {text!r}"
    return None


def test_messages_and_pages_show_the_same_instants(feed: Loaded) -> None:
    """Reminder and change-alert texts and the case pages, for the timed events of
    :data:`PAGE_ZONES` (near every DST change there, and across them)."""
    sample = {uid: t for uid, t in feed.truth.items()
              if t.timed and t.zone in PAGE_ZONES}
    assert len(sample) > 1_500
    wrong: list[str] = []
    renderer = Renderer()
    store = Store(feed.db_url)
    try:
        with store.read() as s:
            cases = {c.id: c for c in s.exec(select(Case))}
            events = {e.uid: e for e in s.exec(select(Event).where(
                col(Event.uid).in_(list(sample))))}
            added = {c.event_uid: c for c in s.exec(select(Change).where(
                col(Change.event_uid).in_(list(sample))))}
            for uid, t in sample.items():
                ev, case = events[uid], cases[events[uid].case_id]
                [first, *_] = plan_reminders(ev, case, feed.settings.reminders)
                due = first.due_at
                # What messages.render() does, with one Renderer for all (it builds one
                # per call).
                _, body = renderer.render("", "reminder", context(
                    "reminder", reminder_payload(first, ev, case), due=due, now=due))
                alert = plan_alert([added[uid]], ev, case, due)
                _, change = renderer.render("", "change", context(
                    "change", alert.payload, due=due, now=due))
                page = re.search(rf'<div class="when[^"]*">([^<]*)</div>\s*<div>Hearing: '
                                 rf'Hearing {ev.event_id}\b', feed.pages[ev.case_id])
                assert page is not None, uid
                texts = [body, change, html.unescape(page[1])]
                wrong += [w for text in texts if (w := _shown(text, uid, t))]
    finally:
        store.close()
    print(f"\nDATE TRUTH (messages, pages): events={len(sample)} zones={len(PAGE_ZONES)} "
          f"texts={3 * len(sample)} disagreements={len(wrong)}")
    assert not wrong, wrong[:5]
