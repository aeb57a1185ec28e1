"""`notifier run` as users run it: a subprocess with real SMTP and webhook servers.

Covers the issue's end-to-end case (an event added to a calendar file while the
daemon runs: its change alert and its reminder arrive by email and webhook; SIGTERM
exits 0 with nothing pending lost), plus SIGHUP reloads, JSON logs, a second signal,
and a clear failure on bad config.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from daemonkit import NotifierRun
from outboxhelpers import Sink
from sqlmodel import select
from waiting import wait_for

from notifier.store import Store
from notifier.store.models import Notification


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield box, port
    finally:
        ctl.stop()



CASE = """
[case]
id = "c1"
title = "People v. Example"
court = "Part 99"
timezone = "UTC"
"""


def write_config(tmp_path: Path, port: int, channels: str = "", extra: str = "") -> Path:
    (tmp_path / "calendars").mkdir(exist_ok=True)
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        url = "sqlite:///data/notifier.db"
        [calendars]
        paths = ["calendars"]
        sync_interval = "1h"
        [server]
        host = "127.0.0.1"
        port = {port}
        base_url = "http://127.0.0.1:{port}"
        [reminders]
        offsets = ["1m"]
        [delivery]
        poll_interval = "2s"
        """) + extra + channels)
    return cfg


def healthy(port: int) -> bool:
    """/healthz answers 200 and the first sync finished (it is a baseline import: a
    file changed before it ends would be taken in silently, with no change alert)."""
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json().get("last_sync") is not None


