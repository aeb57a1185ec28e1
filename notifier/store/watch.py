"""Is the database still the file we opened, intact, with room to write?

An open SQLite connection keeps working on a file that was deleted or replaced
under it (it holds the old inode), so a running daemon does not notice by itself;
and a damaged page only fails the queries that touch it. :class:`DatabaseWatch`
(``store.watch``) notices: :meth:`~DatabaseWatch.check_file` compares the path's
device and inode with the file opened at start, :meth:`~DatabaseWatch.check_integrity`
runs ``PRAGMA quick_check`` on a fresh read-only connection (no cached pages), and
:meth:`~DatabaseWatch.note_error` keeps the errors writes ran into (SQLITE_FULL,
SQLITE_CORRUPT). :meth:`~DatabaseWatch.problems` lists what is wrong now.

:func:`describe_error` turns a driver error into a :class:`~notifier.errors.StoreError`
naming the database file (and, when it is locked, which process holds it).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ..errors import StoreError
from ..timeutil import utcnow
from .drivers import driver_problem

# Problems that make the database unusable (a restart or a restore is needed)
# rather than ones that may pass by themselves (a full disk).
FATAL = frozenset({"gone", "replaced", "corrupt"})
_CORRUPT = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


@dataclass(frozen=True)
class DbProblem:
    kind: str  # gone, replaced, corrupt, full
    detail: str  # names the file; never a secret (SQLite paths are not)
    since: datetime


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:" \
            or db.startswith("file:"):
        return None
    return Path(db).absolute()


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def _error_name(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    name = getattr(orig, "sqlite_errorname", None)
    return name if isinstance(name, str) else None


# Conditions of the database itself, not of what a statement tried to store.
_DATABASE_FAULTS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_CORRUPT",
                    "SQLITE_NOTADB", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


def is_database_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is the database failing (locked, full, damaged, unreadable),
    which no calendar file can cause and every other file would run into too."""
    name = _error_name(exc)
    return name is not None and name.startswith(_DATABASE_FAULTS)


class DatabaseWatch:
    """What is wrong with one SQLite database file; thread-safe, cheap to ask."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._identity: tuple[int, int] | None = None
        self._problems: dict[str, DbProblem] = {}

    @property
    def opened(self) -> bool:
        """Whether :meth:`remember` found the file (it exists and is the one in use)."""
        return self._identity is not None

    def remember(self) -> None:
        """Take the file as it is now as the one this process works on."""
        if self.path is not None:
            try:
                self._identity = _identity(self.path)
            except OSError:
                self._identity = None

    def _set(self, kind: str, detail: str | None) -> DbProblem | None:
        """Record (detail) or clear (None) a problem; returns it when it is new."""
        with self._lock:
            if detail is None:
                self._problems.pop(kind, None)
                return None
            if kind in self._problems:
                return None
            self._problems[kind] = DbProblem(kind, detail, utcnow())
            return self._problems[kind]

    def check_file(self) -> DbProblem | None:
        """Compare the path with the file opened at start; returns a problem when new."""
        if self.path is None or self._identity is None:
            return None
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            return self._set("gone", f"database file {self.path} was deleted while notifier "
                             "was running; restart notifier to create a new one")
        except OSError as e:
            return self._set("gone", f"database file {self.path} cannot be read: {e}")
        if not self.path.is_file():
            return self._set("gone", f"database file {self.path} is no longer a file; "
                             "restart notifier once it is back")
        self._set("gone", None)
        if now != self._identity:
            return self._set("replaced", f"database file {self.path} was replaced while "
                             "notifier was running; restart notifier to use the new file")
        return None

    def check_integrity(self) -> DbProblem | None:
        """``PRAGMA quick_check`` on a new read-only connection; returns a problem when new.

        A connection of the pool could answer from pages it cached before the damage.
        """
        if self.path is None or not self.path.exists():
            return None
        detail = integrity_problem(self.path)
        if detail is None:
            with self._lock:
                self._problems.pop("corrupt", None)
            return None
        return self._set("corrupt", detail)

    def note_error(self, exc: BaseException) -> DbProblem | None:
        """Remember a full disk or a damaged file seen by any statement."""
        name = _error_name(exc)
        if name is None or self.path is None:
            return None
        if name == "SQLITE_FULL":
            return self._set("full", f"the disk holding {self.path} is full: changes and "
                             "delivery results cannot be recorded until space is freed")
        if name in _CORRUPT:
            return self._set("corrupt", f"database file {self.path} is damaged ({exc_text(exc)}); "
                             "restore it from a backup, or move it away to start afresh")
        return None

    def wrote_ok(self) -> None:
        """A write committed: whatever filled the disk has been freed."""
        if "full" in self._problems:
            self._set("full", None)

    def problems(self) -> list[DbProblem]:
        with self._lock:
            return list(self._problems.values())


def exc_text(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(orig).splitlines()[0] if str(orig) else type(orig).__name__


def integrity_problem(path: Path) -> str | None:
    """What ``PRAGMA quick_check`` says is wrong with ``path``, or None when it is fine."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        return f"database file {path} cannot be opened: {e}"
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.Error as e:
        if _error_name(e) in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return None  # busy is not damage; the next check will tell
        return f"database file {path} is damaged ({e}); restore it from a backup, " \
               "or move it away to start afresh"
    finally:
        conn.close()
    if rows == ["ok"]:
        return None
    shown = "; ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
    return f"database file {path} failed its integrity check (PRAGMA quick_check: {shown}); " \
           "restore it from a backup, or move it away to start afresh"


