"""Fault suite: hostile remote sources (runaway recurrence), each fetch in its own process.

Every feed is served from a local HTTP server; a child process fetches a good feed,
then the hostile one, and reports its peak RSS (baseline: after the good fetch),
the time taken and what was stored. The child runs under an address-space cap so
the unfixed behaviour (1.5 GB for MINUTELY, endless growth for SECONDLY) fails fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer, Route
from sourcekit import BASE, ics

CHILD = r"""
import json, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from sqlmodel import select
from notifier.config import parse_settings
from notifier.sources import fetch_source
from notifier.store import Store
from notifier.store.models import Change, Event

url, db = sys.argv[1], sys.argv[2]
settings = parse_settings({"database": {"url": f"sqlite:///{db}"}, "sources": [
    {"name": "part-99", "url": url, "case": "c"}]}, origin="t", base_dir=Path(db).parent, env={})
src = settings.sources[0]
store = Store(settings.database.url)
now = datetime(2025, 6, 1, 12, tzinfo=UTC)

def stored():
    with store.read() as s:
        return (sorted((e.uid, e.sequence, str(e.removed_at)) for e in s.exec(select(Event))),
                len(s.exec(select(Change)).all()))

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

first = fetch_source(store, src, now, hook=None)
before, base = stored(), rss()
Path(sys.argv[3]).write_text("go")  # the server switches to the hostile feed
t0 = time.monotonic()
rep = fetch_source(store, src, now, hook=None)
secs = time.monotonic() - t0
after = stored()
print(json.dumps({"first": first.status, "status": rep.status, "error": rep.error,
                  "unchanged": before == after, "events": len(after[0]),
                  "base_rss": base, "peak_rss": rss(), "secs": secs}))
"""


def _flood(freq: str) -> bytes:
    # The attack's 230-byte feed: one series, no end.
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\n"
            "UID:flood@attacker\r\nSUMMARY:Flood\r\nDTSTART:20250601T000000Z\r\n"
            f"RRULE:FREQ={freq}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("freq", ["HOURLY", "MINUTELY", "SECONDLY"])
def test_runaway_recurrence_is_refused_in_bounded_memory_and_time(
        freq: str, server: FeedServer, tmp_path: Path) -> None:
    server.routes["/p.ics"] = Route(body=ics(BASE))
    flag = tmp_path / "go"
    hostile = Route(body=_flood(freq))

    class Switch(dict[str, Route]):
        def get(self, key: str, default: Route | None = None) -> Route | None:  # type: ignore[override]
            return hostile if flag.exists() else super().get(key, default)

    server.routes = Switch(server.routes)
    proc = subprocess.run([sys.executable, "-c", CHILD, server.url("/p.ics"),
                           str(tmp_path / "n.db"), str(flag)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{freq}: {out['status']} in {out['secs']:.2f}s, peak RSS "
          f"{out['peak_rss'] / 2**20:.0f} MB (baseline {out['base_rss'] / 2**20:.0f} MB)")
    assert out["first"] == "ok" and out["events"] == len(BASE)
    assert out["status"] == "error" and out["unchanged"]
    assert out["error"].startswith("source 'part-99': ") and "'flood@attacker'" in out["error"]
    assert out["peak_rss"] < 2 * out["base_rss"]
    assert out["secs"] < 60
