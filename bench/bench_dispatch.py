"""Dispatch lateness and engine startup.

- **lateness**: 10,000 pending rows in the outbox; of them, ``due`` reminders (real
  events, re-checked against the event before sending) fall due spread over a few
  seconds, the rest are far in the future. The engine (APScheduler ticker +
  dispatcher thread, real SQLite file, an in-process sender that records the
  time) sends them; lateness = time handed to the sender - due time. Target: p99
  under 1 s.
- **startup**: 100,000 events (500 cases, timed and date-only, spread over the
  coming year). "Startup" = open the store (migration check) + plan every
  upcoming event's reminders + start the scheduler and arm the first wake-up.
  Only reminders due within ``[reminders] horizon`` (14 d) are materialised, so
  a start reads the ~6,000 events of the next 3 weeks, not all 100,000. Measured
  cold (first start: rows inserted) and warm (restart: the plan is already stored
  and only compared). Baseline in the same run: open
  the store and read the 100,000 events. Target: under 3 s.
"""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from run import Result
from sqlmodel import select

from notifier.config import Settings, parse_settings
from notifier.notify import outbox
from notifier.server.scheduler import Engine
from notifier.store import Store
from notifier.store.models import Case, Event
from notifier.timeutil import day_start_utc

PENDING = 10_000


def _settings(tmp: Path, **extra: object) -> Settings:
    return parse_settings({"database": {"url": f"sqlite:///{tmp / 'n.db'}"}, **extra},
                          origin="bench", base_dir=tmp)


def _insert_events(store: Store, events: list[dict[str, object]], cases: list[dict[str, object]],
                   ) -> None:
    with store.write() as s:
        s.execute(Case.__table__.insert(), cases)  # type: ignore[attr-defined]
        for i in range(0, len(events), 5000):
            s.execute(Event.__table__.insert(), events[i:i + 5000])  # type: ignore[attr-defined]


def _case(i: int, now: datetime) -> dict[str, object]:
    return {"id": f"case-{i}", "title": f"Case {i}", "timezone": "America/New_York",
            "tags": "[]", "reminders": None, "source": f"c{i}.toml", "created_at": now,
            "updated_at": now}


def _event(uid: str, case: str, now: datetime, start: datetime | None,
           day: object = None) -> dict[str, object]:
    return {"uid": uid, "case_id": case, "event_id": uid, "source": f"{case}.toml",
            "kind": "hearing", "title": uid, "status": "scheduled",
            "date": day if day is not None else start.date() if start else None,
            "end_date": None, "start_utc": start, "end_utc": None, "sort_utc": start,
            "location": None, "notes": None, "url": None, "judge": None, "sequence": 0,
            "removed_at": None, "created_at": now, "updated_at": now}


_EVENT_TITLE = re.compile(r"\be\d+\b")


def lateness(quick: bool) -> list[Result]:
    due_n, spread = (300, 3.0) if quick else (1000, 6.0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    try:
        settings = _settings(tmp, reminders={"offsets": ["1h"]})
        store = Store(settings.database_url())
        now = datetime.now(UTC)
        first = now + timedelta(seconds=2.5)
        dues = [first + timedelta(seconds=spread * i / due_n) for i in range(due_n)]
        _insert_events(store, [_event(f"e{i}", "case-0", now, d + timedelta(hours=1))
                               for i, d in enumerate(dues)], [_case(0, now)])
        far = now + timedelta(days=30)
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row(f"filler:{i}", "test", "log",
                                                  far + timedelta(seconds=i), now, {})
                                   for i in range(PENDING - due_n)])
        got: dict[str, datetime] = {}
        lock = threading.Lock()

        def sender(channel: str, title: str, body: str, *, urgent: bool = False) -> None:
            t = datetime.now(UTC)
            m = _EVENT_TITLE.search(title + "\n" + body)  # the event's title is its uid
            with lock:
                if m:
                    got.setdefault(m.group(0), t)

        engine = Engine(store, settings, sender=sender, sync=False)
        engine.start()  # plans the due_n reminders (10,000 pending in all)
        deadline = time.monotonic() + spread + 30
        while len(got) < due_n and time.monotonic() < deadline:
            time.sleep(0.05)
        engine.shutdown(5)
        store.close()
        late = sorted((got[f"e{i}"] - d).total_seconds() for i, d in enumerate(dues)
                      if f"e{i}" in got)
        missing = due_n - len(late)
        p50 = statistics.median(late) if late else float("inf")
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("inf")
        return [
            Result(f"dispatch lateness p50 ({due_n} due of {PENDING} pending)", p50 * 1000, "ms",
                   target="< 1000 ms", ok=p50 < 1 and not missing),
            Result(f"dispatch lateness p99 ({due_n} due of {PENDING} pending)", p99 * 1000, "ms",
                   target="< 1000 ms", ok=p99 < 1 and not missing),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def startup(quick: bool) -> list[Result]:
    n_events, n_cases = 100_000, 500
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        settings = _settings(tmp)
        store = Store(settings.database_url())
        now = datetime.now(UTC)
        from zoneinfo import ZoneInfo
        ny = ZoneInfo("America/New_York")
        events = []
        for i in range(n_events):
            case = f"case-{i % n_cases}"
            start = now + timedelta(days=1 + (i * 365) / n_events, hours=i % 9)
            if i % 4 == 0:  # a quarter are date-only
                day = start.astimezone(ny).date()
                ev = _event(f"e{i}", case, now, None, day)
                ev["sort_utc"] = day_start_utc(day, ny)
            else:
                ev = _event(f"e{i}", case, now, start.replace(second=0, microsecond=0))
            events.append(ev)
        _insert_events(store, events, [_case(i, now) for i in range(n_cases)])
        store.close()

        def baseline() -> float:
            t0 = time.perf_counter()
            st = Store(settings.database_url())
            with st.read() as s:
                rows = s.exec(select(Event)).all()
            assert len(rows) == n_events
            st.close()
            return time.perf_counter() - t0

        def start() -> tuple[float, dict[str, int]]:
            t0 = time.perf_counter()
            st = Store(settings.database_url())
            engine = Engine(st, settings, sync=False)
            engine.start()
            took = time.perf_counter() - t0
            engine.shutdown(5)
            st.close()
            return took, engine.plan_counts

        base = statistics.median(baseline() for _ in range(1 if quick else 3))
        cold, counts = start()
        warm = statistics.median(start()[0] for _ in range(1 if quick else 3))
        return [
            Result(f"startup cold, 100k events ({counts['inserted']} reminders planned)",
                   cold, "s", baseline=base, target="< 3 s", ok=cold < 3),
            Result("startup warm restart, 100k events (plan stored)", warm, "s",
                   baseline=base, target="< 3 s", ok=warm < 3),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> list[Result]:
    return lateness(quick) + startup(quick)
