"""Feed fragments and the all.ics snapshot kept in the database across restarts:
reused only while they match the rows and the code, byte for byte what a fresh render gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from waiting import until

from notifier.feeds import persist
from notifier.feeds.cache import FeedService
from notifier.feeds.ical import FeedOptions
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

T0 = datetime(2025, 6, 5, 14, 0, tzinfo=UTC)
OPTS = FeedOptions(base_url="https://court.example.org")
EVENTS = 20


def _case(moved: bool = False) -> str:
    out = ['[case]\nid = "big"\ntitle = "Big case"\ntimezone = "Europe/Paris"\n']
    for i in range(EVENTS):
        day = "2025-09-30" if moved and i == 4 else f"2025-08-{i + 1:02d}"
        start = f"start = {day}T09:30:00\nduration = \"1h\"\n" if i % 2 else f"date = {day}\n"
        out.append(f'[[events]]\nid = "h{i}"\nkind = "hearing"\ntitle = "Hearing {i}"\n{start}')
    out.append('[[events]]\nid = "later"\nkind = "trial"\ntitle = "Trial"\nstatus = "tbd"\n')
    return "".join(out)


@pytest.fixture
def synced(store: Store, write_cal, folders: list[tuple[str, Path]]) -> Store:
    write_cal("big.toml", _case())
    assert sync_calendars(store, folders, now=T0).ok
    return store


def fresh(store: Store) -> bytes:
    """What the renderer gives with nothing stored and nothing cached."""
    got = FeedService(store, OPTS, persist=False).get(None, now=T0)
    assert got is not None
    return got.body


def test_a_restart_reuses_stored_fragments_and_serves_the_same_bytes(synced: Store) -> None:
    first = FeedService(synced, OPTS)
    first.warm()
    assert first.fragments_rendered == EVENTS
    again = FeedService(synced, OPTS)
    again.warm()
    body = again.get(None, now=T0)
    assert body is not None and body.body == fresh(synced)
    assert (again.fragments_rendered, again.fragments_reused) == (0, EVENTS)
    # A one-case feed and a kind filter are built from the same checked fragments.
    assert again.get("big", now=T0).body == FeedService(  # type: ignore[union-attr]
        synced, OPTS, persist=False).get("big", now=T0).body  # type: ignore[union-attr]


def test_the_stored_fragment_of_a_changed_event_is_never_served(
        synced: Store, write_cal, folders: list[tuple[str, Path]]) -> None:
    FeedService(synced, OPTS).warm()
    write_cal("big.toml", _case(moved=True))
    assert sync_calendars(synced, folders, now=T0 + timedelta(hours=1)).ok
    restarted = FeedService(synced, OPTS)
    # Before warm-up: the stale snapshot is patched, only the moved event rendered again.
    got = restarted.get(None, now=T0)
    assert got is not None and got.version == -1
    assert got.body == fresh(synced) and b"20250930" in got.body
    assert restarted.fragments_rendered == 1
    restarted.warm()  # the others are the snapshot's, checked against their digests
    assert (restarted.fragments_rendered, restarted.fragments_reused) == (1, EVENTS)
    assert restarted.get(None, now=T0).body is got.body  # type: ignore[union-attr]


def test_an_event_row_edited_without_a_change_row_is_rendered_again(synced: Store) -> None:
    FeedService(synced, OPTS).warm()
    with synced.write() as s:  # by hand: no Change row, so no fingerprint move
        s.execute(sa.text("UPDATE event SET location = 'Room 9' WHERE event_id = 'h3'"))
    restarted = FeedService(synced, OPTS)
    restarted.warm()
    got = restarted.get(None, now=T0)
    assert got is not None and b"LOCATION:Room 9" in got.body and got.body == fresh(synced)
    assert restarted.fragments_rendered == 1


def test_a_new_code_version_invalidates_fragments_and_snapshot(
        synced: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    FeedService(synced, OPTS).warm()
    monkeypatch.setattr(persist, "code_version", lambda: "a later release")
    restarted = FeedService(synced, OPTS)
    got = restarted.get(None, now=T0)
    assert got is not None and got.version != -1 and got.body == fresh(synced)
    assert (restarted.fragments_rendered, restarted.fragments_reused) == (EVENTS, 0)


def test_other_feed_options_are_not_served_from_stored_pieces(synced: Store) -> None:
    FeedService(synced, OPTS).warm()
    private = FeedOptions(base_url=OPTS.base_url, links=False)
    restarted = FeedService(synced, private)
    got = restarted.get(None, now=T0)
    assert got is not None and b"Case page:" not in got.body
    assert restarted.fragments_reused == 0


def test_before_warm_up_all_ics_comes_from_the_snapshot_at_once(synced: Store) -> None:
    first = FeedService(synced, OPTS)
    first.warm()
    stored = first.get(None, now=T0)
    restarted = FeedService(synced, OPTS)
    early = restarted.get(None, now=T0)
    assert early is not None and early.version == -1
    assert early.body == stored.body == fresh(synced)  # type: ignore[union-attr]
    assert early.etag == stored.etag  # type: ignore[union-attr]
    assert restarted.fragments_rendered == restarted.fragments_reused == 0  # nothing loaded
    assert not restarted.ready
    restarted.warm()
    warm = restarted.get(None, now=T0)
    assert warm is not None and warm.version != -1
    assert warm.body is early.body  # checked equal byte for byte, then kept: one copy


def test_stored_fragments_of_deleted_events_are_dropped(
        synced: Store, write_cal, folders: list[tuple[str, Path]]) -> None:
    FeedService(synced, OPTS).warm()
    with synced.read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM feed_fragment")).scalar() == EVENTS
    with synced.write() as s:
        s.execute(sa.text("DELETE FROM change WHERE event_uid LIKE 'big/h1@%'"))
        s.execute(sa.text("DELETE FROM event WHERE event_id = 'h1'"))
    FeedService(synced, OPTS).warm()
    with synced.read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM feed_fragment")).scalar() == EVENTS - 1


def test_a_large_feed_is_streamed_with_the_same_bytes_and_length(
        synced: Store, settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from webhelpers import LiveServer

    from notifier.server import web
    monkeypatch.setattr(web, "STREAM_CHUNK", 1000)  # this feed is ~20 kB: in pieces
    app = web.create_app(settings, synced)
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        assert until(lambda: client.get("/readyz").status_code == 200, 15)
        got = client.get("/calendars/all.ics")
        expected = app.state.feeds.get(None).body
        assert got.status_code == 200 and len(expected) > 10 * 1000
        assert got.content == expected
        assert got.headers["content-length"] == str(len(expected))
        assert "chunked" not in got.headers.get("transfer-encoding", "")
        head = client.head("/calendars/all.ics")
        assert head.headers["content-length"] == str(len(expected)) and head.content == b""



def test_fragments_and_snapshot_round_trip_on_postgres(
        pg_store: Store, write_cal, folders: list[tuple[str, Path]]) -> None:
    write_cal("big.toml", _case())
    assert sync_calendars(pg_store, folders, now=T0).ok
    FeedService(pg_store, OPTS).warm()
    early = FeedService(pg_store, OPTS).get(None, now=T0)
    assert early is not None and early.version == -1 and early.body == fresh(pg_store)
    write_cal("big.toml", _case(moved=True))
    assert sync_calendars(pg_store, folders, now=T0 + timedelta(hours=1)).ok
    restarted = FeedService(pg_store, OPTS)
    restarted.warm()  # patches the snapshot, then stores it again
    assert (restarted.fragments_rendered, restarted.fragments_reused) == (1, EVENTS)
    again = FeedService(pg_store, OPTS)
    again.warm()
    assert (again.fragments_rendered, again.fragments_reused) == (0, EVENTS)
    assert again.get(None, now=T0).body == fresh(pg_store)  # type: ignore[union-attr]


def test_a_damaged_snapshot_is_not_served(synced: Store) -> None:
    FeedService(synced, OPTS).warm()
    with synced.write() as s:
        s.execute(sa.text("UPDATE feed_snapshot SET body = :b"), {"b": b"not zlib data"})
    got = FeedService(synced, OPTS).get(None, now=T0)
    assert got is not None and got.version != -1 and got.body == fresh(synced)


def test_a_large_all_ics_is_built_in_one_buffer_its_fragments_views_into_it(
        synced: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from notifier.feeds import onecopy
    monkeypatch.setattr(onecopy, "BIG", 1000)  # this feed is ~20 kB: filled piece by piece
    service = FeedService(synced, OPTS)
    got = service.get(None, now=T0)
    assert got is not None and got.body == fresh(synced)
    held = [f for _, f, _ in service._frags.values() if f is not None]
    assert len(held) == EVENTS
    assert all(isinstance(f.data, memoryview) and f.data.obj is got.body for f in held)
    assert service.get("big", now=T0).body == FeedService(  # type: ignore[union-attr]
        synced, OPTS, persist=False).get("big", now=T0).body  # type: ignore[union-attr]
    service.warm()  # stored, then served again after a restart as it was
    again = FeedService(synced, OPTS).get(None, now=T0)
    assert again is not None and again.body == got.body and again.etag == got.etag
