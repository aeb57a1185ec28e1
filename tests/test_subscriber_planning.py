"""Planning the followers' rows of a sync in one go: the rows the alerts of a whole sync
give together are the rows each alert gives alone, and the statements a sync runs do
not grow with the number of changed events (a real SQLite file, and PostgreSQL)."""

from __future__ import annotations

import difflib
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import insert
from sqlmodel import col, select

from notifier.config import Settings, parse_settings
from notifier.notify import changes as changes_mod
from notifier.notify import outbox
from notifier.notify.subscriptions import planning
from notifier.store import Store
from notifier.store.models import Notification
from notifier.store.subscriber_calendars import SubscriberCalendar
from notifier.store.subscribers import Subscriber, Subscription
from notifier.tracking.sync import sync_calendars

T0 = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notifier.db'}"
        return
    import pgkit

    if not pgkit.ADMIN_URL:
        pytest.skip(pgkit.SKIP_REASON)
    with pgkit.pg_database() as url:
        yield url


def _case(case: str, events: int, day: int, where: str = "Room 1") -> str:
    out = [f'[case]\nid = "{case}"\ntitle = "People v. {case}"\ntimezone = "UTC"\n']
    for i in range(events):
        out.append(f'\n[[events]]\nid = "e{i}"\nkind = "hearing"\ntitle = "Hearing {i}"\n'
                   f'start = 2025-{7 + i // 28:02d}-{day + i % 28:02d}T09:30:00\n'
                   f'duration = "1h"\nlocation = "{where if i % 2 else "Room 1"}"\n')
    return "".join(out)


def _settings(tmp: Path, db_url: str) -> Settings:
    return parse_settings({
        "database": {"url": db_url},
        "channels": [{"name": "desk", "url": "json://127.0.0.1:9/x"}],
        "subscriptions": {"enabled": True, "secret": "s" * 40,
                          "email": "mailto://127.0.0.1:9?from=court@example.org"}},
        origin="test", base_dir=tmp, env={})


def _follow(store: Store, who: list[tuple[str, list[str], bool, bool]]) -> dict[str, int]:
    """Subscribers (address, cases followed, calendar link in use, paused); their ids."""
    ids = {}
    with store.write() as s:
        for address, cases, in_use, paused in who:
            s.execute(insert(Subscriber).values(
                address=address, key=secrets.token_urlsafe(24), paused=paused,
                created_at=T0, confirmed_at=T0))
            sid = s.exec(select(Subscriber.id).where(Subscriber.address == address)).one()
            assert sid is not None
            ids[address] = sid
            for case in cases:
                s.execute(insert(Subscription).values(
                    subscriber_id=sid, case_id=case, lead_s=0, state="active",
                    created_at=T0, confirmed_at=T0))
            s.execute(insert(SubscriberCalendar).values(
                subscriber_id=sid, nonce=f"n{sid}", token_hash=f"h{sid}", created_at=T0,
                last_fetch_at=T0 if in_use else None))
    return ids


def _subscriptions(store: Store) -> dict[tuple[int, str], int]:
    with store.read() as s:
        return {(r.subscriber_id, r.case_id): r.id for r in s.exec(select(Subscription)).all()
                if r.id is not None}


