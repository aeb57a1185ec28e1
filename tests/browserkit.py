"""Helpers for the real-browser tests: headless Chromium from Debian's ``chromium``
package driven by Playwright for Python (never ``playwright install``).

:func:`chromium` launches it (or skips with the command that installs it);
:func:`shot` takes a full-page screenshot into the test's tmp dir (and into the folder
``NOTIFIER_TEST_ARTIFACTS`` names, which CI keeps) and checks it is not blank;
:class:`Guard` fails a page that asks anything of a host other than 127.0.0.1 or logs
an error to its console; :func:`no_sideways_scroll`, :func:`touch_target` and
:func:`touch_targets` (every link and control of a page) check the layout. PNG
files are decoded with the standard library (:func:`png_pixels`), so no imaging
package is needed.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
TOUCH_PX = 44  # the smallest comfortable touch target (WCAG 2.5.5, Apple's HIG)


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium; skips the test when the package is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium); the pages "
                    "cannot be checked in a browser here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _unfilter(kind: int, line: bytearray, prev: bytes, bpp: int) -> bytes:
    """One PNG scanline with its filter (RFC 2083 section 6) undone."""
    n = len(line)
    if kind == 2:  # Up: bytewise sums without carries, on whole rows at once
        a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
        low, high = int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big")
        return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "big")
    if kind == 1:
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif kind == 3:
        for i in range(n):
            line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif kind == 4:  # Paeth; the first pixel's left and upper-left neighbours are 0
        for i in range(bpp):
            line[i] = (line[i] + prev[i]) & 255
        for i in range(bpp, n):
            a, b, c = line[i - bpp], prev[i], prev[i - bpp]
            pa, pb, pc = b - c, a - c, a + b - c - c
            pa, pb, pc = -pa if pa < 0 else pa, -pb if pb < 0 else pb, -pc if pc < 0 else pc
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return bytes(line)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows) of an 8-bit RGB or RGBA PNG; each row is the bytes of
    one line of pixels, filters undone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    pos, idat, head = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            head = data[pos + 8:pos + 8 + length]
        elif kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", head)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (path, depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prev = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prev, bpp)
        rows.append(prev)
    return width, height, rows


_DARK = bytes(range(80))


def check_not_blank(path: Path, width: int) -> None:
    """The screenshot is as wide as the window, is not a single colour and has some
    ink (dark pixels: text) on it."""
    w, h, rows = png_pixels(path)
    assert w == width and h > 0, (path, w, h)
    bpp = len(rows[0]) // w
    first = rows[0][:bpp]
    assert any(row != first * w for row in rows), f"{path.name} is a single colour"
    dark = sum(len(row) - len(row.translate(None, _DARK)) for row in rows) // bpp
    assert dark > 200, f"{path.name} has no text on it ({dark} dark pixels)"


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot in ``tmp_path/screens`` (and the artifacts folder),
    checked to be a real picture of the page."""
    path = tmp_path / "screens" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    check_not_blank(path, page.viewport_size["width"])
    if folder := os.environ.get("NOTIFIER_TEST_ARTIFACTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)
    return path


def no_sideways_scroll(page: Any) -> None:
    wide = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert wide[0] <= wide[1], f"{page.url}: page is {wide[0]} px wide in a {wide[1]} px window"


def touch_target(control: Any, phone: bool) -> None:
    """The control is shown, inside the window's width, and (on a phone) at least
    :data:`TOUCH_PX` tall and wide."""
    assert control.is_visible(), control
    box = control.bounding_box()
    width = control.page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (control, box)
    if phone:
        small = box["height"] < TOUCH_PX - 0.5 or box["width"] < TOUCH_PX - 0.5
        assert not small, (control.evaluate("e => e.outerHTML"), box)


CONTROLS = "a[href], button, select, textarea, input:not([type=hidden])"


def touch_targets(page: Any, phone: bool) -> int:
    """Every link and form control of the page passes :func:`touch_target`; returns
    how many there are (so that a caller can tell the page was not empty)."""
    controls = page.locator(CONTROLS)
    count = controls.count()
    for i in range(count):
        touch_target(controls.nth(i), phone)
    return count


def one_line(control: Any) -> None:
    """The control's words sit on one line (not broken a letter or word per line)."""
    lines = control.evaluate("""e => { const r = document.createRange(); r.selectNodeContents(e);
        return new Set(Array.from(r.getClientRects(), b => Math.round(b.top))).size; }""")
    assert lines == 1, (control.evaluate("e => e.outerHTML"), f"{lines} lines")


class Guard:
    """Watches one browser context: every request not to 127.0.0.1 is refused and
    remembered, and so is every console error or uncaught page error."""

    def __init__(self, ctx: Any) -> None:
        self.offsite: list[str] = []
        self.errors: list[str] = []
        self.local = 0  # requests let through
        ctx.route("**/*", self._route)
        ctx.on("page", self.watch)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            self.local += 1
            route.continue_()
        else:
            self.offsite.append(url)
            route.abort()

    def watch(self, page: Any) -> None:
        # With the resource's own URL: "status of 404" alone would also excuse a
        # missing asset (a favicon) on the page that is a 404 on purpose.
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{page.url}: {m.text} [{(m.location or {}).get('url', '')}]"))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))

    def check(self, allowed: tuple[str, ...] = ()) -> None:
        """Nothing left 127.0.0.1 and the console holds no error but the ``allowed``
        ones (such as Chromium's note on a page answered 403 on purpose)."""
        assert self.offsite == [], f"requests left 127.0.0.1: {self.offsite}"
        errors = [e for e in self.errors if not any(a in e for a in allowed)]
        assert errors == [], errors
        assert self.local > 0, "no request went through the guard"
