"""Fault suite, request bodies: hostile posters against a real `notifier run` subprocess
with the follow-by-email forms on (``client_timeout`` 2 s).

The attacks of the review, repeated: 150 connections each sending a form body one
byte a second (all answered 408 or closed within twice ``client_timeout`` while a
reader is served), 200 MB uploads to ``/follow`` and ``/follow/manage`` with no cookie
(refused at once: a few MB at most leave the client, nothing is spooled to the
daemon's ``TMPDIR``), and clients that vanish mid-body (one INFO line each, no
traceback). Run with ``pytest -s`` to see the one-line summaries.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from daemonkit import NotifierRun
from rawhttp import Conn, open_request
from waiting import wait_for
from webhelpers import WEINSTEIN

TIMEOUT_S = 2
SLOW = 150
UPLOAD = 200 * 1024 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[NotifierRun, str]]:
    cal = tmp_path / "calendars"
    cal.mkdir()
    shutil.copy(WEINSTEIN, cal / WEINSTEIN.name)
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))  # where a spooled upload would land
    config = tmp_path / "config.toml"
    config.write_text("\n".join([
        "[database]", f'url = "sqlite:///{tmp_path / "notifier.db"}"',
        "[server]", 'base_url = "http://127.0.0.1:9"', f'client_timeout = "{TIMEOUT_S}s"',
        "[subscriptions]", "enabled = true", f'secret = "{"k" * 40}"',
        'email = "mailto://127.0.0.1:9?from=court@example.org&mode=insecure"',
    ]) + "\n", encoding="utf-8")
    run = NotifierRun(config, "--host", "127.0.0.1", "--port", "0")
    try:
        wait_for(lambda: run.serving, 60, "the daemon to serve", lambda: run.output)
        yield run, f"http://127.0.0.1:{run.port}"
    finally:
        run.stop()


def test_slow_bodies_are_answered_in_time(daemon: tuple[NotifierRun, str]) -> None:
    run, url = daemon
    conns: list[Conn] = []
    t0 = time.monotonic()
    try:
        for i in range(SLOW):
            path = "/follow" if i % 2 else "/follow/manage"
            conns.append(open_request(url, "POST", path,
                                      {**FORM, "Content-Length": "1000"}, b"e"))
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/cases/people-v-weinstein").status_code == 200
        deadline = t0 + 2 * TIMEOUT_S + 8
        while time.monotonic() < deadline and not all(c.poll() for c in conns):
            for c in conns:
                c.send(b"x")
            time.sleep(1)
        open_ = sum(not c.closed for c in conns)
        assert open_ == 0, f"{open_} of {SLOW} slow bodies still open after {deadline - t0:.0f}s"
        statuses = {c.status for c in conns}
        assert statuses == {408}, statuses
        slowest = max(c.closed_at or 0 for c in conns) - t0
    finally:
        for c in conns:
            c.close()
    assert "Traceback" not in run.output
    print(f"\nSLOW BODIES: connections={SLOW} client_timeout_s={TIMEOUT_S} "
          f"all_answered_after_s={slowest:.1f}")


def _upload(url: str, path: str, content_type: str) -> tuple[int, bytes]:
    """Stream a 200 MB body as fast as the server takes it; bytes sent, answer."""
    conn = open_request(url, "POST", path, {"Content-Type": content_type,
                                            "Content-Length": str(UPLOAD)})
    piece = b"x" * 65536
    sent = 0
    with contextlib.suppress(OSError):
        while sent < UPLOAD:
            conn.sock.sendall(piece)
            sent += len(piece)
    conn.wait_closed(10)
    conn.close()
    return sent, conn.data


def test_big_uploads_are_refused_unread(daemon: tuple[NotifierRun, str],
                                        tmp_path: Path) -> None:
    run, url = daemon
    t0 = time.monotonic()
    results = []
    for path in ("/follow", "/follow/manage"):
        for ctype in ("multipart/form-data; boundary=b", FORM["Content-Type"]):
            sent, answer = _upload(url, path, ctype)
            results.append((path, ctype, sent))
            assert sent < UPLOAD // 10, (path, ctype, sent)
            assert answer == b"" or answer.startswith((b"HTTP/1.1 413", b"HTTP/1.1 415")), answer
    elapsed = time.monotonic() - t0
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing spooled
    assert "Traceback" not in run.output
    most = max(sent for _p, _c, sent in results)
    print(f"\nBIG UPLOADS: uploads={len(results)} size_mb={UPLOAD >> 20} "
          f"most_sent_mb={most / (1 << 20):.1f} seconds={elapsed:.1f}")


def test_clients_gone_mid_body_leave_no_traceback(daemon: tuple[NotifierRun, str]) -> None:
    run, url = daemon
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10)
        path = "/follow" if i % 2 else "/follow/manage"
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM['Content-Type']}"
                  f"\r\nContent-Length: 4000\r\n\r\nemail=a".encode())
        time.sleep(0.05)
        s.close()
    wait_for(lambda: run.output.count("disconnected while sending the request body") == 20,
             15, "20 disconnect lines", lambda: run.output)
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/livez").status_code == 200
    assert "Traceback" not in run.output and "Exception in ASGI" not in run.output
    assert "ClientDisconnect" not in run.output
