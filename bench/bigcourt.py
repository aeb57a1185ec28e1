"""A court-sized database for the serving benchmarks: N events written straight into
the tables (as a sync would leave them: one ``added`` Change per event), so that the
benchmarks measure serving and restarting, not sync.

Call :func:`fill` with an open :class:`~notifier.store.Store`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.store import Store
from notifier.store.models import Case, Change, Event
from notifier.timeutil import day_start_utc

ZONES = ["America/New_York", "Europe/London", "America/Chicago", "Europe/Paris",
         "America/Los_Angeles", "Australia/Sydney"]
PER_CASE = 100
_BATCH = 5000


def _case(c: int, now: datetime) -> dict[str, object]:
    return {"id": f"case-{c:04d}", "title": f"People v. Defendant {c}",
            "court": f"Supreme Court, Part {c % 90}", "judge": f"Justice Number {c % 40}",
            "url": None, "timezone": ZONES[c % len(ZONES)], "tags": "[]", "reminders": None,
            "source": f"archive/case-{c:04d}.toml", "created_at": now, "updated_at": now}


def _event(c: int, i: int, now: datetime) -> dict[str, object]:
    case = f"case-{c:04d}"
    tz = ZoneInfo(ZONES[c % len(ZONES)])
    day = date(2026, 1, 1) + timedelta(days=(c * 7 + i * 3) % 700)
    ev: dict[str, object] = {
        "uid": f"{case}/e{i:03d}@notifier", "case_id": case, "event_id": f"e{i:03d}",
        "source": f"archive/{case}.toml", "kind": ("hearing", "trial")[i % 2],
        "title": f"Hearing {i} in case {c}", "status": "scheduled", "date": day,
        "end_date": None, "start_utc": None, "end_utc": None, "sort_utc": None,
        "location": f"Room {i}, floor {c % 9}",
        "notes": f"Notes for event {i}; see the docket, entry {c * 1000 + i}.",
        "url": None, "judge": None, "sequence": 0, "removed_at": None,
        "created_at": now, "updated_at": now}
    if i == PER_CASE - 1:
        ev.update(status="tbd", date=None)
    elif i % 2:
        start = datetime(day.year, day.month, day.day, 9 + i % 8, 30, tzinfo=tz).astimezone(UTC)
        ev.update(start_utc=start, end_utc=start + timedelta(hours=2), sort_utc=start)
    else:
        ev["sort_utc"] = day_start_utc(day, tz)
    return ev


def fill(store: Store, events: int, now: datetime | None = None) -> None:
    """Write ``events`` events (``PER_CASE`` per case) and their ``added`` changes."""
    now = now or datetime(2025, 12, 1, tzinfo=UTC)
    cases = max(1, events // PER_CASE)
    with store.write() as s:
        s.execute(Case.__table__.insert(), [_case(c, now) for c in range(cases)])  # type: ignore[attr-defined]
        rows: list[dict[str, object]] = []
        for n in range(events):
            rows.append(_event(n // PER_CASE, n % PER_CASE, now))
            if len(rows) == _BATCH or n == events - 1:
                s.execute(Event.__table__.insert(), rows)  # type: ignore[attr-defined]
                s.execute(Change.__table__.insert(), [  # type: ignore[attr-defined]
                    {"event_uid": r["uid"], "case_id": r["case_id"], "kind": "added",
                     "field": "event", "before": None, "after": None,
                     "summary": f"{str(r['kind']).title()} added: {r['date']} (scheduled)",
                     "at": now} for r in rows])
                rows = []
