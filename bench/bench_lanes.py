"""Reminders behind a backlog of change alerts on the same channel.

A sync queues ``alerts`` "added" change alerts (1,000; quick: 300) for channel
``hook``, a real local webhook that takes 50 ms per message (Apprise ``json://``
to 127.0.0.1); then ``reminders`` reminders of real events fall due one every
0.5 s while the backlog drains (50 s at 50 ms each). The engine (APScheduler
ticker, dispatcher lanes, real SQLite file) sends everything; lateness = time the
webhook received the reminder - its due time. Baseline in the same run: the same
reminders on the same sink with no backlog. Target: p99 < 2 s.

Entry point: ``run(quick)``, called by ``bench/run.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from run import Result

from notifier.config import Settings, parse_settings
from notifier.notify import outbox
from notifier.server.scheduler import Engine
from notifier.store import Store
from notifier.store.models import Case, Event
from notifier.tracking.sync import sync_calendars

SINK_S = 0.05
SPACING_S = 0.5
_REMINDER = re.compile(r"Remtest (\d+)\b")


class _Sink:
    """A webhook on 127.0.0.1 that answers after SINK_S and notes when each
    reminder arrived."""

    def __init__(self) -> None:
        self.got: dict[int, datetime] = {}
        self.count = 0
        lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = datetime.now(UTC)
                body = json.loads(raw)
                m = _REMINDER.search(f"{body.get('title', '')}\n{body.get('message', '')}")
                with lock:
                    sink.count += 1
                    if m:
                        sink.got.setdefault(int(m.group(1)), at)
                time.sleep(SINK_S)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _backlog(root: Path, settings: Settings, store: Store, alerts: int) -> None:
    """``alerts`` events added by a sync (dates past the reminder horizon): one
    "added" alert each on ``hook``."""
    cal = root / "calendars"
    per = 100
    for f in range(0, alerts, per):
        out = [f'[case]\nid = "far-{f}"\ntitle = "People v. Far {f}"\ntimezone = "UTC"\n']
        for i in range(f, min(f + per, alerts)):
            day = date(2027, 1, 1) + timedelta(days=i % 300)
            out.append(f'[[events]]\nid = "e{i}"\nkind = "hearing"\ntitle = "Far {i}"\n'
                       f"date = {day.isoformat()}\n")
        (cal / f"far-{f}.toml").write_text("".join(out), encoding="utf-8")
    assert sync_calendars(store, settings.calendar_folders(),
                          hook=outbox.change_hook(settings)).ok


def _reminder_events(store: Store, dues: list[datetime]) -> None:
    now = datetime.now(UTC)
    with store.write() as s:
        s.add(Case(id="rem", title="People v. Remtest", timezone="UTC", source="bench"))
        for i, due in enumerate(dues):
            start = due + timedelta(hours=1)
            s.add(Event(uid=f"rem/r{i}", case_id="rem", event_id=f"r{i}", source="bench",
                        kind="hearing", title=f"Remtest {i}", date=start.date(),
                        start_utc=start, sort_utc=start, created_at=now, updated_at=now))


def _lateness(alerts: int, reminders: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="bench-lanes-"))
    sink = _Sink()
    try:
        (root / "calendars").mkdir()
        settings = parse_settings({
            "database": {"url": f"sqlite:///{root / 'n.db'}"},
            "calendars": {"paths": [str(root / "calendars")]},
            "reminders": {"offsets": ["1h"]},
            "channels": [{"name": "hook", "url": sink.url}]}, origin="bench", base_dir=root)
        store = Store(settings.database_url())
        if alerts:
            _backlog(root, settings, store, alerts)
        first = datetime.now(UTC) + timedelta(seconds=3)
        dues = [first + timedelta(seconds=SPACING_S * i) for i in range(reminders)]
        _reminder_events(store, dues)
        engine = Engine(store, settings, sync=False)
        engine.start()  # plans the reminders; the lane starts on the backlog
        deadline = time.monotonic() + (dues[-1] - datetime.now(UTC)).total_seconds() + 60
        while len(sink.got) < reminders and time.monotonic() < deadline:
            time.sleep(0.05)
        engine.shutdown(5)
        store.close()
        if len(sink.got) < reminders:
            raise RuntimeError(f"only {len(sink.got)} of {reminders} reminders arrived")
        return sorted((sink.got[i] - d).total_seconds() for i, d in enumerate(dues))
    finally:
        sink.close()
        shutil.rmtree(root, ignore_errors=True)


def _p99(xs: list[float]) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def run(quick: bool) -> list[Result]:
    alerts, reminders = (300, 15) if quick else (1000, 40)
    base = _lateness(0, reminders)
    late = _lateness(alerts, reminders)
    b50, b99 = statistics.median(base), _p99(base)
    p50, p99 = statistics.median(late), _p99(late)
    what = f"{reminders} reminders behind {alerts} alerts, 50 ms sink"
    return [
        Result("lanes: reminder lateness p50, no backlog (baseline)", b50 * 1000, "ms"),
        Result("lanes: reminder lateness p99, no backlog (baseline)", b99 * 1000, "ms"),
        Result(f"lanes: lateness p50, {what}", p50 * 1000, "ms", baseline=b50 * 1000,
               target="within seconds", ok=p50 < 2),
        Result(f"lanes: lateness p99, {what}", p99 * 1000, "ms", baseline=b99 * 1000,
               target="< 2000 ms", ok=p99 < 2),
    ]
