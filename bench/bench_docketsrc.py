"""Docket-source polling cost: a fold reads every stored entry again.

What is measured for a docket of N stored entries (70% filings that state no date,
30% settings, resets and minute entries): the first fold and apply; a fold that
changes nothing (after new entries, a review decision, and once a day); and a poll
that finds nothing new upstream (an in-process CourtListener answer: the newest
entry again), which skips the fold. Baseline, in the same run: the extractor alone
over the same entries (the floor of any fold).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from run import Result

from notifier.config import parse_settings
from notifier.dockets.extract import extract
from notifier.sources.docketfold import Entry
from notifier.sources.dockets import fetch_docket, refold, store_entries
from notifier.store import Store

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
FILLER = ("MOTION to Compel Discovery by USA as to John Roe. (Attachments: # 1 Exhibit A) "
          "(jd) (Entered: {d:%m/%d/%Y})")


def _entries(n: int) -> list[Entry]:
    out = []
    day = date(2026, 1, 5)
    for i in range(n):
        filed = day + timedelta(days=i // 4)
        hearing = filed + timedelta(days=30)
        if i % 10 == 3:
            text = f"Status Conference set for {hearing:%m/%d/%Y} 10:00 AM before Judge Roe."
        elif i % 10 == 7:
            text = f"Status Conference reset to {hearing + timedelta(days=7):%m/%d/%Y} at 2:30 PM."
        elif i % 10 == 9:
            text = f"Minute Entry: Status hearing held on {filed:%m/%d/%Y}."
        else:
            text = FILLER.format(d=filed)
        out.append(Entry(key=str(100000 + i), number=str(i + 1), date_filed=filed, text=text))
    return out


def _median(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(quick: bool) -> list[Result]:
    n, repeats = (400, 3) if quick else (3000, 5)
    entries = _entries(n)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        settings = parse_settings({"database": {"url": f"sqlite:///{d / 'n.db'}"}, "sources": [
            {"name": "roe", "format": "courtlistener", "docket": "1", "token": "t",
             "case": "roe", "timezone": "America/New_York", "max_events": 100000,
             "min_hold_events": 100000}]}, origin="bench", base_dir=d)
        src = settings.sources[0]
        store = Store(settings.database_url())
        base = _median(lambda: [extract(e.text, e.date_filed) for e in entries], repeats)
        with store.write() as s:
            store_entries(s, "roe", entries, NOW)
        t0 = time.perf_counter()
        first = refold(store, src, NOW, hook=None)
        first_ms = (time.perf_counter() - t0) * 1000
        events = len(first.changes)
        again = _median(lambda: refold(store, src, NOW, hook=None), repeats)
        assert refold(store, src, NOW, hook=None).changes == []
        newest = {"id": int(entries[-1].key), "entry_number": int(entries[-1].number or 0),
                  "date_filed": entries[-1].date_filed.isoformat() if entries[-1].date_filed
                  else None, "description": entries[-1].text,
                  "date_modified": "2026-01-05T10:00:00-08:00", "recap_documents": []}
        docket = {"case_name": "United States v. Roe", "court_id": "nysd",
                  "docket_number": "1:26-cr-00123", "absolute_url": "/docket/1/roe/"}

        def answer(request: httpx.Request) -> httpx.Response:
            if "/dockets/" in request.url.path:
                return httpx.Response(200, json=docket)
            return httpx.Response(200, json={"next": None, "results": [newest]})

        transport = httpx.MockTransport(answer)
        # The first poll learns the docket's page URL (a change to every event); then
        # polls find nothing new.
        fetch_docket(store, src, NOW, hook=None, transport=transport)
        poll = fetch_docket(store, src, NOW, hook=None, transport=transport)
        assert poll.status == "not_modified", poll.status
        idle = _median(lambda: fetch_docket(store, src, NOW, hook=None, transport=transport),
                       repeats)
        store.close()
    return [
        Result(f"dockets: extractor alone, {n} entries", base, "ms", None,
               ">= 5,000 entries/s", n / (base / 1000) >= 5000),
        Result(f"dockets: first fold + apply, {n} entries -> {events} changes", first_ms,
               "ms", base, "< 20x extract", first_ms < 20 * base),
        Result(f"dockets: fold with no change, {n} entries", again,
               "ms", base, "< 5x extract", again < 5 * base),
        Result(f"dockets: poll with nothing new upstream, {n} entries", idle,
               "ms", base, "< 0.1x extract", idle < 0.1 * base),
    ]
