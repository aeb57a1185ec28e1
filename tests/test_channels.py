"""Delivery through real local servers: json:// webhooks, Slack, email; retries; lanes."""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from channelkit import HttpSink, smtp_server
from conftest import WriteCal
from outboxhelpers import make_settings, utc
from sqlmodel import select

from notifier.config import Settings
from notifier.notify import outbox
from notifier.notify.dispatch import Dispatcher
from notifier.store import Store
from notifier.store.models import Delivery, Notification
from notifier.tracking.sync import sync_calendars

NOW = utc(2025, 6, 20, 12)
DUE_1D = utc(2025, 7, 1, 13, 30)  # 1d reminder of a 09:30 EDT hearing on Wed 2 July
CAL = """
[case]
id = "c"
title = "People v. Test"
court = "New York County Supreme Court"
timezone = "America/New_York"

[[events]]
id = "h"
kind = "hearing"
title = "Hearing on the retrial"
start = {start}
location = "Part 99, 100 Centre St"
status = "scheduled"
"""


def _settings(tmp_path: Path, db_url: str, folders: list[tuple[str, Path]],
              channels: list[dict[str, Any]], **extra: Any) -> Settings:
    return make_settings(tmp_path, db_url, channels=channels,
                         calendars={"paths": [str(folders[0][1])]},
                         reminders={"offsets": ["1d"]}, **extra)


def _sync(store: Store, write_cal: WriteCal, folders: list[tuple[str, Path]],
          settings: Settings, at: datetime, start: str = "2025-07-02T09:30:00") -> None:
    write_cal("c.toml", CAL.format(start=start))
    sync_calendars(store, folders, now=at, hook=outbox.change_hook(settings))


def _run(store: Store, settings: Settings, at: datetime) -> Any:
    d = Dispatcher(store, settings, clock=lambda: at, rng=random.Random(1))
    try:
        return d.run_once()
    finally:
        d.close()


def _rows(store: Store, **where: Any) -> list[Notification]:
    with store.read() as s:
        q = select(Notification)
        for k, v in where.items():
            q = q.where(getattr(Notification, k) == v)
        return list(s.exec(q.order_by(Notification.id)).all())


def _deliveries(store: Store, nid: int | None) -> list[Delivery]:
    with store.read() as s:
        return list(s.exec(select(Delivery).where(Delivery.notification_id == nid)
                           .order_by(Delivery.id)).all())


