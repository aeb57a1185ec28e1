"""A static recurring iCal feed keeps gaining occurrences as the expansion window moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, ics, live_uids, make_settings, source

from notifier.config import Settings
from notifier.sources import fetch_source, parse_body
from notifier.sources.engine import spec_digest
from notifier.store import Store

WEEKLY = """
BEGIN:VEVENT
UID:weekly@court
SUMMARY:Calendar call
DTSTART;TZID=America/New_York:20250603T090000
DURATION:PT30M
RRULE:FREQ=WEEKLY
END:VEVENT
"""


def occ(day: str) -> str:
    return f"weekly@court/202506{day}T130000Z"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def cfg(tmp_path: Path, db_url: str, server: FeedServer) -> Settings:
    return make_settings(tmp_path, db_url, {
        "name": "part-99", "url": server.url("/p.ics"), "case": "c", "expand_past": "1d",
        "expand_future": "14d", "max_change_share": 0.25})


def _fetch(store: Store, cfg: Settings, after: timedelta, **kw: Any) -> Any:
    rep = fetch_source(store, source(cfg), NOW + after, hook=None, **kw)
    assert rep.ok, rep.error
    return rep


def test_unchanged_recurring_feed_is_reparsed_once_a_day(store: Store, cfg: Settings,
                                                         server: FeedServer) -> None:
    server.routes["/p.ics"] = Route(body=ics({}, extra=WEEKLY))
    _fetch(store, cfg, timedelta(0))
    assert live_uids(store) == {occ("03"), occ("10")}  # window: 31 May - 15 Jun 12:00
    rep = _fetch(store, cfg, timedelta(minutes=15))
    assert rep.status == "not_modified" and not rep.parsed  # same day: no re-parse

    # A week on the server still answers 304, but the window has moved.
    rep = _fetch(store, cfg, timedelta(days=7))
    assert server.requests[-1][1].get("If-None-Match")
    assert rep.parsed and [(c.event_uid, c.kind) for c in rep.changes] == [
        (occ("17"), "added")]
    assert live_uids(store) == {occ("03"), occ("10"), occ("17")}  # 3 Jun is over, kept
    rep = _fetch(store, cfg, timedelta(days=7, minutes=15))
    assert rep.status == "not_modified" and not rep.parsed
    rep = _fetch(store, cfg, timedelta(days=8))
    assert rep.parsed and rep.changes == []


def test_window_edges_do_not_change_the_digest(cfg: Settings) -> None:
    body = ics(BASE, extra=WEEKLY)
    early = parse_body(body, source(cfg), NOW)
    later = parse_body(body, source(cfg), NOW + timedelta(days=3))
    assert {e.uid for e in early.events} != {e.uid for e in later.events}
    assert spec_digest(early) == spec_digest(later)
    moved = parse_body(body.replace(b"20250603T090000", b"20250603T100000"), source(cfg), NOW)
    assert spec_digest(moved) != spec_digest(early)


def test_hold_is_confirmed_after_the_window_moved(store: Store, cfg: Settings,
                                                  server: FeedServer) -> None:
    server.routes["/p.ics"] = Route(body=ics(BASE, extra=WEEKLY))
    _fetch(store, cfg, timedelta(0))
    server.routes["/p.ics"] = Route(body=ics({"h1@court": BASE["h1@court"]}, extra=WEEKLY))
    assert _fetch(store, cfg, timedelta(hours=1)).pending_missing == 3
    assert _fetch(store, cfg, timedelta(hours=2)).status == "held"
    # Three days later the same content (a new occurrence inside the window) confirms it.
    rep = _fetch(store, cfg, timedelta(days=3))
    assert rep.status == "ok", rep.held
    assert sorted(c.kind for c in rep.changes) == ["added", "removed", "removed", "removed"]
    assert live_uids(store) == {"h1@court", occ("03"), occ("10"), occ("17")}
