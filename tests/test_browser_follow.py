"""Following a case by email, in a real headless Chromium at phone and desktop sizes:
the form on the case page, the confirmation email (caught by aiosmtpd) and its link,
the manage page (lead time, pause, resume, stop one case, delete everything), the
one-click unsubscribe page and the answer to a form without its CSRF cookie. The real
server, SMTP server and dispatcher run as in test_follow.py (tests/followkit.py).

On every page: no sideways scrolling, every link and control shown, inside the window
and (on a phone) at least 44 x 44 px, inputs reachable by their label, each case's
buttons on the manage page named after the case, no request to any host but
127.0.0.1, nothing in the console; a screenshot of each page goes to the test's
tmp dir (and ``NOTIFIER_TEST_ARTIFACTS``) and is checked not to be blank.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    SIZES,
    Guard,
    chromium,
    no_sideways_scroll,
    one_line,
    shot,
    touch_target,
    touch_targets,
)
from followkit import CASE, Site, follow_site, link, subject
from sqlmodel import select

from notifier.notify.outbox import change_hook
from notifier.store.subscribers import Subscriber, Subscription
from notifier.tracking.sync import sync_calendars

ADDRESS = "jane.doe@example.org"
OTHER = "state-v-roe"
# Characters that must be escaped in an HTML attribute, as in the buttons' names.
ROE = 'State v. Roe & "Sons" <Ltd.>, a case with a rather long name on a small screen'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The sign-up setup with a second case, :data:`ROE`, to follow as well."""
    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site:
        when = (site.start + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (site.cal / "roe.toml").write_text(textwrap.dedent(f"""\
            [case]
            id = "{OTHER}"
            title = '{ROE}'
            timezone = "UTC"

            [[events]]
            id = "trial"
            kind = "trial"
            title = "Jury selection"
            start = {when}
            """), encoding="utf-8")
        sync_calendars(site.store, site.folders, hook=change_hook(site.settings))
        yield site


class Visit:
    """One browser tab at one size, checking every page it lands on."""

    def __init__(self, ctx: Any, site: Site, size: str, tmp_path: Path) -> None:
        self.guard = Guard(ctx)
        self.page = ctx.new_page()
        self.site, self.size, self.tmp_path = site, size, tmp_path
        self.phone = size == "phone"

    def look(self, name: str, heading: str) -> None:
        page = self.page
        assert page.locator("h1").inner_text() == heading, page.content()
        shot(page, self.tmp_path, f"follow-{name}-{self.size}")
        no_sideways_scroll(page)
        assert touch_targets(page, self.phone) > 0
        buttons = page.locator("form button")
        for i in range(buttons.count()):
            one_line(buttons.nth(i))
        labelled = page.locator("form select, form input:not([type=hidden])")
        for i in range(labelled.count()):  # each one has a name a screen reader reads out
            name_of = labelled.nth(i).evaluate(
                "e => e.getAttribute('aria-label') || (e.labels[0] || {}).textContent || ''")
            assert name_of.strip(), labelled.nth(i).evaluate("e => e.outerHTML")

    def button(self, name: str, within: Any = None) -> Any:
        return (within or self.page).get_by_role("button", name=name, exact=True)

    def sign_up(self, case: str, lead: str) -> None:
        """Fill and send the form on the case page (``lead``: the reminder time's
        value, in seconds); confirm from the email's link."""
        page, site = self.page, self.site
        page.goto(f"{site.url}/cases/{case}")
        form = page.locator("#follow")
        for control in (form.get_by_label("Email address"), form.get_by_label("Remind me"),
                        self.button("Follow", form)):
            touch_target(control, self.phone)
        touch_targets(page, self.phone)  # the case page's other links and controls
        no_sideways_scroll(page)
        form.get_by_label("Email address").fill(ADDRESS)
        form.get_by_label("Remind me").select_option(lead)
        shot(page, self.tmp_path, f"follow-form-{case}-{self.size}")
        before = len(site.mails)
        self.button("Follow", form).click()
        page.wait_for_url(f"{site.url}/follow")
        self.look(f"sent-{case}", "Check your inbox")
        site.dispatch_until(before + 1, "the confirmation email")
        mail = site.mails[-1]
        assert mail["To"] == ADDRESS and subject(mail).startswith("Confirm: follow ")
        page.goto(link(mail, "/follow/confirm"))
        self.look(f"confirm-{case}", "Confirm")
        self.button("Confirm").click()
        self.look(f"confirmed-{case}", "You follow this case")

    def state(self) -> tuple[dict[str, tuple[str, int]], bool] | None:
        """Each followed case's (state, lead in seconds) and whether emails are paused."""
        with self.site.store.read() as s:
            sub = s.exec(select(Subscriber)).first()
            if sub is None:
                return None
            rows = s.exec(select(Subscription)).all()
            return {r.case_id: (r.state, r.lead_s) for r in rows}, sub.paused


@pytest.mark.parametrize("size", list(SIZES))
def test_follow_a_case_in_a_browser(browser: Any, site: Site, size: str,
                                    tmp_path: Path) -> None:
    width, height = SIZES[size]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(10_000)
    try:
        v = Visit(ctx, site, size, tmp_path)
        page = v.page
        v.sign_up(CASE, "86400")  # a day before
        # The page after confirming leads to the manage page.
        page.get_by_role("link", name="Change or stop your emails").click()
        page.wait_for_url(f"{site.url}/follow/manage?token=*")
        v.look("manage-one", "Your emails")
        v.sign_up(OTHER, "0")  # changes only
        assert v.state() == ({CASE: ("active", 86400), OTHER: ("active", 0)}, False)

        # The hearing moves: the alert's links open the manage and unsubscribe pages.
        site.resync(site.start + timedelta(hours=1))
        site.dispatch_until(3, "the change alert")
        alert = site.mails[-1]
        assert alert["To"] == ADDRESS and CASE not in subject(alert)
        page.goto(link(alert, "/follow/manage"))
        v.look("manage", "Your emails")
        doe = page.get_by_role("row").filter(has_text="People v. Doe")
        roe = page.get_by_role("row").filter(has_text="State v. Roe")
        assert doe.get_by_label("Reminders for People v. Doe").input_value() == "86400"

        doe.get_by_label("Reminders for People v. Doe").select_option("604800")  # 7 days
        # Each case's buttons say which case they act on (not "Save", "Save", "Stop"...).
        assert v.button("Save").count() == 0 and v.button("Stop").count() == 0
        for title, row in (("People v. Doe", doe), (ROE, roe)):
            for name in (f"Save reminder choice for {title}", f"Stop following {title}"):
                assert v.button(name, row).inner_text() == name.split()[0], name
        v.button("Save reminder choice for People v. Doe").click()
        v.look("manage-saved", "Your emails")
        assert doe.get_by_label("Reminders for People v. Doe").input_value() == "604800"
        assert v.state() == ({CASE: ("active", 604800), OTHER: ("active", 0)}, False)

        v.button("Pause all emails").click()
        v.look("manage-paused", "Your emails")
        assert v.state() == ({CASE: ("active", 604800), OTHER: ("active", 0)}, True)
        v.button("Resume all emails").click()
        v.look("manage-resumed", "Your emails")
        assert v.button("Pause all emails").count() == 1
        assert v.state() == ({CASE: ("active", 604800), OTHER: ("active", 0)}, False)

        v.button(f"Stop following {ROE}").click()
        v.look("manage-stopped-one", "Your emails")
        assert "(stopped)" in roe.inner_text() and "(stopped)" not in doe.inner_text()
        assert v.state() == ({CASE: ("active", 604800), OTHER: ("unsubscribed", 0)}, False)

        # The one-click unsubscribe link of the alert, opened in the browser.
        page.goto(link(alert, "/follow/unsubscribe"))
        v.look("unsubscribe", "Stop emails")
        v.button("Stop").click()
        v.look("unsubscribed", "Stopped")
        assert v.state() == ({CASE: ("unsubscribed", 604800),
                              OTHER: ("unsubscribed", 0)}, False)

        page.goto(link(alert, "/follow/manage"))
        v.button("Delete everything about me").click()
        v.look("deleted", "Deleted")
        assert v.state() is None
        resp = page.goto(link(alert, "/follow/manage"))
        assert resp is not None and resp.status == 410
        v.look("gone", "Link not valid")

        # A form sent without its cookie (expired, or posted from elsewhere): a page
        # saying what to do, and nothing stored.
        page.goto(f"{site.url}/cases/{CASE}")
        ctx.clear_cookies()
        page.get_by_label("Email address").fill(ADDRESS)
        with page.expect_response(f"{site.url}/follow") as answer:
            v.button("Follow").click()
        assert answer.value.status == 403
        v.look("no-csrf", "Please try again")
        assert "reload the case page" in page.locator("p").all_inner_texts()[1]
        assert v.state() is None
        # The same with the cookie but the form's own token taken out.
        page.goto(f"{site.url}/cases/{CASE}")
        page.locator("#follow input[name=csrf]").evaluate("e => e.remove()")
        page.get_by_label("Email address").fill(ADDRESS)
        with page.expect_response(f"{site.url}/follow") as answer:
            v.button("Follow").click()
        assert answer.value.status == 403
        assert page.locator("h1").inner_text() == "Please try again"
        assert v.state() is None and len(site.mails) == 3
        v.guard.check(allowed=("status of 403", "status of 410"))
    finally:
        ctx.close()


def test_a_private_case_page_signs_up_with_its_own_token(browser: Any,
                                                         tmp_path: Path) -> None:
    """``[feed] private``: the form of a page opened with a case's feed token sends
    that token along (a hidden field), so the sign-up goes through; the same form
    pointed at another case gets the 404 of an unknown case."""
    from notifier.feeds.tokens import create_token

    with follow_site(tmp_path, lead_in=timedelta(days=3),
                     config={"feed": {"private": True}}) as site:
        _row, token = create_token(site.store, CASE)
        width, height = SIZES["phone"]
        ctx = browser.new_context(viewport={"width": width, "height": height})
        ctx.set_default_timeout(10_000)
        try:
            v = Visit(ctx, site, "phone", tmp_path)
            page = v.page
            page.goto(f"{site.url}/cases/{CASE}?token={token}")
            page.locator("#follow").get_by_label("Email address").fill(ADDRESS)
            v.button("Follow").click()
            page.wait_for_url(f"{site.url}/follow")
            v.look("private-sent", "Check your inbox")
            site.dispatch_until(1, "the confirmation email")
            assert subject(site.mails[0]) == "Confirm: follow People v. Doe"
            page.goto(f"{site.url}/cases/{CASE}?token={token}")
            page.locator("#follow input[name=case]").evaluate("e => e.value = 'other'")
            page.locator("#follow").get_by_label("Email address").fill(ADDRESS)
            with page.expect_response(f"{site.url}/follow") as answer:
                v.button("Follow").click()
            assert answer.value.status == 404
            assert page.locator("h1").inner_text() == "Page not found"
            v.guard.check(allowed=("status of 404",))
        finally:
            ctx.close()


def test_the_guard_refuses_other_hosts_and_reports_console_errors(browser: Any) -> None:
    """The checks above can fail: a page asking another host for an image, and
    logging an error, is caught."""
    ctx = browser.new_context()
    try:
        guard = Guard(ctx)
        page = ctx.new_page()
        page.set_content('<img src="http://example.com/logo.png" alt="">'
                         '<script>console.error("boom")</script>', wait_until="load")
        assert guard.offsite == ["http://example.com/logo.png"]
        assert any("boom" in e for e in guard.errors), guard.errors
        with pytest.raises(AssertionError, match=r"requests left 127\.0\.0\.1"):
            guard.check()
    finally:
        ctx.close()
