"""Fault suite, web side: hostile subscribers against a real `notifier run` subprocess.

One database of a few thousand events is built per module; each test starts the
daemon on it (127.0.0.1, port 0) and attacks it: 10,000 distinct ``?kind=`` query
strings (peak RSS must stay under 2x the steady state), slow and idle clients (cut
off after ``[server] client_timeout`` while a normal client is served), and a start
where the port must answer before the feed cache is warm. Run with ``pytest -s`` to
see the one-line summaries.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from daemonkit import NotifierRun
from waiting import wait_for

from notifier.config import load_settings
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

CASES = 50
PER_CASE = 100  # 5,000 events
KINDS = ("hearing", "trial", "sentencing", "conference", "motion", "retrial")
CLIENT_TIMEOUT_S = 2
ATTACK = 10_000  # distinct query strings
ATTACKERS = 4  # connections at once


def _case_toml(c: int) -> str:
    out = [f'[case]\nid = "case-{c:03d}"\ntitle = "People v. Defendant {c}"\n'
           f'court = "Supreme Court, Part {c}"\njudge = "Justice Number {c}"\n'
           'timezone = "America/New_York"\n']
    for i in range(PER_CASE):
        # All in the past: no reminders or alerts to plan and send at start.
        day = date(2024, 1, 1) + timedelta(days=(c * 7 + i * 3) % 600)
        out.append(f'[[events]]\nid = "e{i:03d}"\nkind = "{KINDS[(c + i) % len(KINDS)]}"\n'
                   f'title = "Hearing {i} in case {c}"\nlocation = "Room {i}, floor {c % 9}"\n'
                   f'notes = "Notes for event {i}; see the docket, entry {c * 1000 + i}."\n')
        if i % 2:
            out.append(f'start = {day.isoformat()}T{9 + i % 8:02d}:30:00\nduration = "2h"\n')
        else:
            out.append(f"date = {day.isoformat()}\n")
    return "".join(out)


@dataclass
class Site:
    root: Path
    config: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("faultweb")
    cal = root / "calendars"
    cal.mkdir()
    for c in range(CASES):
        (cal / f"case-{c:03d}.toml").write_text(_case_toml(c), encoding="utf-8")
    config = root / "config.toml"
    config.write_text("\n".join([
        "[database]", f'url = "sqlite:///{root / "notifier.db"}"',
        "[calendars]", 'paths = ["calendars"]',
        "[server]", 'base_url = "https://court.example.org"',
        f'client_timeout = "{CLIENT_TIMEOUT_S}s"',
    ]) + "\n", encoding="utf-8")
    settings = load_settings(config)
    store = Store(settings.database_url())
    try:
        assert sync_calendars(store, settings.calendar_folders()).ok
    finally:
        store.close()
    return Site(root, config)


class Run(NotifierRun):
    """`notifier run` on port 0; its address is read from its own start-up line."""

    def __init__(self, config: Path) -> None:
        super().__init__(config, "--host", "127.0.0.1", "--port", "0")

    def wait_url(self, limit: float = 60) -> str:
        wait_for(lambda: self.serving, limit, "the daemon to report its address",
                 lambda: self.output)
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self, field: str = "VmRSS") -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        m = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
        assert m, status
        return int(m.group(1)) / 1024


@pytest.fixture
def daemon(site: Site) -> Iterator[Run]:
    run = Run(site.config)
    try:
        yield run
    finally:
        run.stop()



def _settled(client: httpx.Client) -> None:
    """Warm cache and the start-up sync done: what "steady state" means here."""
    wait_for(lambda: client.get("/readyz").status_code == 200, 120, "a warm cache")
    wait_for(lambda: client.get("/healthz").json().get("last_sync") is not None, 120,
             "the start-up sync")


def test_kind_attack_keeps_memory_bounded(daemon: Run) -> None:
    url = daemon.wait_url()
    with httpx.Client(base_url=url, timeout=60) as client:
        _settled(client)
        full = client.get("/calendars/all.ics")
        assert full.status_code == 200 and full.content.count(b"BEGIN:VEVENT") == CASES * PER_CASE
        for kind in KINDS:  # the filtered feeds a normal subscriber base asks for
            assert client.get("/calendars/all.ics", params={"kind": kind}).status_code == 200
        for c in range(0, CASES, 5):
            assert client.get(f"/calendars/case-{c:03d}.ics").status_code == 200
        time.sleep(1)
        steady = daemon.rss_mb()
        Path(f"/proc/{daemon.proc.pid}/clear_refs").write_text("5")  # reset VmHWM
        peak = steady
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, daemon.rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        queries = []
        for i in range(ATTACK):
            a, b = KINDS[i % len(KINDS)], KINDS[(i // len(KINDS)) % len(KINDS)]
            most = ",".join(k for k in KINDS if k != b)  # nearly the whole feed, per entry
            kind = (f"{most},junk-{i}", f"junk-{i}", f" {b} ,{a},{a},x{i}\x00",
                    f"{a},{b},\x1b[{i}m")[i % 4]
            path = "/calendars/all.ics" if i % 3 else f"/calendars/case-{i % CASES:03d}.ics"
            queries.append((path, kind))
        assert len(set(queries)) == ATTACK

        def attack(part: list[tuple[str, str]]) -> list[int]:
            with httpx.Client(base_url=url, timeout=60) as own:
                return [own.head(path, params={"kind": kind}).status_code
                        for path, kind in part]

        t0 = time.monotonic()
        try:
            # A few connections at once, as an attacker would (and the run is shorter).
            with ThreadPoolExecutor(ATTACKERS) as pool:
                statuses = [st for got in pool.map(attack, [queries[k::ATTACKERS]
                                                            for k in range(ATTACKERS)])
                            for st in got]
        finally:
            done.set()
            sampler.join(timeout=5)
        elapsed = time.monotonic() - t0
        peak = max(peak, daemon.rss_mb("VmHWM"))
        assert statuses == [200] * ATTACK
        after = client.get("/calendars/all.ics")
        assert after.content == full.content
    ratio = peak / steady
    print(f"\nKIND ATTACK: requests={ATTACK} events={CASES * PER_CASE} steady_mb={steady:.0f} "
          f"peak_mb={peak:.0f} ratio={ratio:.2f} seconds={elapsed:.1f}")
    assert ratio < 2, f"peak RSS {peak:.0f} MB is {ratio:.2f}x the steady {steady:.0f} MB"


def _closed(sock: socket.socket) -> bool:
    """True once the server has closed or reset the connection (never blocks)."""
    try:
        data = sock.recv(65536, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b""


def test_slow_clients_are_cut_off_and_others_served(daemon: Run) -> None:
    url = daemon.wait_url()
    port = int(url.rsplit(":", 1)[1])
    with httpx.Client(base_url=url, timeout=60) as client:
        _settled(client)
        full = client.get("/calendars/all.ics").content
    idle: list[socket.socket] = []
    dripping: list[socket.socket] = []
    readers: list[socket.socket] = []
    try:
        t0 = time.monotonic()
        for i in range(150):  # bounded: 100 idle, 50 sending their headers a byte at a time
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            if i % 3 == 2:
                s.sendall(b"GET /calendars/all.ics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                dripping.append(s)
            else:
                idle.append(s)
        for _ in range(3):  # ask for the 5 MB feed and never read it
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /calendars/all.ics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            readers.append(s)
        # A normal subscriber is served meanwhile.
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/calendars/all.ics").content == full
        open_ = idle + dripping
        deadline = t0 + CLIENT_TIMEOUT_S * 4 + 5
        while time.monotonic() < deadline and any(not _closed(s) for s in open_):
            for s in dripping:
                with contextlib.suppress(OSError):
                    s.send(b"X")  # one byte of a header line: still not a request
            time.sleep(0.5)
        cut = time.monotonic() - t0
        still = sum(not _closed(s) for s in open_)
        assert still == 0, f"{still} of {len(open_)} slow connections still open after {cut:.1f}s"
        # Slow readers: the response stalls, so the server drops it before it is sent.
        time.sleep(CLIENT_TIMEOUT_S * 2 + 1)
        for s in readers:
            got = 0
            try:
                while chunk := s.recv(1 << 20):
                    got += len(chunk)
            except OSError:
                pass
            assert got < len(full), "a reader that never read got the whole feed"
    finally:
        for s in idle + dripping + readers:
            s.close()
    print(f"\nSLOW CLIENTS: idle={len(idle)} dripping={len(dripping)} readers={len(readers)} "
          f"client_timeout_s={CLIENT_TIMEOUT_S} all_cut_after_s={cut:.1f}")


def test_port_answers_before_the_cache_is_warm(daemon: Run) -> None:
    t0 = time.monotonic()
    url = daemon.wait_url()
    port_s = time.monotonic() - t0
    with httpx.Client(base_url=url, timeout=60) as client:
        first = client.get("/readyz")
        assert first.status_code == 503 and first.json()["feed_cache"] == "warming", \
            "the port only answered once the cache was warm"
        assert client.get("/healthz").status_code == 200
        early = client.get("/calendars/all.ics")
        assert early.status_code in (200, 503)
        if early.status_code == 503:
            assert early.headers["retry-after"].isdigit()
        wait_for(lambda: client.get("/readyz").status_code == 200, 120, "a warm cache")
        warm_s = time.monotonic() - t0
        late = client.get("/calendars/all.ics")
        assert late.status_code == 200
        assert late.content.count(b"BEGIN:VEVENT") == CASES * PER_CASE
        if early.status_code == 200:
            assert early.content == late.content
    print(f"\nSTART: events={CASES * PER_CASE} port_answered_s={port_s:.1f} "
          f"cache_warm_s={warm_s:.1f} early_feed_status={early.status_code}")

