"""A first import of a case (or a source's first events in a case) is one alert per
channel, "Now tracking N events", not one "added" alert per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from notifier.config import parse_settings
from notifier.notify import messages, outbox
from notifier.store import Store
from notifier.store.models import Change, Notification
from notifier.tracking.sync import sync_calendars

NOW = datetime(2030, 3, 1, 12, tzinfo=UTC)


def cal(case: str, events: list[tuple[str, str, str]]) -> str:
    out = [f'[case]\nid = "{case}"\ntitle = "People v. {case.title()}"\n'
           'court = "Part 9"\ntimezone = "America/New_York"\n']
    for eid, kind, when in events:
        out.append(f'\n[[events]]\nid = "{eid}"\nkind = "{kind}"\ntitle = "{kind} {eid}"\n'
                   f"{when}\n")
    return "".join(out)


def _settings(tmp_path: Path, url: str) -> Any:
    return parse_settings({"database": {"url": url}, "reminders": {"offsets": ["1d"]},
                           "channels": [
                               {"name": "desk", "url": "json://127.0.0.1:9/a"},
                               {"name": "trials", "url": "json://127.0.0.1:9/b",
                                "kinds": ["trial"]}]},
                          origin="test", base_dir=tmp_path, env={})


def _sync(store: Store, folders: Any, settings: Any, now: datetime) -> Any:
    return sync_calendars(store, folders, now=now, hook=outbox.change_hook(settings),
                          baseline_hook=outbox.change_hook(settings, alerts=False))


def _alerts(store: Store) -> list[Notification]:
    with store.read() as s:
        return list(s.exec(select(Notification).where(Notification.type == "change")
                           .order_by(Notification.id)).all())


def test_a_new_case_in_a_non_empty_database_is_one_alert_per_channel(
        tmp_path: Path, store: Store, write_cal: Any, folders: Any) -> None:
    settings = _settings(tmp_path, store.url)
    write_cal("old.toml", cal("old", [("h", "hearing", "date = 2030-03-20")]))
    assert _sync(store, folders, settings, NOW).baseline
    events = [("h1", "hearing", "date = 2030-03-05"),
              ("t1", "trial", "start = 2030-03-10T09:30:00"),
              ("t2", "trial", "date = 2030-04-01"),
              ("tbd", "hearing", 'status = "tbd"'),
              ("past", "hearing", "date = 2029-01-05")]
    write_cal("new.toml", cal("new", events))
    report = _sync(store, folders, settings, NOW + timedelta(minutes=1))
    assert [c.kind for c in report.changes] == ["added"] * 5  # history: one row per event
    alerts = _alerts(store)
    by_channel = {n.channel: json.loads(n.payload) for n in alerts}
    assert len(alerts) == 2 and set(by_channel) == {"desk", "trials"}
    # The past event is history, not news; "trials" wants trials only.
    desk, trials = by_channel["desk"], by_channel["trials"]
    assert desk["changes"][0]["summary"].startswith("Now tracking 4 events in new;")
    assert "1 with the date still to be set" in desk["changes"][0]["summary"]
    assert trials["changes"][0]["summary"] == "Now tracking 2 events in new"
    assert all(n.event_uid is None and n.case_id == "new" for n in alerts)
    # Every dated upcoming event still has its reminders.
    with store.read() as s:
        reminded = {n.event_uid for n in s.exec(select(Notification).where(
            Notification.type == "reminder")).all()}
    assert {"new/h1@notifier", "new/t1@notifier"} <= reminded

    title, body = messages.render("change", desk, due=NOW)
    assert title.startswith("Now tracking 4 events in new") and "People v. New" in title
    assert "Next date in this case: hearing h1: Tue 5 Mar 2030" in body
    assert "Part 9" in body
    assert body.count("Case: ") == 1, body  # the case is named once, with its court
    ctx = messages.context("change", desk, due=NOW, now=NOW, late=False, urgent=False)
    for fmt in ("markdown", "html"):
        _, other = messages.Renderer().render("", "change", ctx, fmt)
        assert other.count("Case") == 1, other


def test_later_additions_and_single_event_imports_keep_their_own_alerts(
        tmp_path: Path, store: Store, write_cal: Any, folders: Any) -> None:
    settings = _settings(tmp_path, store.url)
    write_cal("old.toml", cal("old", [("h", "hearing", "date = 2030-03-20")]))
    _sync(store, folders, settings, NOW)
    # A case of one event: its ordinary "added" alert says more than a count would.
    write_cal("one.toml", cal("one", [("h", "hearing", "date = 2030-03-06")]))
    _sync(store, folders, settings, NOW + timedelta(minutes=1))
    # Two more events in a case already tracked: news, one alert each.
    write_cal("old.toml", cal("old", [("h", "hearing", "date = 2030-03-20"),
                                      ("x", "hearing", "date = 2030-03-21"),
                                      ("y", "hearing", "date = 2030-03-22")]))
    _sync(store, folders, settings, NOW + timedelta(minutes=2))
    alerts = _alerts(store)
    assert [(n.event_uid, n.channel) for n in alerts] == [
        ("one/h@notifier", "desk"), ("old/x@notifier", "desk"), ("old/y@notifier", "desk")]
    assert all("added" in json.loads(n.payload)["changes"][0]["summary"] for n in alerts)
    with store.read() as s:
        assert len(s.exec(select(Change)).all()) == 4


def test_a_renamed_file_is_not_a_first_import(
        tmp_path: Path, store: Store, write_cal: Any, folders: Any, cal_dir: Path) -> None:
    settings = _settings(tmp_path, store.url)
    write_cal("old.toml", cal("old", [("h", "hearing", "date = 2030-03-20")]))
    _sync(store, folders, settings, NOW)
    text = cal("c", [("a", "hearing", "date = 2030-03-05"), ("b", "hearing", "date = 2030-03-06")])
    write_cal("c.toml", text)
    _sync(store, folders, settings, NOW + timedelta(minutes=1))
    assert len(_alerts(store)) == 1
    (cal_dir / "c.toml").rename(cal_dir / "renamed.toml")
    write_cal("renamed.toml", text + '\n[[events]]\nid = "n"\ntitle = "New"\n'
                                     "date = 2030-03-07\n")
    report = _sync(store, folders, settings, NOW + timedelta(minutes=2))
    assert [c.kind for c in report.changes] == ["added"]
    assert [n.event_uid for n in _alerts(store)][1:] == ["c/n@notifier"]
