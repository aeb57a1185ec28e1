"""Outbox rows written at driver speed (``outbox_rows.insert_rows`` through
``store.bulk.insert_many(skip_existing=...)``) read back exactly as the ORM wrote
them, and a dedupe key already stored is skipped, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from notifier.notify import outbox_rows
from notifier.store import Store
from notifier.store.models import Notification


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Store:
    name = "store" if request.param == "sqlite" else "pg_store"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_rows_round_trip_and_stored_keys_are_skipped(any_store: Store) -> None:
    now = datetime(2030, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    due = now + timedelta(days=2, microseconds=7)
    with any_store.write() as s:  # an existing row, written by the ORM
        s.add(Notification(dedupe_key="k1", type="change", channel="desk", due_at=now,
                           next_attempt_at=now, status="sent", payload='{"old": 1}',
                           created_at=now, updated_at=now))
    rows = [outbox_rows.new_row(f"k{i}", "reminder", "desk", due, now, {"i": i},
                                event_uid=f"c1/e{i}@notifier", case_id="c1", offset_s=3600,
                                urgent=i == 2) for i in range(1, 5)]
    with any_store.write() as s:
        outbox_rows.insert_rows(s, rows)
    with any_store.write() as s:  # planning twice adds nothing
        outbox_rows.insert_rows(s, rows)
    with any_store.read() as s:
        got = {n.dedupe_key: n for n in s.exec(select(Notification)).all()}
    assert sorted(got) == ["k1", "k2", "k3", "k4"]
    assert got["k1"].status == "sent" and got["k1"].payload == '{"old": 1}'
    k2 = got["k2"]
    assert (k2.type, k2.channel, k2.status, k2.attempts) == ("reminder", "desk", "pending", 0)
    assert k2.due_at == due and k2.next_attempt_at == due and k2.created_at == now
    assert k2.due_at.tzinfo is not None
    assert (k2.event_uid, k2.case_id, k2.offset_s, k2.change_id) == (
        "c1/e2@notifier", "c1", 3600, None)
    assert k2.urgent is True and got["k3"].urgent is False and k2.late is False
    assert k2.payload == '{"i": 2}' and k2.claimed_until is None and k2.sent_at is None
