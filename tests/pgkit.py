"""A fresh database on the test PostgreSQL server (``NOTIFIER_TEST_POSTGRES_URL``).

Tests that need one take the ``pg_url``/``pg_store`` fixtures (conftest.py), which
skip with :data:`SKIP_REASON` when no server is configured; CI starts one. The
benchmarks (bench/) use :func:`pg_database` too, with an admin URL of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

ADMIN_URL = os.environ.get("NOTIFIER_TEST_POSTGRES_URL")
SKIP_REASON = ("no PostgreSQL server: run `.ci/postgres.sh` and set NOTIFIER_TEST_POSTGRES_URL "
               "to its output (CI does)")


@contextmanager
def pg_database(prefix: str = "notifier_test", admin_url: str | None = None) -> Iterator[str]:
    """A new, empty database on the test server (or the one ``admin_url`` reaches, with
    the right to create databases), dropped afterwards. Yields its URL."""
    server = admin_url or ADMIN_URL
    assert server, SKIP_REASON
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()
