"""A channel's 429 ``Retry-After`` is honoured (issue 12, Low 11): no attempt on that
channel before the time it asked for, through a real HTTP server and Apprise."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from outboxhelpers import make_settings
from sqlmodel import select

from notifier.notify import outbox
from notifier.notify.delivery import retry_after_seconds
from notifier.notify.dispatch import Dispatcher
from notifier.store import Store
from notifier.store.models import Notification


class RateLimitedSink:
    """Answers the first POST 429 with ``Retry-After``, then 200; records messages."""

    def __init__(self, retry_after: str) -> None:
        self.got: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.got.append(json.loads(raw)["message"])
                    first = len(sink.got) == 1
                self.send_response(429 if first else 200)
                if first:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_429_retry_after_holds_the_channel_until_then(tmp_path: Path, db_url: str,
                                                      store: Store) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"test:{i}", "test", "hook", now, now,
                                              {"title": "t", "text": f"n{i}"})
                               for i in range(3)])
    sink = RateLimitedSink("120")
    try:
        # The backoff alone would retry within 1 s; the channel asked for 120 s.
        settings = make_settings(tmp_path, db_url, delivery={"backoff": "1s"},
                                 channels=[{"name": "hook", "url": sink.url}])

        def run(at: datetime) -> int:
            return Dispatcher(store, settings, clock=lambda: at).run_once().handled

        assert run(now) == 1 and len(sink.got) == 1
        with store.read() as s:
            rows = s.exec(select(Notification).order_by(Notification.id)).all()
        assert [r.status for r in rows] == ["failed", "pending", "pending"]
        assert [r.attempts for r in rows] == [1, 0, 0]  # the others were not tried
        assert all(r.next_attempt_at >= now + timedelta(seconds=120) for r in rows), rows
        assert "Retry-After: 120s" in (rows[0].last_error or "")
        assert run(now + timedelta(seconds=119)) == 0 and len(sink.got) == 1
        assert run(now + timedelta(seconds=121)) == 3
    finally:
        sink.close()
    assert sorted(m.split("\n")[0] for m in sink.got) == ["n0", "n0", "n1", "n2"]


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("30") == 30
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True),
                               now) == 90
    assert retry_after_seconds(format_datetime(now - timedelta(hours=1), usegmt=True),
                               now) == 0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("-5") is None
