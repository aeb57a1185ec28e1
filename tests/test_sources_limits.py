"""Recurrence limits of remote iCal sources, settable per source, and IN lists in chunks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, change_count, ics, make_settings, snapshot, source
from sqlalchemy import event

from notifier.calendars.recurrence import ExpandLimits, RecurrenceLimitError, check_cost
from notifier.errors import CalendarError
from notifier.sources import fetch_source, parse_body
from notifier.specs import CalendarSpec, CaseSpec, EventSpec, When
from notifier.store import Store
from notifier.tracking.sync import apply_calendar

WEEKLY = """
BEGIN:VEVENT
UID:weekly@court
SUMMARY:Calendar call
DTSTART;TZID=America/New_York:20250603T090000
DURATION:PT30M
RRULE:FREQ=WEEKLY
END:VEVENT
"""


def _series(uid: str, rule: str, start: str = "20250601T000000Z") -> str:
    return (f"BEGIN:VEVENT\nUID:{uid}\nSUMMARY:Flood\nDTSTART:{start}\n"
            f"RRULE:{rule}\nEND:VEVENT\n")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


def _cfg(tmp_path: Path, db_url: str, server: FeedServer, **extra: Any) -> Any:
    return source(make_settings(tmp_path, db_url, {
        "name": "part-99", "url": server.url("/p.ics"), "case": "c", **extra}))


def test_defaults_expand_a_weekly_series_and_refuse_an_hourly_one(tmp_path: Path, db_url: str,
                                                                  server: FeedServer) -> None:
    src = _cfg(tmp_path, db_url, server)
    assert (src.max_occurrences, src.max_events) == (1000, 10_000)
    weekly = parse_body(ics(BASE, extra=WEEKLY), src, NOW)
    assert len(weekly.events) == 4 + 52  # Tuesdays 3 Jun 2025 - 26 May 2026
    with pytest.raises(CalendarError) as e:
        parse_body(ics(BASE, extra=_series("flood@x", "FREQ=HOURLY")), src, NOW)
    assert "'flood@x'" in str(e.value) and "more than 1000 occurrences" in str(e.value)
    assert "max_occurrences" in str(e.value)


def test_limits_are_set_per_source(tmp_path: Path, db_url: str, server: FeedServer) -> None:
    body = ics(BASE, extra=WEEKLY)
    tight = _cfg(tmp_path, db_url, server, max_occurrences=10)
    with pytest.raises(CalendarError, match=r"'weekly@court' has more than 10 occurrences"):
        parse_body(body, tight, NOW)
    few = _cfg(tmp_path, db_url, server, max_events=20)
    with pytest.raises(CalendarError, match=r"more than 20 events \(max_events\) once recurring "
                                            r"events are expanded, reached at UID "
                                            r"'weekly@court'"):
        parse_body(body, few, NOW)
    hourly = ics({}, extra=_series("hourly@x", "FREQ=HOURLY;COUNT=5000"))
    roomy = _cfg(tmp_path, db_url, server, max_occurrences=6000)
    assert len(parse_body(hourly, roomy, NOW).events) == 5000


def test_plain_events_count_against_max_events(tmp_path: Path, db_url: str,
                                               server: FeedServer) -> None:
    src = _cfg(tmp_path, db_url, server, max_events=3)
    with pytest.raises(CalendarError, match=r"4 events, more than max_events \(3\)"):
        parse_body(ics(BASE), src, NOW)


def test_cost_is_bounded_before_the_window_is_reached() -> None:
    """A rule that starts long before the window is refused by its walk, not expanded."""
    from icalendar import Calendar

    cal = Calendar.from_ical(ics({}, extra=_series("old@x", "FREQ=MINUTELY",
                                                   "20200101T000000Z")))
    events = list(cal.walk("VEVENT"))
    with pytest.raises(RecurrenceLimitError, match=r"'old@x' \(RRULE:FREQ=MINUTELY\) repeats "
                                                   r"more than 500 times"):
        check_cost(events, {"old@x"}, NOW, ExpandLimits(max_steps=500))
    daily = Calendar.from_ical(ics({}, extra=_series("old@x", "FREQ=DAILY", "20200101T000000Z")))
    check_cost(list(daily.walk("VEVENT")), {"old@x"}, NOW, ExpandLimits(max_steps=2000))


def test_a_source_over_a_limit_keeps_its_stored_events(store: Store, tmp_path: Path,
                                                       db_url: str, server: FeedServer) -> None:
    src = _cfg(tmp_path, db_url, server)
    server.routes["/p.ics"] = Route(body=ics(BASE, extra=WEEKLY))
    assert fetch_source(store, src, NOW, hook=None).ok
    before, changes = snapshot(store), change_count(store)
    server.routes["/p.ics"] = Route(body=ics(BASE, extra=_series("flood@x", "FREQ=MINUTELY")))
    rep = fetch_source(store, src, NOW, hook=None)
    assert rep.status == "error" and rep.error is not None
    assert rep.error.startswith("source 'part-99': ") and "'flood@x'" in rep.error
    assert snapshot(store) == before and change_count(store) == changes


def _spec(n: int) -> CalendarSpec:
    case = CaseSpec(id="big", title="Big", timezone="UTC")
    events = [EventSpec(uid=f"e{i}@big", case_id="big", event_id=f"e{i}", kind="hearing",
                        title=f"Hearing {i}", status="tbd", when=When()) for i in range(n)]
    return CalendarSpec(source="calendars/big.toml", cases=[case], events=events)


def test_large_calendars_never_pass_the_sql_variable_limit(store: Store) -> None:
    """SQLite builds before 3.32 allow 999 bound variables; one IN list per file broke."""
    @event.listens_for(store.engine, "connect")
    def _old_sqlite_limit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    store.engine.dispose()
    with store.write() as s:
        assert len(apply_calendar(s, _spec(1100), NOW)) == 1100
    with store.write() as s:  # re-read 1,000 UIDs; 100 left the file: removed
        changes = apply_calendar(s, _spec(1000), NOW)
    assert len(changes) == 100 and {c.kind for c in changes} == {"removed"}
