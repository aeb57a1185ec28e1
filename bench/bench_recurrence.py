"""Runaway recurrence from a remote source: the cost of refusing it.

Each hostile feed is one unbounded series (``FREQ=HOURLY``/``MINUTELY``/``SECONDLY``,
the attack's 230-byte file). Baseline, in the same run: a feed with a daily series
expanded over the default window (395 occurrences), which is accepted. Figures: the
median time and the peak traced memory (tracemalloc) of ``parse_body``.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from run import Result

from notifier.config import parse_settings
from notifier.errors import CalendarError
from notifier.sources import parse_body

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _feed(freq: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\n"
            "UID:flood@attacker\r\nSUMMARY:Flood\r\nDTSTART:20250601T000000Z\r\n"
            f"RRULE:FREQ={freq}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def _measure(body: bytes, src: object, repeats: int) -> tuple[float, float, bool]:
    """(median ms, peak traced MB, refused) of parsing ``body``."""
    def once() -> bool:
        try:
            parse_body(body, src, NOW)  # type: ignore[arg-type]
        except CalendarError:
            return True
        return False

    times = []
    refused = False
    for _ in range(repeats):
        t0 = time.perf_counter()
        refused = once()
        times.append((time.perf_counter() - t0) * 1000)
    tracemalloc.start()
    once()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak, refused


def run(quick: bool) -> list[Result]:
    repeats = 1 if quick else 3
    settings = parse_settings({"sources": [{"name": "bench", "url": "http://x.example/",
                                            "case": "c"}]}, origin="bench",
                              base_dir=Path.cwd(), env={})
    src = settings.sources[0]
    base_ms, base_mb, base_refused = _measure(_feed("DAILY"), src, repeats)
    assert not base_refused
    out = [Result("recurrence: daily series accepted (395 occurrences)", base_ms, "ms")]
    for freq in ("HOURLY", "MINUTELY", "SECONDLY"):
        ms, mb, refused = _measure(_feed(freq), src, repeats)
        out.append(Result(f"recurrence: FREQ={freq} refused, time", ms, "ms", base_ms,
                          "refused, < 20x daily", refused and ms < 20 * base_ms))
        out.append(Result(f"recurrence: FREQ={freq} refused, peak traced memory", mb, "MB",
                          base_mb, "< 10x daily", refused and mb < 10 * base_mb))
    return out
