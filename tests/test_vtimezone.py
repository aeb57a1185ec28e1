"""The feed's VTIMEZONE writer (notifier/feeds/vtimezone.py): its text and its meaning.

The date-truth test (test_datetruth.py) checks what clients make of whole feeds; these
check the blocks themselves: the shapes ical.js needs (RRULE or one RDATE property per
onset, onsets in the local time before the change), and that a reader building its
zone from the block alone (vobject) reads wall times on both sides of every change as
zoneinfo does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Timezone

from notifier.feeds.vtimezone import transitions, vtimezone

ZONES = ("America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
         "Antarctica/Troll", "Europe/Dublin", "Asia/Kolkata", "Asia/Kathmandu",
         "Pacific/Chatham", "Europe/Istanbul", "America/Sao_Paulo", "Europe/Moscow",
         "Africa/Casablanca", "America/Santiago", "Asia/Tehran", "Asia/Jerusalem",
         "Africa/Cairo", "America/Nuuk", "Pacific/Easter", "America/Havana")


def lines(block: bytes) -> list[str]:
    return block.decode().split("\r\n")


def test_new_york_is_two_yearly_rules_with_onsets_before_the_change() -> None:
    assert lines(vtimezone("America/New_York", 2027, 2028)) == [
        "BEGIN:VTIMEZONE", "TZID:America/New_York",
        "BEGIN:STANDARD", "DTSTART:20261101T020000",  # 02:00 EDT, the wall time before
        "RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11",
        "TZNAME:EST", "TZOFFSETFROM:-0400", "TZOFFSETTO:-0500", "END:STANDARD",
        "BEGIN:DAYLIGHT", "DTSTART:20270314T020000",  # 02:00 EST, not 03:00 EDT
        "RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3",
        "TZNAME:EDT", "TZOFFSETFROM:-0500", "TZOFFSETTO:-0400", "END:DAYLIGHT",
        "END:VTIMEZONE", ""]


def test_irregular_changes_get_one_rdate_property_per_onset_first_included() -> None:
    # Morocco leaves +01 for Ramadan, on dates no yearly rule gives.
    block = Timezone.from_ical(vtimezone("Africa/Casablanca", 2027, 2028))
    subs = block.subcomponents
    assert subs and all("RRULE" not in s for s in subs)
    for sub in subs:
        rdates = sub.get("RDATE")
        assert isinstance(rdates, list) and len(rdates) >= 2
        values = [r.dts for r in rdates]
        assert all(len(v) == 1 for v in values)  # never a multi-valued RDATE
        assert values[0][0].dt == sub["DTSTART"].dt


def test_a_zone_without_changes_is_one_standard() -> None:
    for name, offset, tzname in (("Asia/Kolkata", "+0530", "IST"),
                                 ("Europe/Istanbul", "+0300", "+03")):
        assert lines(vtimezone(name, 2027, 2028))[2:9] == [
            "BEGIN:STANDARD", "DTSTART:20270101T000000", f"TZNAME:{tzname}",
            f"TZOFFSETFROM:{offset}", f"TZOFFSETTO:{offset}", "END:STANDARD", "END:VTIMEZONE"]


def test_negative_dst_still_gives_one_standard_and_one_daylight() -> None:
    # tzdata marks Dublin's winter (GMT) as its DST period, with a negative save.
    block = Timezone.from_ical(vtimezone("Europe/Dublin", 2027, 2028))
    kinds = {s.name: str(s["TZNAME"]) for s in block.subcomponents}
    assert kinds == {"STANDARD": "IST", "DAYLIGHT": "GMT"}


def test_a_rule_that_stops_inside_the_window_gets_until() -> None:
    # Brazil's last DST ended in February 2019; its October rule last ran in 2018.
    block = vtimezone("America/Sao_Paulo", 2016, 2020)
    # UNTIL is the last onset in UTC (RFC 5545): 00:00 -02 on 17 Feb 2019.
    assert "RRULE:FREQ=YEARLY;UNTIL=20190217T020000Z;BYDAY=3SU;BYMONTH=2" in lines(block)
    assert_matches_zoneinfo("America/Sao_Paulo", 2016, 2020)


def assert_matches_zoneinfo(name: str, first: int, last: int) -> None:
    zone = ZoneInfo(name)
    # vobject builds its zone from the block alone (icalendar's to_tz() is no judge
    # here: it misreads tzdata's negative DST, e.g. Dublin's winter, around the changes).
    text = vtimezone(name, first, last).decode()
    read = vobject.readOne(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{text}END:VCALENDAR\r\n")\
        .vtimezone.gettzinfo()
    start = datetime(first, 1, 1, tzinfo=UTC)
    end = datetime(last + 1, 1, 1, tzinfo=UTC) - timedelta(days=1)
    changes = [t.at for t in transitions(zone, start, end)]
    points = [start, end]
    for a, b in zip([start, *changes], [*changes, end], strict=True):
        points += [a, a + (b - a) / 2, b - timedelta(seconds=1)]
    # As a parser reads DTSTART;TZID=...: a wall time to an instant. Wall times that
    # happen twice are left out (the feed writes those in UTC).
    wrong = []
    for p in sorted(points):
        wall = p.astimezone(zone).replace(tzinfo=None)
        if wall.replace(tzinfo=zone, fold=1).utcoffset() != wall.replace(tzinfo=zone).utcoffset():
            continue
        if wall.replace(tzinfo=read).astimezone(UTC) != p:
            wrong.append((p, wall, wall.replace(tzinfo=read).astimezone(UTC)))
    assert not wrong, wrong[:3]


@pytest.mark.parametrize("name", ZONES)
def test_the_block_alone_gives_zoneinfos_offsets_around_every_change(name: str) -> None:
    assert_matches_zoneinfo(name, 2026, 2029)
