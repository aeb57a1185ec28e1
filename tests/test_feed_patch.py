"""A restart after changes made while the daemon was stopped: the stored all.ics is
patched from the newer Change rows (only the touched events rendered again) and served
before the warm-up, byte for byte (and validator for validator) what a fresh render of
the rows gives; so are the per-case feeds after the warm-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from notifier.feeds import layout, persist
from notifier.feeds.cache import FeedService, Rendered
from notifier.feeds.ical import FeedOptions
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

T0 = datetime(2025, 6, 5, 14, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
OPTS = FeedOptions(base_url="https://court.example.org", keep_cancelled=timedelta(days=2))
BIG = 12


def _big(moved: bool = False, drop: bool = False, dated: bool = False) -> str:
    out = ['[case]\nid = "big"\ntitle = "Big case"\ntimezone = "Europe/Paris"\n']
    for i in range(BIG):
        if drop and i == 3:
            continue
        day = "2025-09-30" if moved and i == 4 else f"2025-08-{i + 1:02d}"
        start = f"start = {day}T09:30:00\nduration = \"1h\"\n" if i % 2 else f"date = {day}\n"
        out.append(f'[[events]]\nid = "h{i}"\nkind = "hearing"\ntitle = "Hearing {i}"\n{start}')
    when = 'date = 2025-11-03\n' if dated else 'status = "tbd"\n'
    out.append(f'[[events]]\nid = "later"\nkind = "trial"\ntitle = "Trial"\n{when}')
    return "".join(out)


def _small(name: str = "small", title: str = "Small case", tz: str = "America/New_York") -> str:
    return (f'[case]\nid = "{name}"\ntitle = "{title}"\ntimezone = "{tz}"\n'
            + "".join(f'[[events]]\nid = "s{i}"\nkind = "motion"\ntitle = "Motion {i}"\n'
                      f'start = 2025-08-{2 * i + 2:02d}T10:00:00\nduration = "30m"\n'
                      for i in range(3)))


@pytest.fixture
def stopped(store: Store, write_cal, folders: list[tuple[str, Path]]) -> Store:
    """Two cases synced, then a daemon's feed cache warmed (snapshot stored) and gone."""
    write_cal("big.toml", _big())
    write_cal("small.toml", _small())
    assert sync_calendars(store, folders, now=T0).ok
    FeedService(store, OPTS).warm()
    return store


def _fresh(store: Store, case_id: str | None, now: datetime) -> Rendered:
    got = FeedService(store, OPTS, persist=False).get(case_id, now=now)
    assert got is not None
    return got


def _same(got: Rendered | None, want: Rendered) -> None:
    assert got is not None
    assert got.body == want.body
    assert (got.etag, got.last_modified, got.valid_until) == (
        want.etag, want.last_modified, want.valid_until)


Change = Callable[[Store, object, list[tuple[str, Path]]], None]


def _resync(store: Store, folders: list[tuple[str, Path]]) -> None:
    assert sync_calendars(store, folders, now=T1).ok