def test_json_webhook_gets_alert_and_reminder_with_weekday_place_and_distance(
        tmp_path, db_url, store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    with HttpSink() as sink:
        settings = _settings(tmp_path, db_url, folders, [{"name": "hook",
                                                          "url": sink.json_url()}])
        _sync(store, write_cal, folders, settings, NOW)
        assert _run(store, settings, NOW).sent == 1  # "added" alert
        assert _run(store, settings, DUE_1D).sent == 1  # the 1d reminder
    alert, rem = (body for _p, body in sink.requests)
    assert isinstance(alert, dict) and isinstance(rem, dict)
    assert alert["title"].startswith("Hearing added")
    assert "Next date in this case: Wed 2 Jul 2025 09:30 EDT" in alert["message"]
    assert rem["title"] == "Reminder: Hearing in 1 day, Wed 2 Jul 2025 09:30 EDT — People v. Test"
    assert "When: Wed 2 Jul 2025 09:30 EDT (court time)" in rem["message"]
    assert "Where: Part 99, 100 Centre St" in rem["message"]
    assert "Case: People v. Test (New York County Supreme Court)" in rem["message"]
    assert rem["type"] == "info"


def test_moved_hearing_alert_shows_before_after_and_urgent_is_a_warning(
        tmp_path, db_url, store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    with HttpSink() as sink:
        settings = _settings(tmp_path, db_url, folders, [{"name": "hook",
                                                          "url": sink.json_url()}])
        now = utc(2025, 7, 1, 12)
        _sync(store, write_cal, folders, settings, now, start="2025-07-09T09:30:00")
        _run(store, settings, now)
        _sync(store, write_cal, folders, settings, now, start="2025-07-02T09:30:00")
        _run(store, settings, now)
    moved = sink.requests[-1][1]
    assert isinstance(moved, dict)
    assert "Hearing moved earlier: Wed 9 Jul 2025 09:30 EDT -> Wed 2 Jul 2025 09:30 EDT" \
        in moved["message"]
    assert moved["title"].startswith("URGENT: ") and moved["type"] == "warning"
    assert moved["title"].count("URGENT") == 1 and "URGENT" not in moved["message"]


def _move_earlier(tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
                  folders: list[tuple[str, Path]], channels: list[dict[str, Any]]) -> None:
    """An urgent change alert (moved earlier, now within 72 h) sent on ``channels``."""
    settings = _settings(tmp_path, db_url, folders, channels)
    now = utc(2025, 7, 1, 12)
    _sync(store, write_cal, folders, settings, now, start="2025-07-09T09:30:00")
    _run(store, settings, now)
    _sync(store, write_cal, folders, settings, now, start="2025-07-02T09:30:00")
    assert _run(store, settings, now).sent == 1


def test_urgent_alert_says_urgent_once_in_the_log_and_the_email_subject(
        tmp_path, db_url, store, write_cal, folders,  # type: ignore[no-untyped-def]
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="notifier")
    _move_earlier(tmp_path, db_url, store, write_cal, folders, [])  # no channels: the log
    (logged,) = [r.getMessage() for r in caplog.records if "moved earlier" in r.getMessage()
                 and r.name == "notifier.notifications"]
    assert logged.startswith("URGENT: Hearing moved earlier") and logged.count("URGENT") == 1
    with smtp_server() as (port, mails):
        url = f"mailto://127.0.0.1:{port}?from=notifier@example.com&to=desk@example.com"
        _move_earlier(tmp_path, db_url, store, write_cal, folders, [{"name": "mail", "url": url}])
        deadline = time.monotonic() + 5
        while not mails and time.monotonic() < deadline:
            time.sleep(0.02)
    from email.header import decode_header, make_header

    subject = str(make_header(decode_header(mails[-1]["Subject"])))
    assert subject.startswith("URGENT: Hearing moved earlier") and subject.count("URGENT") == 1


def test_sink_failing_500_three_times_then_200_is_one_delivery_four_attempts(
        tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    with HttpSink([500, 500, 500, 200]) as sink:
        settings = make_settings(tmp_path, db_url, channels=[{"name": "hook",
                                                              "url": sink.json_url()}])
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row("test:1", "test", "hook", NOW, NOW,
                                                  {"title": "t", "text": "retry me"})])
        at = NOW
        for _ in range(6):  # bounded; each pass is after the previous backoff
            _run(store, settings, at)
            at += timedelta(hours=7)
    (n,) = _rows(store)
    assert n.status == "sent" and n.attempts == 4
    assert len(sink.requests) == 4
    outcomes = [d.outcome for d in _deliveries(store, n.id)]
    assert outcomes == ["retry", "retry", "retry", "sent"]
    assert "500" in (_deliveries(store, n.id)[0].error or "")


def test_sink_answering_401_is_dead_after_one_attempt_as_permanent(
        tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    with HttpSink([401]) as sink:
        settings = make_settings(tmp_path, db_url, channels=[{"name": "hook",
                                                              "url": sink.json_url()}])
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row("test:1", "test", "hook", NOW, NOW,
                                                  {"title": "t", "text": "x"})])
        stats = _run(store, settings, NOW)
        _run(store, settings, NOW + timedelta(days=1))
    assert stats.dead == 1
    (n,) = _rows(store)
    assert n.status == "dead" and n.attempts == 1 and len(sink.requests) == 1
    assert n.last_error and n.last_error.startswith("permanent: ") and "401" in n.last_error
    assert [d.outcome for d in _deliveries(store, n.id)] == ["dead"]


def test_hanging_sink_is_cut_off_by_the_channel_timeout_and_retried(
        tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    with HttpSink([200], hang=5) as sink:
        settings = make_settings(tmp_path, db_url, channels=[
            {"name": "hook", "url": sink.json_url(), "timeout": "1s"}])
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row("test:1", "test", "hook", NOW, NOW,
                                                  {"title": "t", "text": "x"})])
        t0 = time.monotonic()
        stats = _run(store, settings, NOW)
        took = time.monotonic() - t0
    assert took < 3, took
    assert stats.failed == 1
    (n,) = _rows(store)
    assert n.status == "failed" and n.next_attempt_at > NOW
    assert "timed out after 1s" in (n.last_error or "") or "did not finish" in (n.last_error or "")


def test_the_channel_timeout_is_the_socket_timeout_unless_the_url_sets_its_own(
        tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    from notifier.notify.delivery import Deliverer

    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "slow", "url": "json://127.0.0.1:9/x", "timeout": "40s"},
        {"name": "own", "url": "json://127.0.0.1:9/x?rto=3&cto=2", "timeout": "40s"},
        {"name": "lookalike", "url": "json://127.0.0.1:9/x?xrto=1&+X-Key=acto=", "timeout": "40s"}])
    chans = Deliverer(settings.channels).channels
    [slow] = list(chans["slow"]._client)  # type: ignore[arg-type]
    [own] = list(chans["own"]._client)  # type: ignore[arg-type]
    [alike] = list(chans["lookalike"]._client)  # type: ignore[arg-type]
    assert (alike.socket_connect_timeout, alike.socket_read_timeout) == (40, 40)
    # An answer may take the configured 40 s (Apprise's own default would give up
    # after 4 s and the retry could deliver a second copy) ...
    assert (slow.socket_connect_timeout, slow.socket_read_timeout) == (40, 40)
    # ... and Apprise's own URL options win where the user gave them.
    assert (own.socket_connect_timeout, own.socket_read_timeout) == (2, 3)


