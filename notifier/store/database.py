"""Database access: engine, sessions, migrations.

``Store(url)`` opens the database and, with ``migrate=True`` (the default),
brings its schema to the newest Alembic revision, so an upgraded notifier keeps
a user's data. Use ``store.read()`` for queries and ``store.write()`` for any
transaction that writes: on SQLite it starts with ``BEGIN IMMEDIATE`` so a
read-then-write transaction cannot fail half-way with SQLITE_BUSY under WAL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

from ..errors import StoreError
from .drivers import driver_problem
from .watch import DatabaseWatch, describe_error, is_database_fault, sqlite_path

log = logging.getLogger(__name__)
# Alembic logs a line per migration step (13 on a first start); the store logs one
# line for the whole upgrade instead (Store.migrate).
logging.getLogger("alembic").setLevel(logging.WARNING)
MIGRATIONS = Path(__file__).parent / "migrations"
_SYNC_LOCK_KEY = 0x6E6F7469  # "noti": the advisory lock id for sync transactions
_MIGRATE_LOCK_KEY = 0x6E6F6D67  # "nomg": held while migrating
T = TypeVar("T")


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
        problem = driver_problem(url)
        if problem:
            raise StoreError(f"cannot open the database: {problem}")
        self.dialect = parsed.get_backend_name()
        self.watch = DatabaseWatch(sqlite_path(url))
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
        self._engine_kwargs = kwargs
        try:
            self.engine = self._make_engine()
        except (SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open database ({parsed.render_as_string()}): {e}") from e
        self._write_engine = self.engine.execution_options(notifier_write=True)
        self._lane_engine: Engine | None = None
        self._lane_lock = threading.Lock()
        self._generation = 0  # bumped by close(): connections kept from before are dropped
        if migrate:
            self.migrate()
        self.watch.remember()

    def _make_engine(self, **extra: Any) -> Engine:
        engine = create_engine(self.url, **self._engine_kwargs, **extra)
        if self.dialect == "sqlite":
            _sqlite_hooks(engine)
            watch = self.watch

            @event.listens_for(engine, "handle_error")
            def _on_error(ctx: Any) -> None:
                watch.note_error(ctx.original_exception)

            @event.listens_for(engine, "do_connect")
            def _never_create(_dialect: Any, _rec: Any, cargs: list[Any],
                              cparams: dict[str, Any]) -> None:
                # Once opened, the file is never created again: a database deleted
                # under the running daemon must fail loudly, not come back empty.
                if watch.opened and watch.path is not None:
                    cargs[0] = f"{watch.path.as_uri()}?mode=rw"
                    cparams["uri"] = True
        return engine

    def check_integrity(self) -> None:
        """Raise StoreError when the SQLite file fails ``PRAGMA quick_check``."""
        problem = self.watch.check_integrity()
        if problem is None:
            problem = next((p for p in self.watch.problems() if p.kind == "corrupt"), None)
        if problem is not None:
            raise StoreError(problem.detail)

    def migrate(self, revision: str = "head") -> None:
        """Apply pending migrations (no-op when current)."""
        try:
            with self.engine.connect() as conn:
                if self.dialect != "postgresql":
                    conn.close()
                    self._upgrade(revision)
                    return
                # Several daemons starting at once: one migrates, the others wait (and
                # then find nothing to do).
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATE_LOCK_KEY})
                try:
                    self._upgrade(revision)
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                 {"k": _MIGRATE_LOCK_KEY})
                    conn.commit()
        except SQLAlchemyError as e:
            if is_database_fault(e):  # damaged, locked, full: say which and what to do
                raise describe_error(self.url, e) from e
            safe = make_url(self.url).render_as_string(hide_password=True)
            raise StoreError(f"cannot open or migrate database {safe}: {e}") from e

    def _upgrade(self, revision: str) -> None:
        """Run alembic's upgrade and say in one line what it did (nothing when current)."""
        before = self.current_revision()
        command.upgrade(alembic_config(self.engine), revision)
        after = self.current_revision()
        if after != before:
            log.info("database: %s", f"created at revision {after}" if before is None
                     else f"upgraded from revision {before} to {after}")

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
        self.watch.wrote_ok()

    @contextmanager
    def lane_writer(self) -> Iterator[LaneWriter]:
        """A :class:`LaneWriter` for this thread; its connection is returned on exit."""
        writer = LaneWriter(self)
        try:
            yield writer
        finally:
            writer.close()

    def _lane_connect(self) -> tuple[Connection, int]:
        """A write connection for a LaneWriter, and the store generation it belongs to.

        Lane connections come from a pool of their own, never limited in size: a lane
        holds its connection while it reads through ``read()``, and with a shared pool
        enough busy lanes would take every connection and wait on each other. (An
        in-memory SQLite database has one connection per thread and no such pool.)
        """
        with self._lane_lock:
            if self._lane_engine is None:
                own = isinstance(self.engine.pool, QueuePool)
                self._lane_engine = self._make_engine(pool_size=0) if own else self.engine
            engine, generation = self._lane_engine, self._generation
        return engine.connect().execution_options(notifier_write=True), generation

    def close(self) -> None:
        """Close every pooled connection. A LaneWriter in use drops its connection at
        its next transaction (or its end) instead of using it again."""
        with self._lane_lock:
            self._generation += 1
            lanes, self._lane_engine = self._lane_engine, None
        self.engine.dispose()
        if lanes is not None:
            lanes.dispose()


