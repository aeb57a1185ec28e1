"""Several `notifier run` processes on one PostgreSQL database.

Three daemon processes share a fresh database and a local sink that answers in 50 ms:
each notification is delivered once; a kill -9 of the leader mid-burst loses nothing,
repeats at most the one message in flight (and the repeat is recorded), and another
daemon takes over calendar sync and source polling within the failover time; daemons with
different channels deliver every channel's messages (none dead-lettered or withdrawn
by a daemon that does not know the channel); web-only replicas send nothing.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from clusterkit import (
    ADMIN_URL,
    SKIP_REASON,
    Proc,
    SlowSink,
    dump,
    leader_pid,
    queue_messages,
    repeats_recorded,
    statuses,
    write_config,
)
from sourcekit import ics
from waiting import until, wait_for

from notifier.store import Store

pytestmark = pytest.mark.skipif(not ADMIN_URL, reason=SKIP_REASON)
FAILOVER = 3.0  # [cluster] failover in clusterkit.write_config


@pytest.fixture
def pg_url() -> Iterator[str]:
    from clusterkit import pg_database

    with pg_database() as url:
        yield url


@pytest.fixture
def sink() -> Iterator[SlowSink]:
    with SlowSink(0.05) as s:
        yield s


def start(configs: list[Path], *args: str) -> list[Proc]:
    procs = [Proc(cfg, *args) for cfg in configs]
    try:
        wait_for(lambda: all(p.serving for p in procs), 60, "three daemons serving",
                 lambda: dump(procs))
    except BaseException:
        for p in procs:
            p.kill()
        raise
    return procs


def test_three_daemons_send_each_message_once_and_survive_a_leader_kill(
        tmp_path: Path, pg_url: str, sink: SlowSink) -> None:
    feed = tmp_path / "part99.ics"
    feed.write_bytes(ics({"h1@court": ("Hearing", "20300702T093000")}))
    cfg = write_config(tmp_path, pg_url, sink, ["a"], extra=f"""
