"""Helpers for the outbox/dispatch tests: events, settings, a recording sender, an HTTP sink."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from notifier.config import Settings, parse_settings
from notifier.errors import DeliveryError
from notifier.store.models import Case, Event


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def make_settings(tmp_path: Path, db_url: str, **sections: Any) -> Settings:
    return parse_settings({"database": {"url": db_url}, **sections}, origin="test",
                          base_dir=tmp_path)


def make_case(case_id: str = "c1", tz: str = "America/New_York",
              reminders: dict[str, Any] | None = None, tags: list[str] | None = None) -> Case:
    return Case(id=case_id, title="People v. Test", timezone=tz, source="test.toml",
                tags=json.dumps(tags or []),
                reminders=json.dumps(reminders) if reminders is not None else None)


def make_event(uid: str = "e1", *, start: datetime | None = None, day: date | None = None,
               status: str = "scheduled", kind: str = "hearing", case_id: str = "c1",
               tz: str = "America/New_York") -> Event:
    from zoneinfo import ZoneInfo

    from notifier.timeutil import day_start_utc
    d = day if day is not None else (start.astimezone(ZoneInfo(tz)).date() if start else None)
    sort = start if start is not None else (day_start_utc(d, ZoneInfo(tz)) if d else None)
    return Event(uid=uid, case_id=case_id, event_id=uid, source="test.toml", kind=kind,
                 title=f"Hearing {uid}", status=status, date=d, start_utc=start, sort_utc=sort)


class Recorder:
    """A sender that records what it was asked to send; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, bool]] = []
        self.times: list[datetime] = []
        self.fail: DeliveryError | None = None
        self.lock = threading.Lock()

    def __call__(self, channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.sent.append((channel, title, body, urgent))
            self.times.append(datetime.now(UTC))


class Sink:
    """A tiny HTTP server on 127.0.0.1 counting POSTed JSON messages by their body."""

    def __init__(self) -> None:
        self.bodies: Counter[str] = Counter()
        self.times: dict[str, datetime] = {}
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:  # the sender was killed mid-request: not delivered
                    return
                try:
                    msg = json.loads(raw).get("message", "")
                except ValueError:
                    msg = raw.decode("utf-8", "replace")
                with sink.lock:
                    sink.bodies[msg] += 1
                    sink.times.setdefault(msg, datetime.now(UTC))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
