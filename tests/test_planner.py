"""Pure planning: offsets, date-only events, DST, statuses, overrides, urgency."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from outboxhelpers import make_case, make_event, utc

from notifier.config import ReminderSettings
from notifier.notify import planner
from notifier.specs import When
from notifier.store.models import Change

NY = ZoneInfo("America/New_York")
CFG = ReminderSettings()  # 7d, 1d, 2h at 09:00


def dues(ev, case=None, cfg=CFG):  # type: ignore[no-untyped-def]
    return [p.due_at for p in planner.plan_reminders(ev, case or make_case(), cfg)]


def test_timed_event_offsets_are_elapsed_time_before_start() -> None:
    start = utc(2025, 7, 2, 13, 30)  # 09:30 EDT
    assert dues(make_event(start=start)) == [start - timedelta(days=7), start - timedelta(days=1),
                                            start - timedelta(hours=2)]


def test_date_only_day_offsets_fire_at_local_time_and_sub_day_offsets_do_not_apply() -> None:
    got = dues(make_event(day=date(2025, 7, 2)))
    # 09:00 EDT = 13:00 UTC, 7 days and 1 day before; the 2h offset does not apply.
    assert got == [utc(2025, 6, 25, 13), utc(2025, 7, 1, 13)]


def test_date_only_rounds_longer_offsets_down_to_whole_days_without_duplicates() -> None:
    cfg = ReminderSettings(offsets=["36h", "1d", "30m"], date_only_time="08:15")
    assert dues(make_event(day=date(2025, 7, 2)), cfg=cfg) == [utc(2025, 7, 1, 12, 15)]


def test_dst_autumn_one_day_reminder_is_24_hours_before_in_elapsed_time() -> None:
    # Clocks go back in New York on Sun 2 Nov 2025 at 02:00.
    start = utc(2025, 11, 2, 14, 30)  # 09:30 EST on the day of the change
    [week, day, two_h] = dues(make_event(start=start))
    assert start - day == timedelta(hours=24)
    assert day.astimezone(NY).strftime("%H:%M %Z") == "10:30 EDT"  # wall clock shifts
    assert start - two_h == timedelta(hours=2)
    assert start - week == timedelta(days=7)


def test_dst_date_only_keeps_the_wall_clock_time() -> None:
    got = dues(make_event(day=date(2025, 11, 3)))
    assert [d.astimezone(NY).strftime("%m-%d %H:%M %Z") for d in got] == \
        ["10-27 09:00 EDT", "11-02 09:00 EST"]


@pytest.mark.parametrize("status", ["tbd", "cancelled", "completed", "postponed"])
def test_statuses_without_reminders(status: str) -> None:
    ev = make_event(start=utc(2025, 7, 2, 13, 30), status=status)
    if status == "tbd":
        ev.date = ev.start_utc = None
    assert dues(ev) == []


def test_tentative_events_get_reminders_and_removed_ones_do_not() -> None:
    ev = make_event(start=utc(2025, 7, 2, 13, 30), status="tentative")
    assert len(dues(ev)) == 3
    ev.removed_at = utc(2025, 6, 1)
    assert dues(ev) == []


def test_overrides_most_specific_first() -> None:
    cfg = ReminderSettings(offsets=["1d"], kinds={"sentencing": ["14d"], "hearing": ["3d"]})
    start = utc(2025, 7, 2, 13, 30)
    ev = make_event(start=start, kind="sentencing")
    assert dues(ev, cfg=cfg) == [start - timedelta(days=14)]          # config per kind
    assert dues(make_event(start=start, kind="trial"), cfg=cfg) == [start - timedelta(days=1)]
    case = make_case(reminders={"offsets": [3600], "kinds": {}})
    assert dues(ev, case, cfg) == [start - timedelta(hours=1)]       # case beats config
    case = make_case(reminders={"offsets": [3600], "kinds": {"sentencing": [600]}})
    assert dues(ev, case, cfg) == [start - timedelta(minutes=10)]    # case per kind wins
    case = make_case(reminders={"offsets": [], "kinds": {}})
    assert dues(ev, case, cfg) == []                                 # case turns them off


def test_identity_includes_the_start() -> None:
    a = planner.plan_reminders(make_event(start=utc(2025, 7, 2, 13, 30)), make_case(), CFG)
    b = planner.plan_reminders(make_event(start=utc(2025, 7, 9, 13, 30)), make_case(), CFG)
    assert a[0].key("log") == "reminder:e1:604800:20250702T133000Z:log"
    assert not {p.key("log") for p in a} & {p.key("log") for p in b}


def _move(kind: str, before: When, after: When) -> Change:
    return Change(id=1, event_uid="e1", case_id="c1", kind=kind, field="when",
                  before=before.to_json(), after=after.to_json(), summary="moved")


def test_moved_earlier_within_72h_is_urgent() -> None:
    now = utc(2025, 7, 1, 12)
    old = When(date=date(2025, 7, 9), start=utc(2025, 7, 9, 13, 30))
    soon = When(date=date(2025, 7, 3), start=utc(2025, 7, 3, 13, 30))  # 49.5 h away
    later = When(date=date(2025, 7, 5), start=utc(2025, 7, 5, 13, 30))  # 97.5 h away
    assert planner.is_urgent(_move("rescheduled_earlier", old, soon), NY, now)
    assert not planner.is_urgent(_move("rescheduled_earlier", old, later), NY, now)
    assert not planner.is_urgent(_move("rescheduled_later", soon, old), NY, now)
    same_day_earlier = When(date=date(2025, 7, 3), start=utc(2025, 7, 3, 12))
    assert planner.is_urgent(_move("time_changed", soon, same_day_earlier), NY, now)
    assert not planner.is_urgent(_move("time_changed", same_day_earlier, soon), NY, now)


def test_alert_payload_has_before_and_after() -> None:
    ch = _move("rescheduled_later", When(date=date(2025, 7, 2)), When(date=date(2025, 7, 9)))
    alert = planner.plan_alert([ch], make_event(day=date(2025, 7, 9)), make_case(),
                               utc(2025, 6, 1))
    item = alert.payload["changes"][0]
    assert item["before"]["date"] == "2025-07-02" and item["after"]["date"] == "2025-07-09"
    assert alert.key("slack") == "change:1:slack" and not alert.urgent
    json.dumps(alert.payload)


def test_routes_filter_by_type_case_tag_and_kind(tmp_path: Path) -> None:
    from outboxhelpers import make_settings
    s = make_settings(tmp_path, "sqlite://", channels=[
        {"name": "all", "url": "json://127.0.0.1:1/"},
        {"name": "changes", "url": "json://127.0.0.1:1/", "notify": ["change"]},
        {"name": "ny", "url": "json://127.0.0.1:1/", "tags": ["ny"]},
        {"name": "trials", "url": "json://127.0.0.1:1/", "kinds": ["trial"]},
        {"name": "other", "url": "json://127.0.0.1:1/", "cases": ["other-*"]},
    ])
    assert planner.routes(s.channels, "reminder", "c1", ["ny"], "hearing") == ["all", "ny"]
    assert planner.routes(s.channels, "change", "c1", [], "trial") == \
        ["all", "changes", "trials"]
    assert planner.routes([], "reminder", "c1", [], "trial") == ["log"]
