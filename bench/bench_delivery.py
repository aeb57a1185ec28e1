"""Delivery throughput: the dispatcher versus a bare loop of ``apprise.notify()``.

A local webhook sink (``json://127.0.0.1``, a threaded HTTP server answering 200,
in its own process as a real webhook would be, so its CPU time is not charged to
the sender) receives N messages three times per round, rounds interleaved:

- **baseline**: a bare loop of ``Apprise.notify()`` calls on one client, Apprise's
  defaults;
- **same config** (context): the bare loop with Apprise set up as the dispatcher's
  channels are (``service_timeout=0``: the send runs on the calling thread, not
  handed to Apprise's worker pool). Dispatch against this is what the bookkeeping
  alone costs;
- **dispatch**: N pending outbox rows in a real SQLite file, sent by
  :meth:`Dispatcher.run_once` through the real :class:`Deliverer` (claim, re-check,
  Jinja2 render, Apprise send, one committed Delivery row per message).

Context lines: the same against a sink answering in 20 ms, and notifications as
users get them: a calendar file synced into N "hearing added" change alerts, and
N one-day reminders; each re-reads its event and the case's next date (a reminder
is also re-planned, to be withdrawn if its hearing moved) before it is rendered.

Throughput = messages / second; target: dispatch >= 0.8x the bare loop while every
delivery is recorded durably (the run asserts N sent rows and N Delivery rows).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apprise
from run import Result
from sqlalchemy import func
from sqlmodel import select

from notifier.config import Settings, parse_settings
from notifier.notify import outbox
from notifier.notify.dispatch import Dispatcher
from notifier.store import Store
from notifier.store.models import Delivery, Notification
from notifier.tracking.sync import sync_calendars

_SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import time
DELAY = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if DELAY:
            time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


@contextmanager
def _sink(delay: float = 0.0) -> Iterator[str]:
    """A webhook sink process; ``delay`` seconds per request stands in for a real network."""
    proc = subprocess.Popen([sys.executable, "-c", _SINK, str(delay)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"json://127.0.0.1:{port}/hook"
    finally:
        proc.terminate()
        proc.wait(10)


def _bare(url: str, n: int, *, same_config: bool = False) -> float:
    # same_config: Apprise set up as the dispatcher's channels are (its per-service
    # deadline off, so it sends on the calling thread instead of handing each send
    # to its worker pool); the ratio against that is the cost of the bookkeeping alone.
    asset = apprise.AppriseAsset(service_timeout=0) if same_config else None
    client = apprise.Apprise(asset=asset)
    client.add(url)
    t0 = time.perf_counter()
    for i in range(n):
        assert client.notify(title="bench", body=f"message {i}")
    return n / (time.perf_counter() - t0)


def _calendar(tmp: Path, url: str, n: int, kind: str) -> tuple[Store, Settings, datetime]:
    """A case with ``n`` hearings synced from a calendar file, and when to dispatch.

    ``change``: ``n`` "hearing added" alerts, due now. ``reminder``: the hearings
    all start at one time two days ahead; their ``n`` one-day reminders are sent
    with the dispatcher's clock a second after they fell due.
    """
    cal = tmp / "calendars"
    cal.mkdir()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    text = ['[case]\nid = "bench"\ntitle = "People v. Bench"\ntimezone = "UTC"\n'
            'court = "Part 99"\n']
    for i in range(n):
        at = start + timedelta(hours=i if kind == "change" else 0)
        text.append(f'[[events]]\nid = "h{i}"\nkind = "hearing"\ntitle = "Hearing {i}"\n'
                    f'start = {at:%Y-%m-%dT%H:%M:%S}\nlocation = "Room {i}"\n')
    (cal / "bench.toml").write_text("\n".join(text), encoding="utf-8")
    settings = parse_settings({"database": {"url": f"sqlite:///{tmp / 'n.db'}"},
                               "calendars": {"paths": [str(cal)]},
                               "reminders": {"offsets": ["1d"]},
                               "channels": [{"name": "hook", "url": url, "notify": [kind]}]},
                              origin="bench", base_dir=tmp)
    store = Store(settings.database_url())
    report = sync_calendars(store, settings.calendar_folders(),
                            hook=outbox.change_hook(settings))
    assert report.ok and len(report.changes) == n
    return store, settings, (start - timedelta(days=1, seconds=-1) if kind == "reminder"
                             else datetime.now(UTC))


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def _dispatch(url: str, n: int, kind: str = "test") -> float:
    tmp = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    try:
        at: datetime | None = None
        if kind != "test":
            store, settings, at = _calendar(tmp, url, n, kind)
        else:
            settings = parse_settings({"database": {"url": f"sqlite:///{tmp / 'n.db'}"},
                                       "channels": [{"name": "hook", "url": url}]},
                                      origin="bench", base_dir=tmp)
            store = Store(settings.database_url())
            now = datetime.now(UTC)
            with store.write() as s:
                outbox.insert_rows(s, [outbox.new_row(
                    f"b:{i}", "test", "hook", now, now,
                    {"title": "bench", "text": f"message {i}"}) for i in range(n)])
        d = Dispatcher(store, settings) if at is None else \
            Dispatcher(store, settings, clock=_fixed(at))
        t0 = time.perf_counter()
        stats = d.run_once()
        rate = n / (time.perf_counter() - t0)
        d.close()
        with store.read() as s:
            sent = s.exec(select(func.count()).select_from(Notification)
                          .where(Notification.status == "sent")).one()
            recorded = s.exec(select(func.count()).select_from(Delivery)).one()
        assert stats.sent == sent == recorded == n, (stats, sent, recorded)
        store.close()
        return rate
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compare(n: int, repeats: int, delay: float,
             kind: str = "test") -> tuple[float, float, float]:
    """Medians (bare loop, bare loop configured as the dispatcher, dispatcher) in msg/s."""
    bare: list[float] = []
    same: list[float] = []
    disp: list[float] = []
    with _sink(delay) as url:
        _bare(url, 5)  # warm up imports and the connection path
        for _ in range(repeats):  # interleaved: all see the same machine load
            bare.append(_bare(url, n))
            same.append(_bare(url, n, same_config=True))
            disp.append(_dispatch(url, n, kind))
    return statistics.median(bare), statistics.median(same), statistics.median(disp)


def run(quick: bool) -> list[Result]:
    n, repeats = (200, 3) if quick else (1000, 5)
    b, s, d = _compare(n, repeats, 0.0)
    # The same with 20 ms per request, closer to a real webhook across a network:
    # the dispatcher's fixed cost per message (claim, render, one commit) is then
    # small next to the send itself.
    n_slow = 50 if quick else 150
    b2, _s2, d2 = _compare(n_slow, 3, 0.02)
    # Change alerts as users get them: each one re-reads its event and the case's
    # next date right before sending, and renders the change template.
    n_ch = 200 if quick else 500
    b3, _s3, d3 = _compare(n_ch, 3, 0.0, "change")
    b4, _s4, d4 = _compare(n_ch, 3, 0.0, "reminder")
    return [
        Result(f"dispatch to json:// sink ({n} msgs, durable)", d, "msg/s", baseline=b,
               target=">= 0.8x bare apprise", ok=d >= 0.8 * b),
        Result("  same, vs a bare loop sending on its thread", d, "msg/s", baseline=s,
               target="(bookkeeping cost)"),
        Result(f"  same, sink answering in 20 ms ({n_slow} msgs)", d2, "msg/s", baseline=b2,
               target="(context)"),
        Result(f"  change alerts, event re-read ({n_ch} msgs)", d3, "msg/s", baseline=b3,
               target="(context)"),
        Result(f"  reminders, event re-read + re-planned ({n_ch})", d4, "msg/s", baseline=b4,
               target="(context)"),
    ]
