"""Helpers for the cluster tests: a fresh PostgreSQL database, `notifier run` processes
sharing it, a slow counting sink, outbox rows to send."""

from __future__ import annotations

import re
import textwrap
import threading
import time
from collections import Counter
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pgkit
import sqlalchemy as sa
from daemonkit import NotifierRun

from notifier.notify import outbox
from notifier.store import Store

ADMIN_URL = pgkit.ADMIN_URL
SKIP_REASON = pgkit.SKIP_REASON
TOKEN = re.compile(r"msg-\d{6}")


def pg_database() -> AbstractContextManager[str]:
    """A new, empty database on the test server; dropped afterwards. Yields its URL."""
    return pgkit.pg_database("notifier_cluster")


class SlowSink:
    """HTTP on 127.0.0.1 answering each POST after ``delay`` seconds; counts every
    ``msg-NNNNNN`` token per path (= channel) it was sent."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.got: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                time.sleep(sink.delay)
                if len(raw) < length:  # the sender died mid-request: not delivered
                    return
                found = TOKEN.search(raw.decode("utf-8", "replace"))
                with sink.lock:
                    sink.got[(self.path.strip("/"), found.group(0) if found else "?")] += 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, channel: str) -> str:
        return f"json://127.0.0.1:{self.port}/{channel}"

    def count(self) -> int:
        with self.lock:
            return sum(self.got.values())

    def per_channel(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        with self.lock:
            for (ch, tok), n in self.got.items():
                out.setdefault(ch, Counter())[tok] = n
        return out

    def __enter__(self) -> SlowSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(folder: Path, db_url: str, sink: SlowSink, channels: list[str], *,
                 extra: str = "", name: str = "config.toml", lease: str = "8s") -> Path:
    """A daemon config on ``db_url`` with short cluster intervals, one sink channel each."""
    (folder / "calendars").mkdir(exist_ok=True)
    chans = "".join(f'[[channels]]\nname = "{c}"\nurl = "{sink.url(c)}"\ntimeout = "2s"\n'
                    for c in channels)
    cfg = folder / name
    cfg.write_text(textwrap.dedent(f"""
        [database]
        url = "{db_url}"
        [calendars]
        paths = ["calendars"]
        sync_interval = "1h"
        [server]
        host = "127.0.0.1"
        port = 0
        base_url = "http://127.0.0.1:8080"
        [delivery]
        poll_interval = "1s"
        lease = "{lease}"
        [cluster]
        failover = "3s"
        """) + extra + "\n" + chans)
    return cfg


Proc = NotifierRun  # the cluster tests' name for a `notifier run` subprocess


def queue_messages(store: Store, channels: list[str], per_channel: int, *,
                   start: int = 0) -> list[str]:
    """``per_channel`` due operator notices on each channel, each with its own token."""
    now = datetime.now(UTC)
    rows, tokens = [], []
    i = start
    for ch in channels:
        for _ in range(per_channel):
            tok = f"msg-{i:06d}"
            i += 1
            tokens.append(tok)
            rows.append(outbox.new_row(f"test:{tok}:{ch}", "operator", ch, now, now,
                                       {"title": tok, "text": f"{tok} body"}))
    with store.write() as s:
        outbox.insert_rows(s, rows)
    return tokens


def statuses(store: Store) -> dict[str, int]:
    with store.read() as s:
        return outbox.counts(s)


def leader_pid(store: Store, failover: float = 3.0,
               among: set[int] | None = None) -> int | None:
    """The pid of the daemon the table shows as leader with a fresh heartbeat (of the
    daemons ``among``, when given)."""
    with store.read() as s:
        rows = s.execute(sa.text(
            "SELECT pid, heartbeat_at FROM cluster_daemon WHERE leader AND stopped_at IS NULL"
        )).all()
    now = datetime.now(UTC)
    fresh = [pid for pid, at in rows if (now - _aware(at)).total_seconds() < failover
             and (among is None or pid in among)]
    return fresh[0] if len(fresh) == 1 else None


def _aware(at: Any) -> datetime:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def repeats_recorded(store: Store) -> int:
    with store.read() as s:
        return int(s.execute(sa.text("SELECT count(*) FROM delivery WHERE repeat")).scalar_one())


def dump(procs: list[Proc]) -> str:
    return "\n".join(f"--- pid {p.pid}\n{p.output[-1500:]}" for p in procs)

