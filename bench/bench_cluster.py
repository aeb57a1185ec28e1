"""Cluster throughput: messages/s for 1, 2 and 3 `notifier run` processes on PostgreSQL.

Each run: a fresh database, N daemon processes (same config, two channels), a local
webhook answering every POST after 50 ms. Once every daemon serves, 2,000 due
notifications (600 with --quick) are queued at once; the figure is messages / seconds
until the last is recorded as sent. Baseline in the same run: one daemon. Targets:
>= 1.8x with 2 daemons, >= 2.5x with 3.

Needs NOTIFIER_TEST_POSTGRES_URL (a server the bench may create databases on).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from run import Result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from clusterkit import (  # the tests' helpers
    Proc,
    SlowSink,
    dump,
    pg_database,
    queue_messages,
    statuses,
    write_config,
)

from notifier.store import Store

CHANNELS = ["a", "b"]
TARGETS = {2: 1.8, 3: 2.5}


def _once(daemons: int, messages: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url, SlowSink(0.05) as sink:
        cfg = write_config(Path(tmp), url, sink, CHANNELS, extra='channel_grace = "1h"\n')
        procs = [Proc(cfg) for _ in range(daemons)]
        store = Store(url, migrate=False)
        try:
            deadline = time.monotonic() + 90
            while not all(p.serving for p in procs):
                if time.monotonic() > deadline:
                    raise RuntimeError("daemons did not start\n" + dump(procs))
                time.sleep(0.1)
            t0 = time.monotonic()
            queue_messages(store, CHANNELS, messages // len(CHANNELS))
            deadline = t0 + 600
            while statuses(store).get("sent", 0) < messages:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not all sent: {statuses(store)}\n{dump(procs)}")
                time.sleep(0.1)
            return messages / (time.monotonic() - t0)
        finally:
            for p in procs:
                p.stop()
            store.close()


def run(quick: bool) -> list[Result]:
    if not os.environ.get("NOTIFIER_TEST_POSTGRES_URL"):
        print("bench_cluster: skipped (set NOTIFIER_TEST_POSTGRES_URL)", file=sys.stderr)
        return []
    messages = 600 if quick else 2000
    repeats = 1 if quick else 3
    rates: dict[int, float] = {}
    for n in (1, 2, 3):
        rates[n] = statistics.median(_once(n, messages) for _ in range(repeats))
        print(f"  {n} daemon(s): {rates[n]:.1f} msg/s", file=sys.stderr, flush=True)
    out = [Result(f"cluster: 1 daemon, {messages} msgs, 50 ms sink", rates[1], "msg/s")]
    for n, want in TARGETS.items():
        out.append(Result(f"cluster: {n} daemons, {messages} msgs, 50 ms sink", rates[n],
                          "msg/s", baseline=rates[1], target=f">= {want}x 1 daemon",
                          ok=rates[n] / rates[1] >= want))
    return out
