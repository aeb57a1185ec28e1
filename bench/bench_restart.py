"""Restart benchmark: ``notifier run`` over 100,000 events, stopped and started again.

Measured with the real command in a subprocess (SQLite file, events written by
:mod:`bigcourt`, calendar folder empty so that sync does not compete), from the
process's spawn to the last byte of a 200 for ``/calendars/all.ics``:

- **restart**: stopped cleanly (SIGTERM) and started again with nothing changed;
- **restart after a change**: one event changed (a Change row recorded) while it was
  stopped, so the stored snapshot is stale and the feed is assembled from the stored
  fragments (only the changed one is rendered again);
- baseline in the same run: ``python -m http.server`` spawned and serving the same
  bytes as a static file (target: < 5 s, and the ratio to it printed);
- **peak RSS** of ``notifier run`` (VmHWM: the first start, which renders every
  fragment, and the restarts), target < 400 MB.

Entry point: ``run(quick)`` (quick: 20,000 events), called by ``bench/run.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
from bigcourt import fill
from run import Result

from notifier.store import Store

FULL, QUICK = 100_000, 20_000
START_LIMIT_S = 600.0  # the first start renders every fragment


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_200(url: str, proc: subprocess.Popen[bytes], t0: float,
               limit: float) -> tuple[float, bytes]:
    """Seconds from ``t0`` to the complete body of the first 200 from ``url``."""
    with httpx.Client(timeout=limit) as client:
        while time.perf_counter() - t0 < limit:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                r = client.get(url)
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            if r.status_code == 200:
                return time.perf_counter() - t0, r.content
            time.sleep(0.01)
    raise RuntimeError(f"no 200 from {url} within {limit:g} s")


def _settled(feed: str, proc: subprocess.Popen[bytes]) -> None:
    """Once ready, the snapshot is still being stored (under the feed cache's lock): one
    more request for the feed waits for that, so that the peak measured includes it."""
    _first_200(feed, proc, time.perf_counter(), START_LIMIT_S)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Daemon:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log

    def start(self) -> tuple[subprocess.Popen[bytes], float]:
        t0 = time.perf_counter()
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", "run", "--config", str(self.config),
                 "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT)
        return proc, t0

    def wait_ready(self, proc: subprocess.Popen[bytes], limit: float) -> None:
        _first_200(f"http://127.0.0.1:{self.port}/readyz", proc, time.perf_counter(), limit)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _static(root: Path, body: bytes, port: int) -> float:
    d = root / "static"
    d.mkdir(exist_ok=True)
    (d / "all.ics").write_bytes(body)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", str(d), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        took, got = _first_200(f"http://127.0.0.1:{port}/all.ics", proc, t0, 60)
        assert got == body
        return took
    finally:
        proc.terminate()
        proc.wait()


def _change_one_event(url: str, n: int) -> None:
    """What a sync does to one event: new values and a Change row."""
    now = datetime.now(UTC)
    store = Store(url)
    with store.write() as s:
        s.execute(sa.text("UPDATE event SET location = :loc, sequence = sequence + 1, "
                          "updated_at = :now WHERE event_id = 'e002' AND case_id = 'case-0003'"),
                  {"loc": f"Room {n} (moved)", "now": now.replace(tzinfo=None)})
        s.execute(sa.text("INSERT INTO change (event_uid, case_id, kind, field, summary, at) "
                          "VALUES ('case-0003/e002@notifier', 'case-0003', 'location_changed', "
                          "'location', 'Hearing location changed', :now)"),
                  {"now": now.replace(tzinfo=None)})
    store.close()


def run(quick: bool) -> list[Result]:
    events = QUICK if quick else FULL
    reps = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="notifier-bench-restart-") as tmp:
        root = Path(tmp)
        (root / "calendars").mkdir()
        url = f"sqlite:///{root / 'n.db'}"
        store = Store(url)
        fill(store, events)
        store.close()
        port = _port()
        config = root / "config.toml"
        config.write_text(f'[database]\nurl = "{url}"\n[calendars]\npaths = ["calendars"]\n'
                          f'[server]\nhost = "127.0.0.1"\nbase_url = "http://localhost:{port}"\n',
                          encoding="utf-8")
        daemon = _Daemon(config, port, root / "daemon.log")
        feed = f"http://127.0.0.1:{port}/calendars/all.ics"

        proc, t0 = daemon.start()  # first start: every fragment rendered and stored
        first_s, body = _first_200(feed, proc, t0, START_LIMIT_S)
        daemon.wait_ready(proc, START_LIMIT_S)
        _settled(feed, proc)
        rss = [_peak_rss_mb(proc.pid)]
        daemon.stop(proc)

        def restart() -> tuple[float, bytes]:
            proc, t0 = daemon.start()
            took, got = _first_200(feed, proc, t0, START_LIMIT_S)
            daemon.wait_ready(proc, START_LIMIT_S)
            _settled(feed, proc)
            rss.append(_peak_rss_mb(proc.pid))
            daemon.stop(proc)
            return took, got

        clean: list[float] = []
        for _ in range(reps):
            took, got = restart()
            assert got == body, "a restart served other bytes"
            clean.append(took)
        changed: list[float] = []
        for k in range(reps):
            _change_one_event(url, k)
            took, got = restart()
            assert got != body and f"Room {k} (moved)".encode() in got
            changed.append(took)
        static = statistics.median(_static(root, body, _port()) for _ in range(reps))
        if os.environ.get("NOTIFIER_BENCH_LOG"):
            print((root / "daemon.log").read_text()[-4000:], file=sys.stderr)

    k = f"{events // 1000}k"
    clean_s, changed_s = statistics.median(clean), statistics.median(changed)
    first_rss, peak = rss[0], max(rss[1:])
    return [
        Result(f"restart: static server spawn to 200, all.ics {len(body) / 1e6:.0f} MB "
               "(baseline)", static, "s"),
        Result(f"restart: notifier run spawn to 200 all.ics, {k} events", clean_s, "s",
               baseline=static, target="< 5 s", ok=clean_s < 5),
        Result(f"restart after one change: spawn to 200 all.ics, {k}", changed_s, "s",
               baseline=static, target="< 5 s", ok=changed_s < 5),
        Result(f"restart: peak RSS of notifier run after a restart, {k}", peak, "MB",
               target="< 400 MB", ok=peak < 400),
        Result(f"restart: peak RSS, first start (renders all), {k}", first_rss, "MB",
               target="< 400 MB", ok=first_rss < 400),
        Result(f"restart: first start (render all) to 200, {k} (info)", first_s, "s"),
    ]
