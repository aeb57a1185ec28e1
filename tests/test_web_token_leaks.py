"""Tokens stay out of logs and off other hosts, however the request spells them.

A real server with private feeds (and one with ``[subscriptions]``) is asked for its
token pages with the token's name or route percent-encoded, which the server decodes
to the same route; the access log must never show the token. Token pages carry
``Referrer-Policy: no-referrer`` and ``Cache-Control: private, no-cache``, and a
trailing slash gets a 404, not a redirect built from the client's ``Host`` header.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from followkit import confirm, follow_site
from test_follow_calendar import ADDRESS, _calendar_url, _manage_url
from webhelpers import WEINSTEIN, LiveServer, write_config

from notifier.config import load_settings
from notifier.feeds.tokens import create_token
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

CASE = "people-v-weinstein"


@pytest.fixture
def private(tmp_path: Path, db_url: str, cal_dir: Path, store: Store,
            folders: list[tuple[str, Path]]) -> Iterator[tuple[LiveServer, str]]:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    config = write_config(tmp_path / "config.toml", db_url, cal_dir, private=True)
    assert sync_calendars(store, folders).ok
    _row, token = create_token(store)
    with LiveServer(create_app(load_settings(config), store), access_log=True) as srv:
        yield srv, token


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records) + caplog.text


def _get(url: str) -> httpx.Response:
    # Sent as written: httpx keeps existing %XX escapes.
    return httpx.get(url, timeout=10, follow_redirects=False)


def test_percent_encoded_token_names_are_redacted(private: tuple[LiveServer, str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    srv, token = private
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    served = [f"/calendars/all.ics?%74oken={token}",
              f"/calendars/{CASE}.ics?%74%6F%6B%65%6E={token}",
              f"/cases/{CASE}?kind=x&t%6Fken={token}", f"/?to%6ben={token}&x=1",
              f"/calendars/all.ics?%74oken={token[:5]}%{ord(token[5]):02X}{token[6:]}"]
    for path in served:
        r = _get(srv.url + path)
        assert r.status_code == 200, path  # the server decoded the name: a real token
        assert r.request.url.raw_path.decode().startswith(path.split("?")[0])
    for path in [f"/calendars/all.ics?TOKEN={token}", f"/calendars/all.ics?Tok%45n={token}",
                 f"/calendars/all.ics?a=1%26token%3D{token}"]:
        _get(srv.url + path)  # not a token to the server, but logged all the same
    logged = _logged(caplog)
    assert logged.count("GET /") >= 8  # the access log saw them...
    assert "?%74oken=<redacted>" in logged
    assert token not in logged and token[6:] not in logged  # ...but never the token


def test_token_pages_headers_and_no_slash_redirects(private: tuple[LiveServer, str]) -> None:
    srv, token = private
    for path in ["/", f"/cases/{CASE}"]:
        r = _get(f"{srv.url}{path}?token={token}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "private, no-cache"
    feed = _get(f"{srv.url}/calendars/all.ics?token={token}")
    assert feed.status_code == 200 and feed.headers["Cache-Control"] == "private, no-cache"
    missing = _get(f"{srv.url}/cases/{CASE}?token=wrong")
    assert missing.status_code == 404 and missing.headers["Referrer-Policy"] == "no-referrer"
    # A trailing slash: no redirect, so no Location naming the client's Host.
    for path in ["/calendars/all.ics/", f"/cases/{CASE}/", "/livez/"]:
        r = httpx.get(f"{srv.url}{path}?token={token}", headers={"Host": "evil.example"},
                      timeout=10, follow_redirects=False)
        assert r.status_code == 404 and "location" not in r.headers, (path, r.headers)
        assert "evil.example" not in r.text and token not in r.text


def test_public_pages_have_no_referrer_and_stay_shareable(
        tmp_path: Path, db_url: str, cal_dir: Path, store: Store,
        folders: list[tuple[str, Path]]) -> None:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    config = write_config(tmp_path / "config.toml", db_url, cal_dir)
    assert sync_calendars(store, folders).ok
    with LiveServer(create_app(load_settings(config), store)) as srv:
        for path in ["/", f"/cases/{CASE}", "/cases/nope"]:
            r = _get(srv.url + path)
            assert r.headers["Referrer-Policy"] == "no-referrer", path
            assert r.headers["Cache-Control"] == "no-cache", path


def test_follow_tokens_percent_encoded_are_redacted(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with follow_site(tmp_path, lead_in=timedelta(days=3), access_log=True) as site, \
            site.client() as client:
        confirm(site, client, ADDRESS)
        manage = _manage_url(site)
        manage_token = httpx.URL(manage).params["token"]
        page = client.get(manage)
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        calendar = _calendar_url(page.text)
        cal_token = calendar.rsplit("/", 1)[1].removesuffix(".ics")
        encoded_manage = manage.replace("?token=", "?%74oken=")
        assert client.get(encoded_manage).status_code == 200  # decoded: the manage page
        for path in [f"/follow/%63alendar/{cal_token}.ics", f"/follow%2Fcalendar/{cal_token}.ics",
                     f"/%66ollow/calendar/{cal_token}%2Eics",
                     f"/follow/calendar/{cal_token[:3]}%{ord(cal_token[3]):02X}{cal_token[4:]}.ics"]:
            r = client.get(path)
            assert r.status_code == 200 and "BEGIN:VCALENDAR" in r.text, path
            assert r.headers["Cache-Control"] == "private, no-cache"
        r = client.get(f"/follow/manage/?token={manage_token}", headers={"Host": "evil.example"})
        assert r.status_code == 404 and "location" not in r.headers
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records
                       if not r.name.startswith("mail.log"))
    assert re.search(r"/follow/%63alendar/<redacted>", logged)
    assert "?%74oken=<redacted>" in logged
    for secret in (manage_token, cal_token, cal_token[4:]):
        assert secret not in logged
