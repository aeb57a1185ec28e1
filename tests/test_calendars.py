"""Calendar files: the TOML format, plain .ics files, DST edges, and bad input."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.calendars.folders import scan
from notifier.calendars.icsfile import parse_ics
from notifier.calendars.tomlfile import event_uid, parse_toml_calendar
from notifier.errors import CalendarError
from notifier.specs import When

REPO = Path(__file__).resolve().parent.parent

HEAD = """\
[case]
id = "c1"
title = "People v. Example"
judge = "Justice A"
timezone = "America/New_York"
"""


def parse(body: str):  # type: ignore[no-untyped-def]
    return parse_toml_calendar(HEAD + body, "calendars/c1.toml")


def problems(body: str, head: str = HEAD) -> str:
    with pytest.raises(CalendarError) as e:
        parse_toml_calendar(head + body, "calendars/c1.toml")
    return str(e.value)


def test_shipped_weinstein_calendar() -> None:
    result = scan([("calendars", REPO / "calendars")])
    assert result.errors == []
    (cal,) = [c for c in result.calendars if c.cases[0].id == "people-v-weinstein"]
    case = cal.cases[0]
    assert case.judge == "Justice Curtis Farber"
    assert case.timezone == "America/New_York"
    by_id = {e.event_id: e for e in cal.events}
    hearing = by_id["hearing-2025-07-02"]
    assert (hearing.kind, hearing.status, hearing.when.date) == ("hearing", "scheduled",
                                                               date(2025, 7, 2))
    assert not hearing.when.timed
    third = by_id["third-trial"]
    assert (third.kind, third.status, third.when.dated) == ("retrial", "tbd", False)
    closing = by_id["retrial-closing-arguments"]
    assert closing.when.date == date(2025, 6, 3)
    assert hearing.uid == event_uid("people-v-weinstein", "hearing-2025-07-02")


def test_timed_event_in_court_time_zone() -> None:
    cal = parse("""
[[events]]
id = "h"
kind = "hearing"
title = "Hearing"
start = 2025-07-02T09:30:00
duration = "90m"
location = "Part 99, 100 Centre Street"
""")
    (ev,) = cal.events
    assert ev.when.start == datetime(2025, 7, 2, 13, 30, tzinfo=UTC)  # EDT = UTC-4
    assert ev.when.end == ev.when.start + timedelta(minutes=90)
    assert ev.when.date == date(2025, 7, 2)
    assert ev.location == "Part 99, 100 Centre Street"
    assert ev.judge == "Justice A"  # inherited from the case
    assert ev.when.describe(cal.cases[0].tz) == "Wed 2 Jul 2025 09:30–11:00 EDT"


def test_end_date_and_per_case_reminders() -> None:
    cal = parse("""
[reminders]
offsets = ["3d", "1d"]
kinds = { sentencing = ["14d"] }

[[events]]
id = "trial"
kind = "trial"
title = "Trial"
date = 2025-04-14
end_date = 2025-06-03
judge = "Justice B"
""")
    (ev,) = cal.events
    assert (ev.when.date, ev.when.end_date, ev.judge) == (date(2025, 4, 14), date(2025, 6, 3),
                                                          "Justice B")
    rules = cal.cases[0].reminders
    assert rules.offsets == (timedelta(days=3), timedelta(days=1))
    assert rules.kinds == (("sentencing", (timedelta(days=14),)),)


def test_spring_forward_gap_is_an_error_naming_file_line_and_value() -> None:
    # 2025-03-09 02:30 does not exist in New York: clocks jump from 02:00 to 03:00.
    msg = problems("""
[[events]]
id = "gap"
title = "Hearing"
start = 2025-03-09T02:30:00
""")
    assert "calendars/c1.toml:10" in msg
    assert "'gap'" in msg and "2025-03-09 02:30 does not exist in America/New_York" in msg


def test_fall_back_ambiguity_takes_the_first_occurrence() -> None:
    # 2025-11-02 01:30 happens twice in New York; the first (EDT, UTC-4) is used.
    cal = parse("""
