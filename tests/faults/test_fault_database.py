"""Fault suite: the SQLite file deleted, replaced or damaged under a running daemon.

Each test runs ``notifier run`` as a subprocess on a real SQLite file and changes the
file behind its back, then asks ``/healthz`` and the CLI what they make of it. The
last one deletes the database between two runs: the restart re-imports the calendar
files as a baseline and sends no "added" flood.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from channelkit import HttpSink, free_port
from click.testing import CliRunner
from waiting import wait_for

from notifier.cli import main
from notifier.store import Store

CASE = """
[case]
id = "c1"
title = "People v. Example"
court = "Part 99"
timezone = "UTC"
"""


def events(n: int, days: int = 5, prefix: str = "h") -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return "".join(textwrap.dedent(f"""
        [[events]]
        id = "{prefix}{i}"
        kind = "hearing"
        title = "Hearing {prefix}{i}"
        start = {day}T{9 + i % 8:02d}:00:00
        duration = "30m"
        """) for i in range(n))


class Daemon:
    """`notifier run` in a subprocess, its output collected in a file."""

    def __init__(self, tmp: Path, port: int, channels: str = "") -> None:
        self.tmp, self.port = tmp, port
        (tmp / "calendars").mkdir(exist_ok=True)
        self.config = tmp / "config.toml"
        self.config.write_text(textwrap.dedent(f"""
            [database]
            url = "sqlite:///data/notifier.db"
            check_interval = "1s"
            [calendars]
            paths = ["calendars"]
            sync_interval = "1h"
            [server]
            host = "127.0.0.1"
            port = {port}
            [reminders]
            offsets = ["1d"]
            [delivery]
            poll_interval = "1s"
            """) + channels)
        self.db = tmp / "data" / "notifier.db"
        self.log = tmp / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "--config", str(self.config), "run"],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_for(lambda: self.health()[0] == 200, 60, "a healthy daemon", self.output)
        wait_for(lambda: "last_sync" in self.health()[1]
                 and self.health()[1]["last_sync"] is not None, 30, "the first sync",
                 self.output)

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5)
            return r.status_code, r.json()
        except (httpx.HTTPError, ValueError):
            return 0, {}

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path, free_port())
    (tmp_path / "calendars" / "c1.toml").write_text(CASE + events(3))
    try:
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.stop()



def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "notifier", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120)


def damage(db: Path, table: str | None = None) -> None:
    """Checkpoint the WAL into the file, then overwrite the root page of ``table``
    (the rest of the database still reads fine), or every page but the first."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?",
                            (table,)).fetchone()
    conn.close()
    size = db.stat().st_size
    assert size > 2 * page, size
    with db.open("r+b") as f:
        if table is None:
            f.seek(page)
            f.write(os.urandom(size - page))
        else:
            f.seek((root[0] - 1) * page)
            f.write(os.urandom(page))


def test_database_deleted_while_running_is_503_naming_the_file(daemon: Daemon) -> None:
    daemon.start()
    before = daemon.health()
    assert before[0] == 200 and before[1]["database"] == "ok", before
    for suffix in ("", "-wal", "-shm"):
        Path(f"{daemon.db}{suffix}").unlink(missing_ok=True)
    code, body = daemon.health()
    assert code == 503 and body["status"] == "error" and body["database"] == "gone", body
    [problem] = body["database_problems"]
    assert problem["problem"] == "gone" and str(daemon.db) in problem["detail"]
    wait_for(lambda: "was deleted while notifier was running" in daemon.output(), 15,
             "the error in the log", daemon.output)
    assert daemon.stop() == 0


def test_database_replaced_while_running_is_503(daemon: Daemon, tmp_path: Path) -> None:
    daemon.start()
    other = tmp_path / "other.db"
    Store(f"sqlite:///{other}").close()  # a valid notifier database, but another file
    os.replace(other, daemon.db)
    code, body = daemon.health()
    assert code == 503 and body["database"] == "replaced", body
    assert str(daemon.db) in body["database_problems"][0]["detail"]
    assert daemon.stop() == 0


def test_database_damaged_while_running_is_503_then_commands_fail_clearly(
        daemon: Daemon) -> None:
    daemon.start()
    damage(daemon.db, "event")  # the outbox still reads: only the integrity check can tell
    wait_for(lambda: daemon.health()[0] == 503, 30, "/healthz to see the damage",
             daemon.output)
    body = daemon.health()[1]
    assert body["database"] == "corrupt", body
    [problem] = body["database_problems"]
    assert str(daemon.db) in problem["detail"], problem
    assert "damaged" in problem["detail"] or "integrity check" in problem["detail"], problem
    daemon.stop()
    commands_fail_clearly(daemon, [["check"], ["events"], ["sync"]])
    damage(daemon.db)  # now the whole file: every command says what is wrong, no traceback
    commands_fail_clearly(daemon, [["check"], ["reminders"], ["events"], ["sync"],
                                   ["history", "c1/h0"],
                                   ["feed", "export", "--out", str(daemon.tmp / "out")]])


def commands_fail_clearly(daemon: Daemon, commands: list[list[str]]) -> None:
    """Each command (and `run`, in a process of its own) exits 1 naming the database."""
    for command in commands:
        r = CliRunner().invoke(main, ["--config", str(daemon.config), *command])
        assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (command, r.output)
        assert str(daemon.db) in r.output and "Traceback" not in r.output, (command, r.output)
    r = cli(daemon.config, "run")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and str(daemon.db) in r.stderr, r.stderr


def test_restart_after_deletion_sends_no_added_flood(tmp_path: Path) -> None:
    port = free_port()
    with HttpSink() as sink:
        d = Daemon(tmp_path, port, channels=textwrap.dedent(f"""
            [[channels]]
            name = "desk"
            url = "{sink.json_url()}"
            notify = ["reminder", "change"]
            """))
        cal = tmp_path / "calendars" / "c1.toml"
        cal.write_text(CASE + events(20))
        try:
            d.start()
            # A fresh database is a baseline import too: nothing announced.
            time.sleep(3)
            assert sink.requests == [], sink.requests
            assert "baseline import into an empty database" in d.output()
            # An event added while running is news: exactly one alert.
            cal.write_text(CASE + events(20) + events(1, prefix="new"))
            assert d.proc is not None
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: len(sink.requests) == 1, 30, "the 'added' alert", d.output)
            assert "Hearing added" in str(sink.requests[0][1])
            assert d.stop() == 0

            for suffix in ("", "-wal", "-shm"):
                Path(f"{d.db}{suffix}").unlink(missing_ok=True)
            d.start()
            time.sleep(4)  # a few dispatcher polls: anything planned would have gone
            assert len(sink.requests) == 1, [str(b)[:80] for _p, b in sink.requests]
            assert d.output().count("baseline import into an empty database") == 2
            assert d.stop() == 0
        finally:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
    # The re-import kept what matters: every event, its history and its reminders.
    with sqlite3.connect(d.db) as conn:
        n_events = conn.execute("SELECT count(*) FROM event").fetchone()[0]
        n_history = conn.execute("SELECT count(*) FROM change WHERE kind='added'").fetchone()[0]
        planned = conn.execute("SELECT type, status, count(*) FROM notification "
                               "GROUP BY type, status").fetchall()
    conn.close()
    assert n_events == 21 and n_history == 21
    assert planned == [("reminder", "pending", 21)], planned
    shutil.rmtree(tmp_path / "data")
