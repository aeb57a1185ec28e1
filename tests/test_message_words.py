"""Messages a person understands at a glance: the case in every title, dates in every
headline, the same fact rows in every type and format, a link to the case page (with
the channel's token when the feed is private), plain-word corrections, bursts grouped
into one message, and the per-channel send rate."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from channelkit import smtp_server
from conftest import WriteCal
from outboxhelpers import Recorder, make_settings, utc
from sqlmodel import select
from webhelpers import LiveServer

from notifier.config import Settings
from notifier.errors import ConfigError
from notifier.feeds.tokens import create_token
from notifier.notify import outbox
from notifier.notify.delivery import Deliverer
from notifier.notify.dispatch import Dispatcher
from notifier.notify.messages import Renderer, context
from notifier.notify.outbox_read import list_notifications
from notifier.server.web import create_app
from notifier.store import Store
from notifier.store.models import Notification
from notifier.tracking.sync import sync_calendars

NOW = utc(2025, 6, 20, 12)
ROWS = {"When": "Wed 2 Jul 2025 09:30 EDT (court time)", "Where": "Part 99",
        "Case": "People v. Test (New York County Supreme Court)", "Judge": "Justice A. Farber",
        "Notes": "Bring the exhibits",
        "Next date in this case": "Wed 2 Jul 2025 09:30 EDT: Hearing"}


def _cal(events: str, *, judge: str = "Justice A. Farber") -> str:
    return f"""
