"""A remote source polled by a cluster of three daemons (PostgreSQL): only the leader
fetches, once per interval, and a mass-change hold is confirmed only by a later fetch.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from clusterkit import ADMIN_URL, SKIP_REASON, Proc, SlowSink, dump, pg_database, write_config
from feedserver import FeedServer, Route
from sourcekit import ics
from waiting import wait_for

from notifier.store import Store

pytestmark = pytest.mark.skipif(not ADMIN_URL, reason=SKIP_REASON)
INTERVAL = 10.0  # the shortest a source may be polled at
EVENTS = {f"h{i}@court": (f"Hearing {i}", f"2030070{i}T093000") for i in range(1, 5)}


class TimedRequests(list[Any]):
    """The feed server's request log, with the time each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: Any) -> None:
        self.times.append(time.monotonic())
        super().append(item)


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    srv.requests = TimedRequests()
    yield srv
    srv.stop()


def _source_state(store: Store) -> dict[str, Any]:
    with store.read() as s:
        row = s.execute(sa.text("SELECT held_at, last_status FROM source_state")).first()
        live = s.execute(sa.text("SELECT count(*) FROM event WHERE removed_at IS NULL "
                                 "AND source = 'source:part-99'")).scalar_one()
        removed = s.execute(sa.text("SELECT count(*) FROM change WHERE kind = 'removed'"
                                    )).scalar_one()
    return {"held": row is not None and row[0] is not None,
            "status": row[1] if row else None, "live": live, "removed": removed}


def test_three_daemons_fetch_a_slow_source_once_per_interval_and_confirm_holds_later(
        tmp_path: Path, feed: FeedServer) -> None:
    feed.routes["/part99.ics"] = Route(body=ics(EVENTS), delay=2.0)
    with pg_database() as url, SlowSink(0.0) as sink:
        cfg = write_config(tmp_path, url, sink, ["ops"], extra=f"""
            [[sources]]
            name = "part-99"
            url = "{feed.url('/part99.ics')}"
            case = "people-v-x"
            timezone = "America/New_York"
            interval = "10s"
            timeout = "5s"
            missing_fetches = 1
            """.replace("\n            ", "\n"))
        procs = [Proc(cfg) for _ in range(3)]
        store = Store(url, migrate=False)
        try:
            wait_for(lambda: all(p.serving for p in procs), 60, "daemons serving",
                     lambda: dump(procs))
            wait_for(lambda: _source_state(store)["live"] == 4, 30, "the first fetch",
                     lambda: dump(procs))
            # 3 of 4 events gone: a broken export, held at the next fetch.
            feed.routes["/part99.ics"] = Route(body=ics({"h1@court": EVENTS["h1@court"]}),
                                               delay=2.0)
            wait_for(lambda: _source_state(store)["held"], 3 * INTERVAL, "the hold",
                     lambda: dump(procs))
            held_at = time.monotonic()
            fetches_at_hold = len(feed.requests)
            assert _source_state(store)["live"] == 4  # nothing applied yet
            wait_for(lambda: _source_state(store)["removed"] == 3, 3 * INTERVAL,
                     "the confirmation", lambda: dump(procs))
            confirmed_at = time.monotonic()
            # Confirmed by a later fetch, an interval after the one that held it.
            assert len(feed.requests) > fetches_at_hold
            assert confirmed_at - held_at >= INTERVAL - 3
            assert _source_state(store)["live"] == 1
            times = feed.requests.times  # type: ignore[attr-defined]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert gaps and min(gaps) >= INTERVAL - 1, gaps
            for p in procs:
                assert p.stop() == 0, p.output[-2000:]
        finally:
            for p in procs:
                p.kill()
            store.close()
