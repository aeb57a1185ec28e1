"""The HTML pages' answers (without a browser; tests/test_browser.py looks at them in
one): cases ordered by next date, the next row marked, moved-from, a helpful 404 that
says no more in private mode for a wrong token than for an unknown case, and the
start-up warning about a localhost base_url."""

from __future__ import annotations

import logging
import os
import re
import signal
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from outboxhelpers import make_settings
from webhelpers import LiveServer

from notifier.config import Settings
from notifier.feeds.tokens import create_token
from notifier.server import daemon as daemon_mod
from notifier.server.pages import base_url_port_warning, base_url_warning
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

TZ = ZoneInfo("America/New_York")


def _case(folder: Path, case_id: str, title: str, events: str) -> None:
    (folder / f"{case_id}.toml").write_text(f"""
[case]
id = "{case_id}"
title = "{title}"
timezone = "America/New_York"
{events}""", encoding="utf-8")


def _ev(eid: str, when: str, status: str = "scheduled") -> str:
    return (f'[[events]]\nid = "{eid}"\nkind = "hearing"\ntitle = "Hearing {eid}"\n{when}\n'
            f'status = "{status}"\n')


def test_cases_by_next_date_next_row_marked_and_moved_from(tmp_path: Path,
                                                           db_url: str) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    d = datetime.now(TZ).date()
    # Titles in the opposite order of their next dates; "Zeta" has only a cancelled date.
    _case(folder, "alpha", "Alpha v. Late", _ev("a1", f"start = {d + timedelta(days=9)}T09:00:00"))
    _case(folder, "beta", "Beta v. Soon", _ev("b0", f"start = {d + timedelta(days=2)}T09:00:00",
                                               "cancelled")
          + _ev("b1", f"start = {d + timedelta(days=4)}T09:00:00")
          + _ev("b2", f"start = {d + timedelta(days=6)}T09:00:00"))
    _case(folder, "zeta", "Zeta v. None", _ev("z1", f"start = {d + timedelta(days=1)}T09:00:00",
                                              "cancelled"))
    store = Store(db_url)
    settings = make_settings(tmp_path, db_url)
    try:
        sync_calendars(store, [("calendars", folder)])
        _case(folder, "alpha", "Alpha v. Late",
              _ev("a1", f"start = {d + timedelta(days=8)}T11:00:00"))  # moved earlier
        sync_calendars(store, [("calendars", folder)])
        with LiveServer(create_app(settings, store)) as srv:
            html = httpx.get(srv.url + "/", timeout=10).text
            case = httpx.get(srv.url + "/cases/alpha", timeout=10).text
    finally:
        store.close()
    order = re.findall(r'<section id="([^"]+)"', html)
    assert order == ["beta", "alpha", "zeta"]
    beta = html.split('id="beta"')[1].split("</section>")[0]
    # The next date is b1, not the cancelled b0 listed before it.
    assert re.search(r'<li class="next">\s*<span class="badges">.*?</span>\s*'
                     r'<div class="when ">[^<]+</div>\s*<div>Hearing: Hearing b1', beta, re.S)
    assert beta.count('class="next"') == 1 and 'class=" struck"' in beta
    was = d + timedelta(days=9)
    assert f"Moved from {was:%a} {was.day} {was:%b %Y} 09:00 E" in case
    assert 'href="http://localhost:8080/"' in case and "All cases" in case
    zeta = html.split('id="zeta"')[1].split("</section>")[0]
    assert "Next: no date scheduled" in zeta and 'class=" struck"' in zeta


def test_404_is_helpful_and_the_same_for_a_wrong_token_and_an_unknown_case(
        tmp_path: Path, db_url: str) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    _case(folder, "c", "People v. Test", _ev("h", "start = 2030-01-02T09:00:00"))
    store = Store(db_url)
    try:
        sync_calendars(store, [("calendars", folder)])
        _row, token = create_token(store, "c")
        settings = make_settings(tmp_path, db_url, feed={"private": True})
        with LiveServer(create_app(settings, store)) as srv:
            ok = httpx.get(f"{srv.url}/cases/c?token={token}", timeout=10)
            wrong = httpx.get(f"{srv.url}/cases/c?token=nope", timeout=10)
            unknown = httpx.get(f"{srv.url}/cases/zzz?token={token}", timeout=10)
            feed = httpx.get(f"{srv.url}/calendars/zzz.ics?token={token}", timeout=10)
    finally:
        store.close()
    assert ok.status_code == 200 and f"/?token={token}" in ok.text  # the back link keeps it
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text == unknown.text  # nothing tells a case that exists from one that doesn't
    assert "Page not found" in wrong.text and "token" in wrong.text
    assert 'href="http://localhost:8080/"' in wrong.text
    assert feed.status_code == 404 and feed.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(("base", "host", "warns"), [
    ("http://localhost:8080", "0.0.0.0", True),
    ("http://127.0.0.1:8080", "::", True),
    ("http://[::1]:8080", "0.0.0.0", True),
    ("http://localhost:8080", "127.0.0.1", False),
    ("https://court.example.org", "0.0.0.0", False),
    ("http://localhost.example.org", "0.0.0.0", False),
])
def test_base_url_warning(base: str, host: str, warns: bool) -> None:
    why = base_url_warning(base, host)
    assert (why is not None) == warns
    if why:
        assert base in why and "all interfaces" in why and "base_url" in why


