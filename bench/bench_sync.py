"""Sync benchmark: first imports and re-syncs of many calendar files, against a floor.

The floor, measured in the same run on the same files: read and parse every file with
``tomllib`` and insert one row per event with ``executemany`` into a bare table
(sqlite3, or psycopg on PostgreSQL), one transaction per run. It is what no sync can go
below: the parse and the writes themselves.

Figures (medians):
- first sync (a baseline import into an empty database, with the outbox hooks
  ``notifier sync`` uses) of 100 files x 100 events on SQLite: target <= 3x floor;
- the same with 1,000 files (100,000 events): <= 3x on SQLite, <= 5x on PostgreSQL
  (``NOTIFIER_BENCH_POSTGRES_URL`` or ``NOTIFIER_TEST_POSTGRES_URL``, an admin URL:
  a database is created and dropped);
- re-sync of those 1,000 files with nothing changed: < 100 ms;
- re-sync with one file of 100 events changed (every event moved): < 150 ms.

``--quick`` uses 20 and 200 files and one repeat of the large runs. Run:
``python bench/run.py sync``; with ``NOTIFIER_BENCH_CPU=1`` the SQLite first syncs
are measured in CPU time instead (steadier on a busy machine).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from run import Result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pgkit import pg_database  # the tests' fresh-database helper

from notifier.config import parse_settings
from notifier.notify import outbox
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

PER_FILE = 100
ZONES = ["America/New_York", "Europe/London", "America/Chicago", "Europe/Paris"]


def case_toml(c: int, shift: int = 0) -> str:
    """One case of PER_FILE events around today (some within the reminder horizon)."""
    today = date.today()
    out = [f'[case]\nid = "case-{c:04d}"\ntitle = "People v. Defendant {c}"\n'
           f'court = "Supreme Court, Part {c % 90}"\njudge = "Justice Number {c}"\n'
           f'timezone = "{ZONES[c % len(ZONES)]}"\n']
    for i in range(PER_FILE):
        day = today + timedelta(days=(c * 7 + i * 3) % 800 - 200 + shift)
        out.append(f'\n[[events]]\nid = "e{i:03d}"\nkind = "{("hearing", "trial")[i % 2]}"\n'
                   f'title = "Hearing {i} in case {c}"\nlocation = "Room {i}, floor {c % 9}"\n'
                   f'notes = "Notes for event {i}; see the docket, entry {c * 1000 + i}."\n')
        if i == PER_FILE - 1:
            out.append('status = "tbd"\n')
        elif i % 2:
            out.append(f"start = {day.isoformat()}T{9 + i % 8:02d}:30:00\nduration = \"2h\"\n")
        else:
            out.append(f"date = {day.isoformat()}\n")
    return "".join(out)


def write_files(folder: Path, files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for c in range(files):
        (folder / f"case-{c:04d}.toml").write_text(case_toml(c), encoding="utf-8")


def _rows(folder: Path) -> Iterator[tuple[Any, ...]]:
    for p in sorted(folder.glob("*.toml")):
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
        cid = doc["case"]["id"]
        for e in doc["events"]:
            when = e.get("start") or e.get("date")
            yield (f"{cid}/{e['id']}", cid, e["kind"], e["title"], e.get("status", "scheduled"),
                   str(when) if when else None, e.get("location"), e.get("notes"))


_BARE = ("CREATE TABLE ev (uid TEXT PRIMARY KEY, case_id TEXT, kind TEXT, title TEXT, "
         "status TEXT, at TEXT, location TEXT, notes TEXT)")


def floor_sqlite(folder: Path, db: Path) -> float:
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(_BARE)
    t0 = CLOCK()
    rows = list(_rows(folder))
    conn.executemany("INSERT INTO ev VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    took = CLOCK() - t0
    conn.close()
    return took


def floor_postgres(folder: Path, url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS ev")
        conn.execute(_BARE)
        conn.commit()
        t0 = time.perf_counter()
        rows = list(_rows(folder))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO ev VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows)
        conn.commit()
        took = time.perf_counter() - t0
        conn.execute("DROP TABLE ev")
        conn.commit()
    return took


def _settings(url: str, base: Path) -> Any:
    return parse_settings({"database": {"url": url},
                           "channels": [{"name": "desk", "url": "json://127.0.0.1:9/x"}]},
                          origin="bench", base_dir=base, env={})


CLOCK = time.perf_counter  # bench/run.py sync --cpu: time.process_time (SQLite only)


def timed_sync(store: Store, folder: Path, settings: Any) -> float:
    t0 = CLOCK()
    report = sync_calendars(store, [("calendars", folder)],
                            hook=outbox.change_hook(settings),
                            baseline_hook=outbox.change_hook(settings, alerts=False))
    took = CLOCK() - t0
    assert not report.errors, report.errors[:1]
    return took


def first_sync(folder: Path, make_url: Callable[[int], Any], repeats: int) -> list[float]:
    """Times of first syncs, each into a new empty database."""
    times = []
    for i in range(repeats):
        with make_url(i) as url:
            store = Store(url)
            try:
                times.append(timed_sync(store, folder, _settings(url, folder.parent)))
            finally:
                store.close()
    return times


@contextmanager
def sqlite_url(tmp: Path, i: int) -> Iterator[str]:
    db = tmp / f"first-{i}.db"
    yield f"sqlite:///{db}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def run(quick: bool) -> list[Result]:
    if os.environ.get("NOTIFIER_BENCH_CPU") == "1":
        return cpu_run(quick)
    small, large = (20, 200) if quick else (100, 1000)
    big_repeats = 1 if quick else 3
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as d:
        tmp = Path(d)
        for files, repeats, limit in ((small, 3, 3.0), (large, big_repeats, 3.0)):
            folder = tmp / f"cal{files}"
            write_files(folder, files)
            floor = statistics.median(floor_sqlite(folder, tmp / "floor.db")
                                      for _ in range(3))
            took = statistics.median(first_sync(
                folder, lambda i: sqlite_url(tmp, i), repeats))
            out.append(Result(f"first sync {files * PER_FILE:,} events, SQLite", took, "s",
                              floor, f"<= {limit:g}x floor", took <= limit * floor))

        pg_admin = os.environ.get("NOTIFIER_BENCH_POSTGRES_URL") or \
            os.environ.get("NOTIFIER_TEST_POSTGRES_URL")
        folder = tmp / f"cal{large}"
        if pg_admin:
            with pg_database("bench", pg_admin) as url:
                floor = statistics.median(floor_postgres(folder, url.replace(
                    "postgresql+psycopg://", "postgresql://")) for _ in range(3))
            took = statistics.median(first_sync(folder, lambda i: pg_database("bench", pg_admin),
                                                big_repeats))
            out.append(Result(f"first sync {large * PER_FILE:,} events, PostgreSQL", took,
                              "s", floor, "<= 5x floor", took <= 5 * floor))
        else:
            print("PostgreSQL figure skipped: set NOTIFIER_BENCH_POSTGRES_URL")

        url = f"sqlite:///{tmp / 'resync.db'}"  # (CPU mode: see cpu_run)
        store = Store(url)
        settings = _settings(url, tmp)
        try:
            timed_sync(store, folder, settings)
            timed_sync(store, folder, settings)  # warm: the file states are stored
            idle = statistics.median(timed_sync(store, folder, settings) for _ in range(7))
            out.append(Result(f"re-sync, nothing changed, {large} files", idle * 1000, "ms",
                              None, "< 100 ms", idle < 0.1))
            times = []
            target = folder / "case-0007.toml"
            for n in range(7):
                target.write_text(case_toml(7, shift=n + 1), encoding="utf-8")
                times.append(timed_sync(store, folder, settings))
            one = statistics.median(times)
            out.append(Result(f"re-sync, 1 file of {PER_FILE} events changed of {large}",
                              one * 1000, "ms", idle * 1000, "< 150 ms", one < 0.15))
        finally:
            store.close()
    return out


def cpu_run(quick: bool) -> list[Result]:
    """``NOTIFIER_BENCH_CPU=1``: the SQLite first syncs in CPU time of this process.

    On a shared machine other work stretches wall times unevenly; with SQLite all the
    work is in this process, so CPU time compares sync and floor more steadily.
    """
    global CLOCK
    CLOCK = time.process_time
    out: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as d:
        tmp = Path(d)
        for files in (20,) if quick else (100, 1000):
            folder = tmp / f"cal{files}"
            write_files(folder, files)
            floor = statistics.median(floor_sqlite(folder, tmp / "floor.db")
                                      for _ in range(3))
            took = statistics.median(first_sync(folder, lambda i: sqlite_url(tmp, i), 3))
            out.append(Result(f"first sync {files * PER_FILE:,} events, SQLite, CPU", took,
                              "s", floor, "<= 3x floor", took <= 3 * floor))
    return out
