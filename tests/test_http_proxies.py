"""Client addresses and the access log against the real server: ``X-Forwarded-For`` is
ignored unless the connection comes from ``[server] trusted_proxies``, so neither the
per-IP sign-up limit nor the access log can be fooled, and no request can break or
forge an access-log line."""

from __future__ import annotations

import logging
import re
import textwrap
from pathlib import Path

import httpx
import pytest
from daemonkit import NotifierRun
from followkit import Site, follow_site
from rawhttp import open_request
from waiting import wait_for

from notifier.config import load_settings
from notifier.errors import ConfigError
from notifier.server.http import install_access_log_filter

# One line: address:port - "METHOD target HTTP/1.x" status, nothing else.
LINE = re.compile(r'^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f:]+):\d+ - "[A-Z]+ [!#-~]+ '
                  r'HTTP/1\.[01]" \d{3}$')
FORGED = '1.2.3.4" GET /admin 200 -'


def _access(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]


def _sign_up(site: Site, client: httpx.Client, email: str,
             forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    r = client.post("/follow", data={**site.form(client), "email": email}, headers=headers)
    return r.status_code


def _all_lines_clean(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = _access(caplog)
    assert lines, "no access-log line was written"
    bad = [line for line in lines if not LINE.match(line)]
    assert not bad, bad
    assert "/admin" not in caplog.text
    return lines


def test_forwarded_headers_are_ignored_by_default(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with follow_site(tmp_path, per_ip=2, access_log=True) as site, site.client() as client:
        assert _sign_up(site, client, "a@example.org") == 200
        assert _sign_up(site, client, "b@example.org") == 200
        assert _sign_up(site, client, "c@example.org") == 429
        # Claiming to be someone else changes nothing: still this client's limit.
        for forwarded in ("203.0.113.7", "203.0.113.7, 198.51.100.1", FORGED):
            assert _sign_up(site, client, "c@example.org", forwarded) == 429, forwarded
        site.dispatch_until(2, "two confirmation emails")
        site.dispatcher.run_once()
        assert len(site.mails) == 2 and not site.to("c@example.org")
        lines = _all_lines_clean(caplog)
        posts = [line for line in lines if '"POST /follow ' in line]
        assert len(posts) == 6 and all(line.startswith("127.0.0.1:") for line in posts)
        assert "203.0.113.7" not in caplog.text and "1.2.3.4" not in caplog.text
        assert site.settings.server.trusted_proxies == []  # the default


def test_forwarded_headers_from_a_trusted_proxy_name_the_client(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    proxies = ["10.9.8.7", "127.0.0.0/8"]
    with follow_site(tmp_path, per_ip=2, access_log=True,
                     server={"trusted_proxies": proxies}) as site, site.client() as client:
        assert site.settings.server.trusted_proxies == ["10.9.8.7/32", "127.0.0.0/8"]
        assert _sign_up(site, client, "a@example.org", "203.0.113.7") == 200
        # A chain through another trusted proxy: the client is the last untrusted hop.
        assert _sign_up(site, client, "b@example.org", "203.0.113.7, 10.9.8.7") == 200
        assert _sign_up(site, client, "c@example.org", "203.0.113.7") == 429
        # What the client put in front of the chain is not believed.
        assert _sign_up(site, client, "c@example.org", "198.51.100.1, 203.0.113.7") == 429
        assert _sign_up(site, client, "c@example.org", "203.0.113.8") == 200
        # The proxy's own requests (no header) and a hop that is no IP address count
        # for the proxy's address.
        assert _sign_up(site, client, "d@example.org") == 200
        assert _sign_up(site, client, "e@example.org", FORGED) == 200
        assert _sign_up(site, client, "f@example.org", "203.0.113.9\x1b[2J") == 429
        site.dispatch_until(5, "five confirmation emails")
        lines = _all_lines_clean(caplog)
        posts = [line.split(" - ", 1)[0] for line in lines if '"POST /follow ' in line]
        assert posts[:5] == ["203.0.113.7:0"] * 4 + ["203.0.113.8:0"]
        assert [p.split(":")[0] for p in posts[5:]] == ["127.0.0.1"] * 3


def test_no_request_breaks_or_forges_an_access_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    targets = ['/cases/x"%20200%20-', '/calendars/a\\b.ics', '/?q="x"&r=\\"',
               '/nowhere"HTTP/1.1"', "/%0d%0aforged%20line"]
    for trusted in ([], ["127.0.0.1"]):
        caplog.clear()
        (tmp_path / f"t{len(trusted)}").mkdir()
        with follow_site(tmp_path / f"t{len(trusted)}", access_log=True,
                         server={"trusted_proxies": trusted} if trusted else None) as site:
            for target in targets:
                conn = open_request(site.url, "GET", target,
                                    {"X-Forwarded-For": FORGED, "Connection": "close",
                                     "User-Agent": 'a" 500 "b'})
                try:
                    assert conn.wait_closed(10) and conn.status in (200, 404, 503), conn.data
                finally:
                    conn.close()
            wait_for(lambda: len(_access(caplog)) >= len(targets), 10, "the access lines")
        lines = _all_lines_clean(caplog)
        assert len(lines) == len(targets)
        assert all(line.startswith("127.0.0.1:") for line in lines)


def test_logged_values_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    install_access_log_filter()
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', '9.9.9.9" x\r\ny',
                                             "GET", "/a\\b\x1b[31m\x85", "1.1", 200)
    [line] = _access(caplog)
    assert line == '9.9.9.9\\" x\\x0d\\x0ay - "GET /a\\\\b\\x1b[31m\\x85 HTTP/1.1" 200'


@pytest.mark.parametrize(("value", "why"), [
    ("10.0.0.300", "not an IP address or network"),
    ("*", "not an IP address or network"),
    ("proxy.internal", "not an IP address or network"),
    ("10.0.0.5/24", "host bits set"),
])
def test_a_bad_trusted_proxy_is_refused_naming_key_and_value(
        tmp_path: Path, value: str, why: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[server]\ntrusted_proxies = ["10.0.0.5", "{value}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    text = str(e.value)
    assert "config.toml" in text and "server.trusted_proxies[1]" in text
    assert repr(value) in text and why in text


def _daemon_lines(tmp_path: Path, proxies: list[str]) -> list[str]:
    (tmp_path / "calendars").mkdir(parents=True)
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(f"""\
        [database]
        url = "sqlite:///{tmp_path / 'n.db'}"
        """) + (f"[server]\ntrusted_proxies = {proxies!r}\n".replace("'", '"')
                if proxies else ""), encoding="utf-8")
    run = NotifierRun(cfg, "--host", "127.0.0.1", "--port", "0")
    try:
        wait_for(lambda: run.serving, 60, "the daemon to serve", lambda: run.output)
        url = f"http://127.0.0.1:{run.port}"
        for forwarded in ("203.0.113.7", FORGED):
            assert httpx.get(url + "/livez", headers={"X-Forwarded-For": forwarded},
                             timeout=10).status_code == 200
        wait_for(lambda: run.output.count('"GET /livez HTTP/1.1" 200') >= 2, 10,
                 "two access lines", lambda: run.output)
    finally:
        assert run.stop() == 0
    return [line for line in run.output.splitlines() if "GET /livez" in line]


def test_the_daemon_believes_forwarded_headers_only_from_its_trusted_proxies(
        tmp_path: Path) -> None:
    plain = _daemon_lines(tmp_path / "plain", [])
    assert len(plain) == 2 and all("uvicorn.access: 127.0.0.1:" in line for line in plain)
    trusted = _daemon_lines(tmp_path / "trusted", ["127.0.0.1"])
    assert len(trusted) == 2
    assert "uvicorn.access: 203.0.113.7:0 - " in trusted[0]
    assert "uvicorn.access: 127.0.0.1:" in trusted[1]  # the forged hop is not an address
    assert not any("/admin" in line for line in plain + trusted)
