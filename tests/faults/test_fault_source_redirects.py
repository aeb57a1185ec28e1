"""Fault suite, source redirects: custom headers and credentials stay with their origin,
redirects into the intranet are refused for public sources, errors never quote replies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, ics, make_settings, source

from notifier.sources import FetchError, fetch_source
from notifier.sources.fetch import fetch_url, resolve_host
from notifier.store import Store

SECRET = "X-Api-Key"


@pytest.fixture
def a() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def b() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


def _public_home(host: str) -> list[str]:
    """DNS as if the configured server (127.0.0.1 here) were a public host."""
    return ["93.184.216.34"] if host == "127.0.0.1" else resolve_host(host)


def test_headers_and_credentials_are_not_sent_to_another_origin(a: FeedServer,
                                                                b: FeedServer) -> None:
    a.routes["/old.ics"] = Route(redirect="/p.ics")  # same origin: keeps them
    a.routes["/p.ics"] = Route(redirect=b.url("/p.ics"))  # another port: another origin
    b.routes["/p.ics"] = Route(body=ics(BASE))
    url = f"http://clerk:pa55@127.0.0.1:{a.port}/old.ics"
    got = fetch_url(url, name="s", headers={SECRET: "k3y-123"})
    assert got.body and b"h1@court" in got.body
    (p1, h1), (p2, h2) = a.requests
    assert (p1, p2) == ("/old.ics", "/p.ics")
    for h in (h1, h2):
        assert h.get(SECRET) == "k3y-123" and h.get("Authorization", "").startswith("Basic ")
    ((path, hb),) = b.requests
    assert path == "/p.ics" and SECRET not in hb and "Authorization" not in hb
    assert "k3y-123" not in repr(hb) and "User-Agent" in hb


def test_a_public_source_may_not_redirect_into_the_intranet(a: FeedServer,
                                                            b: FeedServer) -> None:
    b.routes["/admin"] = Route(body=b"root:x:0:0 internal secret", content_type="text/plain")
    for target in (f"http://localhost:{b.port}/admin", "http://169.254.169.254/latest/",
                   f"http://[::ffff:127.0.0.1]:{b.port}/admin", "http://10.1.2.3/x"):
        a.routes["/p.ics"] = Route(redirect=target)
        with pytest.raises(FetchError) as e:
            fetch_url(f"http://127.0.0.1:{a.port}/p.ics", name="s", resolve=_public_home)
        text = str(e.value)
        assert "refused" in text and "loopback, private or reserved" in text, text
        assert "internal secret" not in text and "/admin" not in text and "/latest" not in text
    assert b.requests == []  # never contacted


def test_an_intranet_source_may_redirect_within_the_intranet(a: FeedServer,
                                                             b: FeedServer) -> None:
    a.routes["/p.ics"] = Route(redirect=f"http://localhost:{b.port}/p.ics")
    b.routes["/p.ics"] = Route(body=ics(BASE))
    got = fetch_url(f"http://127.0.0.1:{a.port}/p.ics", name="s")
    assert got.body and b"h1@court" in got.body


def test_redirects_to_other_schemes_are_refused(a: FeedServer) -> None:
    a.routes["/p.ics"] = Route(redirect="file:///etc/passwd")
    with pytest.raises(FetchError, match="only http and https are followed"):
        fetch_url(a.url("/p.ics"), name="s")


class _Chatty(BaseHTTPRequestHandler):
    """Answers 500 with a reason phrase and a body that quote internal data."""

    def do_GET(self) -> None:
        body = b"stack trace: password=hunter2"
        self.send_response(500, "db password=hunter2")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_last_error_gives_the_status_and_standard_reason_only(store: Store, tmp_path: Path,
                                                             db_url: str) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Chatty)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        cfg = make_settings(tmp_path, db_url, {
            "name": "part-99", "url": f"http://127.0.0.1:{httpd.server_address[1]}/p.ics",
            "case": "c"})
        rep = fetch_source(store, source(cfg), NOW, hook=None)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    port = httpd.server_address[1]
    assert rep.error == (f"source 'part-99': http://127.0.0.1:{port}/… answered HTTP 500 "
                         "Internal Server Error")
