"""Message templates (sandboxed, per channel), digests, operator notices, channel config."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from pathlib import Path

import pytest
from outboxhelpers import Recorder, make_case, make_event, make_settings, utc
from sqlmodel import select

from notifier.errors import ConfigError
from notifier.notify import digest, outbox
from notifier.notify.dispatch import Dispatcher
from notifier.notify.messages import Renderer, context, until_text
from notifier.sources import HoldNotice
from notifier.store import Store
from notifier.store.models import Notification

EV = {"title": "Hearing <b>on</b> retrial", "when": "Wed 2 Jul 2025 09:30 EDT", "kind": "hearing",
      "case_title": "People v. Test", "case_id": "c", "timezone": "America/New_York",
      "location": "Part 99"}


def _ctx(ntype: str = "reminder", **kw):  # type: ignore[no-untyped-def]
    now = utc(2025, 7, 1, 13, 30)
    payload = {"event": EV, "offset_text": "1d", **kw.pop("payload", {})}
    return context(ntype, payload, due=now, now=now, extra={"until": "in 1 day", **kw})


def test_until_text() -> None:
    now = utc(2025, 7, 1, 13, 30)
    assert until_text(now + timedelta(days=1), now) == "in 1 day"
    assert until_text(now + timedelta(days=7), now) == "in 7 days"
    assert until_text(now + timedelta(hours=2), now) == "in 2 hours"
    assert until_text(now + timedelta(minutes=30), now) == "in 30 minutes"


def test_formats_text_markdown_and_html_is_escaped() -> None:
    r = Renderer()
    title, text = r.render("x", "reminder", _ctx(), "text")
    assert title == "Reminder: Hearing in 1 day, Wed 2 Jul 2025 09:30 EDT — People v. Test"
    assert "When: Wed 2 Jul 2025 09:30 EDT (court time)" in text
    _t, md = r.render("x", "reminder", _ctx(), "markdown")
    assert md.startswith("*Hearing in 1 day*")
    _t, html = r.render("x", "reminder", _ctx(), "html")
    assert "Hearing &lt;b&gt;on&lt;/b&gt; retrial" in html and "<table>" in html


def test_channel_templates_override_and_fall_back(tmp_path: Path) -> None:
    d = tmp_path / "tpl"
    d.mkdir()
    (d / "reminder.txt.j2").write_text("SHORT {{ event.title }} {{ until }}", encoding="utf-8")
    r = Renderer({"chat": d})
    assert r.render("chat", "reminder", _ctx(), "text")[1] == \
        "SHORT Hearing <b>on</b> retrial in 1 day"
    # The title was not overridden: the shipped one is used.
    assert r.render("chat", "reminder", _ctx(), "text")[0].startswith("Reminder:")
    # Other channels keep the shipped body.
    assert r.render("mail", "reminder", _ctx(), "text")[1].startswith("Hearing in 1 day")


def test_sandbox_blocks_python_internals_and_falls_back(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "evil"
    d.mkdir()
    (d / "reminder.txt.j2").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        _title, body = Renderer({"evil": d}).render("evil", "reminder", _ctx(), "text")
    assert "subclasses" not in body and "When: Wed 2 Jul 2025" in body
    assert "template for reminder failed" in caplog.text


def _digest_settings(tmp_path: Path, db_url: str, **ch):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, db_url, channels=[{
        "name": "desk", "url": "json://127.0.0.1:9/x", "notify": ["digest"],
        "digest_time": "07:00", "digest_days": 7, "timezone": "America/New_York", **ch}])


def test_digest_planned_once_per_day_and_lists_the_coming_days(tmp_path, db_url,  # type: ignore[no-untyped-def]
                                                              store: Store) -> None:
    settings = _digest_settings(tmp_path, db_url)
    with store.write() as s:
        s.add(make_case("c1"))
        s.add(make_event("h1", start=utc(2025, 7, 2, 13, 30)))
        s.add(make_event("h2", day=utc(2025, 7, 10).date()))  # outside the 7 days
        s.add(make_event("t", status="tbd"))
    now = utc(2025, 6, 30, 10)  # 06:00 EDT
    with store.write() as s:
        digest.plan_digests(s, settings, now)
        digest.plan_digests(s, settings, now + timedelta(minutes=30))  # idempotent
    with store.read() as s:
        keys = sorted(n.dedupe_key for n in s.exec(select(Notification)).all())
    assert keys == ["digest:desk:2025-06-30", "digest:desk:2025-07-01"]
    rec = Recorder()
    at = utc(2025, 6, 30, 11, 0, 5)  # 07:00:05 EDT
    stats = Dispatcher(store, settings, sender=rec, clock=lambda: at,
                       rng=random.Random(1)).run_once()
    assert stats.sent == 1
    (_ch, title, body, _u), = rec.sent
    assert title == "Agenda Mon 30 Jun 2025: 1 event in the next 7 days — People v. Test"
    assert "Wed 2 Jul 2025" in body and "09:30 EDT  Hearing h1\n      Case: People v. Test" in body
    assert "Hearing h2" not in body
    assert "Dates to be set:" in body and "Hearing t" in body


def test_empty_digest_is_not_sent(tmp_path, db_url, store: Store) -> None:  # type: ignore[no-untyped-def]
    settings = _digest_settings(tmp_path, db_url)
    with store.write() as s:
        s.add(make_case("c1"))
        digest.plan_digests(s, settings, utc(2025, 6, 30, 10))
    rec = Recorder()
    stats = Dispatcher(store, settings, sender=rec,
                       clock=lambda: utc(2025, 6, 30, 11, 1)).run_once()
    assert stats.withdrawn == 1 and not rec.sent


def test_digest_respects_case_filters(tmp_path, db_url, store: Store) -> None:  # type: ignore[no-untyped-def]
    settings = _digest_settings(tmp_path, db_url, cases=["other-*"])
    with store.write() as s:
        s.add(make_case("c1"))
        s.add(make_event("h1", start=utc(2025, 7, 2, 13, 30)))
    with store.read() as s:
        assert digest.agenda(s, settings.channels[0], utc(2025, 6, 30).date())[
            "agenda_count"] == 0


def test_held_source_notice_goes_to_operator_channels_only(tmp_path, db_url,  # type: ignore[no-untyped-def]
                                                          store: Store) -> None:
    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "ops", "url": "json://127.0.0.1:9/a", "notify": ["operator"]},
        {"name": "news", "url": "json://127.0.0.1:9/b"}])
    now = utc(2025, 6, 30, 10)
    notice = HoldNotice(source="part-99", url="https://court.example.org/x.ics", at=now,
                        affected=40, total=50, lines=("Hearing removed",))
    with store.write() as s:
        outbox.hold_hook(settings)(s, notice, now)
        outbox.hold_hook(settings)(s, notice, now)  # the same notice once
    with store.read() as s:
        rows = s.exec(select(Notification)).all()
    assert [(n.channel, n.type) for n in rows] == [("ops", "operator")]
    rec = Recorder()
    Dispatcher(store, settings, sender=rec, clock=lambda: now).run_once()
    assert "held 40 of 50" in rec.sent[0][2]


def test_channel_config_keys_and_errors(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    s = make_settings(tmp_path, db_url, channels=[{
        "name": "m", "url": "mailto://x", "notify": ["reminder", "digest", "operator"],
        "format": "html", "templates": "tpl", "timeout": "5s", "urgent_priority": "max",
        "attach_ics": False, "digest_time": "07:30", "digest_days": 3,
        "timezone": "Europe/London"}])
    assert s.channels[0].timeout == timedelta(seconds=5)
    with pytest.raises(ConfigError, match=r"timezone.*Mars/Olympus"):
        make_settings(tmp_path, db_url, channels=[{"name": "m", "url": "json://x",
                                                   "timezone": "Mars/Olympus"}])
    with pytest.raises(ConfigError, match="digest_time"):
        make_settings(tmp_path, db_url, channels=[{"name": "m", "url": "json://x",
                                                   "digest_time": "25:00"}])


def test_ics_attachment_carries_the_feeds_vtimezone(tmp_path: Path, db_url: str) -> None:
    """An email's .ics carries the feed's VTIMEZONE: onsets in the local time before
    the change, never a multi-valued RDATE (ical.js, in Thunderbird, read icalendar's
    form one DST offset off for May 2027)."""
    from datetime import UTC, datetime

    import vobject

    from notifier.notify.ics_attachment import event_ics

    start = datetime(2027, 5, 17, 13, 30, tzinfo=UTC)  # 09:30 EDT
    ev = make_event("e1", start=start)
    ev.end_utc = start + timedelta(hours=1)
    ev.sequence, ev.created_at, ev.updated_at = 0, utc(2027, 1, 1), utc(2027, 1, 1)
    ev.uid = "c1/e1@notifier"
    body = event_ics(ev, make_case(), make_settings(tmp_path, db_url))
    assert body is not None
    assert b"BEGIN:DAYLIGHT\r\nDTSTART:20270314T020000\r\nTZNAME:EDT\r\n" in body
    assert b"RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\n" in body  # Nov 2026 and 2027
    assert not [line for line in body.split(b"\r\n") if line.startswith(b"RDATE")]
    assert b"DTSTART;TZID=America/New_York:20270517T093000\r\n" in body
    cal = vobject.readOne(body.decode())  # the zone built from the block itself
    assert cal.vevent.dtstart.value.astimezone(UTC) == start
