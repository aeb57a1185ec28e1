"""Request bodies against the real server: size, type and time limits before the CSRF
check, quiet disconnects, and the forms (browser and RFC 8058 one-click) still working.

Raw sockets (:mod:`rawhttp`) send what clients would not: a huge ``Content-Length``,
chunked bodies that do not end, a byte at a time, a connection dropped mid-body.
``client_timeout`` is 2 s here, so every wait is a few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from followkit import CASE, Site, follow_site, link
from rawhttp import Conn, open_request
from sqlmodel import func, select
from waiting import wait_for
from webhelpers import LiveServer

from notifier.config import parse_settings
from notifier.server import forms
from notifier.server.web import create_app
from notifier.store import Store
from notifier.store.subscribers import Subscriber

TIMEOUT_S = 2
FORM = {"Content-Type": forms.URLENCODED}
ADDRESS = "jane.doe@example.org"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with follow_site(tmp_path, server={"client_timeout": f"{TIMEOUT_S}s"}) as s:
        yield s


def _subscribers(site: Site) -> int:
    with site.store.read() as s:
        return int(s.exec(select(func.count()).select_from(Subscriber)).one())


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or "Exception in ASGI" in r.getMessage()]
    assert not bad, "\n".join(caplog.text.splitlines()[-60:])


def test_a_huge_content_length_is_refused_before_the_body(site: Site) -> None:
    for path in ("/follow", "/follow/manage", "/follow/confirm", "/follow/unsubscribe"):
        for size in (forms.FORM_LIMIT + 1, 200 * 1024 * 1024):
            conn = open_request(site.url, "POST", path,
                                {**FORM, "Content-Length": str(size)}, b"email=a")
            try:
                # Answered with only the head sent: the body was never waited for.
                assert conn.wait_closed(TIMEOUT_S), (path, size, conn.data)
                assert conn.status == 413, (path, conn.data)
                assert "too large" in conn.body and str(forms.FORM_LIMIT) in conn.body
            finally:
                conn.close()
    assert _subscribers(site) == 0


def test_only_urlencoded_forms_are_read(site: Site) -> None:
    # A 300 MB multipart upload with no cookie: refused at once, nothing spooled.
    conn = open_request(site.url, "POST", "/follow",
                        {"Content-Type": "multipart/form-data; boundary=xyz",
                         "Content-Length": str(300 * 1024 * 1024)}, b"--xyz\r\n")
    try:
        assert conn.wait_closed(TIMEOUT_S) and conn.status == 415, conn.data
        assert "application/x-www-form-urlencoded" in conn.body
    finally:
        conn.close()
    # A well-formed sign-up (CSRF cookie and token) sent as multipart: refused too.
    with site.client() as client:
        fields = {**site.form(client), "email": ADDRESS}
        r = client.post("/follow", data=fields, files={"note": ("a.txt", b"hello")})
        assert r.status_code == 415 and "x-www-form-urlencoded" in r.text
        r = client.post("/follow", content=b'{"email": "x"}',
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 415 and "not application/json" in r.text
        r = client.post("/follow", content=b"email=%FF%FE", headers=FORM)
        assert r.status_code == 400 and "UTF-8" in r.text
    site.dispatcher.run_once()
    assert _subscribers(site) == 0 and site.mails == []


def test_a_chunked_body_is_cut_off_at_the_limit(site: Site) -> None:
    conn = open_request(site.url, "POST", "/follow",
                        {**FORM, "Transfer-Encoding": "chunked"})
    try:
        chunk = b"a" * 1024
        sent = 0
        for _ in range(forms.FORM_LIMIT // len(chunk) + 4):  # just past the limit
            if not conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
                break
            sent += len(chunk)
        assert conn.wait_closed(TIMEOUT_S), conn.data
        assert conn.status == 413, conn.data
        assert sent <= forms.FORM_LIMIT + 4 * len(chunk)
        # A chunked form within the limit is read like any other.
        with site.client() as client:
            data = httpx.QueryParams({**site.form(client), "email": ADDRESS})

            def pieces() -> Iterator[bytes]:
                text = str(data).encode()
                yield from (text[i:i + 7] for i in range(0, len(text), 7))
            r = client.post("/follow", content=pieces(), headers=FORM)
            assert r.status_code == 200 and "Check your inbox" in r.text
    finally:
        conn.close()
    # The sign-up is stored after its answer: the one within the limit, only it.
    wait_for(lambda: _subscribers(site) == 1, 10, "the chunked sign-up to be stored")


def test_slow_bodies_get_408_or_are_closed_and_others_are_served(site: Site) -> None:
    conns: dict[str, list[Conn]] = {"form": [], "no-reader": []}
    t0 = time.monotonic()
    try:
        for i in range(30):  # a body of 1,000 bytes, one byte every half second
            path = "/follow" if i % 3 == 0 else "/follow/manage" if i % 3 == 1 else \
                "/follow/confirm"
            conns["form"].append(open_request(site.url, "POST", path,
                                              {**FORM, "Content-Length": "1000"}, b"t"))
        for i in range(10):  # routes that answer without reading the body
            path = "/nowhere" if i % 2 else "/follow/unsubscribe?token=nope"
            conns["no-reader"].append(open_request(site.url, "POST", path,
                                                   {**FORM, "Content-Length": "1000"}, b"t"))
        every = conns["form"] + conns["no-reader"]
        with site.client() as client:  # a reader of the site is served meanwhile
            assert client.get(f"/cases/{CASE}").status_code == 200
        deadline = t0 + 2 * TIMEOUT_S + 4
        while time.monotonic() < deadline and not all(c.poll() for c in every):
            for c in every:
                c.send(b"o")
            time.sleep(0.5)
        still = [c for c in every if not c.closed]
        assert not still, f"{len(still)} slow bodies still open after {deadline - t0:.0f}s"
        for c in conns["form"]:
            assert c.status == 408, c.data
            assert "did not arrive" in c.body
            assert c.closed_at is not None and c.closed_at - t0 < TIMEOUT_S + 3
        assert {c.status for c in conns["no-reader"]} == {404, 400}
        slowest = max(c.closed_at or 0 for c in every) - t0
    finally:
        for c in conns["form"] + conns["no-reader"]:
            c.close()
    print(f"\nSLOW BODIES: connections={len(every)} client_timeout_s={TIMEOUT_S} "
          f"all_closed_after_s={slowest:.1f}")


def test_a_client_gone_mid_body_ends_quietly(site: Site,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for path in ("/follow", "/follow/manage"):
        conn = open_request(site.url, "POST", path, {**FORM, "Content-Length": "5000"},
                            b"email=" + b"x" * 100)
        time.sleep(0.2)
        conn.close()
    wait_for(lambda: sum("disconnected while sending the request body" in r.getMessage()
                         for r in caplog.records) == 2, 10, "two disconnect lines",
             lambda: caplog.text)
    _no_traceback(caplog)
    lines = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert all(r.levelno == logging.INFO and r.name == "notifier.server.forms" for r in lines)
    assert "POST /follow/manage" in caplog.text
    with site.client() as client:  # and the server goes on serving
        assert site.sign_up(client, ADDRESS).status_code == 200


def test_browser_forms_and_one_click_unsubscribe_still_work(site: Site) -> None:
    with site.client() as client:
        r = site.sign_up(client, ADDRESS)
        assert r.status_code == 200 and "Check your inbox" in r.text
        site.dispatch_until(1, "the confirmation email")
        token = httpx.URL(link(site.mails[0], "/follow/confirm")).params["token"]
        assert client.post("/follow/confirm", data={"token": token}).status_code == 200
        site.dispatch_until(2, "the reminder")
        unsub = site.mails[1]["List-Unsubscribe"].strip("<>")
        manage = link(site.mails[1], "/follow/manage")
        mtoken = httpx.URL(manage).params["token"]
        r = client.post("/follow/manage", data={"token": mtoken, "action": "pause"})
        assert r.status_code == 200 and "Your emails" in r.text
        # RFC 8058: urlencoded (as mail providers send it) and multipart both work.
        with httpx.Client(timeout=10) as bare:  # no cookie, as the RFC requires
            r = bare.post(unsub, content=b"List-Unsubscribe=One-Click", headers=FORM)
            assert r.status_code == 200 and "Stopped" in r.text
            r = bare.post(unsub, files={"List-Unsubscribe": (None, "One-Click")})
            assert r.status_code == 200 and "Stopped" in r.text
        # The Stop button of the unsubscribe page: the token in the form.
        stop = httpx.URL(unsub).params["token"]
        r = client.post("/follow/unsubscribe", data={"token": stop})
        assert r.status_code == 200 and "Stopped" in r.text


def test_webhook_bodies_are_bounded(tmp_path: Path, db_url: str, store: Store) -> None:
    secret = "wh-secret-71c0ffee42"
    settings = parse_settings({
        "database": {"url": db_url}, "calendars": {"paths": []},
        "server": {"client_timeout": f"{TIMEOUT_S}s"},
        "sources": [{"name": "roe", "format": "courtlistener", "docket": "1",
                     "token": "t0ken-abc123", "webhook_secret": secret,
                     "timezone": "UTC"}]}, origin="test.toml", base_dir=tmp_path, env={})
    with LiveServer(create_app(settings, store)) as srv:
        path = f"/webhooks/courtlistener/{secret}"
        headers = {"Content-Type": "application/json", "Idempotency-Key": "k-1"}
        big = open_request(srv.url, "POST", path,
                           {**headers, "Content-Length": str(50 * 1024 * 1024)})
        slow = open_request(srv.url, "POST", path,
                            {**headers, "Idempotency-Key": "k-2", "Content-Length": "100"},
                            b"{")
        try:
            assert big.wait_closed(TIMEOUT_S) and big.status == 413, big.data
            assert slow.wait_closed(TIMEOUT_S + 3) and slow.status == 408, slow.data
        finally:
            big.close()
            slow.close()
        # The refused deliveries were not recorded: their keys are still fresh.
        for key in ("k-1", "k-2"):
            r = httpx.post(srv.url + path, json={"payload": {}},
                           headers={"Idempotency-Key": key}, timeout=10)
            assert r.status_code == 200 and r.json() == {"status": "accepted"}
