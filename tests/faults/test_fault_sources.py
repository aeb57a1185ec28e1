"""Fault suite: hostile remote sources. Runaway recurrence; faults of any type per source.

Runaway feeds are served from a local HTTP server; a child process fetches a good
feed, then the hostile one, and reports its peak RSS (baseline: after the good
fetch), the time taken and what was stored. The child runs under an address-space
cap so the unfixed behaviour (1.5 GB for MINUTELY, endless growth for SECONDLY)
fails fast. Then: a parser or apply fault of any exception type is that source's
recorded error (URL masked) and the other source goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, change_count, ics, make_settings, snapshot

from notifier.sources import fetch_source, poll_due_sources, source_status
from notifier.store import Store

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


def _cal(event: str, head: str = "") -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\n" + head +
            "BEGIN:VEVENT\r\nUID:u@x\r\nSUMMARY:Hearing\r\n" + event +
            "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


# Feeds whose parse raised something other than a CalendarError on main f14a2d6.
PARSER_FAULTS = {
    "OverflowError": _cal("DTSTART:20250701T090000Z\r\nDURATION:P99999999W\r\n"),
    "OSError": _cal("DTSTART:20250701T090000Z\r\n", "X-WR-TIMEZONE:" + "A" * 5000 + "\r\n"),
}
APPLY_FAULTS = [RuntimeError("boom"), KeyError("k"), RecursionError("deep"),
                OverflowError("big"), ZeroDivisionError("zero"), UnicodeError("bytes")]


def _two_sources(tmp_path: Path, db_url: str, server: FeedServer) -> Any:
    return make_settings(tmp_path, db_url,
                         {"name": "a", "url": server.url("/a.ics?token=s3cret"), "case": "ca"},
                         {"name": "b", "url": server.url("/b.ics"), "case": "cb"})


def _moved(body: bytes) -> bytes:
    return body.replace(b"20250702T093000", b"20250703T093000")


@pytest.mark.parametrize("fault", sorted(PARSER_FAULTS))
def test_a_parser_fault_of_any_type_is_that_sources_error(fault: str, store: Store,
                                                          tmp_path: Path, db_url: str,
                                                          server: FeedServer) -> None:
    settings = _two_sources(tmp_path, db_url, server)
    server.routes["/a.ics"] = Route(body=ics(BASE))
    server.routes["/b.ics"] = Route(body=ics(BASE).replace(b"@court", b"@b"))
    assert all(r.ok for r in poll_due_sources(store, settings, NOW, hook=None))
    before_a = [row for row in snapshot(store) if row[1] == "source:a"]
    server.routes["/a.ics"] = Route(body=PARSER_FAULTS[fault])
    server.routes["/b.ics"] = Route(body=_moved(server.routes["/b.ics"].body))
    later = NOW + timedelta(hours=1)
    rep_a, rep_b = poll_due_sources(store, settings, later, hook=None)
    assert rep_b.ok and [c.kind for c in rep_b.changes] == ["rescheduled_later"]
    assert rep_a.status == "error" and rep_a.error is not None
    assert rep_a.error.startswith("source 'a': "), rep_a.error
    assert "s3cret" not in rep_a.error and len(rep_a.error) < 400
    assert [row for row in snapshot(store) if row[1] == "source:a"] == before_a
    (status_a, _b) = source_status(store, settings)
    assert status_a.failures == 1 and status_a.last_error == rep_a.error
    # `notifier sources fetch a` calls fetch_source directly: a report, never a raise.
    again = fetch_source(store, settings.sources[0], later, hook=None, force=True)
    assert again.status == "error" and again.error == rep_a.error


@pytest.mark.parametrize("exc", APPLY_FAULTS, ids=lambda e: type(e).__name__)
def test_an_apply_fault_of_any_type_rolls_back_that_source_only(exc: Exception, store: Store,
                                                                tmp_path: Path, db_url: str,
                                                                server: FeedServer) -> None:
    settings = _two_sources(tmp_path, db_url, server)
    server.routes["/a.ics"] = Route(body=ics(BASE))
    server.routes["/b.ics"] = Route(body=ics(BASE).replace(b"@court", b"@b"))
    assert all(r.ok for r in poll_due_sources(store, settings, NOW, hook=None))
    before_a, changes = [r for r in snapshot(store) if r[1] == "source:a"], change_count(store)
    server.routes["/a.ics"] = Route(body=_moved(ics(BASE)))
    server.routes["/b.ics"] = Route(body=_moved(server.routes["/b.ics"].body))

    def hook(_s: Any, rows: list[Any], _now: Any) -> None:
        if any(c.case_id == "ca" for c in rows):
            raise exc  # e.g. the outbox failing half-way through source a's alerts

    rep_a, rep_b = poll_due_sources(store, settings, NOW + timedelta(hours=1), hook=hook)
    assert rep_b.ok and len(rep_b.changes) == 1
    assert rep_a.error == (f"source 'a': {server.url('/')}… could not be applied "
                           f"({type(exc).__name__}: {exc}); its stored events are unchanged")
    assert [r for r in snapshot(store) if r[1] == "source:a"] == before_a
    assert change_count(store) == changes + 1  # b's move only
