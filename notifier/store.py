"""Database access: engine, sessions, migrations.

``Store(url)`` opens the database and, with ``migrate=True`` (the default),
brings its schema to the newest Alembic revision, so an upgraded notifier keeps
a user's data. Use ``store.read()`` for queries and ``store.write()`` for any
transaction that writes: on SQLite it starts with ``BEGIN IMMEDIATE`` so a
read-then-write transaction cannot fail half-way with SQLITE_BUSY under WAL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, create_engine

from .errors import StoreError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_SYNC_LOCK_KEY = 0x6E6F7469  # "noti": the advisory lock id for sync transactions


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not pysqlite) decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("notifier_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


class Store:
    """The database. One per process; pass it to whatever needs the data."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except SQLAlchemyError as e:
            raise StoreError(f"[database] url is not a valid database URL: {e}") from e
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            db = parsed.database
            if db and db != ":memory:":
                try:
                    Path(db).parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise StoreError(f"cannot create the database folder for {db}: {e}") from e
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open database ({parsed.render_as_string()}): {e}") from e
        if self.dialect == "sqlite":
            _sqlite_hooks(self.engine)
        self._write_engine = self.engine.execution_options(notifier_write=True)
        if migrate:
            self.migrate()

    def migrate(self, revision: str = "head") -> None:
        """Apply pending migrations (no-op when current)."""
        try:
            with self.engine.connect():
                pass
            command.upgrade(alembic_config(self.engine), revision)
        except SQLAlchemyError as e:
            safe = make_url(self.url).render_as_string(hide_password=True)
            raise StoreError(f"cannot open or migrate database {safe}: {e}") from e

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def serialize_sync(self, s: Session) -> None:
        """Make sync transactions (from any process) run one at a time.

        SQLite already does (``BEGIN IMMEDIATE`` takes the write lock before the
        first read). PostgreSQL's READ COMMITTED would let a ``notifier sync`` and
        the daemon both diff the same file against the same old state and record
        every change (and send every alert) twice, so take a transaction-scoped
        advisory lock there.
        """
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SYNC_LOCK_KEY})

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on error."""
        with Session(self._write_engine, expire_on_commit=False) as s, s.begin():
            yield s

    @contextmanager
    def write_conn(self) -> Iterator[Any]:
        """A write transaction on a bare Core connection (no ORM session): for the
        hot path of recording one delivery; committed on success."""
        with self._write_engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()
