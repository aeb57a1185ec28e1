"""Sync: every change type with before/after, idempotence, history, and bad input safety."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from notifier.store import Store
from notifier.store.models import Case, Change, Event
from notifier.store.queries import history
from notifier.tracking.sync import sync_calendars

T0 = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)

HEAD = """
[case]
id = "c1"
title = "People v. Example"
judge = "{judge}"
timezone = "America/New_York"
"""


def cal(events: str, judge: str = "Justice A") -> str:
    return HEAD.format(judge=judge) + events


def ev(id: str = "h", *, kind: str = "hearing", title: str = "Hearing", when: str =
       "date = 2025-07-02", status: str = "scheduled", extra: str = "") -> str:
    return (f'\n[[events]]\nid = "{id}"\nkind = "{kind}"\ntitle = "{title}"\n{when}\n'
            f'status = "{status}"\n{extra}\n')


class World:
    """A calendar folder plus a store, synced at increasing times."""

    def __init__(self, store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
        self.store, self.write_cal, self.folders = store, write_cal, folders
        self.now = T0

    def sync(self, name: str | None = None, text: str | None = None):  # type: ignore[no-untyped-def]
        if name is not None and text is not None:
            self.write_cal(name, text)
        self.now += timedelta(minutes=1)
        return sync_calendars(self.store, self.folders, now=self.now)

    def event(self, uid: str = "c1/h@notifier") -> Event:
        with self.store.read() as s:
            e = s.get(Event, uid)
            assert e is not None
            return e

    def changes(self) -> list[Change]:
        with self.store.read() as s:
            return list(s.exec(select(Change).order_by(Change.id)).all())  # type: ignore[arg-type]


@pytest.fixture
def world(store: Store, write_cal, folders) -> World:  # type: ignore[no-untyped-def]
    return World(store, write_cal, folders)


def kinds(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.kind for c in report.changes]


def test_added_then_idempotent(world: World) -> None:
    r = world.sync("c1.toml", cal(ev() + ev("t", kind="retrial", title="Third trial",
                                            when="", status="tbd")))
    assert r.ok and kinds(r) == ["added", "added"]
    assert r.changes[0].summary == "Hearing added: Wed 2 Jul 2025 (scheduled)"
    assert r.changes[1].summary == "Retrial added: date to be set (tbd)"
    before = world.event()
    r2 = world.sync()
    assert r2.ok and r2.changes == []
    after = world.event()
    assert (after.sequence, after.updated_at) == (before.sequence, before.updated_at)
    assert len(world.changes()) == 2


@pytest.mark.parametrize(("new", "kind", "summary"), [
    (ev(when="date = 2025-07-09"), "rescheduled_later",
     "Hearing moved later: Wed 2 Jul 2025 -> Wed 9 Jul 2025"),
    (ev(when="date = 2025-06-30"), "rescheduled_earlier",
     "Hearing moved earlier: Wed 2 Jul 2025 -> Mon 30 Jun 2025"),
    (ev(when="start = 2025-07-02T09:30:00\nduration = \"1h\""), "time_changed",
     "Hearing time changed: Wed 2 Jul 2025 -> Wed 2 Jul 2025 09:30–10:30 EDT"),
    (ev(status="cancelled"), "cancelled", "Hearing cancelled: scheduled -> cancelled"),
    (ev(status="tentative"), "status_changed",
     "Hearing status changed: scheduled -> tentative"),
    (ev(extra='location = "Part 99"'), "location_changed",
     "Hearing location changed: (none) -> Part 99"),
    (ev(title="Hearing on the retrial"), "title_changed",
     "Hearing title changed: Hearing -> Hearing on the retrial"),
])
def test_each_change_type_records_before_and_after(world: World, new: str, kind: str,
                                                   summary: str) -> None:
    world.sync("c1.toml", cal(ev()))
    r = world.sync("c1.toml", cal(new))
    assert r.ok
    assert [c.kind for c in r.changes] == [kind]
    (change,) = r.changes
    assert change.summary == summary
    assert change.before is not None and change.after is not None
    assert change.before != change.after
    assert world.event().sequence == 1


def test_rescheduled_stores_machine_readable_before_after(world: World) -> None:
    world.sync("c1.toml", cal(ev()))
    r = world.sync("c1.toml", cal(ev(when="date = 2025-07-09")))
    (c,) = r.changes
    assert json.loads(c.before)["date"] == "2025-07-02"  # type: ignore[arg-type]
    assert json.loads(c.after)["date"] == "2025-07-09"  # type: ignore[arg-type]


def test_timed_event_time_changed(world: World) -> None:
    world.sync("c1.toml", cal(ev(when='start = 2025-07-02T09:30:00\nduration = "1h"')))
    r = world.sync("c1.toml", cal(ev(when='start = 2025-07-02T14:00:00\nduration = "1h"')))
    assert [(c.kind, c.summary) for c in r.changes] == [(
        "time_changed",
        "Hearing time changed: Wed 2 Jul 2025 09:30–10:30 EDT -> Wed 2 Jul 2025 14:00–15:00 EDT",
    )]


def test_date_set_then_postponed_then_completed(world: World) -> None:
    world.sync("c1.toml", cal(ev("t", kind="retrial", title="Third trial", when="",
                                 status="tbd")))
    r = world.sync("c1.toml", cal(ev("t", kind="retrial", title="Third trial",
                                     when="date = 2026-03-02")))
    assert [(c.kind, c.summary) for c in r.changes] == [
        ("date_set", "Retrial date set: date to be set -> Mon 2 Mar 2026")]
    r = world.sync("c1.toml", cal(ev("t", kind="retrial", title="Third trial", when="",
                                     status="postponed")))
    assert [c.kind for c in r.changes] == ["date_unset", "postponed"]
    r = world.sync("c1.toml", cal(ev("t", kind="retrial", title="Third trial",
                                     when="date = 2026-04-06", status="completed")))
    assert [c.kind for c in r.changes] == ["date_set", "completed"]
    assert world.event("c1/t@notifier").sequence == 3


def test_judge_changed_on_the_case_reaches_every_event(world: World) -> None:
    world.sync("c1.toml", cal(ev() + ev("s", kind="sentencing", title="Sentencing",
                                        when="date = 2025-08-01")))
    r = world.sync("c1.toml", cal(ev() + ev("s", kind="sentencing", title="Sentencing",
                                            when="date = 2025-08-01"), judge="Justice B"))
    assert [(c.kind, c.summary) for c in r.changes] == [
        ("judge_changed", "Hearing judge changed: Justice A -> Justice B"),
        ("judge_changed", "Sentencing judge changed: Justice A -> Justice B"),
    ]
    with world.store.read() as s:
        assert s.get(Case, "c1").judge == "Justice B"  # type: ignore[union-attr]


def test_removed_from_file_then_restored(world: World) -> None:
    world.sync("c1.toml", cal(ev() + ev("s", kind="sentencing", title="Sentencing",
                                        when="date = 2025-08-01")))
    r = world.sync("c1.toml", cal(ev()))
    assert [(c.kind, c.event_uid, c.summary) for c in r.changes] == [
        ("removed", "c1/s@notifier",
         "Sentencing removed from calendars/c1.toml: was Fri 1 Aug 2025")]
    assert world.event("c1/s@notifier").removed_at is not None
    assert world.sync().changes == []  # removal is recorded once
    r = world.sync("c1.toml", cal(ev() + ev("s", kind="sentencing", title="Sentencing",
                                            when="date = 2025-08-01")))
    assert kinds(r) == ["restored"]
    assert world.event("c1/s@notifier").removed_at is None


def test_deleted_file_removes_its_events(world: World, cal_dir: Path) -> None:
    world.sync("c1.toml", cal(ev()))
    (cal_dir / "c1.toml").unlink()
    r = world.sync()
    assert r.ok and kinds(r) == ["removed"]
    assert "file deleted" in r.changes[0].summary


def test_renamed_file_keeps_history_without_changes(world: World, cal_dir: Path) -> None:
    world.sync("c1.toml", cal(ev()))
    (cal_dir / "c1.toml").rename(cal_dir / "people.toml")
    r = world.sync()
    assert r.ok and r.changes == []
    e = world.event()
    assert e.source == "calendars/people.toml" and e.removed_at is None


def test_full_history_in_order(world: World) -> None:
    world.sync("c1.toml", cal(ev()))
    world.sync("c1.toml", cal(ev(when="date = 2025-07-09")))
    world.sync("c1.toml", cal(ev(when="date = 2025-07-09", extra='location = "Part 99"')))
    world.sync("c1.toml", cal(ev(when="date = 2025-07-09", status="cancelled",
                                 extra='location = "Part 99"')))
    with world.store.read() as s:
        rows = history(s, "c1/h@notifier")
    assert [r.kind for r in rows] == ["added", "rescheduled_later", "location_changed",
                                      "cancelled"]
    assert [r.at for r in rows] == sorted(r.at for r in rows)


def snapshot(store: Store) -> list[tuple[object, ...]]:
    with store.read() as s:
        events = [tuple(e.model_dump().values()) for e in s.exec(select(Event)).all()]
        changes = [tuple(c.model_dump().values()) for c in s.exec(select(Change)).all()]
    return sorted(events, key=repr) + sorted(changes, key=repr)


@pytest.mark.parametrize(("bad", "message"), [
    ("[case]\nid = \"c1\"\ntitle = \"x\"\n[[events]\n", "calendars/c1.toml:4: invalid TOML"),
    (cal(ev()).replace("America/New_York", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    (cal(ev(when='date = "2025-02-30"')), "date = '2025-02-30'"),
    (cal(ev() + ev()), "duplicate event id 'h'"),
    (cal(ev(extra='courtroom = "9"')), "unknown key 'courtroom'"),
    (cal(ev(when="start = 2025-03-09T02:30:00")), "does not exist in America/New_York"),
])
def test_bad_file_leaves_its_events_untouched_and_others_sync(
        world: World, bad: str, message: str) -> None:
    world.write_cal("c2.toml", cal(ev("x", when="date = 2025-09-01")).replace('"c1"', '"c2"'))
    world.sync("c1.toml", cal(ev() + ev("s", kind="sentencing", title="Sentencing",
                                        when="date = 2025-08-01")))
    before = snapshot(world.store)
    world.write_cal("c2.toml", cal(ev("x", when="date = 2025-09-08")).replace('"c1"', '"c2"'))
    r = world.sync("c1.toml", bad)
    assert not r.ok
    text = "\n".join(p for e in r.errors for p in e.problems)
    assert message in text and "calendars/c1.toml" in text
    # c1's rows are exactly as they were; c2's move was applied.
    assert [c.kind for c in r.changes] == ["rescheduled_later"]
    after = snapshot(world.store)
    assert [row for row in after if "c2" not in repr(row)] == \
        [row for row in before if "c2" not in repr(row)]


def test_missing_folder_removes_nothing(world: World, cal_dir: Path) -> None:
    world.sync("c1.toml", cal(ev()))
    (cal_dir / "c1.toml").unlink()
    cal_dir.rmdir()
    r = world.sync()
    assert not r.ok and r.changes == []
    assert world.event().removed_at is None


def test_same_case_in_two_files_is_an_error_for_the_second(world: World) -> None:
    world.sync("a.toml", cal(ev()))
    r = world.sync("b.toml", cal(ev("other", when="date = 2025-07-03")))
    assert not r.ok
    assert "calendars/b.toml: case id 'c1' is already defined in calendars/a.toml" in \
        str(r.errors[0])
    with world.store.read() as s:
        assert s.get(Event, "c1/other@notifier") is None


def test_one_file_failing_unexpectedly_does_not_stop_the_others(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import notifier.tracking.sync as sync_module

    real = sync_module.apply_calendar
    real_batch = sync_module.apply_calendars
    tried: list[list[str]] = []

    def flaky(s, spec, now, **kw):  # type: ignore[no-untyped-def]
        if spec.source.endswith("a.toml"):
            raise RuntimeError("disk on fire")
        return real(s, spec, now, **kw)

    def flaky_batch(s, specs, now, live):  # type: ignore[no-untyped-def]
        tried.append([spec.source for spec in specs])
        if any(spec.source.endswith("a.toml") for spec in specs):
            raise RuntimeError("disk on fire")  # the shared statements fail ...
        return real_batch(s, specs, now, live)

    # ... so the batch is rolled back and its files are applied one by one.
    monkeypatch.setattr(sync_module, "apply_calendars", flaky_batch)
    monkeypatch.setattr(sync_module, "apply_calendar", flaky)
    world.write_cal("a.toml", cal(ev()))
    r = world.sync("b.toml", cal(ev("x", when="date = 2025-09-01")).replace('"c1"', '"c2"'))
    assert kinds(r) == ["added"]
    assert "calendars/a.toml: could not be applied (RuntimeError: disk on fire)" in \
        str(r.errors[0])
    assert tried == [["calendars/a.toml", "calendars/b.toml"]]
    assert world.event("c2/x@notifier").removed_at is None


def test_folder_spelled_differently_in_the_config_keeps_its_events(
        store: Store, write_cal, cal_dir: Path) -> None:  # type: ignore[no-untyped-def]
    write_cal("c1.toml", cal(ev()))
    assert kinds(sync_calendars(store, [("cal", cal_dir)], now=T0)) == ["added"]
    # Same folder, new label (e.g. the config moved, or "./cal" instead of "cal").
    r = sync_calendars(store, [("/srv/cal", cal_dir)], now=T0 + timedelta(minutes=1))
    assert r.ok and r.changes == []
    with store.read() as s:
        e = s.get(Event, "c1/h@notifier")
        assert e is not None and e.source == "/srv/cal/c1.toml" and e.removed_at is None


def test_config_labels_are_normalised(tmp_path: Path) -> None:
    from notifier.config import parse_settings

    s = parse_settings({"calendars": {"paths": ["./cal/", "other"]}}, origin="t",
                       base_dir=tmp_path)
    assert [label for label, _ in s.calendar_folders()] == ["cal", "other"]


def test_case_edits_in_one_pass_get_distinct_increasing_stamps(world: World) -> None:
    world.write_cal("a.toml", cal(ev()))
    world.sync("b.toml", cal(ev("x", when="date = 2025-09-01")).replace('"c1"', '"c2"'))
    world.write_cal("a.toml", cal(ev()).replace("People v. Example", "People v. A"))
    world.now -= timedelta(minutes=5)  # a process whose clock is behind
    world.sync("b.toml", cal(ev("x", when="date = 2025-09-01")).replace('"c1"', '"c2"')
               .replace("People v. Example", "People v. B"))
    with world.store.read() as s:
        a, b = s.get(Case, "c1"), s.get(Case, "c2")
        assert a is not None and b is not None
        stamps = sorted([a.updated_at, b.updated_at])
    assert stamps[0] < stamps[1] and stamps[0] > T0 + timedelta(minutes=1)
