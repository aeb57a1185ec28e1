"""Real clock and real processes: on-time delivery through the scheduler, and crashes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import WriteCal
from outboxhelpers import Sink, make_settings
from sqlmodel import select
from waiting import until

from notifier.notify import outbox
from notifier.server.scheduler import Engine
from notifier.store import Store
from notifier.store.models import Notification

REPO = Path(__file__).resolve().parent.parent



def test_reminder_due_in_2s_is_delivered_within_1s_of_due(tmp_path: Path, db_url: str,
                                                          store: Store, write_cal: WriteCal,
                                                          folders) -> None:
    # Due in 3-4 s: about 2 s after the engine has started, even on a loaded machine.
    start = (datetime.now(UTC) + timedelta(hours=1, seconds=4)).replace(microsecond=0)
    due = start - timedelta(hours=1)
    write_cal("c.toml", f"""
[case]
id = "c"
title = "People v. Clock"
timezone = "UTC"

[[events]]
id = "h"
kind = "hearing"
title = "Clock hearing"
start = {start.replace(tzinfo=None).isoformat()}
status = "scheduled"
""")
    with Sink() as sink:
        settings = make_settings(tmp_path, db_url, reminders={"offsets": ["1h"]},
                                 calendars={"paths": [str(folders[0][1])]},
                                 channels=[{"name": "hook", "url": sink.url}])
        engine = Engine(store, settings)
        engine.start()
        try:
            assert (due - datetime.now(UTC)).total_seconds() > 1.5
            got = lambda: [m for m in sink.times if "Clock hearing" in m]  # noqa: E731
            # The reminder only: the first sync into an empty database is a baseline
            # import (no "added" alert).
            assert until(lambda: len(got()) == 1, 10, step=0.02), sink.bodies
            [reminder] = got()
            assert "Hearing added" not in reminder
            lateness = (sink.times[reminder] - due).total_seconds()
        finally:
            assert engine.shutdown(5)
    print(f"reminder lateness: {lateness:.3f} s")
    assert 0 <= lateness < 1.0, lateness
    assert engine.last_tick is not None
    with store.read() as s:
        assert {n.status for n in s.exec(select(Notification)).all()} == {"sent"}


def test_shutdown_releases_nothing_in_flight_and_can_be_called_twice(store: Store,
                                                                     settings) -> None:  # type: ignore[no-untyped-def]
    engine = Engine(store, settings, sync=False)
    engine.start()
    assert engine.running
    assert engine.shutdown(2)
    assert engine.shutdown(2)
    assert not engine.running


def _start_dispatcher(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "notifier", "--config", str(cfg),
                                 "dispatch"], stdout=out, stderr=out, env=env)


def test_crash_mid_send_loses_nothing_and_duplicates_at_most_one_per_kill(
        tmp_path: Path, db_url: str, store: Store) -> None:
    total, max_kills = 500, 5
    now = datetime.now(UTC)
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row(f"test:{i}", "test", "hook", now, now,
                                              {"title": "crash", "text": f"n{i:03d}"})
                               for i in range(total)])
    rng = random.Random(4)
    log = tmp_path / "dispatch.log"
    kills = 0
    with Sink() as sink:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f"""
[database]
url = "{db_url}"
[delivery]
lease = "2s"
poll_interval = "1s"
[[channels]]
name = "hook"
url = "{sink.url}"
""", encoding="utf-8")
        def delivered() -> Counter[str]:
            # By first line: a row sent after its due time carries a "Sent late" note
            # (a loaded machine can make that happen), and it is the same message.
            with sink.lock:
                got: Counter[str] = Counter()
                for body, n in sink.bodies.items():
                    got[body.split("\n", 1)[0]] += n
                return got

        count = lambda: sum(delivered().values())  # noqa: E731
        for _ in range(max_kills):
            target = min(count() + rng.randint(20, 70), total - 30)
            proc = _start_dispatcher(cfg, log)
            try:
                assert until(lambda: count() >= target, 30, step=0.02), log.read_text()  # noqa: B023
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            kills += 1
        proc = _start_dispatcher(cfg, log)
        try:
            assert until(lambda: len(delivered()) >= total, 60, step=0.02), log.read_text()
            def statuses() -> set[str]:
                # A fresh session per look: one session would keep stale row states.
                with store.read() as s:
                    return {n.status for n in s.exec(select(Notification)).all()}
            assert until(lambda: statuses() == {"sent"}, 10, step=0.02), statuses()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0, log.read_text()
    assert set(delivered()) == {f"n{i:03d}" for i in range(total)}
    duplicates = sum(c - 1 for c in delivered().values())
    print(f"crash test: {kills} kills, {duplicates} duplicate(s)")
    assert duplicates <= kills, (duplicates, kills)
