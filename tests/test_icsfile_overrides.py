"""A recurrence override (RECURRENCE-ID) before its master is no duplicate UID."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from notifier.calendars.folders import scan
from notifier.calendars.icsfile import parse_ics

MASTER = """BEGIN:VEVENT\r
UID:weekly@court\r
DTSTAMP:20250601T000000Z\r
SUMMARY:Calendar call\r
DTSTART;TZID=America/New_York:20250603T090000\r
DURATION:PT30M\r
RRULE:FREQ=WEEKLY;COUNT=4\r
END:VEVENT\r
"""
OVERRIDE = """BEGIN:VEVENT\r
UID:weekly@court\r
DTSTAMP:20250601T000000Z\r
RECURRENCE-ID;TZID=America/New_York:20250617T090000\r
SUMMARY:Calendar call (moved)\r
DTSTART;TZID=America/New_York:20250618T090000\r
DURATION:PT30M\r
END:VEVENT\r
"""


def _cal(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//court//x//EN\r\n"
            "X-WR-TIMEZONE:America/New_York\r\n" + "".join(events)
            + "END:VCALENDAR\r\n").encode()


def test_override_before_its_master_keeps_the_master(tmp_path: Path) -> None:
    for order in ((OVERRIDE, MASTER), (MASTER, OVERRIDE)):
        spec = parse_ics(_cal(*order), "calendars/part-99.ics", "part-99")
        [ev] = spec.events
        assert (ev.uid, ev.title) == ("weekly@court", "Calendar call")
        assert ev.when.start == datetime(2025, 6, 3, 13, 0, tzinfo=UTC)
    # The same file in a calendars folder is read, not rejected.
    (tmp_path / "part-99.ics").write_bytes(_cal(OVERRIDE, MASTER))
    found = scan([("calendars", tmp_path)])
    assert found.errors == [] and [c.source for c in found.calendars] == \
        ["calendars/part-99.ics"]


def test_override_before_its_master_when_expanded() -> None:
    window = (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
    specs = [parse_ics(_cal(*order), "source:p", "p", expand=window)
             for order in ((OVERRIDE, MASTER), (MASTER, OVERRIDE))]
    assert specs[0].events == specs[1].events
    moved = {e.uid: e for e in specs[0].events}["weekly@court/20250617T130000Z"]
    assert moved.title == "Calendar call (moved)"


def test_overrides_without_a_master_are_one_event() -> None:
    other = OVERRIDE.replace("20250617T090000", "20250624T090000").replace(
        "20250618T090000", "20250625T090000")
    [ev] = parse_ics(_cal(OVERRIDE, other), "calendars/x.ics", "x").events
    assert ev.when.start == datetime(2025, 6, 18, 13, 0, tzinfo=UTC)