class LaneWriter:
    """Write transactions on one connection kept between them, for one thread.

    Recording each delivery in its own committed transaction is the dispatcher's
    hot path; checking a connection out of the pool (and pinging it) for each one
    cost about as much as the SQL. A lane instead keeps one connection for a whole
    drain. Not thread-safe: one writer per thread, from ``store.lane_writer()``.

    A kept connection can break while idle (the database server restarted): that
    shows as an error on its next use, which :meth:`run` handles by dropping it and
    running the transaction once more on a fresh connection.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Connection | None = None
        self._generation = -1
        self.dialect = store.engine.dialect

    def run_driver(self, work: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """``work(sqlite3 connection)`` in one transaction on the kept connection
        (``BEGIN IMMEDIATE``, or a plain ``BEGIN`` for reads with ``write=False``),
        committed on success, rolled back on error. SQLite through the ``sqlite3``
        module (pysqlite) only.

        For the dispatcher's per-message statements (:mod:`notifier.notify.dispatch_sql`), which
        cost less than SQLAlchemy's execution layer around them. The SQLAlchemy
        connection is idle meanwhile (no transaction open) and stays so.
        """
        db = self._connection().connection.driver_connection
        if not isinstance(db, sqlite3.Connection):
            raise TypeError(f"run_driver needs the sqlite3 driver, not {type(db).__name__}")
        db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException as e:
            # Driver-level statements bypass SQLAlchemy's handle_error event.
            self.store.watch.note_error(e)
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if write:
            self.store.watch.wrote_ok()
        return result

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in one write transaction, committed on success.

        If the connection turns out broken before the commit, nothing of ``work`` was
        committed: the connection is replaced and ``work`` runs again (once). An error
        during the commit itself is raised, as it may or may not have committed, and
        so is any other error (the transaction is rolled back).
        """
        try:
            return self._attempt(work)
        except _Broken:
            return self._attempt(work, retry=False)

    def _attempt(self, work: Callable[[Connection], T], *, retry: bool = True) -> T:
        conn = self._connection()
        committing = False
        try:
            with conn.begin():
                result = work(conn)
                committing = True
        except DBAPIError as e:
            if not (e.connection_invalidated or conn.invalidated):
                raise
            self._drop()
            if committing or not retry:
                raise
            log.warning("database connection lost; reconnecting: %s", e.orig)
            raise _Broken from e
        self.store.watch.wrote_ok()
        return result

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and (conn.invalidated or conn.closed
                                 or self._generation != self.store._generation):
            self._drop()
            conn = None
        if conn is None:
            conn, self._generation = self.store._lane_connect()
            self._conn = conn
        return conn

    def _drop(self) -> None:
        """Forget the connection; close it for good (not back into a pool it may have
        outlived, or with a broken state)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            finally:
                conn.close()

    def close(self) -> None:
        """Return the connection to the pool (or close it if the store was closed)."""
        conn = self._conn
        if conn is None:
            return
        if conn.invalidated or self._generation != self.store._generation:
            self._drop()
        else:
            self._conn = None
            conn.close()


class _Broken(Exception):
    """The kept connection was found broken before a commit; run the work again."""

