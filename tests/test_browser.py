"""The pages in a real headless Chromium (Debian's ``chromium`` package, driven by
Playwright for Python) at phone and desktop sizes, against the real server on
127.0.0.1: no sideways scrolling, the next date above the fold, today/tomorrow
marked, cancelled rows struck through whole, a moved hearing saying where it was, the
copy button really copying, every link and control big enough to tap on a phone
(44 x 44 px), a helpful 404, no request to another host and nothing in the console.
Screenshots go to the test's tmp dir and, when ``NOTIFIER_TEST_ARTIFACTS`` names a
folder, there as well (CI keeps them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from browserkit import SIZES, Guard, chromium, no_sideways_scroll, shot, touch_target, touch_targets
from channelkit import free_port
from outboxhelpers import make_settings
from webhelpers import LiveServer

from notifier.notify import outbox
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

TZ = ZoneInfo("America/New_York")
LONG = ("Hearing on the motion to vacate the conviction and for a new trial on every count of "
        "the indictment, with argument by both sides")


def _calendar(case_id: str, title: str, events: list[str]) -> str:
    return f"""
[case]
id = "{case_id}"
title = "{title}"
court = "New York County Supreme Court (Manhattan), Part 99, 100 Centre Street"
judge = "Justice Curtis Farber"
timezone = "America/New_York"
""" + "".join(events)


def _ev(eid: str, when: str, title: str, **extra: str) -> str:
    more = "".join(f'{k} = "{v}"\n' for k, v in extra.items())
    return f'[[events]]\nid = "{eid}"\nkind = "hearing"\ntitle = "{title}"\n{when}\n{more}\n'


def _write(folder: Path, today: Any, moved_to: int) -> None:
    d = [today + timedelta(days=n) for n in range(12)]
    (folder / "people-v-test.toml").write_text(_calendar("people-v-test", "People v. Test", [
        _ev("today", f"date = {d[0]}", "Status conference", notes="Time not announced"),
        _ev("tomorrow", f"start = {d[1]}T10:00:00", LONG,
            location="Part 99, Room 1530, 100 Centre Street, New York, NY 10013"),
        _ev("cancelled", f"start = {d[3]}T09:30:00", "Hearing on the retrial",
            status="cancelled"),
        _ev("moved", f"start = {d[moved_to]}T14:00:00", "Sentencing hearing"),
        _ev("tbd", "", "Third trial", status="tbd"),
    ]), encoding="utf-8")
    (folder / "state-v-later.toml").write_text(_calendar("state-v-later", "A State v. Later", [
        _ev("h", f"start = {d[9]}T09:30:00", "Arraignment"),
    ]), encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Iterator[str]:
    folder = tmp_path / "calendars"
    folder.mkdir()
    today = datetime.now(TZ).date()
    port = free_port()  # links on the pages are absolute (base_url): make them this server's
    settings = make_settings(tmp_path, db_url, calendars={"paths": [str(folder)]},
                             server={"base_url": f"http://127.0.0.1:{port}"})
    store = Store(db_url)
    try:
        _write(folder, today, moved_to=5)
        sync_calendars(store, [("calendars", folder)], hook=outbox.change_hook(settings))
        _write(folder, today, moved_to=7)  # the sentencing moves two days later
        sync_calendars(store, [("calendars", folder)], hook=outbox.change_hook(settings))
        with LiveServer(create_app(settings, store), port=port) as srv:
            yield srv.url
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _above_fold(page: Any, selector: str, height: int) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["y"] + box["height"] <= height, (selector, box, height)


def _inline_icon(page: Any) -> None:
    """The page names its icon inline: no /favicon.ico request (a 404 per page in a
    desktop browser; headless Chromium asks for no icon, so the guard cannot tell)."""
    assert page.evaluate("document.querySelector('link[rel=icon]')?.href || ''").startswith(
        "data:image/svg+xml,")


@pytest.mark.parametrize("size", list(SIZES))
def test_pages_answer_what_is_next(browser: Any, site: str, size: str, tmp_path: Path) -> None:
    width, height = SIZES[size]
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              permissions=["clipboard-read", "clipboard-write"])
    guard = Guard(ctx)  # no third-party assets, nothing in the console
    page = ctx.new_page()
    try:
        page.goto(site + "/")
        _inline_icon(page)
        shot(page, tmp_path, f"index-{size}")
        no_sideways_scroll(page)
        phone = size == "phone"
        touch_target(page.locator("#people-v-test button[data-copy]"), phone)
        touch_targets(page, phone)
        # Cases by next date: the one with a hearing today first.
        titles = page.locator("section.case h2").all_inner_texts()
        assert titles == ["People v. Test", "A State v. Later"]
        _above_fold(page, "#people-v-test .nextline", height)
        _above_fold(page, "#people-v-test li.next", height)
        nxt = page.locator("#people-v-test li.next")
        assert nxt.count() == 1 and "Status conference" in nxt.inner_text()
        assert page.locator("#people-v-test li.next .badge-today").count() == 1
        assert page.locator("#people-v-test .badge-tomorrow").count() == 1
        struck = page.locator("li.struck")
        assert struck.count() == 1 and "Hearing on the retrial" in struck.inner_text()
        assert "line-through" in struck.evaluate("e => getComputedStyle(e).textDecorationLine")
        # The whole row, not only the word "cancelled": its date is inside the struck box.
        assert page.locator("li.next").count() == 2  # one per case
        assert "line-through" not in page.locator("#people-v-test li.next").evaluate(
            "e => getComputedStyle(e).textDecorationLine")
        assert struck.locator(".when").count() == 1
        moved = page.locator("li", has_text="Sentencing hearing")
        assert "Moved from" in moved.inner_text()
        assert "Updated " in page.locator("#people-v-test .updated").inner_text()
        # The copy button puts the feed's address on the clipboard.
        button = page.locator("#people-v-test button[data-copy]")
        want = button.get_attribute("data-copy")
        assert want is not None and want.endswith("/calendars/people-v-test.ics")
        button.click()
        page.wait_for_function("b => b.textContent === 'Copied'", arg=button.element_handle(),
                               timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()") == want
        # The case page: back link, subscribe line, copy box, next date above the fold.
        page.locator("#people-v-test h2 a").click()
        page.wait_for_url("**/cases/people-v-test")
        shot(page, tmp_path, f"case-{size}")
        no_sideways_scroll(page)
        for control in (".back a", ".subscribe a.button", ".subscribe .copy input",
                        ".subscribe .copy button"):  # the calendar links and copy box
            touch_target(page.locator(control).first, phone)
        touch_targets(page, phone)  # and every other link or control
        _above_fold(page, ".nextline", height)
        _above_fold(page, "li.next", height)
        assert "calendar app" in page.locator(".subscribe p").first.inner_text()
        page.locator(".subscribe .copy button").click()
        page.wait_for_function(
            "() => document.querySelector('.subscribe .copy button').textContent === 'Copied'",
            timeout=5000)
        assert page.evaluate("navigator.clipboard.readText()").endswith(
            "/calendars/people-v-test.ics")
        page.locator("a.back, .back a").first.click()
        page.wait_for_url(site + "/")
        # A helpful 404 with a way back.
        resp = page.goto(site + "/cases/no-such-case")
        assert resp is not None and resp.status == 404
        shot(page, tmp_path, f"404-{size}")
        no_sideways_scroll(page)
        touch_targets(page, phone)
        assert "Page not found" in page.locator("h1").inner_text()
        assert page.locator("a", has_text="See all cases").count() == 1
        _inline_icon(page)
        guard.check(allowed=(f"status of 404 (Not Found) [{site}/cases/no-such-case]",))
    finally:
        ctx.close()