def check_database(url: str) -> str | None:
    """For ``notifier check``: what is wrong with the SQLite file, without creating it,
    or with the database kind and its driver (:func:`~.drivers.driver_problem`).

    None when it is fine or does not exist yet (the first start creates it); a
    PostgreSQL server is not contacted (it is checked when a command connects).
    """
    problem = driver_problem(url)
    if problem:
        return problem
    path = sqlite_path(url)
    if path is None or not path.exists():
        return None
    return integrity_problem(path)


def lock_holders(path: Path) -> list[str]:
    """The other processes holding SQLite's write lock on ``path`` (Linux ``/proc/locks``).

    In WAL mode the writer holds byte 120 of the ``-shm`` file; in rollback mode the
    RESERVED byte of the database file. Empty when unknowable.
    """
    targets = {}
    for p, start in ((Path(f"{path}-shm"), "120"), (path, "1073741825")):
        try:
            st = p.stat()
        except OSError:
            continue
        targets[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = start
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    pids: set[int] = set()
    for line in lines:
        f = line.split()
        if len(f) < 8 or f[1] != "POSIX" or f[3] != "WRITE":
            continue
        try:
            major, minor, ino = f[5].split(":")
            key = (int(major, 16), int(minor, 16), int(ino))
        except ValueError:
            continue
        if targets.get(key) == f[6] and f[4].isdigit() and int(f[4]) != os.getpid():
            pids.add(int(f[4]))
    out = []
    for pid in sorted(pids):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
            out.append(f"pid {pid} ({cmd.decode(errors='replace')[:120]})")
        except OSError:
            out.append(f"pid {pid}")
    return out


def describe_error(url: str, exc: BaseException) -> StoreError:
    """A driver error as a message naming the database (the CLI's one place for them)."""
    path = sqlite_path(url)
    where = f"database {path}" if path else \
        f"database {make_url(url).render_as_string(hide_password=True)}"
    name = _error_name(exc)
    text = exc_text(exc)
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "database is locked" in text:
        holders = lock_holders(path) if path else []
        held = f"; held by {', '.join(holders)}" if holders else \
            " (by another notifier process or a tool with it open)"
        return StoreError(f"{where} is locked: another process kept writing for longer than "
                          f"the wait{held}; try again when it has finished")
    if name == "SQLITE_FULL":
        return StoreError(f"{where}: the disk is full; nothing was changed. Free space and "
                          "try again")
    if name in _CORRUPT:
        return StoreError(f"{where} is damaged ({text}); restore it from a backup, or move it "
                          "away to start afresh")
    return StoreError(f"{where}: {text}")
