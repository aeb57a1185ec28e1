"""The SQLite fast path for claims and outcomes gives what the SQLAlchemy path gives.

Two copies of one real SQLite file; one is claimed and finished through
:class:`CoreLane` (SQLAlchemy, as on PostgreSQL), the other through
:class:`SqliteLane` (the sqlite3 driver); the returned rows and every stored column
must be the same.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.notify import dispatch_sql, outbox
from notifier.store import Store
from notifier.store.models import Notification

NOW = datetime(2026, 6, 1, 12, 0, 30, 123456, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def _seed(store: Store) -> None:
    """Rows of three channels in every state a claim has to tell apart."""
    rows = []
    for ch in ("a", "b", "c"):
        rows += [
            outbox.new_row(f"{ch}:due1", "test", ch, NOW - timedelta(minutes=3), NOW,
                           {"text": "due, oldest"}),
            outbox.new_row(f"{ch}:due2", "change", ch, NOW - timedelta(seconds=1), NOW,
                           {"text": "due"}, urgent=True, event_uid="e1", case_id="c1"),
            outbox.new_row(f"{ch}:later", "test", ch, NOW + timedelta(seconds=1), NOW,
                           {"text": "not due yet"}),
        ]
    with store.write() as s:
        outbox.insert_rows(s, rows)
        nt = outbox.NT
        s.execute(nt.update().where(nt.c.dedupe_key.like("%:due2")).values(
            status="failed", attempts=2, last_error="HTTP 500"))
        s.execute(nt.update().where(nt.c.dedupe_key == "a:due1").values(
            status="sending", claimed_until=NOW - timedelta(seconds=1)))  # lease expired
        s.execute(nt.update().where(nt.c.dedupe_key == "b:due1").values(
            status="sending", claimed_until=NOW + timedelta(seconds=5)))  # still leased
        s.execute(nt.update().where(nt.c.dedupe_key == "c:due1").values(status="sent"))


def _table(path: Path, name: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT * FROM {name} ORDER BY id").fetchall()


def _as_dict(n: Notification) -> dict[str, Any]:
    return {c.name: getattr(n, c.name) for c in outbox.NT.c}


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    """(core store, sqlite store, their files): the same seeded data twice."""
    one = tmp_path / "core.db"
    store = Store(f"sqlite:///{one}")
    _seed(store)
    store.close()
    two = tmp_path / "fast.db"
    shutil.copy(one, two)
    core, fast = Store(f"sqlite:///{one}"), Store(f"sqlite:///{two}")
    yield core, fast, one, two
    core.close()
    fast.close()


@pytest.mark.parametrize("kw", [{"channel": "a"}, {"channel": "b"}, {"exclude": ["a"]},
                                {"exclude": ["a", "b"]}, {}])
def test_claims_take_the_same_rows_and_store_the_same_values(pair: Any, kw: Any) -> None:
    core, fast, one, two = pair
    with core.lane_writer() as cw, fast.lane_writer() as fw:
        c, f = dispatch_sql.for_writer(cw), dispatch_sql.for_writer(fw)
        assert isinstance(c, dispatch_sql.SqliteLane)  # SQLite gets the fast path ...
        c = dispatch_sql.CoreLane(cw)  # ... so build the SQLAlchemy one by hand
        got_c = c.claim(NOW, LEASE, 10, **kw)
        got_f = f.claim(NOW, LEASE, 10, **kw)
        assert got_c, "the seed has due rows for every case here"
        assert [_as_dict(n) for n in got_f] == [_as_dict(n) for n in got_c]
        assert all(n.status == "sending" and n.claimed_until == NOW + LEASE for n in got_f)
        assert got_f[0].due_at.tzinfo is UTC and isinstance(got_f[0].urgent, bool)
        # the limit holds, and a second claim takes the rest in due order
        assert len(c.claim(NOW, LEASE, 1)) == len(f.claim(NOW, LEASE, 1)) <= 1
    assert _table(two, "notification") == _table(one, "notification")


def test_outcomes_store_the_same_values(pair: Any) -> None:
    core, fast, one, two = pair
    with core.lane_writer() as cw, fast.lane_writer() as fw:
        c, f = dispatch_sql.CoreLane(cw), dispatch_sql.SqliteLane(fw)
        rows_c, rows_f = c.claim(NOW, LEASE, 20), f.claim(NOW, LEASE, 20)
        assert len(rows_c) == len(rows_f) >= 4
        outcomes: list[dict[str, Any]] = [
            {"status": "sent", "late": True, "duration_ms": 12},
            {"status": "failed", "error": "HTTP 503", "outcome": "retry",
             "retry_at": NOW + timedelta(minutes=1, microseconds=7)},
            {"status": "dead", "error": "permanent: HTTP 401"},
            {"status": "sent"},
        ]
        at = NOW + timedelta(seconds=2)
        for lane, rows in ((c, rows_c), (f, rows_f)):
            for n, kw in zip(rows, outcomes, strict=False):
                assert lane.finish(n, at, **kw) is True
            # a row no longer ours (already finished) is not finished twice
            assert lane.finish(rows[0], at, "sent") is False
    assert _table(two, "notification") == _table(one, "notification")
    assert _table(two, "delivery") == _table(one, "delivery")
    assert len(_table(two, "delivery")) == 5  # one per attempt, the refused one included


def test_a_failed_fast_transaction_rolls_back_and_the_lane_goes_on(store: Store) -> None:
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row("t:1", "test", "hook", NOW, NOW, {})])
    with store.lane_writer() as w:
        lane = dispatch_sql.SqliteLane(w)
        [n] = lane.claim(NOW, LEASE, 5)

        def boom(db: sqlite3.Connection) -> None:
            at = lane._time(NOW)
            cur = db.execute(outbox.FINISH_SQL, {
                "id": n.id, "status": "sent", "now": at, "error": None, "late": 0,
                "sent_at": at, "retry_at": None, "held": lane._time(n.claimed_until)})
            assert cur.rowcount == 1  # written, then ...
            raise RuntimeError("disk on fire")

        with pytest.raises(RuntimeError):
            w.run_driver(boom)
        with store.read() as s:
            assert s.get(Notification, n.id).status == "sending"  # type: ignore[union-attr]
        assert lane.finish(n, NOW, "sent")
    with store.read() as s:
        assert s.get(Notification, n.id).status == "sent"  # type: ignore[union-attr]


def _same(a: Any, b: Any, table: Any) -> None:
    assert {c.name: getattr(a, c.name) for c in table.c} == \
        {c.name: getattr(b, c.name) for c in table.c}


def test_the_event_as_it_is_now_reads_the_same_on_both_paths(store: Store) -> None:
    from datetime import date

    from notifier.store.models import Case, Event

    base = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    with store.write() as s:
        s.add(Case(id="c", title="People v. C", timezone="America/New_York", source="t",
                   tags='["x"]'))
        s.add(Case(id="other", title="Other", timezone="UTC", source="t"))
        for i, (status, removed) in enumerate([("scheduled", None), ("tentative", None),
                                               ("cancelled", None), ("scheduled", base),
                                               ("scheduled", None)]):
            start = base + timedelta(days=i)
            s.add(Event(uid=f"e{i}@n", case_id="c", event_id=f"e{i}", source="t",
                        kind="hearing", title=f"Hearing {i}", status=status,
                        date=start.date(), start_utc=start, end_utc=start + timedelta(hours=1),
                        sort_utc=start, removed_at=removed, location="Part 1", sequence=i))
        s.add(Event(uid="tbd@n", case_id="c", event_id="tbd", source="t", kind="trial",
                    title="Trial", date=None, sort_utc=None))
        day = (base + timedelta(days=1, hours=12)).date()
        s.add(Event(uid="d@n", case_id="c", event_id="d", source="t", kind="hearing",
                    title="Date-only", date=day, sort_utc=base + timedelta(days=1, hours=1)))
        s.add(Event(uid="x@n", case_id="other", event_id="x", source="t", title="X",
                    date=date(2026, 6, 3), sort_utc=base + timedelta(days=2)))
    with store.lane_writer() as w:
        core, fast = dispatch_sql.CoreLane(w), dispatch_sql.SqliteLane(w)
        now = base + timedelta(days=2, hours=12)  # e0 (ended) and e1 (ended) are over
        a, b = core.event_now("e1@n", now), fast.event_now("e1@n", now)
        assert a is not None and b is not None
        _same(a.event, b.event, dispatch_sql.ET)
        _same(a.case, b.case, dispatch_sql.CT)
        ups_a, ups_b = list(a.upcoming()), list(b.upcoming())
        # the date-only hearing of yesterday (over, for planner.is_over to tell) and e4:
        # not e0/e1 (ended), e2 (cancelled), e3 (removed), the undated trial, the other
        # case's event
        assert [e.event_id for e in ups_b] == ["d", "e4"]
        for x, y in zip(ups_a, ups_b, strict=True):
            _same(x, y, dispatch_sql.ET)
        assert b.event.start_utc == base + timedelta(days=1) and b.event.date is not None
        assert fast.event_now("missing@n", now) is None
        assert core.event_now("missing@n", now) is None
