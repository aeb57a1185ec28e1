"""The HTTP server, run for real on 127.0.0.1: feeds, validators, pages, other-process changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import vobject
from click.testing import CliRunner
from icalendar import Calendar
from webhelpers import WEINSTEIN, LiveServer, write_config

from notifier.cli import main
from notifier.config import load_settings
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

CASE = "/calendars/people-v-weinstein.ics"


@pytest.fixture
def config(tmp_path: Path, db_url: str, cal_dir: Path) -> Path:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    return write_config(tmp_path / "config.toml", db_url, cal_dir)


@pytest.fixture
def server(config: Path, store: Store, folders: list[tuple[str, Path]]) -> Iterator[LiveServer]:
    assert sync_calendars(store, folders).ok
    with LiveServer(create_app(load_settings(config), store)) as srv:
        yield srv


def test_feed_headers_and_parsers(server: LiveServer) -> None:
    for path in ("/calendars/all.ics", CASE):
        r = httpx.get(server.url + path, timeout=10)
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/calendar; charset=utf-8"
        assert r.headers["etag"].startswith('"') and not r.headers["etag"].startswith('W/')
        assert r.headers["last-modified"].endswith(" GMT")
        assert "no-cache" in r.headers["cache-control"]
        name = path.rsplit("/", 1)[1]
        assert r.headers["content-disposition"] == f'inline; filename="{name}"'
        uids = {str(e["UID"]) for e in Calendar.from_ical(r.content).walk("VEVENT")}
        assert uids == {e.uid.value for e in vobject.readOne(r.text).vevent_list}
        assert "people-v-weinstein/hearing-2025-07-02@notifier" in uids
        again = httpx.get(server.url + path, timeout=10)
        assert again.content == r.content and again.headers["etag"] == r.headers["etag"]


def test_head_and_conditional_get(server: LiveServer) -> None:
    r = httpx.get(server.url + CASE, timeout=10)
    head = httpx.head(server.url + CASE, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == r.headers["etag"]
    assert int(head.headers["content-length"]) == len(r.content)
    cond = httpx.get(server.url + CASE, headers={"If-None-Match": r.headers["etag"]}, timeout=10)
    assert cond.status_code == 304 and cond.content == b""
    assert cond.headers["etag"] == r.headers["etag"]
    listed = httpx.get(server.url + CASE, timeout=10,
                       headers={"If-None-Match": f'"nope", W/{r.headers["etag"]}'})
    assert listed.status_code == 304
    stale = httpx.get(server.url + CASE, headers={"If-None-Match": '"other"'}, timeout=10)
    assert stale.status_code == 200 and stale.content == r.content


def test_unknown_case_is_404(server: LiveServer) -> None:
    for path in ("/calendars/no-such-case.ics", "/cases/no-such-case", "/calendars/x"):
        assert httpx.get(server.url + path, timeout=10).status_code == 404
    assert httpx.head(server.url + "/calendars/no-such-case.ics", timeout=10).status_code == 404


def test_kind_filter(server: LiveServer) -> None:
    r = httpx.get(server.url + CASE, params={"kind": "hearing"}, timeout=10)
    uids = [str(e["UID"]) for e in Calendar.from_ical(r.content).walk("VEVENT")]
    assert uids == ["people-v-weinstein/hearing-2025-07-02@notifier"]
    both = httpx.get(server.url + CASE, params={"kind": "hearing,trial"}, timeout=10)
    assert len(Calendar.from_ical(both.content).walk("VEVENT")) == 2


def test_change_by_another_process_shows_on_next_request(server: LiveServer, config: Path,
                                                         cal_dir: Path) -> None:
    first = httpx.get(server.url + CASE, timeout=10)
    assert httpx.get(server.url + CASE, timeout=10,
                     headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    cal = cal_dir / WEINSTEIN.name
    cal.write_text(cal.read_text().replace("date = 2025-07-02", "date = 2025-07-09"))
    done = subprocess.run([sys.executable, "-m", "notifier", "--config", str(config),
                           "sync"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "moved later" in done.stdout
    r = httpx.get(server.url + CASE, timeout=10, headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 200 and r.headers["etag"] != first.headers["etag"]
    ev = next(e for e in Calendar.from_ical(r.content).walk("VEVENT")
              if str(e["UID"]) == "people-v-weinstein/hearing-2025-07-02@notifier")
    assert ev["SEQUENCE"] == 1 and str(ev.decoded("DTSTART")) == "2025-07-09"


def test_export_writes_the_served_bytes(server: LiveServer, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "public"
    result = CliRunner().invoke(main, ["feed", "export", "--config", str(config),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["all.ics", "people-v-weinstein.ics"]
    for name in ("all.ics", "people-v-weinstein.ics"):
        served = httpx.get(f"{server.url}/calendars/{name}", timeout=10).content
        assert (out / name).read_bytes() == served


def test_index_and_case_pages(server: LiveServer) -> None:
    r = httpx.get(server.url + "/", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "People v. Harvey Weinstein" in html
    assert "Third trial on the third-degree rape charge" in html
    assert "date to be set" in html
    assert 'href="webcal://court.example.org/calendars/all.ics"' in html
    assert 'href="https://court.example.org/calendars/people-v-weinstein.ics"' in html
    assert 'href="webcal://court.example.org/calendars/people-v-weinstein.ics"' in html
    assert 'name="viewport"' in html
    page = httpx.get(server.url + "/cases/people-v-weinstein", timeout=10)
    assert page.status_code == 200 and "Justice Curtis Farber" in page.text
    assert "Prosecutors said they will try Weinstein a third time" in page.text
    # Past dates, most recent first, only on the case page.
    past = page.text.split("Past dates", 1)[1]
    assert past.index("Wed 2 Jul 2025") < past.index("Tue 3 Jun 2025")
    assert "Past dates" not in html


def test_pages_escape_calendar_text(tmp_path: Path, store: Store, write_cal, folders,
                                    db_url: str, cal_dir: Path) -> None:
    write_cal("x.toml", """
        [case]
        id = "x"
        title = "<script>alert(1)</script>"
        [[events]]
        id = "e"
        title = "<b>bold</b>"
        status = "tbd"
        url = "javascript:alert(1)"
        """)
    assert sync_calendars(store, folders).ok
    settings = load_settings(write_config(tmp_path / "c.toml", db_url, cal_dir))
    with LiveServer(create_app(settings, store)) as srv:
        html = httpx.get(srv.url + "/cases/x", timeout=10).text
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<b>bold" not in html and "javascript:" not in html


def test_healthz(server: LiveServer) -> None:
    r = httpx.get(server.url + "/healthz", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["notifications"] == {"pending": 0, "sending": 0, "failed": 0, "dead": 0}


def test_run_command_serves_and_redacts_tokens(config: Path, store: Store, folders) -> None:
    import os
    import re
    import signal
    import time

    assert sync_calendars(store, folders).ok
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "--config", str(config),
                             "run", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        url = None
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            m = re.search(r"serving (http://127\.0\.0\.1:\d+)/", line)
            url = m.group(1) if m else None
        assert url, "notifier run did not report its address"
        r = httpx.get(url + CASE, params={"token": "s3cret-value"}, timeout=10)
        assert r.status_code == 200 and b"BEGIN:VCALENDAR" in r.content
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    rest = out + err
    # uvicorn's own logging config keeps the filter that redacts tokens.
    # The access log line is there, with the token masked.
    assert '"GET /calendars/people-v-weinstein.ics?token=*** HTTP/1.1" 200' in rest
    assert "s3cret-value" not in rest
