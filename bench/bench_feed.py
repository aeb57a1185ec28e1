"""Feed benchmark: 10,000 events served by a real server on 127.0.0.1.

Measures, as medians over repeated requests on one keep-alive connection:
the cached ``/calendars/all.ics`` against the same server returning the same bytes
as a static file (target < 2x), the 304 path (< 2 ms), and the request right
after one event changed in the database (re-render, < 100 ms). Entry point:
``run(quick)``, called by ``bench/run.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from run import Result
from starlette.staticfiles import StaticFiles

from notifier.calendars.tomlfile import parse_toml_calendar
from notifier.config import parse_settings
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import apply_calendar, sync_calendars

CASES = 100
PER_CASE = 100  # 10,000 events
ZONES = ["America/New_York", "Europe/London", "America/Chicago", "Europe/Paris"]


def _case_toml(c: int, moved: int | None = None) -> str:
    out = [f'[case]\nid = "case-{c:03d}"\ntitle = "People v. Defendant {c}"\n'
           f'court = "Supreme Court, Part {c}"\njudge = "Justice Number {c}"\n'
           f'timezone = "{ZONES[c % len(ZONES)]}"\n']
    for i in range(PER_CASE):
        day = date(2025, 1, 1) + timedelta(days=(c * 7 + i * 3) % 700)
        if moved == i:
            day += timedelta(days=1 + c % 5)
        out.append(f'[[events]]\nid = "e{i:03d}"\nkind = "{("hearing", "trial")[i % 2]}"\n'
                   f'title = "Hearing {i} in case {c}"\nlocation = "Room {i}, floor {c % 9}"\n'
                   f'notes = "Notes for event {i}; see the docket, entry {c * 1000 + i}."\n')
        if i == PER_CASE - 1:
            out.append('status = "tbd"\n')
        elif i % 2:
            out.append(f"start = {day.isoformat()}T{9 + i % 8:02d}:30:00\nduration = \"2h\"\n")
        else:
            out.append(f"date = {day.isoformat()}\n")
    return "".join(out)


class _Server:
    def __init__(self, app: object) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,  # type: ignore[arg-type]
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 120  # the lifespan warms the cache first
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("bench server did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run(quick: bool) -> list[Result]:
    reps = 15 if quick else 60
    changes = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
        root = Path(tmp)
        cal = root / "calendars"
        cal.mkdir()
        for c in range(CASES):
            (cal / f"case-{c:03d}.toml").write_text(_case_toml(c), encoding="utf-8")
        settings = parse_settings({"database": {"url": f"sqlite:///{root / 'bench.db'}"}},
                                  origin="bench", base_dir=root)
        store = Store(settings.database_url())
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        assert sync_calendars(store, settings.calendar_folders(), now=t0).ok
        app = create_app(settings, store)
        service = app.state.feeds
        t_cold = time.perf_counter()
        cold = service.get(None)
        cold_ms = (time.perf_counter() - t_cold) * 1000
        static = root / "static"
        static.mkdir()
        (static / "all.ics").write_bytes(cold.body)
        app.mount("/static", StaticFiles(directory=static))

        with _Server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
            feed = client.get("/calendars/all.ics")
            assert feed.status_code == 200 and feed.content == cold.body
            assert client.get("/static/all.ics").content == feed.content
            for _ in range(3):  # warm both paths
                client.get("/static/all.ics")
                client.get("/calendars/all.ics")
            static_ms = _median_ms(lambda: client.get("/static/all.ics"), reps)
            cached_ms = _median_ms(lambda: client.get("/calendars/all.ics"), reps)
            etag = feed.headers["etag"]
            not_modified_ms = _median_ms(
                lambda: client.get("/calendars/all.ics", headers={"If-None-Match": etag}),
                reps * 4)
            head_304 = client.get("/calendars/all.ics", headers={"If-None-Match": etag})
            assert head_304.status_code == 304

            rerender: list[float] = []
            before = service.fragments_rendered
            for k in range(changes):
                c = (k * 37) % CASES
                source = f"calendars/case-{c:03d}.toml"
                spec = parse_toml_calendar(_case_toml(c, moved=2 * (k % 40)), source)
                with store.write() as s:
                    assert apply_calendar(s, spec, t0 + timedelta(hours=k + 1))
                t1 = time.perf_counter()
                r = client.get("/calendars/all.ics", headers={"If-None-Match": etag})
                rerender.append((time.perf_counter() - t1) * 1000)
                assert r.status_code == 200 and r.headers["etag"] != etag
                etag = r.headers["etag"]
                # Put it back so the next round changes exactly one event again.
                with store.write() as s:
                    apply_calendar(s, parse_toml_calendar(_case_toml(c), source),
                                   t0 + timedelta(hours=k + 1, minutes=30))
                etag = client.get("/calendars/all.ics").headers["etag"]
            per_change = (service.fragments_rendered - before) / (2 * changes)
        store.close()

    size_mb = len(cold.body) / 1e6
    ratio = cached_ms / static_ms
    rerender_ms = statistics.median(rerender)
    return [
        Result(f"feed: static file, all.ics {size_mb:.1f} MB (baseline)", static_ms, "ms"),
        Result("feed: cached GET all.ics (10k events)", cached_ms, "ms", baseline=static_ms,
               target="< 2x static", ok=ratio < 2),
        Result("feed: 304 on If-None-Match", not_modified_ms, "ms", target="< 2 ms",
               ok=not_modified_ms < 2),
        Result("feed: GET after one event changed (re-render)", rerender_ms, "ms",
               target="< 100 ms", ok=rerender_ms < 100),
        Result("feed: VEVENTs re-serialised per change", per_change, "ev",
               target="1 (not 10,000)", ok=per_change <= 1),
        Result("feed: first full render, in process (info)", cold_ms, "ms"),
    ]