[[events]]
id = "amb"
title = "Hearing"
start = 2025-11-02T01:30:00
""")
    assert cal.events[0].when.start == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(("body", "expected"), [
    # a file that does not parse
    ('[[events]]\nid = "x"\ntitle = "unterminated\n',
     "calendars/c1.toml:8: invalid TOML"),
    # an impossible date (TOML date literal)
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-30\n',
     "calendars/c1.toml:9: invalid TOML: invalid date"),
    # an impossible date (string)
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = "2025-02-30"\n',
     "calendars/c1.toml:9: [[events]] #1 (id 'x'): date = '2025-02-30'"),
    # a duplicate event id
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\n'
     '[[events]]\nid = "x"\ntitle = "U"\ndate = 2025-02-04\n',
     "calendars/c1.toml:11: [[events]] #2: duplicate event id 'x' (first used in "
     "[[events]] #1)"),
    # an unknown key
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\nroom = "9"\n',
     "calendars/c1.toml:10: [[events]] #1 (id 'x'): unknown key 'room'"),
    # an unknown status
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\nstatus = "maybe"\n',
     "status = 'maybe'"),
    # contradictions
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\nstatus = "tbd"\n',
     "status \"tbd\" means the date is still to be set"),
    ('[[events]]\nid = "x"\ntitle = "T"\n', "status 'scheduled' needs a date or start"),
    ('[[events]]\nid = "x"\ntitle = "T"\nstart = 2025-02-03T10:00:00\n'
     'end = 2025-02-03T09:00:00\n', "is not after start"),
    ('[[events]]\nid = "bad id"\ntitle = "T"\ndate = 2025-02-03\n', "id = 'bad id'"),
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\nduration = "2 hours"\n',
     "invalid duration"),
])
def test_bad_event_input(body: str, expected: str) -> None:
    assert expected in problems(body)


def test_unknown_time_zone_names_the_zone_and_line() -> None:
    head = HEAD.replace("America/New_York", "America/Gotham")
    msg = problems('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\n', head)
    assert "calendars/c1.toml:5: [case]: timezone = 'America/Gotham'" in msg
    assert "unknown time zone 'America/Gotham'" in msg


def test_every_problem_in_a_file_is_reported_at_once() -> None:
    msg = problems('[[events]]\nid = "a"\ntitle = "T"\ndate = "2025-13-01"\n'
                   '[[events]]\nid = "b"\ntitle = "T"\ndate = 2025-02-03\nfloor = 3\n')
    assert "(id 'a'): date = '2025-13-01'" in msg
    assert "(id 'b'): unknown key 'floor'" in msg


ICS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//court//part 99//EN\r
X-WR-CALNAME:Part 99\r
X-WR-TIMEZONE:America/New_York\r
BEGIN:VEVENT\r
UID:abc-123@court.example.org\r
DTSTAMP:20250601T000000Z\r
DTSTART;VALUE=DATE:20250702\r
DTEND;VALUE=DATE:20250703\r
SUMMARY:Hearing\r
CATEGORIES:Hearing\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:def-456@court.example.org\r
DTSTAMP:20250601T000000Z\r
DTSTART;TZID=America/New_York:20250710T093000\r
DTEND;TZID=America/New_York:20250710T110000\r
SUMMARY:Sentencing\r
STATUS:CANCELLED\r
LOCATION:Courtroom 1530\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_ics_file_keeps_uids_and_times() -> None:
    cal = parse_ics(ICS, "calendars/part-99.ics", default_case_id="part-99")
    assert cal.cases[0].id == "part-99" and cal.cases[0].title == "Part 99"
    a, b = cal.events
    assert a.uid == "abc-123@court.example.org" and a.kind == "hearing"
    assert (a.when.date, a.when.end_date, a.when.timed) == (date(2025, 7, 2), None, False)
    assert b.when.start == datetime(2025, 7, 10, 13, 30, tzinfo=UTC)
    assert (b.status, b.location) == ("cancelled", "Courtroom 1530")


def test_bad_ics_file_is_an_error_naming_the_file() -> None:
    with pytest.raises(CalendarError, match=r"calendars/x\.ics: not a valid iCalendar file"):
        parse_ics(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "calendars/x.ics", "x")


def test_scan_reports_bad_files_and_keeps_good_ones(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(HEAD + '[[events]]\nid = "a"\ntitle = "T"\n'
                                        'date = 2025-01-02\n')
    (tmp_path / "bad.toml").write_text("[case\n")
    (tmp_path / "notes.txt").write_text("ignored")
    result = scan([("cals", tmp_path), ("missing", tmp_path / "nope")])
    assert [c.source for c in result.calendars] == ["cals/good.toml"]
    assert result.seen == {"cals/good.toml", "cals/bad.toml"}
    assert result.unreadable_dirs == ["missing"]
    messages = [p for e in result.errors for p in e.problems]
    assert any(m.startswith("cals/bad.toml:1: invalid TOML") for m in messages)
    assert any("missing: calendar folder not found" in m for m in messages)


@pytest.mark.parametrize(("body", "expected"), [
    ('[[events]]\nid = "x"\ntitle = "T"\nstart = 2025-07-02\n',
     "start = 2025-07-02: needs a time, e.g. 2025-07-02T09:30:00; for a "
     "date-only event use date = 2025-07-02"),
    ('[[events]]\nid = "x"\ntitle = "T"\nstart = 2025-07-02T09:00:00-04:00\n'
     'end = 2025-07-02T10:00:00\n', "start and end must both be local times"),
    ('[[events]]\nid = "x"\ntitle = "T"\ndate = 9999-12-31\n', "year 9999 is outside 1900-2200"),
    ('[[events]]\nid = "x"\ntitle = "T"\nstart = 9999-12-31T23:00:00\n',
     "year 9999 is outside 1900-2200"),
])
def test_more_bad_times_are_clear_errors(body: str, expected: str) -> None:
    assert expected in problems(body)


def test_unreadable_folder_is_reported_not_raised(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.scandir

    def deny(path):  # type: ignore[no-untyped-def]
        if Path(path) == tmp_path:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", deny)
    result = scan([("cals", tmp_path)])
    assert result.unreadable_dirs == ["cals"]
    assert "cals: cannot read calendar folder" in str(result.errors[0])
    assert "Permission denied" in str(result.errors[0])


def test_ics_event_in_year_9999_is_a_clear_error() -> None:
    bad = ICS.replace(b"DTSTART;VALUE=DATE:20250702", b"DTSTART;VALUE=DATE:99990702") \
             .replace(b"DTEND;VALUE=DATE:20250703", b"DTEND;VALUE=DATE:99990703")
    with pytest.raises(CalendarError, match="year 9999 is outside 1900-2200"):
        parse_ics(bad, "calendars/part-99.ics", default_case_id="part-99")


def test_case_id_all_is_reserved_for_the_all_cases_feed() -> None:
    head = HEAD.replace('id = "c1"', 'id = "all"')
    msg = problems('[[events]]\nid = "x"\ntitle = "T"\ndate = 2025-02-03\n', head)
    assert "case id 'all' is reserved" in msg
    with pytest.raises(CalendarError, match="case id 'all' is reserved"):
        parse_ics(ICS, "calendars/all.ics", default_case_id="all")


def test_a_span_across_a_dst_change_shows_both_zone_names() -> None:
    ny = ZoneInfo("America/New_York")
    # 00:30 EDT to 01:30 EST on 7 Nov 2027: with one name ("EST") the start read an
    # hour late; with "EDT" the end read an hour early.
    start = datetime(2027, 11, 7, 4, 30, tzinfo=UTC)
    when = When(date=date(2027, 11, 7), start=start, end=start + timedelta(hours=2))
    assert when.describe(ny) == "Sun 7 Nov 2027 00:30 EDT–01:30 EST"
    late = When(date=date(2027, 11, 6), start=start - timedelta(hours=2),
                end=start + timedelta(hours=2))
    assert late.describe(ny) == "Sat 6 Nov 2027 22:30 EDT – Sun 7 Nov 2027 01:30 EST"
    same = When(date=date(2027, 7, 7), start=datetime(2027, 7, 7, 13, 30, tzinfo=UTC),
                end=datetime(2027, 7, 8, 14, 30, tzinfo=UTC))
    assert same.describe(ny) == "Wed 7 Jul 2027 09:30 – Thu 8 Jul 2027 10:30 EDT"
