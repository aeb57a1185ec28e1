"""Remote sources alongside calendar files, recurring events, file and webcal URLs, schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import WriteCal
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, ics, live_uids, make_settings, snapshot, source
from sqlmodel import SQLModel, select

from notifier.sources import fetch_source
from notifier.sources.fetch import fetch_url, local_path, normalize_url
from notifier.store import Store
from notifier.store.models import Case, Event
from notifier.tracking.sync import sync_calendars

CASE_FILE = """
[case]
id = "people-v-weinstein"
title = "People v. Harvey Weinstein"
court = "New York County Supreme Court"
timezone = "America/New_York"

[[events]]
id = "hearing-2025-07-02"
kind = "hearing"
title = "Hearing on the retrial"
date = 2025-07-02
"""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


def test_source_adds_events_to_a_case_defined_by_a_file(
        store: Store, tmp_path: Path, db_url: str, server: FeedServer, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    write_cal("weinstein.toml", CASE_FILE)
    assert sync_calendars(store, folders, now=NOW).ok
    cfg = make_settings(tmp_path, db_url, {"name": "part-99", "url": server.url("/p.ics"),
                                           "case": "people-v-weinstein"})
    server.routes["/p.ics"] = Route(body=ics(BASE, name="Part 99 calendar"))
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "ok" and len(rep.changes) == 4
    with store.read() as s:
        case = s.get(Case, "people-v-weinstein")
        evs = {e.uid: e.source for e in s.exec(select(Event)).all()}
    # The file's case metadata stays; both owners' events live side by side.
    assert case is not None and case.title == "People v. Harvey Weinstein"
    assert case.source == "calendars/weinstein.toml"
    assert evs["people-v-weinstein/hearing-2025-07-02@notifier"] == "calendars/weinstein.toml"
    assert sum(1 for v in evs.values() if v == "source:part-99") == 4
    # A re-sync of the file neither removes the source's events nor fails ...
    report = sync_calendars(store, folders, now=NOW + timedelta(minutes=1))
    assert report.ok and report.changes == []
    # ... and a re-fetch of the source leaves the file's event alone.
    server.routes["/p.ics"] = Route(body=ics(dict(list(BASE.items())[:3]), name="x"))
    fetch_source(store, source(cfg), NOW + timedelta(minutes=2), hook=None, force=True)
    fetch_source(store, source(cfg), NOW + timedelta(minutes=3), hook=None, force=True)
    assert "people-v-weinstein/hearing-2025-07-02@notifier" in live_uids(
        store, "calendars/weinstein.toml")
    assert live_uids(store) == set(list(BASE)[:3])


def test_a_file_claims_a_case_a_source_created(
        store: Store, tmp_path: Path, db_url: str, server: FeedServer, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    cfg = make_settings(tmp_path, db_url, {"name": "part-99", "url": server.url("/p.ics"),
                                           "case": "people-v-weinstein"})
    server.routes["/p.ics"] = Route(body=ics(BASE))
    fetch_source(store, source(cfg), NOW, hook=None)
    write_cal("weinstein.toml", CASE_FILE)
    report = sync_calendars(store, folders, now=NOW)
    assert report.ok, [e.problems for e in report.errors]
    with store.read() as s:
        case = s.get(Case, "people-v-weinstein")
    assert case is not None and case.source == "calendars/weinstein.toml"
    assert case.court == "New York County Supreme Court"
    assert live_uids(store) == set(BASE)


def test_a_uid_owned_by_a_file_is_a_conflict(
        store: Store, tmp_path: Path, db_url: str, server: FeedServer, write_cal: WriteCal,
        folders: list[tuple[str, Path]]) -> None:
    write_cal("weinstein.toml", CASE_FILE)
    sync_calendars(store, folders, now=NOW)
    before = snapshot(store)
    cfg = make_settings(tmp_path, db_url, {"name": "part-99", "url": server.url("/p.ics"),
                                           "case": "people-v-weinstein"})
    clash = {"people-v-weinstein/hearing-2025-07-02@notifier": ("Copied", "20250702T093000")}
    server.routes["/p.ics"] = Route(body=ics(clash))
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "error" and rep.error is not None
    assert "source 'part-99'" in rep.error and "already defined in calendars/weinstein.toml" \
        in rep.error
    assert snapshot(store) == before


def test_recurring_events_are_expanded_within_the_window(
        store: Store, tmp_path: Path, db_url: str, server: FeedServer) -> None:
    extra = """