[[sources]]
name = "part-99"
url = "{feed}"
case = "people-v-x"
interval = "10s"
""")
    procs = start([cfg, cfg, cfg])
    store = Store(pg_url, migrate=False)
    try:
        wait_for(lambda: leader_pid(store) is not None, 10, "a leader", lambda: dump(procs))
        wait_for(lambda: _fetched_at(store) is not None, 20, "the source's first fetch",
                 lambda: dump(procs))
        leader = leader_pid(store)
        assert leader in {p.pid for p in procs}
        tokens = queue_messages(store, ["a"], 2000)
        wait_for(lambda: sink.count() >= 600, 60, "a third of the burst sent",
                 lambda: dump(procs))
        # A calendar file the leader has not read (sync_interval is 1 h): whoever takes
        # over syncs at once.
        (tmp_path / "calendars" / "c1.toml").write_text(
            '[case]\nid = "c1"\ntitle = "P v. X"\ntimezone = "UTC"\n'
            '[[events]]\nid = "h"\nkind = "hearing"\ntitle = "Hearing"\n'
            'start = 2030-07-02T09:30:00\nduration = "1h"\n')
        victim = next(p for p in procs if p.pid == leader)
        victim.proc.send_signal(signal.SIGKILL)
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        victim.kill()
        with store.write() as s:  # due now: the new leader polls it on taking over
            s.execute(sa.text("UPDATE source_state SET next_fetch_at = :t"),
                      {"t": killed_wall.replace(tzinfo=None)})
        rest = [p for p in procs if p is not victim]
        # Another daemon leads within the failover time, and syncs calendars at once.
        wait_for(lambda: leader_pid(store, among={p.pid for p in rest}) is not None,
                 FAILOVER + 2, "another leader", lambda: dump(procs))
        took = time.monotonic() - killed_at

        def synced() -> bool:
            with store.read() as s:
                return bool(s.execute(sa.text(
                    "SELECT count(*) FROM event WHERE uid = 'c1/h@notifier'")).scalar_one())
        wait_for(synced, FAILOVER + 5, "the new leader's sync", lambda: dump(procs))
        synced_after = time.monotonic() - killed_at
        # ... and polls the source (at once, or at its next 5 s look).
        wait_for(lambda: (_fetched_at(store) or killed_wall) > killed_wall, FAILOVER + 7,
                 "the new leader's fetch", lambda: dump(procs))
        # Everything is sent once the killed daemon's claims run out (lease 8 s). The
        # synced event's "added" alert goes to the channel as well (no token).
        def done() -> bool:
            st = statuses(store)
            return st.get("sent", 0) >= 2001 and not any(
                st.get(k) for k in ("pending", "sending", "failed"))
        wait_for(done, 90, "all 2000 sent", lambda: f"{statuses(store)}\n{dump(procs)}")
        got = sink.per_channel()["a"]
        got.pop("?", None)
        assert set(got) == set(tokens), "lost messages"
        repeated = {t: n for t, n in got.items() if n > 1}
        assert sum(n - 1 for n in repeated.values()) <= 1, repeated
        # A repeat that happened is visible in the delivery history.
        assert repeats_recorded(store) >= len(repeated)
        assert statuses(store).get("dead", 0) == 0
        assert took <= FAILOVER + 2 and synced_after <= FAILOVER + 5
        for p in rest:
            assert p.stop() == 0, p.output[-2000:]
    finally:
        for p in procs:
            p.kill()
        store.close()


def _fetched_at(store: Store) -> datetime | None:
    with store.read() as s:
        at = s.execute(sa.text("SELECT last_fetch_at FROM source_state")).scalar()
    return None if at is None else at.replace(tzinfo=UTC)


def test_daemons_with_different_channels_deliver_every_channel(
        tmp_path: Path, pg_url: str, sink: SlowSink) -> None:
    configs = []
    for i, chans in enumerate((["a", "b"], ["a", "b", "c"], ["a", "c"])):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        configs.append(write_config(folder, pg_url, sink, chans,
                                    extra='channel_grace = "3s"\n'))
    procs = start(configs)
    store = Store(pg_url, migrate=False)
    try:
        # Past every daemon's own grace: what keeps a daemon off the channels it does
        # not know is now only the others' heartbeats listing them.
        time.sleep(4)
        tokens = queue_messages(store, ["a", "b", "c"], 60)
        wait_for(lambda: statuses(store).get("sent", 0) == 180, 60, "all 180 sent",
                 lambda: f"{statuses(store)}\n{dump(procs)}")
        got = sink.per_channel()
        for i, ch in enumerate(("a", "b", "c")):
            assert set(got.get(ch, {})) == set(tokens[60 * i:60 * (i + 1)]), ch
            assert max(got[ch].values()) == 1
        assert statuses(store).get("dead", 0) == 0
        # `notifier cluster` lists the three and warns that the channels differ.
        import subprocess
        import sys

        out = subprocess.run([sys.executable, "-m", "notifier", "--config", str(configs[0]),
                              "cluster"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out.stdout + out.stderr
        assert sum(str(p.pid) in out.stdout for p in procs) == 3, out.stdout
        assert "does not know channel(s) c" in out.stderr
        assert "does not know channel(s) b" in out.stderr
        assert "config fingerprints differ" in out.stderr
        for p in procs:
            assert p.stop() == 0, p.output[-2000:]
    finally:
        for p in procs:
            p.kill()
        store.close()


def test_a_channel_no_daemon_knows_is_dead_lettered_only_after_the_grace(
        tmp_path: Path, pg_url: str, sink: SlowSink) -> None:
    cfg = write_config(tmp_path, pg_url, sink, ["a"], extra='channel_grace = "4s"\n')
    procs = start([cfg])
    store = Store(pg_url, migrate=False)
    try:
        queue_messages(store, ["gone"], 3)
        started = time.monotonic()
        wait_for(lambda: statuses(store).get("dead", 0) == 3, 20, "rows of 'gone' dead",
                 lambda: f"{statuses(store)}\n{dump(procs)}")
        assert time.monotonic() - started >= 2.5  # not before the daemon's grace ran out
        assert procs[0].stop() == 0
    finally:
        for p in procs:
            p.kill()
        store.close()


def test_web_replica_sends_nothing_and_livez_needs_no_database(
        tmp_path: Path, pg_url: str, sink: SlowSink) -> None:
    cfg = write_config(tmp_path, pg_url, sink, ["a"])
    procs = start([cfg], "--role", "web")
    store = Store(pg_url, migrate=False)
    try:
        queue_messages(store, ["a"], 5)
        assert not until(lambda: sink.count() > 0, 3)
        assert leader_pid(store) is None  # a web replica never leads
        port = procs[0].port
        assert httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5).status_code == 200
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["cluster"] == {"role": "web", "leader": False}
        worker = start([cfg], "--role", "worker")
        procs += worker
        wait_for(lambda: statuses(store).get("sent", 0) == 5, 20, "the worker sends",
                 lambda: dump(procs))
        assert leader_pid(store) == worker[0].pid
        for p in procs:
            assert p.stop() == 0, p.output[-2000:]
    finally:
        for p in procs:
            p.kill()
        store.close()