def test_a_hanging_channel_does_not_delay_another(tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    with HttpSink([200], hang=3) as slow, HttpSink() as fast:
        settings = make_settings(tmp_path, db_url, channels=[
            {"name": "slow", "url": slow.json_url(), "timeout": "2s"},
            {"name": "fast", "url": fast.json_url()}])
        now = datetime.now(NOW.tzinfo)
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row(f"test:{ch}:{i}", "test", ch, now, now,
                                                  {"title": "t", "text": f"{ch} {i}"})
                                   for ch in ("slow", "fast") for i in range(3)])
        d = Dispatcher(store, settings)
        t0 = time.monotonic()
        d.kick()
        deadline = t0 + 5
        while len(fast.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        fast_done = time.monotonic() - t0
        assert d.busy  # the slow lane is still waiting on its first message
        d.stop()
        assert d.wait_idle(10)
        d.close()
    assert len(fast.requests) == 3 and fast_done < 1.5, fast_done
    assert {n.status for n in _rows(store, channel="fast")} == {"sent"}


def test_slack_gets_markdown_from_the_slack_plugin(tmp_path, db_url, store, write_cal,  # type: ignore[no-untyped-def]
                                                    folders, monkeypatch) -> None:
    from apprise.plugins.slack import NotifySlack

    with HttpSink() as sink:
        monkeypatch.setattr(NotifySlack, "webhook_url",
                            f"http://127.0.0.1:{sink.port}/services")
        url = "slack://T1AAAAAAAA/B1BBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC"
        settings = _settings(tmp_path, db_url, folders, [{"name": "slack", "url": url}])
        now = utc(2025, 6, 20, 12)
        _sync(store, write_cal, folders, settings, now, start="2025-07-02T09:30:00")
        _sync(store, write_cal, folders, settings, now, start="2025-07-09T09:30:00")
        _run(store, settings, now)
    paths = [p for p, _b in sink.requests]
    assert paths and all(p == "/services/T1AAAAAAAA/B1BBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC"
                         for p in paths)
    raw = json.dumps([b for _p, b in sink.requests], ensure_ascii=False)
    # ">" is sent as Slack's entity (event text is escaped); Slack shows "->".
    assert "Hearing moved later: Wed 2 Jul 2025 09:30 EDT -&gt; Wed 9 Jul 2025 09:30 EDT" in raw
    assert "Next date in this case" in raw


def test_email_has_subject_html_and_text_parts_and_ics(tmp_path, db_url, store, write_cal,  # type: ignore[no-untyped-def]
                                                       folders) -> None:
    with smtp_server() as (port, mails):
        url = f"mailto://127.0.0.1:{port}?from=notifier@example.com&to=desk@example.com"
        settings = _settings(tmp_path, db_url, folders, [{"name": "mail", "url": url,
                                                          "notify": ["reminder"]}])
        _sync(store, write_cal, folders, settings, NOW)
        assert _run(store, settings, DUE_1D).sent == 1
        deadline = time.monotonic() + 5
        while not mails and time.monotonic() < deadline:
            time.sleep(0.02)
    (mail,) = mails
    from email.header import decode_header, make_header

    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject == "Reminder: Hearing in 1 day, Wed 2 Jul 2025 09:30 EDT — People v. Test"
    parts = {p.get_content_type(): p for p in mail.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "Wed 2 Jul 2025 09:30 EDT" in text and "<table>" in html
    assert "<th align=\"left\">Where</th><td>Part 99, 100 Centre St</td>" in html
    ics = parts["text/calendar"]
    assert ics.get_filename() == "event.ics"
    body = ics.get_payload(decode=True).decode()
    assert "BEGIN:VEVENT" in body and "UID:" in body and "Hearing on the retrial" in body


@pytest.mark.parametrize("status", [404, 403])
def test_other_client_errors_are_permanent(tmp_path, db_url, store, status: int) -> None:  # type: ignore[no-untyped-def]
    with HttpSink([status]) as sink:
        settings = make_settings(tmp_path, db_url, channels=[{"name": "hook",
                                                              "url": sink.json_url()}])
        with store.write() as s:
            outbox.insert_rows(s, [outbox.new_row("t", "test", "hook", NOW, NOW,
                                                  {"title": "t", "text": "x"})])
        assert _run(store, settings, NOW).dead == 1


def test_refused_connection_is_transient(tmp_path, db_url, store) -> None:  # type: ignore[no-untyped-def]
    from channelkit import free_port

    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "hook", "url": f"json://127.0.0.1:{free_port()}/x"}])
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row("t", "test", "hook", NOW, NOW,
                                                  {"title": "t", "text": "x"})])
    assert _run(store, settings, NOW).failed == 1