BEGIN:VEVENT
UID:weekly@court
SUMMARY:Calendar call
DTSTART;TZID=America/New_York:20250603T090000
DURATION:PT30M
RRULE:FREQ=WEEKLY;COUNT=60
EXDATE;TZID=America/New_York:20250610T090000
END:VEVENT
BEGIN:VEVENT
UID:weekly@court
RECURRENCE-ID;TZID=America/New_York:20250617T090000
SUMMARY:Calendar call (moved)
DTSTART;TZID=America/New_York:20250618T090000
DURATION:PT30M
END:VEVENT
"""
    server.routes["/p.ics"] = Route(body=ics({}, extra=extra))
    cfg = make_settings(tmp_path, db_url, {"name": "part-99", "url": server.url("/p.ics"),
                                           "case": "c", "expand_past": "1d",
                                           "expand_future": "35d"})
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "ok", rep.error
    with store.read() as s:
        evs = {e.uid: e for e in s.exec(select(Event)).all()}
    # 3, (10 excluded), 17 moved to 18, 24, 1 Jul: within 1 Jun 12:00 + 35 days
    assert sorted(evs) == ["weekly@court/20250603T130000Z", "weekly@court/20250617T130000Z",
                           "weekly@court/20250624T130000Z", "weekly@court/20250701T130000Z"]
    moved = evs["weekly@court/20250617T130000Z"]
    assert moved.start_utc == datetime(2025, 6, 18, 13, 0, tzinfo=UTC)
    assert moved.title == "Calendar call (moved)"


def test_local_file_path_and_file_url(store: Store, tmp_path: Path, db_url: str) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "part99.ics").write_bytes(ics(BASE))
    cfg = make_settings(tmp_path, db_url,
                        {"name": "part-99", "url": "feeds/part99.ics", "case": "c"},
                        {"name": "by-url", "url": (feeds / "part99.ics").as_uri(), "case": "d"})
    rel = fetch_source(store, source(cfg, "part-99"), NOW, hook=None, base_dir=tmp_path)
    assert rel.status == "ok" and len(rel.changes) == 4
    again = fetch_source(store, source(cfg, "part-99"), NOW + timedelta(minutes=15), hook=None,
                         base_dir=tmp_path)
    assert again.status == "ok" and not again.parsed  # same bytes: not re-read
    (feeds / "part99.ics").write_bytes(ics({}, name="x")[:40])
    bad = fetch_source(store, source(cfg, "part-99"), NOW + timedelta(minutes=30), hook=None,
                       base_dir=tmp_path)
    assert bad.status == "error" and len(live_uids(store)) == 4
    missing = fetch_source(store, source(cfg, "by-url"), NOW, hook=None)
    assert missing.status == "error" and missing.error is not None
    assert "source 'by-url'" in missing.error and "not a valid iCalendar" in missing.error
    (feeds / "part99.ics").unlink()
    gone = fetch_source(store, source(cfg, "by-url"), NOW + timedelta(hours=1), hook=None)
    assert gone.status == "error" and "cannot read" in (gone.error or "")


def test_webcal_is_fetched_over_https() -> None:
    assert normalize_url("webcal://court.example.org/p.ics") == "https://court.example.org/p.ics"
    assert normalize_url("WEBCAL://x/y") == "https://x/y"
    assert normalize_url("http://x/y") == "http://x/y"
    assert local_path("webcal://x/y") is None
    assert local_path("/srv/a.csv") == Path("/srv/a.csv")
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        # Stands in for the TLS server a webcal URL names (no TLS server on 127.0.0.1 here).
        seen.append(request.url)
        return httpx.Response(200, content=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")

    got = fetch_url("webcal://court.example.org/p.ics?key=1", name="w",
                    transport=httpx.MockTransport(handler))
    assert got.body is not None and str(seen[0]) == "https://court.example.org/p.ics?key=1"


def test_webcal_against_a_plain_http_server_fails_cleanly(
        store: Store, tmp_path: Path, db_url: str, server: FeedServer) -> None:
    server.routes["/p.ics"] = Route(body=ics(BASE))
    url = server.url("/p.ics?token=s3cret").replace("http://", "webcal://")
    cfg = make_settings(tmp_path, db_url, {"name": "w", "url": url, "case": "c",
                                           "timeout": "2s"})
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "error" and rep.error is not None
    assert rep.error.startswith("source 'w': ") and "s3cret" not in rep.error
    assert all(path != "/p.ics?token=s3cret" for path, _ in server.requests)


def test_models_match_migrations(store: Store) -> None:
    assert store.current_revision() == store.head_revision()
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, SQLModel.metadata) == []
