"""Fault suite: `notifier sync` while another process keeps the database locked.

Another process holds SQLite's write lock (``BEGIN IMMEDIATE``) for longer than the
busy timeout; the sync gives up with one clear error naming the database file and
the process holding it, exit status 1, and no traceback.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from notifier.cli import main
from notifier.store import Store

HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(60)  # bounded: the test kills it long before
"""


def test_sync_on_a_locked_database_names_it_and_its_holder(tmp_path: Path, write_cal) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "data" / "notifier.db"
    Store(f"sqlite:///{db}").close()
    write_cal("c.toml", """
        [case]
        id = "c"
        title = "People v. Lock"
        timezone = "UTC"

        [[events]]
        id = "h"
        kind = "hearing"
        title = "Hearing"
        date = 2030-01-02
        """)
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        url = "sqlite:///{db}"
        [calendars]
        paths = ["calendars"]
        """))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        r = CliRunner().invoke(main, ["--config", str(cfg), "sync"])
    finally:
        holder.kill()
        holder.wait(10)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert "Traceback" not in r.output
    assert f"error: database {db} is locked" in r.output, r.output
    assert f"held by pid {holder.pid}" in r.output, r.output
    # Nothing was half-applied: the next sync, with the lock gone, imports the file.
    r = CliRunner().invoke(main, ["--config", str(cfg), "sync"])
    assert r.exit_code == 0 and "1 change(s) from 1 file(s)" in r.output, r.output
