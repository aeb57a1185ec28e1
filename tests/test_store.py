"""The store: migrations match the models, upgrades keep data, SQLite settings hold."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel, select

from notifier.store import Store, alembic_config
from notifier.store.models import Case


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, SQLModel.metadata) == []
    assert store.current_revision() == store.head_revision()


def test_upgrade_from_the_first_schema_keeps_rows(db_url: str) -> None:
    old = Store(db_url, migrate=False)
    first = ScriptDirectory.from_config(alembic_config(old.engine)).get_base()
    old.migrate(first)  # the oldest schema a user can have
    now = datetime(2025, 6, 1, tzinfo=UTC).replace(tzinfo=None)
    with old.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO \"case\" (id, title, timezone, tags, source, created_at, updated_at) "
            "VALUES ('c1', 'People v. X', 'America/New_York', '[]', 'calendars/c1.toml', "
            ":now, :now)"), {"now": now})
        conn.execute(sa.text(
            "INSERT INTO event (uid, case_id, event_id, source, kind, title, status, date, "
            "sequence, created_at, updated_at) VALUES ('c1/h@notifier', 'c1', 'h', "
            "'calendars/c1.toml', 'hearing', 'Hearing', 'scheduled', '2025-07-02', 3, :now, "
            ":now)"), {"now": now})
    old.close()
    upgraded = Store(db_url)  # opening migrates to head
    assert upgraded.current_revision() == upgraded.head_revision()
    with upgraded.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT uid, sequence, date FROM event")).one()
    assert tuple(row) == ("c1/h@notifier", 3, "2025-07-02")
    with upgraded.read() as s:
        case = s.exec(select(Case)).one()
        assert case.created_at == datetime(2025, 6, 1, tzinfo=UTC)  # read back as aware UTC


def test_sqlite_pragmas(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000


def test_concurrent_read_then_write_transactions_do_not_fail(db_url: str) -> None:
    """Two stores (as two processes would) doing read-then-write at once: no SQLITE_BUSY."""
    Store(db_url).close()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        st = Store(db_url, migrate=False)
        try:
            for i in range(40):
                with st.write() as s:
                    s.exec(select(Case)).all()  # read first...
                    s.add(Case(id=f"w{n}-{i}", title="t", source="x"))  # ...then write
        except BaseException as e:
            errors.append(e)
        finally:
            st.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with Store(db_url).read() as s:
        assert len(s.exec(select(Case)).all()) == 120


def test_database_folder_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'n.db'}"
    Store(url).close()
    assert (tmp_path / "deep" / "er" / "n.db").exists()


def _count_cases(store: Store) -> int:
    with store.read() as s:
        return len(s.exec(select(Case)).all())


def _add_case(name: str) -> Callable[[sa.Connection], None]:
    table = Case.__table__  # type: ignore[attr-defined]
    return lambda conn: conn.execute(table.insert().values(
        id=name, title=name, source="t", created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC)))


def test_lane_writer_keeps_one_connection_and_commits_each_transaction(store: Store) -> None:
    with store.lane_writer() as w:
        w.run(_add_case("a"))
        first = w._conn
        w.run(_add_case("b"))
        assert w._conn is first  # kept between transactions
        assert _count_cases(store) == 2  # each one committed on its own
        with pytest.raises(ZeroDivisionError):
            w.run(lambda conn: (_add_case("c")(conn), 1 / 0))
        assert _count_cases(store) == 2  # rolled back
        w.run(_add_case("c"))  # and the connection is still usable
    assert w._conn is None and _count_cases(store) == 3


def test_lane_writer_replaces_a_broken_connection(store: Store,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with store.lane_writer() as w:
        w.run(_add_case("a"))
        broken = w._conn
        assert broken is not None
        broken.connection.driver_connection.close()  # type: ignore[union-attr]  # as if lost
        w.run(_add_case("b"))  # found broken before the commit: run again on a new one
        assert w._conn is not None and w._conn is not broken and broken.closed
    assert "database connection lost; reconnecting" in caplog.text
    assert _count_cases(store) == 2


def test_lane_writer_drops_its_connection_when_the_store_is_closed(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.lane_writer() as w:
            w.run(_add_case("a"))
            old = w._conn
            store.close()
            assert old is not None and not old.closed  # not closed under a running lane
            w.run(_add_case("b"))  # ... but not used again either
            assert old.closed and w._conn is not old
        assert _count_cases(store) == 2
    finally:
        store.close()


def test_migrating_logs_one_line_and_alembic_stays_quiet(
        db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A first start says once that it created the database (not alembic's line per
    step); an upgrade says from which revision to which; a current database, nothing."""
    caplog.set_level(logging.INFO)

    def lines() -> list[str]:
        got = [f"{r.name}: {r.getMessage()}" for r in caplog.records
               if r.name.startswith(("alembic", "notifier.store")) and r.levelno < logging.WARNING]
        caplog.clear()
        return got

    old = Store(db_url, migrate=False)
    old.migrate("0009")
    assert lines() == ["notifier.store.database: database: created at revision 0009"]
    old.close()
    head = Store(db_url)
    assert lines() == [f"notifier.store.database: database: upgraded from revision 0009 to "
                       f"{head.head_revision()}"]
    head.close()
    Store(db_url).close()
    assert lines() == []
