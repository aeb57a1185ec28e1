"""Feed rendering: RFC 5545 output checked with icalendar and vobject, caching, golden file."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import recurring_ical_events
import vobject
from icalendar import Calendar
from webhelpers import WEINSTEIN

from notifier.feeds.cache import FeedService
from notifier.feeds.ical import FeedOptions, render_feed
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

GOLDEN = Path(__file__).parent / "golden" / "people-v-weinstein.ics"
T0 = datetime(2025, 6, 5, 14, 0, tzinfo=UTC)
OPTS = FeedOptions(base_url="https://court.example.org")

TIMED = """
[case]
id = "state-v-doe"
title = "State v. Doe"
court = "Superior Court"
judge = "Judge Roy"
timezone = "America/Los_Angeles"

[[events]]
id = "arraignment"
kind = "hearing"
title = "Arraignment"
start = 2025-07-10T09:30:00
duration = "90m"
location = "Dept. 12"

[[events]]
id = "trial"
kind = "trial"
title = "Jury trial"
date = 2025-09-01
end_date = 2025-09-05
status = "tentative"
"""


def sync(store: Store, folders: list[tuple[str, Path]], now: datetime) -> None:
    report = sync_calendars(store, folders, now=now)
    assert report.ok, report.errors


def events_of(body: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def vobject_events(body: bytes) -> dict[str, object]:
    cal = vobject.readOne(body.decode("utf-8"))
    return {e.uid.value: e for e in cal.vevent_list}


@pytest.fixture
def weinstein(store: Store, cal_dir: Path, folders: list[tuple[str, Path]]) -> FeedService:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    sync(store, folders, T0)
    return FeedService(store, OPTS)


def test_golden_weinstein_feed(weinstein: FeedService) -> None:
    body = weinstein.get("people-v-weinstein", now=T0 + timedelta(days=1))
    assert body is not None
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_bytes(body.body)
    assert body.body == GOLDEN.read_bytes()


def test_weinstein_parses_in_both_parsers(weinstein: FeedService) -> None:
    body = weinstein.get("people-v-weinstein", now=T0)
    assert body is not None
    ours = events_of(body.body)
    theirs = vobject_events(body.body)
    uids = {"people-v-weinstein/hearing-2025-07-02@notifier",
            "people-v-weinstein/retrial-closing-arguments@notifier"}
    assert set(ours) == set(theirs) == uids  # the tbd third trial is no VEVENT
    hearing = ours["people-v-weinstein/hearing-2025-07-02@notifier"]
    assert hearing["SUMMARY"] == "Hearing: People v. Harvey Weinstein"
    assert hearing.decoded("DTSTART") == date(2025, 7, 2)
    assert hearing.decoded("DTEND") == date(2025, 7, 3)  # exclusive
    assert "Third trial on the third-degree rape charge: date to be set" in hearing["DESCRIPTION"]
    assert "Justice Curtis Farber" in hearing["DESCRIPTION"]
    v = theirs["people-v-weinstein/hearing-2025-07-02@notifier"]
    assert v.dtstart.value == date(2025, 7, 2) and v.dtend.value == date(2025, 7, 3)
    assert v.dtstamp.value == T0
    cal = Calendar.from_ical(body.body)
    assert "METHOD" not in cal
    assert str(cal["X-WR-CALNAME"]) == "People v. Harvey Weinstein"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body.body
    assert b"X-PUBLISHED-TTL:PT1H\r\n" in body.body
    assert b"URL:https://court.example.org/cases/people-v-weinstein\r\n" in body.body


def test_output_is_a_function_of_the_data(weinstein: FeedService, store: Store) -> None:
    a = weinstein.get(None, now=T0)
    b = FeedService(store, OPTS).get(None, now=T0 + timedelta(days=3))
    assert a is not None and b is not None
    assert a.body == b.body and a.etag == b.etag
    assert weinstein.get(None, now=T0) is a  # cached object, no re-render


def test_cached_and_uncached_paths_agree(weinstein: FeedService) -> None:
    snap = weinstein.snapshot()
    for case_id in (None, "people-v-weinstein"):
        got = weinstein.get(case_id, now=T0)
        assert got is not None
        assert got.body == render_feed(list(snap.cases.values()), list(snap.events), OPTS, T0,
                                       case_id=case_id)


def test_timed_event_has_tzid_and_vtimezone(store: Store, write_cal, folders) -> None:
    write_cal("doe.toml", TIMED)
    sync(store, folders, T0)
    got = FeedService(store, OPTS).get("state-v-doe", now=T0)
    assert got is not None
    assert b"DTSTART;TZID=America/Los_Angeles:20250710T093000\r\n" in got.body
    cal = Calendar.from_ical(got.body)
    assert [str(t["TZID"]) for t in cal.walk("VTIMEZONE")] == ["America/Los_Angeles"]
    ev = events_of(got.body)["state-v-doe/arraignment@notifier"]
    assert ev.decoded("DTSTART").astimezone(UTC) == datetime(2025, 7, 10, 16, 30, tzinfo=UTC)
    assert ev.decoded("DTEND").astimezone(UTC) == datetime(2025, 7, 10, 18, 0, tzinfo=UTC)
    v = vobject_events(got.body)["state-v-doe/arraignment@notifier"]
    assert v.dtstart.value.astimezone(UTC) == datetime(2025, 7, 10, 16, 30, tzinfo=UTC)
    trial = events_of(got.body)["state-v-doe/trial@notifier"]
    assert str(trial["STATUS"]) == "TENTATIVE"
    assert trial.decoded("DTEND") == date(2025, 9, 6)  # 1-5 Sep inclusive -> exclusive 6 Sep
    assert str(trial["SUMMARY"]) == "Trial (tentative): State v. Doe"


def test_reschedule_bumps_sequence_and_cancel_sets_status(store: Store, write_cal,
                                                          folders) -> None:
    write_cal("doe.toml", TIMED)
    sync(store, folders, T0)
    service = FeedService(store, OPTS)
    before = service.get("state-v-doe", now=T0)
    write_cal("doe.toml", TIMED.replace("2025-07-10T09:30:00", "2025-07-17T10:00:00"))
    t1 = T0 + timedelta(days=1)
    sync(store, folders, t1)
    after = service.get("state-v-doe", now=t1)
    assert before is not None and after is not None and after.etag != before.etag
    ev = events_of(after.body)["state-v-doe/arraignment@notifier"]
    assert ev["SEQUENCE"] == 1
    assert ev.decoded("DTSTAMP") == t1
    assert "moved later" in str(ev["DESCRIPTION"])
    assert vobject_events(after.body)["state-v-doe/arraignment@notifier"].sequence.value == "1"

    write_cal("doe.toml", TIMED.replace('location = "Dept. 12"',
                                        'location = "Dept. 12"\nstatus = "cancelled"'))
    t2 = T0 + timedelta(days=2)
    sync(store, folders, t2)
    cancelled = service.get("state-v-doe", now=t2)
    assert cancelled is not None
    ev = events_of(cancelled.body)["state-v-doe/arraignment@notifier"]
    assert str(ev["STATUS"]) == "CANCELLED" and ev["SEQUENCE"] == 2
    assert str(ev["SUMMARY"]) == "Hearing (cancelled): State v. Doe"
    # Kept for [feed] cancelled_days (30 by default), then dropped.
    assert cancelled.valid_until == t2 + timedelta(days=30)
    late = service.get("state-v-doe", now=t2 + timedelta(days=31))
    assert late is not None
    assert "state-v-doe/arraignment@notifier" not in events_of(late.body)
    assert "state-v-doe/trial@notifier" in events_of(late.body)


def test_removed_event_is_cancelled_then_dropped(store: Store, write_cal, folders) -> None:
    write_cal("doe.toml", TIMED)
    sync(store, folders, T0)
    write_cal("doe.toml", TIMED.split("[[events]]\nid = \"trial\"")[0])
    sync(store, folders, T0 + timedelta(hours=1))
    service = FeedService(store, FeedOptions(base_url="https://x", keep_cancelled=timedelta(
        days=2)))
    got = service.get(None, now=T0 + timedelta(days=1))
    assert got is not None
    trial = events_of(got.body)["state-v-doe/trial@notifier"]
    assert str(trial["STATUS"]) == "CANCELLED" and "(removed)" in str(trial["SUMMARY"])
    gone = service.get(None, now=T0 + timedelta(days=3))
    assert gone is not None and "state-v-doe/trial@notifier" not in events_of(gone.body)


HOSTILE = """
[case]
id = "evil"
title = "State v. \\"Mallory\\"; DROP,\\r\\nX-INJECTED:case"
timezone = "UTC"

