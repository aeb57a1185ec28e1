"""Fault: ``notifier sync`` killed with SIGKILL in the middle of a large first import.

Files are applied in batches (a savepoint per file, a transaction per batch) and each
file's stamp commits with its events. After the kill, every file must be either fully
applied (all its events, one ``added`` row each, its stamp) or not at all (no events,
no stamp); the next sync then finishes the import with nothing recorded twice.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from waiting import until

from notifier.config import load_settings
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

FILES = 300
PER_FILE = 50  # 15,000 events: several batches


def _cal(c: int) -> str:
    out = [f'[case]\nid = "k{c:03d}"\ntitle = "Case {c}"\ntimezone = "UTC"\n']
    for i in range(PER_FILE):
        out.append(f'\n[[events]]\nid = "e{i}"\ntitle = "Hearing {i}"\n'
                   f"date = 2031-{1 + i % 12:02d}-{1 + c % 28:02d}\n")
    return "".join(out)


def _state(db: Path) -> tuple[Counter[str], Counter[str], set[str]]:
    """(live events per source, 'added' rows per case, sources with a content stamp)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        events = Counter(r[0] for r in conn.execute(
            "SELECT source FROM event WHERE removed_at IS NULL"))
        added = Counter(r[0] for r in conn.execute(
            "SELECT case_id FROM change WHERE kind = 'added'"))
        stamped = {r[0] for r in conn.execute(
            "SELECT source FROM calendar_file WHERE sha256 != ''")}
    finally:
        conn.close()
    return events, added, stamped


def _changes(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute("SELECT count(*) FROM change").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not created or migrated yet
        return 0


def test_kill9_mid_import_leaves_each_file_all_or_nothing(tmp_path: Path) -> None:
    cal_dir = tmp_path / "calendars"
    cal_dir.mkdir()
    for c in range(FILES):
        (cal_dir / f"k{c:03d}.toml").write_text(_cal(c), encoding="utf-8")
    db = tmp_path / "data" / "notifier.db"
    Store(f"sqlite:///{db}").close()  # migrated before the clock starts
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db}"\n[calendars]\npaths = ["{cal_dir}"]\n',
                   encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "--config", str(cfg), "sync"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Kill as soon as the first batch is committed (before the last, on any
        # machine this suite runs on: each batch is thousands of events).
        assert until(lambda: _changes(db) > 0 or proc.poll() is not None, 120)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    events, added, stamped = _state(db)
    applied = {src for src, n in events.items()}
    assert applied, "the first batch was committed before the kill"
    assert applied == stamped, "a stamp is committed with its file's events, never alone"
    for src in applied:
        assert events[src] == PER_FILE, src
    assert set(added.values()) == {PER_FILE}
    # Killed mid-import: the first batch was in, the last (seconds of work) was not.
    assert len(applied) < FILES

    store = Store(f"sqlite:///{db}")
    try:  # the same folder labels as the killed `notifier sync`
        report = sync_calendars(store, load_settings(cfg).calendar_folders())
    finally:
        store.close()
    assert report.ok
    assert len(report.changes) == (FILES - len(applied)) * PER_FILE
    assert report.unchanged == len(applied)  # the applied files are skipped
    events, added, stamped = _state(db)
    assert len(events) == FILES and set(events.values()) == {PER_FILE}
    assert len(added) == FILES and set(added.values()) == {PER_FILE}  # nothing twice
    assert len(stamped) == FILES