def _start_lines(settings: Settings, host: str, caplog: pytest.LogCaptureFixture
                 ) -> list[logging.LogRecord]:
    """What `notifier run` logs at start (stopped by SIGTERM once it serves)."""

    class StopWhenServing(logging.Handler):
        """SIGTERM (what an operator sends) once the start line is logged."""

        def emit(self, record: logging.LogRecord) -> None:
            if "serving" in record.getMessage():
                os.kill(os.getpid(), signal.SIGTERM)

    logger = logging.getLogger("notifier.server.daemon")
    stopper = StopWhenServing(logging.INFO)
    logger.addHandler(stopper)
    try:
        with caplog.at_level(logging.INFO, logger="notifier.server.daemon"):
            assert daemon_mod.run(settings, host=host, port=0, shutdown_timeout=5) == 0
    finally:
        logger.removeHandler(stopper)
    return [r for r in caplog.records if r.name == "notifier.server.daemon"]


def test_the_daemon_warns_at_start_when_links_would_point_at_localhost(
        tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, db_url, calendars={"paths": [str(tmp_path)]},
                             server={"host": "0.0.0.0", "port": 0})
    lines = _start_lines(settings, "0.0.0.0", caplog)
    assert any(re.search(r"base_url is http://localhost:\d+ but the server listens on all "
                         r"interfaces", r.getMessage()) and r.levelno == logging.WARNING
               for r in lines)


def test_a_localhost_base_url_with_another_port_is_warned_about(
        tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, db_url, calendars={"paths": [str(tmp_path)]},
                             server={"base_url": "http://localhost:8080", "port": 0})
    lines = _start_lines(settings, "127.0.0.1", caplog)
    (serving,) = [r.getMessage() for r in lines if "serving" in r.getMessage()]
    port = int(re.findall(r"serving http://127.0.0.1:(\d+)/", serving)[0])
    assert "(base URL http://localhost:8080)" in serving  # as set: it is not replaced
    warned = [r.getMessage() for r in lines if r.levelno == logging.WARNING]
    assert any(f"base_url is http://localhost:8080 but the server listens on port {port}"
               in w for w in warned), warned


@pytest.mark.parametrize(("base", "port", "warns"), [
    ("http://localhost:8080", 8091, True),
    ("http://127.0.0.1:8080", 8091, True),
    ("http://[::1]:8080", 8091, True),
    ("http://localhost", 8080, True),  # port 80
    ("http://localhost:8091", 8091, False),
    ("https://court.example.org:8443", 8091, False),  # not this machine: a proxy's port
    ("http://localhost.example.org:8080", 8091, False),
])
def test_base_url_port_warning(base: str, port: int, warns: bool) -> None:
    why = base_url_port_warning(base, port)
    assert (why is not None) == warns
    if why:
        assert base in why and f"port {port}" in why


def test_base_url_not_set_follows_the_port_listened_on(tmp_path: Path, db_url: str) -> None:
    unset = make_settings(tmp_path, db_url, server={"port": 9000})
    assert unset.server.public_url() == "http://localhost:9000"  # [server] port
    assert unset.listening_on(8091).server.base_url == "http://localhost:8091"  # --port
    given = make_settings(tmp_path, db_url, server={"base_url": "https://c.example.org/"})
    assert given.listening_on(8091).server.base_url == "https://c.example.org"
    daemon = daemon_mod.Daemon(make_settings(tmp_path, db_url, server={"port": 0}),
                               host="127.0.0.1")
    try:  # port 0: the port the system chose, known before anything links to it
        assert daemon.settings.server.base_url == f"http://localhost:{daemon.port}"
        assert daemon.feeds.options.base_url == f"http://localhost:{daemon.port}"
    finally:
        daemon._socket.close()  # type: ignore[union-attr]
        daemon.store.close()
