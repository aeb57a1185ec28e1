"""Fault: the database's disk fills up while notifications are due (issue 12, High 3).

A real ``notifier run`` keeps its SQLite database on a small tmpfs of its own (a user and
mount namespace from ``unshare``, so no privileges are needed). The test fills that
tmpfs through ``/proc/PID/root`` until it is full, while reminders fall due: SQLite
answers SQLITE_FULL. The daemon must log at a bounded rate (it used to log 321
tracebacks a second), say so on /healthz, and once space is freed deliver every
notification exactly once.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from channelkit import free_port
from outboxhelpers import Sink

EVENTS = 24
DUE_IN = 15.0  # seconds from the calendar being written to the first reminder
FULL_FOR = 10.0  # at least this long full, and at least 6 s past the last reminder


def _namespaces_work() -> str | None:
    if shutil.which("unshare") is None:
        return "the unshare command is missing"
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                           capture_output=True, text=True, timeout=10)
    return None if probe.returncode == 0 else probe.stderr.strip() or "unshare failed"


class Daemon:
    """``notifier run`` in its own mount namespace with ``data`` on a tmpfs."""

    def __init__(self, config: Path, data: Path, size: str) -> None:
        script = 'mount -t tmpfs -o size="$1" notifier-fault "$2" && shift 2 && exec "$@"'
        self.proc = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
             size, str(data), sys.executable, "-m", "notifier", "--config", str(config),
             "run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # The daemon's view of the data folder: the tmpfs inside its namespace.
        self.data = Path(f"/proc/{self.proc.pid}/root") / data.relative_to("/")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def _health(port: int) -> dict[str, Any] | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()  # type: ignore[no-any-return]
    except (httpx.HTTPError, ValueError):
        return None


def _wait(cond, limit: float, what: str, daemon: Daemon) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        if daemon.proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {limit}s\n" + "".join(daemon.lines[-60:]))


def _fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its file system is full."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as f:
        for _ in range(100_000):  # bounded: 6.5 GB, far more than the tmpfs holds
            try:
                f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    # Also the last bytes (a short write left some).
    with filler.open("ab", buffering=0) as f:
        for _ in range(65536):
            try:
                f.write(b"\0")
            except OSError:
                break
    return filler


def test_disk_full_while_due_bounded_log_rate_and_nothing_lost(tmp_path: Path) -> None:
    why = _namespaces_work()
    if why is not None:
        pytest.skip(f"needs a private tmpfs (unshare --user --mount): {why}")
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    first_due = t0 + timedelta(seconds=DUE_IN)
    cal = tmp_path / "calendars"
    cal.mkdir()
    events = "".join(textwrap.dedent(f"""
        [[events]]
        id = "h{i:02d}"
        kind = "hearing"
        title = "Hearing {i:02d}"
        start = {(first_due + timedelta(hours=1, seconds=i // 4)).replace(tzinfo=None)
                 .isoformat()}
        status = "scheduled"
        """) for i in range(EVENTS))
    (cal / "c.toml").write_text(textwrap.dedent("""
        [case]
        id = "c"
        title = "People v. Disk"
        timezone = "UTC"
        """) + events, encoding="utf-8")
    last_due = first_due + timedelta(seconds=(EVENTS - 1) // 4)
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    with Sink() as sink:
        cfg = tmp_path / "config.toml"
        cfg.write_text(textwrap.dedent(f"""
            [database]
            url = "sqlite:///{data}/notifier.db"
            [calendars]
            paths = ["{cal}"]
            sync_interval = "1h"
            [server]
            host = "127.0.0.1"
            port = {port}
            [reminders]
            offsets = ["1h"]
            [delivery]
            poll_interval = "2s"
            [[channels]]
            name = "hook"
            url = "{sink.url}"
            """), encoding="utf-8")
        daemon = Daemon(cfg, data, "16m")
        try:
            # Every reminder planned, and nothing else waiting (the "added" alerts, if
            # the first sync sends any, are out) before the disk fills.
            def planned() -> bool:
                h = _health(port)
                return h is not None and h["notifications"] == {
                    "pending": EVENTS, "sending": 0, "failed": 0, "dead": 0}
            _wait(planned, 30, "the reminders planned", daemon)
            before = sink.bodies.copy()
            assert datetime.now(UTC) < first_due - timedelta(seconds=2), \
                "the daemon started too slowly to fill the disk before the reminders"
            time.sleep(max((first_due - datetime.now(UTC)).total_seconds() - 2, 0))
            filler = _fill(daemon.data)
            full_at, lines_at, cpu_at = time.monotonic(), len(daemon.lines), \
                daemon.cpu_seconds()
            until = max(full_at + FULL_FOR, time.monotonic()
                        + (last_due - datetime.now(UTC)).total_seconds() + 6)
            while time.monotonic() < until and daemon.proc.poll() is None:
                time.sleep(0.2)
            seconds_full = time.monotonic() - full_at
            logged = daemon.lines[lines_at:]
            cpu = (daemon.cpu_seconds() - cpu_at) / seconds_full
            sent_while_full = sum(sink.bodies.values()) - sum(before.values())
            health = _health(port)
            filler.unlink()
            _wait(lambda: len(sink.bodies) >= len(before) + EVENTS, 30,
                  "delivery after space was freed", daemon)
            _wait(lambda: (h := _health(port)) is not None and h["status"] == "ok"
                  and not any(h["notifications"].values()), 15, "an empty outbox", daemon)
            after = _health(port)
        finally:
            code = daemon.stop()
    rate = len(logged) / seconds_full
    reminders = [m for m in sink.bodies if m not in before]
    lost = EVENTS - len(reminders)
    duplicated = sum(c - 1 for c in sink.bodies.values())
    print(f"\nDISKFULL: seconds_full={seconds_full:.1f} log_lines_per_s={rate:.2f} "
          f"cpu={cpu:.0%} sent_while_full={sent_while_full} lost={lost} "
          f"duplicated={duplicated}")
    text = "".join(logged)
    assert "disk_full" in text and "database or disk is full" in text, text
    assert "Traceback" not in text, text
    assert rate < 1.0, text
    assert health is not None and health["status"] == "degraded", health
    assert [lane["reason"] for lane in health.get("dispatch_lanes", [])] == ["disk_full"], health
    assert sink.url.split("//")[1] not in str(health)
    assert "recovered after" in "".join(daemon.lines)
    assert after is not None and "dispatch_lanes" not in after
    assert lost == 0 and duplicated == 0, sink.bodies
    assert code == 0, "".join(daemon.lines[-40:])