[[events]]
id = "e1"
kind = "hearing"
title = "Hearing\\r\\nEND:VEVENT\\r\\nBEGIN:VEVENT\\r\\nUID:injected"
start = 2025-07-10T09:30:00
location = "Room 1;\\nX-INJECTED:loc, floor 2"
notes = "a\\r\\nSTATUS:CANCELLED\\nb; c, d \\\\ e"
"""


def test_hostile_text_cannot_inject_properties(store: Store, write_cal, folders) -> None:
    write_cal("evil.toml", HOSTILE)
    sync(store, folders, T0)
    got = FeedService(store, OPTS).get("evil", now=T0)
    assert got is not None
    lines = got.body.split(b"\r\n")
    assert not any(line.startswith((b"X-INJECTED", b"UID:injected")) for line in lines)
    assert lines.count(b"BEGIN:VEVENT") == 1 and lines.count(b"END:VEVENT") == 1
    ours = events_of(got.body)
    theirs = vobject_events(got.body)
    assert list(ours) == list(theirs) == ["evil/e1@notifier"]
    ev = ours["evil/e1@notifier"]
    assert str(ev["SUMMARY"]) == 'Hearing: State v. "Mallory"; DROP, X-INJECTED:case'
    assert str(ev["LOCATION"]) == "Room 1; X-INJECTED:loc, floor 2"
    assert str(ev["STATUS"]) == "CONFIRMED"
    assert "a\nSTATUS:CANCELLED\nb; c, d \\ e" in str(ev["DESCRIPTION"])
    v = theirs["evil/e1@notifier"]
    assert v.location.value == "Room 1; X-INJECTED:loc, floor 2"
    assert "a\nSTATUS:CANCELLED\nb; c, d \\ e" in v.description.value
    # UTC courts get UTC times, no TZID and no VTIMEZONE.
    assert b"DTSTART:20250710T093000Z\r\n" in got.body and b"VTIMEZONE" not in got.body
    cal = Calendar.from_ical(got.body)
    # icalendar keeps NAME/X-WR-CALNAME as raw text: escaped as TEXT, on one line.
    for name in ("NAME", "X-WR-CALNAME"):
        assert str(cal[name]) == r'State v. "Mallory"\; DROP\, X-INJECTED:case'
    assert not [k for k in cal if k.startswith("X-INJECTED")]


def test_one_change_reserialises_one_event(store: Store, write_cal, folders) -> None:
    events = "\n".join(f'[[events]]\nid = "h{i}"\nkind = "hearing"\ntitle = "Hearing {i}"\n'
                       f'date = 2025-08-{i + 1:02d}\n' for i in range(20))
    text = '[case]\nid = "big"\ntitle = "Big case"\ntimezone = "Europe/Paris"\n' + events
    write_cal("big.toml", text)
    write_cal("doe.toml", TIMED)
    sync(store, folders, T0)
    service = FeedService(store, OPTS)
    first = service.get(None, now=T0)
    assert first is not None and service.fragments_rendered == 22
    write_cal("big.toml", text.replace("date = 2025-08-05", "date = 2025-09-30"))
    sync(store, folders, T0 + timedelta(hours=1))
    second = service.get(None, now=T0)
    assert second is not None and second.etag != first.etag
    assert service.fragments_rendered == 23
    # Per-case feeds and filters reuse the same fragments.
    hearings = service.get("big", frozenset({"hearing"}), now=T0)
    assert hearings is not None and service.fragments_rendered == 23
    assert len(events_of(hearings.body)) == 20
    assert len(events_of(service.get(None, frozenset({"trial"}), now=T0).body)) == 1  # type: ignore[union-attr]


def test_unknown_case_is_none(weinstein: FeedService) -> None:
    assert weinstein.get("nope", now=T0) is None


def test_postponed_event_and_undated_postponement(store: Store, write_cal, folders) -> None:
    write_cal("doe.toml", TIMED.replace('status = "tentative"', 'status = "postponed"'))
    sync(store, folders, T0)
    got = FeedService(store, OPTS).get("state-v-doe", now=T0)
    assert got is not None
    trial = events_of(got.body)["state-v-doe/trial@notifier"]
    assert str(trial["STATUS"]) == "CANCELLED" and "(postponed)" in str(trial["SUMMARY"])
    undated = TIMED.replace("date = 2025-09-01\nend_date = 2025-09-05\n", "").replace(
        'status = "tentative"', 'status = "postponed"')
    write_cal("doe.toml", undated)
    sync(store, folders, T0 + timedelta(hours=1))
    got = FeedService(store, OPTS).get("state-v-doe", now=T0)
    assert got is not None
    evs = events_of(got.body)
    assert list(evs) == ["state-v-doe/arraignment@notifier"]
    assert "Jury trial: new date to be set" in str(evs["state-v-doe/arraignment@notifier"][
        "DESCRIPTION"])


def test_unexpected_history_edit_falls_back_to_full_reload(weinstein: FeedService,
                                                           store: Store) -> None:
    first = weinstein.get(None, now=T0)
    with store.engine.begin() as conn:  # history rows deleted behind the cache's back
        conn.exec_driver_sql("DELETE FROM change WHERE kind = 'added' AND event_uid LIKE "
                             "'%closing%'")
    second = weinstein.get(None, now=T0)
    assert first is not None and second is not None and second.body != first.body
    assert second.body == FeedService(store, OPTS).get(None, now=T0).body  # type: ignore[union-attr]


def test_case_edits_at_the_same_instant_still_refresh_the_cache(
        store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    a = TIMED
    b = TIMED.replace("state-v-doe", "state-v-roe").replace("State v. Doe", "State v. Roe")
    write_cal("a.toml", a)
    write_cal("b.toml", b)
    sync(store, folders, T0)
    service = FeedService(store, OPTS)
    assert service.get("state-v-roe") is not None
    write_cal("a.toml", a.replace("State v. Doe", "State v. Doe II"))
    sync(store, folders, T0 + timedelta(hours=1))  # A's title changes at T
    service.get("state-v-doe")  # a request between the two edits
    write_cal("b.toml", b.replace("State v. Roe", "State v. Roe II"))
    sync(store, folders, T0 + timedelta(hours=1))  # B's title changes at the same T
    rendered = service.get("state-v-roe")
    assert rendered is not None and b"State v. Roe II" in rendered.body


def test_times_in_the_repeated_fall_back_hour_are_written_in_utc(
        store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    # 01:30 PDT on 2 Nov 2025, one hour long: it ends at 01:30 PST, the same wall time.
    write_cal("a.toml", TIMED.replace("start = 2025-07-10T09:30:00\nduration = \"90m\"",
                                      "start = 2025-11-02T01:30:00-07:00\nduration = \"1h\""))
    sync(store, folders, T0)
    rendered = FeedService(store, OPTS).get("state-v-doe")
    assert rendered is not None
    ev = events_of(rendered.body)["state-v-doe/arraignment@notifier"]
    start, end = ev["DTSTART"].dt, ev["DTEND"].dt  # type: ignore[index]
    assert end - start == timedelta(hours=1)
    assert end.utcoffset() == timedelta(0)
    assert b"DTEND:20251102T093000Z" in rendered.body


def test_an_event_ending_in_the_repeated_hour_is_written_wholly_in_utc(
        store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    # 00:45 PDT on 2 Nov 2025 (one wall time) for 105 min: it ends at 01:30 PST, which
    # happens twice. A TZID start with a UTC end made recurring-ical-events, which adds
    # the length to the start in wall-clock time, end the event an hour late.
    write_cal("a.toml", TIMED.replace("start = 2025-07-10T09:30:00\nduration = \"90m\"",
                                      "start = 2025-11-02T00:45:00\nduration = \"105m\""))
    sync(store, folders, T0)
    rendered = FeedService(store, OPTS).get(None)
    assert rendered is not None
    assert b"DTSTART:20251102T074500Z\r\n" in rendered.body
    assert b"DTEND:20251102T093000Z\r\n" in rendered.body
    [got] = recurring_ical_events.of(Calendar.from_ical(rendered.body)).at((2025, 11, 2))
    assert got["DTSTART"].dt.astimezone(UTC) == datetime(2025, 11, 2, 7, 45, tzinfo=UTC)
    assert got["DTEND"].dt.astimezone(UTC) == datetime(2025, 11, 2, 9, 30, tzinfo=UTC)