def moved(store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    write_cal("big.toml", _big(moved=True))
    _resync(store, folders)


def removed(store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    write_cal("big.toml", _big(drop=True))
    _resync(store, folders)


def dated(store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    write_cal("big.toml", _big(dated=True))  # "Also in this case" leaves every VEVENT
    _resync(store, folders)


def new_case(store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    write_cal("third.toml", _small("third", "Third case", "Australia/Sydney"))
    _resync(store, folders)


def case_edited(store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    write_cal("small.toml", _small(title="Small case, renamed"))
    _resync(store, folders)


# (change, fragments rendered again by the patch)
CASES = [(moved, 1), (removed, 1), (dated, BIG + 1), (new_case, 3), (case_edited, 3)]


@pytest.mark.parametrize(("change", "rendered"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_a_change_while_stopped_is_patched_into_the_snapshot(
        stopped: Store, write_cal, folders: list[tuple[str, Path]], change: Change,
        rendered: int) -> None:
    before = FeedService(stopped, OPTS).get(None, now=T1)
    change(stopped, write_cal, folders)
    now = T1 + timedelta(minutes=5)
    restarted = FeedService(stopped, OPTS, clock=lambda: now)
    early = restarted.get(None, now=now)
    assert early is not None and early.version == -1, "not served before the warm-up"
    assert early.body != before.body  # type: ignore[union-attr]
    _same(early, _fresh(stopped, None, now))
    assert restarted.fragments_rendered == rendered
    restarted.warm()
    assert restarted.fragments_rendered == rendered, "the warm-up rendered more"
    warm = restarted.get(None, now=now)
    assert warm is not None and warm.version != -1 and warm.body is early.body
    for case_id in ("big", "small", "third"):
        got = restarted.get(case_id, now=now)
        if got is None:
            assert _fresh_none(stopped, case_id, now)
            continue
        _same(got, _fresh(stopped, case_id, now))
    # The warm-up stored the patched feed: the next start serves it as it is.
    again = FeedService(stopped, OPTS, clock=lambda: now)
    _same(again.get(None, now=now), _fresh(stopped, None, now))
    assert again.fragments_rendered == 0


def _fresh_none(store: Store, case_id: str, now: datetime) -> bool:
    return FeedService(store, OPTS, persist=False).get(case_id, now=now) is None


def test_a_case_deleted_while_stopped_leaves_every_feed(stopped: Store) -> None:
    with stopped.write() as s:  # by hand, rows that point at it first
        for table in ("notification", "change", "event"):
            s.execute(sa.text(f"DELETE FROM {table} WHERE "
                              f"{'event_uid' if table != 'event' else 'uid'} LIKE 'small/%'"))
        s.execute(sa.text('DELETE FROM "case" WHERE id = \'small\''))
    restarted = FeedService(stopped, OPTS, clock=lambda: T1)
    got = restarted.get(None, now=T1)  # Change rows went: rendered, not patched
    assert got is not None and b"small/" not in got.body
    _same(got, _fresh(stopped, None, T1))
    assert restarted.get("small", now=T1) is None


def test_a_removed_event_that_left_the_feed_by_the_clock_is_dropped_from_the_patch(
        stopped: Store, write_cal, folders: list[tuple[str, Path]]) -> None:
    removed(stopped, write_cal, folders)
    FeedService(stopped, OPTS, clock=lambda: T1).warm()  # stored with it, kept 2 days
    kept = FeedService(stopped, OPTS).get(None, now=T1)
    assert kept is not None and kept.version == -1 and b"big/h3@notifier" in kept.body
    case_edited(stopped, write_cal, folders)  # the other case: "big" is not read again
    later = T1 + OPTS.keep_cancelled + timedelta(hours=1)
    early = FeedService(stopped, OPTS).get(None, now=later)
    assert early is not None and early.version == -1
    assert b"big/h3@notifier" not in early.body
    _same(early, _fresh(stopped, None, later))


def test_no_patch_when_change_rows_were_deleted(stopped: Store) -> None:
    with stopped.write() as s:  # history pruned by hand: the snapshot cannot tell what moved
        s.execute(sa.text("DELETE FROM change WHERE event_uid LIKE 'big/h1@%'"))
        s.execute(sa.text("UPDATE event SET location = 'Room 9' WHERE event_id = 'h1'"))
    restarted = FeedService(stopped, OPTS)
    got = restarted.get(None, now=T1)
    assert got is not None and got.version != -1 and b"Room 9" in got.body
    _same(got, _fresh(stopped, None, T1))


def test_no_patch_for_other_options_or_a_damaged_layout(stopped: Store) -> None:
    moved_opts = FeedOptions(base_url="https://elsewhere.example.org",
                             keep_cancelled=OPTS.keep_cancelled)
    with stopped.write() as s:  # a change, so that the snapshot would need a patch
        s.execute(sa.text("INSERT INTO change (event_uid, case_id, kind, field, summary, at) "
                          "VALUES ('big/h2@notifier', 'big', 'location_changed', 'location', "
                          "'moved', :at)"), {"at": T1.replace(tzinfo=None)})
    other = FeedService(stopped, moved_opts).get(None, now=T1)
    assert other is not None and other.version != -1 and b"elsewhere" in other.body
    with stopped.write() as s:
        s.execute(sa.text("UPDATE feed_snapshot SET layout = :b"), {"b": b"not zlib"})
    got = FeedService(stopped, OPTS).get(None, now=T1)
    assert got is not None and got.version != -1
    _same(got, _fresh(stopped, None, T1))


def test_a_snapshot_stored_before_layouts_is_stored_again_with_one(stopped: Store) -> None:
    with stopped.write() as s:  # as a database upgraded to 0012 has it
        s.execute(sa.text("UPDATE feed_snapshot SET layout = NULL"))
    restarted = FeedService(stopped, OPTS, clock=lambda: T1)
    early = restarted.get(None, now=T1)
    assert early is not None and early.version == -1  # still served as it is
    restarted.warm()
    with stopped.engine.connect() as conn:
        stored = persist.load_snapshot(conn, None)
    assert stored is not None
    contents = layout.decode(stored.layout, len(stored.body))
    assert contents is not None and len(contents) == stored.body.count(b"BEGIN:VEVENT")
    view = memoryview(stored.body)
    for i, uid in enumerate(contents.col("uid")):  # every entry points at its own VEVENT
        piece = bytes(contents.fragment(view, i).data)
        assert piece.startswith(b"BEGIN:VEVENT") and piece.endswith(b"END:VEVENT\r\n")
        assert f"UID:{uid}".encode() in piece


def test_a_layout_encoded_a_few_entries_at_a_time_decodes_to_the_same_columns(
        stopped: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with stopped.engine.connect() as conn:
        stored = persist.load_snapshot(conn, None)
    assert stored is not None
    whole = layout.decode(stored.layout, len(stored.body))
    assert whole is not None and len(whole) > 5
    columns = {c: list(whole.col(c)) for c in layout.COLUMNS}
    monkeypatch.setattr(layout, "_ENCODE_AT_ONCE", 2)  # pieces of 2, the last one short
    again = layout.decode(whole.encode(), len(stored.body))
    assert again is not None
    assert {c: list(again.col(c)) for c in layout.COLUMNS} == columns