def test_event_added_while_running_alerts_then_reminds_then_stops_cleanly(
        tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:
    box, smtp_port = smtp
    port = free_port()
    with Sink() as hook:
        cfg = write_config(tmp_path, port, channels=textwrap.dedent(f"""
            [[channels]]
            name = "desk-email"
            url = "mailto://127.0.0.1:{smtp_port}?from=notifier@example.org&to=desk@example.org"
            [[channels]]
            name = "webhook"
            url = "{hook.url}"
            """))
        (tmp_path / "calendars" / "c1.toml").write_text(CASE)
        run = NotifierRun(cfg)
        try:
            wait_for(lambda: healthy(port), 30, "/healthz")
            # A hearing 80 s from now, whose 1-minute reminder falls due in ~20 s.
            start = (datetime.now(UTC) + timedelta(seconds=80)).replace(microsecond=0)
            (tmp_path / "calendars" / "c1.toml").write_text(CASE + textwrap.dedent(f"""
                [[events]]
                id = "h"
                kind = "hearing"
                title = "Bail hearing"
                start = {start:%Y-%m-%dT%H:%M:%S}
                duration = "30m"
                """))
            run.proc.send_signal(signal.SIGHUP)  # re-read calendars now, not in an hour
            wait_for(lambda: len(hook.bodies) >= 1 and len(box.subjects()) >= 1, 30,
                     "the change alert by webhook and email")
            assert any("Hearing added" in s for s in box.subjects()), box.subjects()
            assert any("Hearing added" in b for b in hook.bodies)
            wait_for(lambda: len(hook.bodies) >= 2 and len(box.subjects()) >= 2, 60,
                     "the reminder by webhook and email")
            reminder_at = max(hook.times.values())
            due = start - timedelta(minutes=1)
            assert abs((reminder_at - due).total_seconds()) < 5
        finally:
            t0 = time.monotonic()
            code = run.stop(signal.SIGTERM)
            took = time.monotonic() - t0
            run.kill()
    assert code == 0, run.output[-3000:]
    assert took < 10
    assert "SIGTERM received: shutting down" in run.output
    assert sum(hook.bodies.values()) == 2 and len(box.subjects()) == 2  # nothing twice
    store = Store(f"sqlite:///{tmp_path / 'data' / 'notifier.db'}")
    with store.read() as s:
        rows = s.exec(select(Notification)).all()
    store.close()
    assert sorted((r.type, r.channel, r.status) for r in rows) == [
        ("change", "desk-email", "sent"), ("change", "webhook", "sent"),
        ("reminder", "desk-email", "sent"), ("reminder", "webhook", "sent")]


def test_json_logs_second_signal_and_exit_status(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port)
    (tmp_path / "calendars" / "c1.toml").write_text(CASE)
    run = NotifierRun(cfg, "--log-format", "json")
    try:
        wait_for(lambda: healthy(port), 30, "/healthz")
        body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert body["scheduler"]["running"] is True and body["last_sync"]["ok"] is True
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "notifier_sync_duration_seconds_count" in metrics
    finally:
        code = run.stop(signal.SIGINT)
        run.kill()
    assert code == 0
    records = [json.loads(line) for line in run.lines if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"] == "stopped" for r in records)


def test_bad_config_fails_fast_with_the_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, free_port(), extra='[reminders.nope]\nx = 1\n')
    done = subprocess.run([sys.executable, "-m", "notifier", "--config", str(cfg), "run"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "config.toml" in done.stderr and "reminders.nope" in done.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = write_config(tmp_path, port)
        done = subprocess.run([sys.executable, "-m", "notifier", "--config", str(cfg), "run"],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX-only")
def test_sighup_reloads_calendars(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port)
    (tmp_path / "calendars" / "c1.toml").write_text(CASE)
    run = NotifierRun(cfg)
    try:
        wait_for(lambda: healthy(port), 30, "/healthz")
        url = f"http://127.0.0.1:{port}/calendars/c1.ics"
        assert "Sentencing" not in httpx.get(url, timeout=5).text
        (tmp_path / "calendars" / "c1.toml").write_text(CASE + textwrap.dedent("""
            [[events]]
            id = "s"
            kind = "sentencing"
            title = "Sentencing"
            date = 2030-01-15
            """))
        # An edit of config.toml is not applied by SIGHUP: the log says so.
        cfg.write_text(cfg.read_text().replace('offsets = ["1m"]', 'offsets = ["2m"]'))
        run.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "Sentencing" in httpx.get(url, timeout=5).text, 15, "the reload")
        wait_for(lambda: "changed since start" in run.output, 15, "the config note",
                 lambda: run.output)
    finally:
        assert run.stop() == 0
        run.kill()
    assert "SIGHUP: re-reading calendar files" in run.output
    assert (f"{cfg} changed since start: [reminders]. SIGHUP re-reads only the calendar "
            "files; restart notifier to apply the other settings") in run.output
    assert os.path.exists(tmp_path / "data" / "notifier.db")


def test_sigterm_does_not_wait_past_the_shutdown_timeout_for_a_hanging_send(
        tmp_path: Path) -> None:
    from channelkit import HttpSink

    port = free_port()
    with HttpSink([200], hang=25) as sink:
        cfg = write_config(tmp_path, port, channels=textwrap.dedent(f"""
            [[channels]]
            name = "stuck"
            url = "{sink.json_url()}"
            timeout = "40s"
            """))
        (tmp_path / "calendars" / "c1.toml").write_text(CASE)
        run = NotifierRun(cfg, "--shutdown-timeout", "1")
        try:
            wait_for(lambda: healthy(port), 30, "/healthz")
            start = datetime.now(UTC) + timedelta(days=3)
            (tmp_path / "calendars" / "c1.toml").write_text(CASE + textwrap.dedent(f"""
                [[events]]
                id = "h"
                kind = "hearing"
                title = "Bail hearing"
                start = {start:%Y-%m-%dT%H:%M:%S}
                """))
            run.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: len(sink.requests) >= 1, 30, "the alert to reach the sink")
        finally:
            t0 = time.monotonic()
            code = run.stop(signal.SIGTERM, timeout=15)
            took = time.monotonic() - t0
            run.kill()
    # The sink would answer only after 25 s: the daemon leaves that send to the
    # lease (the row is sent again after a restart) instead of hanging on exit.
    assert code == 0, run.output[-3000:]
    assert took < 8, took
    assert "unfinished deliveries" in run.output


def test_links_follow_the_port_from_notifier_port_when_base_url_is_not_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`NOTIFIER_PORT=N notifier run --host 127.0.0.1` with no base_url in the config:
    every link on the pages and the log line name port N, not 8080."""
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "c1.toml").write_text(CASE)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[database]\nurl = "sqlite:///data/notifier.db"\n'
                   '[calendars]\npaths = ["calendars"]\nsync_interval = "1h"\n')
    port = free_port()
    monkeypatch.setenv("NOTIFIER_PORT", str(port))
    run = NotifierRun(cfg, "--host", "127.0.0.1")
    try:
        wait_for(lambda: healthy(port), 30, "the daemon on NOTIFIER_PORT")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
    finally:
        assert run.stop() == 0, run.output[-2000:]
    assert f"(base URL http://localhost:{port})" in run.output
    assert "8080" not in page and f'href="http://localhost:{port}/cases/c1"' in page
    assert f"webcal://localhost:{port}/calendars/c1.ics" in page
    assert "base_url is" not in run.output  # nothing to warn about
