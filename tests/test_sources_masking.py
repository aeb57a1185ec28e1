"""Secret feed URLs (the secret in the path) show only scheme and host, everywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, ics, make_settings, source

from notifier.cli import main
from notifier.display import mask_url, mask_urls
from notifier.server.health import health_report
from notifier.sources import HoldNotice, fetch_source, poll_due_sources, source_status
from notifier.store import Store

SECRET = "private-0123abcd"
PATH = f"/calendar/ical/x%40group/{SECRET}/basic.ics"


def test_mask_url_shows_scheme_and_host_only() -> None:
    assert mask_url(f"https://calendar.google.com{PATH}") == "https://calendar.google.com/…"
    assert mask_url("https://user:pw@outlook.office365.com:8443/owa/calendar/abc/reachcalendar"
                    ".ics?x=1#f") == "https://outlook.office365.com:8443/…"
    assert mask_url("webcal://p42-caldav.icloud.com/published/2/MTIzNDU2") == \
        "webcal://p42-caldav.icloud.com/…"
    assert mask_url("https://court.example.org") == "https://court.example.org/…"
    assert mask_url("calendars/part99.ics") == "calendars/part99.ics"
    assert mask_url("file:///srv/feeds/part99.ics") == "file:///srv/feeds/part99.ics"
    assert mask_urls(f"GET 'https://calendar.google.com{PATH}' failed") == \
        "GET 'https://calendar.google.com/…' failed"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


def _config(tmp_path: Path, db_url: str, url: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"

[[sources]]
name = "part-99"
url = "{url}"
case = "c"
""", encoding="utf-8")
    return cfg


def _leaks(*texts: Any) -> list[str]:
    return [str(t) for t in texts if SECRET in str(t) or "basic.ics" in str(t)]


def test_cli_status_health_and_errors_hide_the_path(
        tmp_path: Path, db_url: str, store: Store, server: FeedServer,
        caplog: pytest.LogCaptureFixture) -> None:
    url = server.url(PATH)
    host = url.split("/calendar/")[0]
    cfg = _config(tmp_path, db_url, url)
    runner = CliRunner()
    server.routes[PATH] = Route(status=500)
    with caplog.at_level(logging.DEBUG):
        fetched = runner.invoke(main, ["--config", str(cfg), "sources", "fetch", "part-99"])
        table = runner.invoke(main, ["--config", str(cfg), "sources"])
        as_json = runner.invoke(main, ["--config", str(cfg), "sources", "--json"])
    assert fetched.exit_code == 1 and f"{host}/… answered HTTP 500" in fetched.output
    assert f"{host}/…" in table.output and "error: source 'part-99'" in table.output
    [status] = json.loads(as_json.output)
    assert status["url"] == f"{host}/…" and status["failures"] == 1
    settings = make_settings(tmp_path, db_url, {"name": "part-99", "url": url, "case": "c"})
    health = health_report(store, None, settings).body
    assert health["sources"][0]["url"] == f"{host}/…"
    logs = [r.getMessage() for r in caplog.records]
    assert _leaks(fetched.output, table.output, as_json.output, health, *logs) == []


def test_hold_notice_and_network_errors_hide_the_path(
        tmp_path: Path, db_url: str, store: Store, server: FeedServer,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    url = server.url(PATH)
    cfg = make_settings(tmp_path, db_url, {"name": "part-99", "url": url, "case": "c",
                                           "missing_fetches": 1})
    notices: list[HoldNotice] = []
    server.routes[PATH] = Route(body=ics(BASE))
    with caplog.at_level(logging.DEBUG):
        fetch_source(store, source(cfg), NOW, hook=None)
        server.routes[PATH] = Route(body=ics({}))
        rep = fetch_source(store, source(cfg), NOW + timedelta(hours=1), hook=None,
                           on_hold=lambda _s, n, _t: notices.append(n))
        assert rep.status == "held" and len(notices) == 1
        # Nothing listens on port 9 of 127.0.0.1: a connection error quoting the URL.
        closed = make_settings(tmp_path, db_url, {
            "name": "closed", "url": f"http://127.0.0.1:9{PATH}", "case": "c", "timeout": "2s"})
        err = fetch_source(store, source(closed), NOW, hook=None)
        assert err.status == "error" and "http://127.0.0.1:9/…" in (err.error or "")

        def broken(*_a: object, **_k: object) -> None:
            raise RuntimeError(f"unexpected trouble with {url}")

        monkeypatch.setattr("notifier.sources.poll.fetch_url", broken)
        [bad] = poll_due_sources(store, closed, NOW + timedelta(days=1), hook=None)
        assert bad.status == "error" and "unexpected trouble" in (bad.error or "")
    statuses = [st.as_dict() for st in source_status(store, closed)]
    logs = [r.getMessage() for r in caplog.records]
    assert "/…" in notices[0].text
    assert _leaks(notices[0].text, notices[0].url, err.error, bad.error, statuses, *logs) == []
