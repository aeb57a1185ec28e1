"""Fault: ``notifier run`` killed with SIGKILL in the middle of a delivery, again and again.

The sink kills the daemon while it is answering one of its POSTs (the message has
arrived, the daemon has not heard back), then the test starts it again. Every
notification must arrive (0 lost); the one in flight at each kill may arrive twice
(its outcome was never recorded), so at most one duplicate per kill.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from channelkit import free_port
from sqlmodel import select
from waiting import until

from notifier.notify import outbox
from notifier.store import Store
from notifier.store.models import Notification

KILLS = 5
PER_KILL = 100


class KillingSink:
    """Counts POSTed messages; on the ``kill_at``-th one it SIGKILLs ``proc`` before
    answering, so the sender dies mid-delivery."""

    def __init__(self) -> None:
        self.bodies: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.kill_at: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.killed = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # The first line: a message sent more than a minute late says so below.
                msg = json.loads(raw).get("message", "").split("\n")[0]
                with sink.lock:
                    sink.bodies[msg] += 1
                    total = sum(sink.bodies.values())
                    if sink.kill_at is not None and total >= sink.kill_at and \
                            sink.proc is not None:
                        sink.proc.send_signal(signal.SIGKILL)
                        sink.proc.wait(10)
                        sink.kill_at = None
                        sink.killed.set()
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def total(self) -> int:
        with self.lock:
            return sum(self.bodies.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()



def test_kill9_mid_delivery_loses_nothing_and_duplicates_at_most_one_per_kill(
        tmp_path: Path) -> None:
    total = KILLS * PER_KILL
    db = tmp_path / "data" / "notifier.db"
    store = Store(f"sqlite:///{db}")
    now = datetime.now(UTC)
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"test:{i}", "test", "hook", now, now,
                                              {"title": "kill9", "text": f"n{i:03d}"})
                               for i in range(total)])
    (tmp_path / "calendars").mkdir()
    sink = KillingSink()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{db}"
[calendars]
paths = ["{tmp_path / 'calendars'}"]
[server]
host = "127.0.0.1"
port = {free_port()}
[delivery]
lease = "1s"
poll_interval = "1s"
[[channels]]
name = "hook"
url = "{sink.url}"
""", encoding="utf-8")
    log = tmp_path / "daemon.log"
    rng = random.Random(9)

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "notifier", "--config", str(cfg),
                                     "run"], stdout=out, stderr=out)

    t0 = time.monotonic()
    kills = 0
    proc: subprocess.Popen[bytes] | None = None
    try:
        for trial in range(KILLS):
            sink.killed.clear()
            with sink.lock:
                # Somewhere inside this trial's hundred, never at its edges.
                sink.kill_at = trial * PER_KILL + rng.randint(20, PER_KILL - 20)
                sink.proc = proc = start()
            assert sink.killed.wait(60), log.read_text()
            kills += 1
        with sink.lock:
            sink.proc = proc = start()
        assert until(lambda: len(sink.bodies) >= total, 60), log.read_text()

        def statuses() -> Counter[str]:
            with store.read() as s:  # a fresh session per look
                return Counter(n.status for n in s.exec(select(Notification)).all())
        assert until(lambda: set(statuses()) == {"sent"}, 15), statuses()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        sink.close()
        store.close()
    lost = sum(1 for i in range(total) if sink.bodies[f"n{i:03d}"] == 0)
    duplicated = sum(c - 1 for c in sink.bodies.values())
    print(f"\nKILL9: trials={kills} notifications={total} lost={lost} "
          f"duplicated={duplicated} seconds={time.monotonic() - t0:.0f}")
    assert set(sink.bodies) == {f"n{i:03d}" for i in range(total)}
    assert lost == 0
    assert duplicated <= kills, sink.bodies.most_common(kills + 1)
