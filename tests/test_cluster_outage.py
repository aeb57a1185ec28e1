"""Three daemons lose their PostgreSQL connection for 30 s mid-burst (a TCP proxy on
127.0.0.1 is cut; the shared server keeps running): nothing is lost, nothing is sent
twice, and a leader is back once the database is."""

from __future__ import annotations

import time
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
    pg_database,
    queue_messages,
    statuses,
    write_config,
)
from tcpproxy import TcpProxy
from waiting import wait_for

from notifier.store import Store

pytestmark = pytest.mark.skipif(not ADMIN_URL, reason=SKIP_REASON)
OUTAGE = 30.0


def test_a_30s_database_outage_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    with pg_database() as direct, SlowSink(0.05) as sink:
        url = sa.make_url(direct)
        with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False)
            # The lease outlasts the outage: outcomes written after it are still ours.
            cfg = write_config(tmp_path, proxied, sink, ["a", "b"], lease="90s")
            procs = [Proc(cfg) for _ in range(3)]
            store = Store(direct, migrate=False)
            try:
                wait_for(lambda: all(p.serving for p in procs), 60, "daemons serving",
                         lambda: dump(procs))
                wait_for(lambda: leader_pid(store) is not None, 10, "a leader")
                tokens = queue_messages(store, ["a", "b"], 300)
                wait_for(lambda: sink.count() >= 150, 60, "the burst under way",
                         lambda: dump(procs))
                proxy.cut()
                cut_at = time.monotonic()
                # Liveness does not depend on the database.
                port = procs[0].port
                assert httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5).status_code == 200
                time.sleep(max(OUTAGE - (time.monotonic() - cut_at), 0))
                during = sink.count()
                proxy.restore()
                wait_for(lambda: statuses(store).get("sent", 0) == 600, 120, "all 600 sent",
                         lambda: f"{statuses(store)}\n{dump(procs)}")
                got = sink.per_channel()
                assert set(got["a"]) | set(got["b"]) == set(tokens)
                twice = {t: n for ch in got.values() for t, n in ch.items() if n > 1}
                assert twice == {}, twice
                assert during < 600  # the outage did stop the burst
                assert any("database_unreachable" in p.output for p in procs), dump(procs)
                wait_for(lambda: leader_pid(store) is not None, 10, "a leader again",
                         lambda: dump(procs))
                for p in procs:
                    assert p.stop() == 0, p.output[-2000:]
            finally:
                for p in procs:
                    p.kill()
                store.close()