[case]
id = "c"
title = "People v. Test"
court = "New York County Supreme Court"
judge = "{judge}"
timezone = "America/New_York"
{events}
"""


def _event(eid: str, when: str, **extra: str) -> str:
    lines = [f'[[events]]\nid = "{eid}"\nkind = "hearing"\ntitle = "Hearing {eid}"', when]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def _settings(tmp_path: Path, db_url: str, folders: list[tuple[str, Path]],
              channels: list[dict[str, Any]], **extra: Any) -> Settings:
    return make_settings(tmp_path, db_url, channels=channels,
                         calendars={"paths": [str(folders[0][1])]},
                         reminders={"offsets": ["1d"]}, **extra)


def _sync(store: Store, folders: list[tuple[str, Path]], settings: Settings,
          at: datetime, *, alerts: bool = True) -> None:
    sync_calendars(store, folders, now=at, hook=outbox.change_hook(settings, alerts=alerts))


def _dispatch(store: Store, settings: Settings, at: datetime) -> Recorder:
    rec = Recorder()
    d = Dispatcher(store, settings, sender=rec, clock=lambda: at, rng=random.Random(1))
    try:
        d.run_once()
    finally:
        d.close()
    return rec


@pytest.mark.parametrize("ntype", ["reminder", "change"])
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_every_type_and_format_shows_the_case_and_the_same_rows(ntype: str, fmt: str) -> None:
    ev = {"title": "Hearing", "when": "Wed 2 Jul 2025 09:30 EDT", "kind": "hearing",
          "case_id": "c", "case_title": "People v. Test", "court": "New York County Supreme "
          "Court", "timezone": "America/New_York", "location": "Part 99",
          "judge": "Justice A. Farber", "notes": "Bring the exhibits", "status": "scheduled"}
    change = {"kind": "location_changed", "field": "location",
              "summary": "Hearing location changed: Part 50 -> Part 99"}
    payload = {"event": ev, "offset_text": "1d", "changes": [change]}
    settings = make_settings(Path("."), "sqlite://", server={"base_url": "https://c.example"})
    ctx = context(ntype, payload, due=NOW, now=NOW, channel="x", settings=settings,
                  extra={"until": "in 1 day", "case_next": ROWS["Next date in this case"]})
    title, body = Renderer().render("x", ntype, ctx, fmt)
    assert title.endswith(" — People v. Test") and "Wed 2 Jul 2025" in title
    if ntype == "change":
        assert title == ("Hearing on Wed 2 Jul 2025 09:30 EDT: location changed: Part 50 -> "
                         "Part 99 — People v. Test")
    for label, value in ROWS.items():
        if fmt == "html":
            assert f'<th align="left">{label}</th><td>{value}</td>' in body, (label, body)
        else:
            bullet = "• " if fmt == "markdown" else ""
            assert f"{bullet}{label}: {value}" in body, (label, body)
    assert "https://c.example/cases/c" in body


def test_date_only_reminder_keeps_notes_and_links_the_case_page(
        tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    write_cal("c.toml", _cal(_event("h", "date = 2025-07-02", notes="Time not announced",
                                    location="Part 99")))
    settings = _settings(tmp_path, db_url, folders, [], server={
        "base_url": "https://court.example.org"})
    _sync(store, folders, settings, NOW, alerts=False)
    with store.read() as s:
        rems = s.exec(select(Notification).where(Notification.type == "reminder")).all()
        (rem,) = rems
    rec = _dispatch(store, settings, rem.due_at + timedelta(seconds=5))
    (_ch, title, body, _u), = rec.sent
    assert title == "Reminder: Hearing tomorrow, Wed 2 Jul 2025 — People v. Test"
    assert "Notes: Time not announced" in body
    assert "Judge: Justice A. Farber" in body and "Where: Part 99" in body
    assert "All dates in this case: https://court.example.org/cases/c" in body


def test_private_feed_links_carry_the_channels_token_and_open_the_page(
        tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    write_cal("c.toml", _cal(_event("h", "start = 2025-07-02T09:30:00")))
    _sync(store, folders, make_settings(tmp_path, db_url), NOW, alerts=False)
    _row, token = create_token(store, "c")
    with_token = _settings(tmp_path, db_url, folders, [
        {"name": "desk", "url": "json://127.0.0.1:9/x", "feed_token": token},
        {"name": "other", "url": "json://127.0.0.1:9/y"}], feed={"private": True})
    write_cal("c.toml", _cal(_event("h", "start = 2025-07-02T10:00:00")))
    _sync(store, folders, with_token, NOW)
    rec = _dispatch(store, with_token, NOW)
    bodies = {ch: body for ch, _t, body, _u in rec.sent}
    (link,) = [w for w in bodies["desk"].split() if "/cases/c" in w]
    assert link == f"http://localhost:8080/cases/c?token={token}"
    # Without a token the page would answer 404: no link rather than a broken one.
    assert "/cases/" not in bodies["other"]
    with LiveServer(create_app(with_token, store)) as srv:
        parts = urlsplit(link)
        page = httpx.get(f"{srv.url}{parts.path}?{parts.query}", timeout=10)
        assert page.status_code == 200 and "People v. Test" in page.text
        assert httpx.get(f"{srv.url}{parts.path}", timeout=10).status_code == 404


def test_a_burst_of_changes_is_one_message_and_a_few_stay_separate(
        tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    settings = _settings(tmp_path, db_url, folders, [])
    days = [f"2025-07-{d:02d}" for d in range(1, 7)]
    write_cal("c.toml", _cal("".join(_event(f"h{i}", f"start = {d}T09:30:00")
                                     for i, d in enumerate(days))))
    _sync(store, folders, settings, NOW, alerts=False)  # a baseline import: no alerts
    # Six hearings cancelled in one sync: one message listing all six, with dates.
    write_cal("c.toml", _cal("".join(_event(f"h{i}", f"start = {d}T09:30:00",
                                            status="cancelled") for i, d in enumerate(days))))
    _sync(store, folders, settings, NOW + timedelta(minutes=1))
    with store.read() as s:
        rows = s.exec(select(Notification).where(Notification.type == "change")).all()
    assert len(rows) == 1 and rows[0].dedupe_key.startswith("changes:")
    with store.read() as s:
        (view,) = [v for v in list_notifications(s) if v.n.type == "change"]
    assert view.event_ref == "c" and view.what.count("Hearing cancelled") == 6
    rec = _dispatch(store, settings, NOW + timedelta(minutes=1))
    (_ch, title, body, _u), = rec.sent
    assert title == "6 changes in People v. Test"
    for d in ("Tue 1 Jul", "Wed 2 Jul", "Thu 3 Jul", "Fri 4 Jul", "Sat 5 Jul", "Sun 6 Jul"):
        assert f"Hearing on {d} 2025 09:30 EDT cancelled" in body, body
    assert "Next date in this case: none scheduled" in body
    # Three restored in the next sync: three messages, one per hearing.
    write_cal("c.toml", _cal("".join(_event(f"h{i}", f"start = {d}T09:30:00",
                                            status="cancelled" if i >= 3 else "scheduled")
                                     for i, d in enumerate(days))))
    _sync(store, folders, settings, NOW + timedelta(minutes=2))
    rec = _dispatch(store, settings, NOW + timedelta(minutes=2))
    assert sorted(t for _c, t, _b, _u in rec.sent) == [
        f"Hearing on {d} 2025 09:30 EDT is now scheduled — People v. Test"
        for d in ("Thu 3 Jul", "Tue 1 Jul", "Wed 2 Jul")]


def test_channel_rate_sets_apprises_throttle_with_one_second_for_email(
        tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "mail", "url": "mailto://127.0.0.1:2525?from=n@example.com&to=a@example.com"},
        {"name": "slow", "url": "mailto://127.0.0.1:2525?from=n@example.com&to=b@example.com",
         "rate": 6},
        {"name": "hook", "url": "json://127.0.0.1:9/x", "rate": 0.25},
        {"name": "slack", "url": "slack://T1AAAAAAAA/B1BBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC"}])
    d = Deliverer(settings.channels)

    def rates(name: str) -> list[float]:
        client = d.channels[name]._client
        assert client is not None
        return [p.request_rate_per_sec for p in client]
    assert rates("mail") == [1.0]  # Apprise's own 5.5 s made six emails take 30 s
    assert rates("slow") == [6.0] and rates("hook") == [0.25]
    assert rates("slack") == [1.2]  # Apprise's own value for the service, untouched
    with pytest.raises(ConfigError, match=r"channels\[0\] \(name 'x'\)\.rate: .*value: -1"):
        make_settings(tmp_path, db_url, channels=[{"name": "x", "url": "json://h/x",
                                                   "rate": -1}])


def test_emails_to_a_real_smtp_server_go_out_a_second_apart(
        tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    days = [f"2025-07-{d:02d}" for d in range(1, 4)]
    write_cal("c.toml", _cal("".join(_event(f"h{i}", f"start = {d}T09:30:00")
                                     for i, d in enumerate(days))))
    with smtp_server() as (port, mails):
        url = f"mailto://127.0.0.1:{port}?from=n@example.com&to=desk@example.com"
        settings = _settings(tmp_path, db_url, folders, [{"name": "mail", "url": url,
                                                          "notify": ["change"]}])
        _sync(store, folders, settings, NOW, alerts=False)
        write_cal("c.toml", _cal("".join(_event(f"h{i}", f"start = {d}T10:00:00")
                                         for i, d in enumerate(days))))
        _sync(store, folders, settings, NOW + timedelta(minutes=1))
        d = Dispatcher(store, settings, clock=lambda: NOW + timedelta(minutes=1))
        t0 = time.monotonic()
        try:
            assert d.run_once().sent == 3
        finally:
            d.close()
        took = time.monotonic() - t0
    assert len(mails) == 3
    # Two waits of 1 s between three emails (Apprise's own default waits 5.5 s each).
    assert 2.0 <= took < 10.0, took


def test_a_channels_feed_token_is_masked_like_its_url(tmp_path: Path, db_url: str) -> None:
    from notifier.logs import mask

    secret = "s3cret-feed-token-0123456789abcdefghijklmnop"
    settings = make_settings(tmp_path, db_url, channels=[
        {"name": "desk", "url": "json://127.0.0.1:9/x", "feed_token": secret}])
    assert secret not in repr(settings.channels[0])
    Deliverer(settings.channels)
    masked = mask(f"GET /cases/c?token={secret} failed; link http://h/cases/c?token={secret}")
    assert secret not in masked and "/cases/c" in masked
