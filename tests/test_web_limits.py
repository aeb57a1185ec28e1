"""Limits of the web layer against hostile query strings, slow starts and busy ports.

The feed cache holds bytes, not entries; ``?kind=`` values naming no kind neither make
cache entries nor reach the feed; the server answers while the cache warms; a port in
use is reported as such. (Attacks on a running daemon are in ``tests/faults/``.)
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar
from waiting import until
from webhelpers import WEINSTEIN, LiveServer, write_config

from notifier.config import Settings, load_settings
from notifier.errors import NotifierError
from notifier.feeds.cache import FeedService
from notifier.server import web
from notifier.server.daemon import Daemon
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

CASE = "/calendars/people-v-weinstein.ics"


@pytest.fixture
def config(tmp_path: Path, db_url: str, cal_dir: Path) -> Path:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    return write_config(tmp_path / "config.toml", db_url, cal_dir)


@pytest.fixture
def synced(config: Path, store: Store, folders: list[tuple[str, Path]]) -> Settings:
    assert sync_calendars(store, folders).ok
    return load_settings(config)


@pytest.fixture
def server(synced: Settings, store: Store) -> Iterator[LiveServer]:
    with LiveServer(create_app(synced, store)) as srv:
        for _ in range(400):  # bounded: let the background warm-up finish first
            if httpx.get(srv.url + "/readyz", timeout=10).status_code == 200:
                break
            threading.Event().wait(0.05)
        yield srv


def _names(body: bytes) -> list[str]:
    return [str(c["X-WR-CALNAME"]) for c in Calendar.from_ical(body).walk("VCALENDAR")]


def _uids(body: bytes) -> list[str]:
    return [str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")]


def test_kind_values_are_normalised_to_one_cache_entry(server: LiveServer) -> None:
    service: FeedService = server.server.config.app.state.feeds  # type: ignore[attr-defined]
    first = httpx.get(server.url + CASE, params={"kind": "hearing,trial"}, timeout=10)
    assert first.status_code == 200 and len(_uids(first.content)) == 2
    before = service.cached[0]
    variants = [" trial , hearing ", "trial,hearing,trial", "hearing,,trial,",
                "hearing,trial,no-such-kind", "trial,hearing,x\x00y",
                "Hearing,Trial", "HEARING,trial"]  # as CATEGORIES and the pages write them
    for i, kind in enumerate(variants):
        r = httpx.get(server.url + CASE, params={"kind": kind}, timeout=10)
        assert r.status_code == 200 and r.content == first.content, kind
        r = httpx.get(server.url + CASE, params=[("kind", "trial"), ("kind", f"hearing,z{i}")],
                      timeout=10)
        assert r.content == first.content
    assert service.cached[0] == before


def test_kinds_naming_nothing_give_one_empty_feed(server: LiveServer) -> None:
    service: FeedService = server.server.config.app.state.feeds  # type: ignore[attr-defined]
    plain = httpx.get(server.url + CASE, timeout=10)
    before = service.cached[0]
    empties = set()
    for i in range(20):
        r = httpx.get(server.url + CASE, params={"kind": f"bogus-{i}"}, timeout=10)
        assert r.status_code == 200 and _uids(r.content) == []
        assert _names(r.content) == _names(plain.content)
        empties.add(r.headers["etag"])
    assert len(empties) == 1
    assert service.cached[0] == before + 1  # one empty feed for all of them


def test_no_control_character_from_the_query_reaches_the_feed(server: LiveServer) -> None:
    for path in (CASE, "/calendars/all.ics"):
        for kind in ("hearing\x00", "\x00", "hearing,\x1b[31m", "hea\x07ring"):
            r = httpx.get(server.url + path, params={"kind": kind}, timeout=10)
            assert r.status_code == 200
            assert not any(b < 0x20 and b not in b"\r\n" for b in r.content), (path, kind)
            assert "\x00" not in "".join(_names(r.content))


def test_whole_feeds_are_bounded_by_bytes(synced: Settings, store: Store) -> None:
    full = FeedService.from_settings(store, synced).get(None)
    assert full is not None
    budget = len(full.body) * 2  # two of the largest feeds
    service = FeedService(store, FeedService.from_settings(store, synced).options,
                          cache_bytes=budget)
    kinds = ["hearing", "trial", "retrial"]
    for i in range(50):
        chosen = frozenset(k for b, k in enumerate(kinds) if (i + 1) >> b & 1) or None
        for case_id in (None, "people-v-weinstein"):
            assert service.get(case_id, chosen) is not None
            count, used = service.cached
            assert used <= budget, (i, count, used)
    # The least recently used go first: the feed just asked for is still held.
    again = service.get(None, frozenset({"trial"}))
    assert service.get(None, frozenset({"trial"})) is again
    # A feed larger than the whole budget is served, just not kept.
    tiny = FeedService(store, service.options, cache_bytes=16)
    body = tiny.get(None)
    assert body is not None and body.body == full.body and tiny.cached == (0, 0)


def test_cache_size_is_configurable(tmp_path: Path, db_url: str, cal_dir: Path,
                                    store: Store) -> None:
    cfg = write_config(tmp_path / "c.toml", db_url, cal_dir, cache_mb=3)
    service = FeedService.from_settings(store, load_settings(cfg))
    assert service._feeds.maxsize == 3 << 20
    bad = write_config(tmp_path / "bad.toml", db_url, cal_dir, cache_mb=0)
    with pytest.raises(NotifierError, match="cache_mb"):
        load_settings(bad)


def test_server_answers_while_the_cache_warms(synced: Settings, store: Store,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "CACHE_WAIT_S", 0.5)
    service = FeedService.from_settings(store, synced)
    # Holding the cache's lock stands in for a warm-up that takes minutes.
    service._lock.acquire()
    released = False
    try:
        with LiveServer(create_app(synced, store, service)) as srv:
            ready = httpx.get(srv.url + "/readyz", timeout=10)
            assert ready.status_code == 503 and ready.json()["feed_cache"] == "warming"
            assert httpx.get(srv.url + "/healthz", timeout=10).status_code == 200
            busy = httpx.get(srv.url + CASE, timeout=10)
            assert busy.status_code == 503 and busy.headers["retry-after"].isdigit()
            assert httpx.get(srv.url + "/", timeout=10).status_code == 503
            # A request waiting when the warm-up ends gets the feed itself.
            got: list[httpx.Response] = []
            monkeypatch.setattr(web, "CACHE_WAIT_S", 30.0)
            waiter = threading.Thread(
                target=lambda: got.append(httpx.get(srv.url + CASE, timeout=40)))
            waiter.start()
            service._lock.release()
            released = True
            waiter.join(timeout=40)
            assert got and got[0].status_code == 200 and _uids(got[0].content)
            for _ in range(200):  # bounded: the warm-up thread finishes right after
                if httpx.get(srv.url + "/readyz", timeout=10).status_code == 200:
                    break
                threading.Event().wait(0.05)
            assert httpx.get(srv.url + "/readyz", timeout=10).json()["status"] == "ready"
    finally:
        if not released:
            service._lock.release()


def test_port_in_use_is_reported_plainly(synced: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = Daemon(synced, host="127.0.0.1", port=port)
        try:
            with pytest.raises(NotifierError) as err:
                daemon.start()
        finally:
            daemon.store.close()
    msg = str(err.value)
    assert f"cannot listen on 127.0.0.1:{port}" in msg and "in use" in msg


def test_the_port_serves_all_ics_while_the_engine_starts_and_readyz_waits_for_it(
        synced: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's start (integrity check, re-plan) runs after the port answers:
    all.ics from its stored snapshot meanwhile, /readyz 503 "starting" until it is done;
    a failed check stops the HTTP server again and the start raises."""
    from notifier.errors import StoreError
    from notifier.server.scheduler import Engine

    first = Daemon(synced, host="127.0.0.1", port=0)
    first.start()
    first.feeds.warm()
    first.stop()
    release, entered = threading.Event(), threading.Event()
    real_start = Engine.start

    def slow_start(self: Engine) -> None:
        entered.set()
        assert release.wait(30)
        real_start(self)

    monkeypatch.setattr(Engine, "start", slow_start)
    daemon = Daemon(synced, host="127.0.0.1", port=0)
    starting = threading.Thread(target=daemon.start)
    starting.start()
    try:
        assert entered.wait(30)
        url = f"http://127.0.0.1:{daemon.port}"
        assert until(lambda: _answers(url + "/livez"), 30)
        ready = httpx.get(url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["status"] == "starting" and ready.json()["database"] == "checking"
        feed = httpx.get(url + "/calendars/all.ics", timeout=30)
        assert feed.status_code == 200 and b"BEGIN:VEVENT" in feed.content
        release.set()
        starting.join(30)
        assert until(lambda: httpx.get(url + "/readyz", timeout=10).status_code == 200, 30)
    finally:
        release.set()
        starting.join(30)
        daemon.stop()

    def failing_start(self: Engine) -> None:
        raise StoreError("database file x failed its integrity check")

    monkeypatch.setattr(Engine, "start", failing_start)
    broken = Daemon(synced, host="127.0.0.1", port=0)
    try:
        with pytest.raises(StoreError):
            broken.start()
        assert broken._http is not None and not broken._http.is_alive()  # HTTP stopped
        assert broken._socket is not None and broken._socket.fileno() == -1  # port freed
    finally:
        broken.store.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
