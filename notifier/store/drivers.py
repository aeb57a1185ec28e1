"""Can this Python open the configured database? Kind supported, driver installed.

Call :func:`driver_problem` with the database URL (``notifier check`` does, and
:class:`~notifier.store.Store` before opening one): None when SQLite, or PostgreSQL with
its driver installed; else a sentence saying what to install or which kinds work. The
URL's password is never part of the message.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

SUPPORTED = ("sqlite", "postgresql")
POSTGRES_URL = "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
INSTALL = "pip install 'notifier[postgres]'"


def driver_problem(url: str) -> str | None:
    """What stops ``url`` from being opened before any connection is tried, or None."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        return None  # the Store says the URL is not valid, naming it
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED:
        return (f"[database] url {shown}: {backend} databases are not supported; use SQLite "
                f"(sqlite:///data/notifier.db) or PostgreSQL ({POSTGRES_URL})")
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, SQLAlchemyError):
        driver = parsed.get_driver_name()
        if backend == "sqlite":
            return f"[database] url {shown}: this Python has no sqlite3 module"
        if driver == "psycopg":
            return (f"[database] url {shown}: the PostgreSQL driver psycopg is not "
                    f"installed: {INSTALL}")
        return (f"[database] url {shown}: the PostgreSQL driver {driver} is not installed; "
                f"use {POSTGRES_URL} after {INSTALL}")
    return None
