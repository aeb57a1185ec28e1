"""The same code on PostgreSQL: migrations, sync and history.

Needs a server: set NOTIFIER_TEST_POSTGRES_URL (``.ci/postgres.sh`` starts one and
prints it; CI always does). Each test gets a fresh database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from notifier.models import Event
from notifier.queries import history
from notifier.store import Store
from notifier.sync import sync_calendars

ADMIN_URL = os.environ.get("NOTIFIER_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not ADMIN_URL, reason="no PostgreSQL server: run `.ci/postgres.sh` and set "
    "NOTIFIER_TEST_POSTGRES_URL to its output (CI does)")


@pytest.fixture
def pg_store() -> Iterator[Store]:
    assert ADMIN_URL
    name = f"notifier_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def test_migrations_match_models_on_postgres(pg_store: Store) -> None:
    with pg_store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, SQLModel.metadata) == []


def test_sync_and_history_on_postgres(pg_store: Store, write_cal, folders) -> None:  # type: ignore[no-untyped-def]
    head = ('[case]\nid = "c1"\ntitle = "P v. X"\ntimezone = "America/New_York"\n'
            '[[events]]\nid = "h"\nkind = "hearing"\ntitle = "Hearing"\n')
    t = datetime(2025, 6, 1, 12, tzinfo=UTC)
    write_cal("c1.toml", head + 'start = 2025-07-02T09:30:00\nduration = "1h"\n')
    assert [c.kind for c in sync_calendars(pg_store, folders, now=t).changes] == ["added"]
    write_cal("c1.toml", head + 'start = 2025-07-09T09:30:00\nduration = "1h"\n'
              'status = "postponed"\n')
    r = sync_calendars(pg_store, folders, now=t.replace(hour=13))
    assert [c.kind for c in r.changes] == ["rescheduled_later", "postponed"]
    assert sync_calendars(pg_store, folders, now=t.replace(hour=14)).changes == []
    with pg_store.read() as s:
        ev = s.get(Event, "c1/h@notifier")
        assert ev is not None
        assert ev.start_utc == datetime(2025, 7, 9, 13, 30, tzinfo=UTC)
        assert [h.kind for h in history(s, ev.uid)] == ["added", "rescheduled_later",
                                                       "postponed"]
