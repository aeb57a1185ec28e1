"""Masking takes time linear in the text, so a hostile request line cannot stall the server.

Every access-log line goes through :func:`notifier.logs.mask` inside uvicorn's event
loop; a pattern with quadratic time let one ``GET /aaaa…`` (40 kB) freeze every other
client for seconds. Here each masking function runs over lines of 1k (the baseline,
measured in the same run) up to 1M characters of adversarial shapes, and its cost per
character may not grow more than :data:`GROWTH` times (a quadratic one grows 30 times
by 30k already). Then a real `notifier run` gets a 100 kB request line while another
client's ``/livez`` must still answer at once.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from daemonkit import NotifierRun
from waiting import wait_for
from webhelpers import WEINSTEIN, write_config

from notifier.display import mask_urls
from notifier.feeds.tokens import redact
from notifier.logs import mask, register_secret
from notifier.notify.subscriptions.smtp import mask_addresses

BASE = 1_000
SIZES = (10_000, 30_000, 100_000, 1_000_000)
GROWTH = 12  # linear measures 1-4 (caches); quadratic 30 at 30k, 1000 at 1M
# Units repeated to the length asked for: runs that old patterns retried from every
# position (letters, scheme-like runs, userinfo without "@", parameters, escapes).
SHAPES = {
    "letters": "a",
    "access-line": '127.0.0.1:5 - "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    "scheme-chars": "a+b.c-d_e",
    "userinfo-no-at": "http://" + "u:p" * 20,
    "colons": ":",
    "at-signs": "@",
    "slashes": "/",
    "colon-at-slash": ":@/",
    "scheme-sep": "://",
    "a-colon": "a:",
    "a-at": "a@",
    "address-like": "a.b+c%d-",
    "token-params": "?token=",
    "encoded-names": "&%74oken=",
    "params": "&a=",
    "percent": "%",
    "escapes": "%74",
    "follow-path": "/follow/%63alendar/",
    "urls": "https://",
    "spaces-quotes": " \"'",
}
MASKERS: dict[str, Callable[[str], str]] = {"mask": mask, "redact": redact,
                                            "mask_urls": mask_urls,
                                            "mask_addresses": mask_addresses}


@pytest.fixture(autouse=True, scope="module")
def _secrets() -> None:
    # The registered-secret pattern runs too, as in a daemon with a configuration.
    register_secret("zq8Secret0Value1")
    register_secret("https://alice:hunter2pw@feeds.example.org/p/0123456789abcdef",
                    keep_host=True)


def _line(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _per_char(func: Callable[[str], str], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        func(text)
        best = min(best, time.perf_counter() - t0)
    return best / len(text)


@pytest.mark.parametrize("masker", MASKERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_masking_time_grows_linearly(masker: str, shape: str) -> None:
    func, unit = MASKERS[masker], SHAPES[shape]
    base = _per_char(func, _line(unit, BASE), 50)
    for n in SIZES:  # ascending: a quadratic pattern fails at 30k, before it takes minutes
        cost = _per_char(func, _line(unit, n), 2 if n >= 1_000_000 else 3)
        assert cost < GROWTH * base, (
            f"{masker}() over {n:,} chars of {shape!r}: {cost * 1e9:.1f} ns/char, "
            f"{cost / base:.1f}x its cost at {BASE:,} ({base * 1e9:.1f} ns/char)")


def test_long_lines_are_still_masked_whole() -> None:
    # Linear does not mean skipped: a secret at the end of a huge line is still masked.
    lines = {
        "http://" + "u" * 200_000 + ":pw0secret@host/": "pw0secret",
        "/x?" + "a=b&" * 50_000 + "%74oken=tokSECRET1": "tokSECRET1",
        "GET /" + "a" * 100_000 + "?key=keySECRET2 HTTP/1.1": "keySECRET2",
        "a" * 300_000 + " zq8Secret0Value1": "zq8Secret0Value1",
        "?" + "token=" * 50_000 + "x&Password=pwSECRET3": "pwSECRET3",
    }
    for line, secret in lines.items():
        assert secret not in mask(line)
    assert "tokSECRET4" not in redact("/follow/calendar/" * 20_000 + "tokSECRET4.ics")
    masked = mask_addresses("a" * 100_000 + " to jane.doe@example.org, x@y.org@z.org; " * 2)
    assert "jane.doe@" not in masked and "x@y" not in masked and "j***@e***.org" in masked


def _config(tmp_path: Path, db_url: str, cal_dir: Path) -> Path:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    return write_config(tmp_path / "config.toml", db_url, cal_dir)


@pytest.fixture
def daemon(tmp_path: Path, db_url: str, cal_dir: Path) -> Iterator[tuple[NotifierRun, str]]:
    run = NotifierRun(_config(tmp_path, db_url, cal_dir), "--host", "127.0.0.1", "--port", "0")
    try:
        wait_for(lambda: run.serving, 60, "the daemon to report its address", lambda: run.output)
        url = f"http://127.0.0.1:{run.port}"
        wait_for(lambda: httpx.get(url + "/livez", timeout=5).status_code == 200, 30, "/livez")
        yield run, url
    finally:
        run.stop()


@pytest.mark.parametrize("size", [40_000, 100_000])
def test_a_huge_request_line_does_not_stall_other_clients(daemon: tuple[NotifierRun, str],
                                                          size: int) -> None:
    run, url = daemon
    with socket.create_connection(("127.0.0.1", run.port), timeout=10) as attacker:
        attacker.sendall(b"GET /" + b"a" * size + b"?token=" + b"b" * 100
                         + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.2)  # the server has read it and answers (and logs) it meanwhile
        t0 = time.monotonic()
        live = httpx.get(url + "/livez", timeout=10)
        took = time.monotonic() - t0
        assert live.status_code == 200 and took < 2, f"/livez took {took:.2f} s"
        answer = attacker.recv(64)
        assert answer.startswith(b"HTTP/1.1 "), answer
    # The huge line was logged (masked), not dropped.
    wait_for(lambda: "GET /aaaa" in run.output, 10, "the access-log line", lambda: run.output)
    assert "b" * 100 not in run.output