def test_a_syncs_alerts_give_together_the_rows_each_gives_alone(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path, db_url)
    cal = tmp_path / "cal"
    cal.mkdir()
    for case in ("ca", "cb", "cc"):
        (cal / f"{case}.toml").write_text(_case(case, 6, 1))
    store = Store(db_url)
    try:
        sync_calendars(store, [("cal", cal)], hook=outbox.change_hook(settings), now=T0)
        ids = _follow(store, [("ann@example.org", ["ca", "cb"], True, False),
                              ("bob@example.org", ["ca"], False, False),
                              ("cat@example.org", ["ca"], True, False),
                              ("dan@example.org", ["cb"], True, True),  # paused
                              ("eve@example.org", ["cc"], True, False)])
        subscription = _subscriptions(store)
        seen: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
        real = planning.alert_rows

        def both(s, settings_, alerts, now):  # type: ignore[no-untyped-def]
            together = real(s, settings_, alerts, now)
            seen.append((together, [r for a in alerts for r in real(s, settings_, [a], now)]))
            return together

        monkeypatch.setattr(changes_mod.sub_planning, "alert_rows", both)
        # ca and cb: every hearing moved a day (odd ones moved to Room 2 as well);
        # cc: only the odd hearings' room changed (no date: no follow-up).
        (cal / "ca.toml").write_text(_case("ca", 6, 2, "Room 2"))
        (cal / "cb.toml").write_text(_case("cb", 6, 2))
        (cal / "cc.toml").write_text(_case("cc", 6, 1, "Room 3"))
        now = T0 + timedelta(minutes=1)
        report = sync_calendars(store, [("cal", cal)], hook=outbox.change_hook(settings),
                                now=now)
        assert report.ok
        [(together, alone)] = seen
        assert together == alone

        by_event: dict[str, int] = {}
        for c in report.changes:
            by_event.setdefault(c.event_uid, c.id or 0)
        followers = {"ca": ["ann", "bob", "cat"], "cb": ["ann"], "cc": ["eve"]}
        using = {"ann", "cat", "eve"}
        expected = set()
        for uid, cid in by_event.items():
            case = uid.split("/")[0]
            for who in followers[case]:
                sid = ids[f"{who}@example.org"]
                expected.add((f"sub:{sid}:change:{cid}", "sub_change", sid,
                              subscription[sid, case]))
                if case != "cc" and who in using:
                    expected.add((f"sub:{sid}:stale:{cid}", "sub_stale", sid,
                                  subscription[sid, case]))
        with store.read() as s:
            written = s.exec(select(Notification).where(Notification.channel == "subscribers")
                             .order_by(col(Notification.id))).all()
        assert len(by_event) == 15 and len(expected) == 6 * 3 + 6 + 3 + 6 * 2 + 6
        assert {(n.dedupe_key, n.type, json.loads(n.payload)["subscriber"],
                 json.loads(n.payload)["subscription"]) for n in written} == expected
        assert [n.dedupe_key for n in written] == [r["dedupe_key"] for r in together]
        for n in written:
            payload = json.loads(n.payload)
            assert n.payload == json.dumps(payload, sort_keys=True)  # as json.dumps writes it
            assert payload["case_id"] == n.case_id and n.change_id == by_event[n.event_uid]
            if n.type == "sub_stale":
                assert n.due_at == now + settings.subscriptions.stale_after
                assert payload["changed_at"] == now.isoformat() and payload["changes"]
                assert payload["change_id"] == n.change_id
    finally:
        store.close()


def _statements(tmp: Path, db_url: str, events: int) -> list[str]:
    """Statements of a sync moving ``events`` hearings of each of two followed cases."""
    settings = _settings(tmp, db_url)
    cal = tmp / "cal"
    cal.mkdir(parents=True)
    for case in ("ca", "cb"):
        (cal / f"{case}.toml").write_text(_case(case, events, 1))
    store = Store(db_url)
    try:
        sync_calendars(store, [("cal", cal)], hook=outbox.change_hook(settings), now=T0)
        _follow(store, [("ann@example.org", ["ca", "cb"], True, False),
                        ("bob@example.org", ["ca"], False, False),
                        ("cat@example.org", ["cb"], True, False)])
        for case in ("ca", "cb"):
            (cal / f"{case}.toml").write_text(_case(case, events, 2, "Room 2"))
        seen: list[str] = []

        def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            seen.append(statement)

        sa.event.listen(store.engine, "before_cursor_execute", count)
        try:
            r = sync_calendars(store, [("cal", cal)], hook=outbox.change_hook(settings),
                               now=T0 + timedelta(minutes=1))
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", count)
        assert r.ok and len({c.event_uid for c in r.changes}) == 2 * events
        with store.read() as s:
            rows = s.execute(sa.select(sa.func.count()).select_from(Notification).where(
                Notification.channel == "subscribers")).scalar_one()
        assert rows == 4 * events + 3 * events  # alerts; follow-ups (links in use)
        return [" ".join(st.split())[:120] for st in seen]
    finally:
        store.close()


def test_statements_do_not_grow_with_the_followed_events_a_sync_changes(
        tmp_path: Path, db_url: str) -> None:
    """5 moved hearings per case or 60: the same statements (not two more per event).
    (Both more than bursts.BURST: a burst reads its case's next date once.)"""
    if db_url.startswith("postgresql"):
        import pgkit

        with pgkit.pg_database() as other:
            few = _statements(tmp_path / "few", db_url, 5)
            many = _statements(tmp_path / "many", other, 60)
    else:
        few = _statements(tmp_path / "few", db_url, 5)
        many = _statements(tmp_path / "many", f"sqlite:///{tmp_path / 'many.db'}", 60)
    assert len(many) == len(few), "\n".join(difflib.unified_diff(few, many, lineterm=""))
