"""Remote-source polling cost: a full apply, an unchanged poll, a no-change re-parse.

Baseline: parsing the same feed with ``parse_ics`` alone, measured in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from run import Result

from notifier.calendars.icsfile import parse_ics
from notifier.config import parse_settings
from notifier.sources import fetch_source
from notifier.store import Store

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _feed(n: int) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:bench", "X-WR-TIMEZONE:America/New_York"]
    start = datetime(2025, 7, 1, 9, 0)
    for i in range(n):
        t = start + timedelta(hours=i)
        lines += ["BEGIN:VEVENT", f"UID:e{i}@bench", f"SUMMARY:Hearing {i}",
                  f"DTSTART;TZID=America/New_York:{t:%Y%m%dT%H%M%S}", "DURATION:PT1H",
                  "LOCATION:Part 99", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _median(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(quick: bool) -> list[Result]:
    n, repeats = (300, 3) if quick else (2000, 5)
    body = _feed(n)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "feed.ics").write_bytes(body)
        settings = parse_settings({"database": {"url": f"sqlite:///{d / 'n.db'}"}, "sources": [
            {"name": "bench", "url": "feed.ics", "case": "c", "expand_future": "3650d"}]},
            origin="bench", base_dir=d)
        src = settings.sources[0]
        store = Store(settings.database_url())
        base = _median(lambda: parse_ics(body, "b", "c"), repeats)
        t0 = time.perf_counter()
        fetch_source(store, src, NOW, hook=None, base_dir=d)
        first = (time.perf_counter() - t0) * 1000
        unchanged = _median(lambda: fetch_source(store, src, NOW, hook=None, base_dir=d), repeats)
        reparse = _median(lambda: fetch_source(store, src, NOW, hook=None, force=True,
                                               base_dir=d), repeats)
        store.close()
    return [
        Result(f"sources: first fetch, {n} events (apply all)", first, "ms", base,
               "< 20x parse", first < 20 * base),
        Result(f"sources: unchanged poll, {n} events", unchanged, "ms", base,
               "< 0.2x parse", unchanged < 0.2 * base),
        Result(f"sources: forced re-fetch, no changes, {n} events", reparse, "ms", base,
               "< 5x parse", reparse < 5 * base),
    ]
