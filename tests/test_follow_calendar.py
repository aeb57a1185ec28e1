"""A subscriber's personal calendar link, end to end: the real web server, a real SMTP
server (aiosmtpd), the real dispatcher over a real SQLite file (and PostgreSQL)."""

from __future__ import annotations

import hashlib
import logging
import re
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from followkit import Site, body_of, confirm, follow_site, link, subject
from sqlmodel import col, select
from test_follow import db_url  # noqa: F401  (db_url: the fixture)

from notifier.notify.outbox import change_hook
from notifier.notify.subscriptions.calendar import KEEP_FETCHES, client_label
from notifier.notify.subscriptions.links import Links
from notifier.store.models import Notification
from notifier.store.subscriber_calendars import CalendarFetch, SubscriberCalendar
from notifier.store.subscribers import Subscriber
from notifier.tracking.sync import sync_calendars

ADDRESS = "jane.doe@example.org"
OTHER = "sam.roe@example.org"
GOOGLE = "Google-Calendar-Importer"
APPLE = "iOS/17.5 (21F79) dataaccessd/1.0"


def _manage_url(site: Site, address: str = ADDRESS) -> str:
    with site.store.read() as s:
        sub = s.exec(select(Subscriber).where(Subscriber.address == address)).one()
        assert sub.id is not None
        return Links(site.settings.subscriptions, site.url).manage_url(sub.id, sub.key)


def _calendar_url(page: str) -> str:
    m = re.search(r'value="(http://127\.0\.0\.1:\d+/follow/calendar/[^"]+\.ics)"', page)
    assert m, f"no calendar link on the manage page:\n{page}"
    return m.group(1)


def _add_other_case(site: Site) -> None:
    (site.cal / "roe.toml").write_text(textwrap.dedent("""\
        [case]
        id = "people-v-roe"
        title = "People v. Roe"
        timezone = "UTC"

        [[events]]
        id = "trial"
        kind = "trial"
        title = "Trial of Roe"
        date = 2031-03-04
        """), encoding="utf-8")
    sync_calendars(site.store, site.folders, hook=change_hook(site.settings))


def _fetches(site: Site) -> list[tuple[int, str]]:
    with site.store.read() as s:
        return [(f.status, f.client) for f in s.exec(
            select(CalendarFetch).order_by(col(CalendarFetch.id))).all()]


def test_calendar_link_serves_followed_cases_records_fetches_and_is_revocable(
        tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.INFO)
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db_url,
                     access_log=True) as site, site.client() as client:
        _add_other_case(site)
        confirm(site, client, ADDRESS)
        manage = _manage_url(site)
        page = client.get(manage)
        assert page.status_code == 200 and "Your calendar last refreshed: never" in page.text
        url = _calendar_url(page.text)
        token = url.rsplit("/", 1)[1].removesuffix(".ics")
        assert len(token) >= 40 and "example.org" not in url and "jane" not in url
        assert _calendar_url(client.get(manage).text) == url  # the same link every visit
        with site.store.read() as s:
            [row] = s.exec(select(SubscriberCalendar)).all()
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert token not in (row.nonce, row.token_hash)
        if db_url.startswith("sqlite:///"):  # the token is nowhere in the database files
            raw = b"".join(p.read_bytes() for p in tmp_path.glob("notifier.db*"))
            assert row.token_hash.encode() in raw and token.encode() not in raw

        r = client.get(url, headers={"User-Agent": GOOGLE})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/calendar; charset=utf-8"
        assert "Bail hearing" in r.text and "People v. Doe" in r.text
        assert "Roe" not in r.text  # a case not followed stays out
        assert r.headers["Last-Modified"] and r.headers["Cache-Control"].startswith("private")
        etag = r.headers["ETag"]
        again = client.get(url, headers={"User-Agent": APPLE, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        head = client.head(url, headers={"User-Agent": "curl/8.5"})
        assert head.status_code == 200 and head.headers["ETag"] == etag
        assert _fetches(site) == [(200, "Google Calendar"), (304, "Apple Calendar"),
                                  (200, "other")]
        page = client.get(manage)
        assert re.search(r"Your calendar last refreshed: \d{4}-\d\d-\d\d \d\d:\d\d UTC "
                         r"by other", page.text), page.text

        # Unknown tokens, including a tampered one, get the 404 of any unknown path.
        assert client.get("/follow/calendar/" + "x" * 43 + ".ics").status_code == 404
        assert client.get(url.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
                          ).status_code == 404

        # Bounded: only the newest fetches are kept.
        for _ in range(KEEP_FETCHES + 3):
            assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert len(_fetches(site)) == KEEP_FETCHES

        # A new link: the old address stops at once, the new one works, "never" again.
        form = {"token": httpx.URL(manage).params["token"], "action": "calendar_new"}
        page = client.post("/follow/manage", data=form)
        assert page.status_code == 200 and "last refreshed: never" in page.text
        new = _calendar_url(page.text)
        assert new != url
        assert client.get(url).status_code == 404
        assert client.get(new).status_code == 200

        # Forget erases the link and every fetch record; the address no longer opens.
        done = client.post("/follow/manage", data={**form, "action": "forget"})
        assert done.status_code == 200 and "Deleted" in done.text
        with site.store.read() as s:
            assert s.exec(select(SubscriberCalendar)).all() == []
            assert s.exec(select(CalendarFetch)).all() == []
        assert client.get(new).status_code == 404
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records
                       if not r.name.startswith("mail.log"))
    assert "/follow/calendar/<redacted>" in logged  # the access log saw the fetches...
    for secret in (token, new.rsplit("/", 1)[1].removesuffix(".ics")):
        assert secret not in logged  # ...but not the tokens
    assert ADDRESS not in logged


def test_client_labels_name_the_calendar_app_not_the_raw_user_agent() -> None:
    cases = {
        GOOGLE: "Google Calendar",
        "Google-Calendar-Importer (+http://www.google.com/calendar)": "Google Calendar",
        APPLE: "Apple Calendar",
        "macOS/14.5 (23F79) CalendarAgent/988.5.1": "Apple Calendar",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17628; Pro)": "Outlook",
        "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.12.0":
            "Thunderbird",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0": "other",
        "": "other",
    }
    assert {ua: client_label(ua) for ua in cases} == cases
    assert client_label(None) == "other"


def _rows(site: Site, ntype: str) -> list[Notification]:
    with site.store.read() as s:
        return list(s.exec(select(Notification).where(Notification.type == ntype)
                           .order_by(col(Notification.id))).all())


def test_stale_calendar_gets_one_email_unless_it_fetched_the_change(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db_url,
                     stale_after="2s") as site, site.client() as client:
        confirm(site, client, ADDRESS)
        confirm(site, client, OTHER)  # follows too, but never uses the calendar link
        url = _calendar_url(client.get(_manage_url(site)).text)
        _calendar_url(client.get(_manage_url(site, OTHER)).text)  # has a link, unused
        assert client.get(url, headers={"User-Agent": GOOGLE}).status_code == 200

        # Moved twice before stale_after: one follow-up, with the newest date.
        sent = len(site.mails)
        site.resync(site.start + timedelta(days=1))
        site.dispatch_until(sent + 2, "the first change alerts")
        site.resync(site.start + timedelta(days=2))
        site.dispatch_until(sent + 4, "the second change alerts")
        moved = _rows(site, "sub_change")
        assert len(moved) == 4 and all(r.status == "sent" for r in moved)
        stale = _rows(site, "sub_stale")
        assert len(stale) == 2  # only the subscriber whose calendar is in use
        site.dispatch_until(sent + 5, "the stale-calendar email")
        [mail] = site.mails[sent + 4:]
        assert mail["To"] == ADDRESS
        assert subject(mail) == "Your calendar still shows the old date: People v. Doe"
        body = body_of(mail)
        new_date = f"{site.start + timedelta(days=2):%-d %b %Y}"
        assert "Your calendar still shows the old date; the hearing is now" in body
        assert new_date in body.split("\n", 1)[0], body
        assert "by Google Calendar" in body
        assert link(mail, "/follow/manage")
        assert mail["List-Unsubscribe"].startswith(f"<{site.url}/follow/unsubscribe?token=")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        first, second = _rows(site, "sub_stale")
        assert first.status == "withdrawn" and "newer change" in (first.last_error or "")
        assert second.status == "sent" and second.dedupe_key.startswith("sub:")
        assert ADDRESS not in second.payload

        # Moved again, and this time the calendar fetches the change: nothing more.
        sent = len(site.mails)
        site.resync(site.start + timedelta(days=4))
        site.dispatch_until(sent + 2, "the third change alerts")
        assert client.get(url, headers={"User-Agent": APPLE}).status_code == 200
        time.sleep(2.5)  # past stale_after
        site.dispatcher.run_once()
        time.sleep(0.3)
        assert len(site.mails) == sent + 2
        last = _rows(site, "sub_stale")[-1]
        assert last.status == "withdrawn" and "fetched the change" in (last.last_error or "")

        # Forget erases the follow-ups with the rest.
        token = httpx.URL(_manage_url(site)).params["token"]
        assert client.post("/follow/manage", data={"token": token, "action": "forget"}
                           ).status_code == 200
        assert _rows(site, "sub_stale") == []


def test_stale_after_is_a_duration_setting(tmp_path: Path) -> None:
    from notifier.config import parse_settings
    from notifier.errors import ConfigError

    ok = parse_settings({"subscriptions": {"stale_after": "90m"}}, origin="t",
                        base_dir=tmp_path)
    assert ok.subscriptions.stale_after == timedelta(minutes=90)
    assert parse_settings({}, origin="t", base_dir=tmp_path).subscriptions.stale_after \
        == timedelta(hours=6)
    with pytest.raises(ConfigError, match="stale_after"):
        parse_settings({"subscriptions": {"stale_after": "soon"}}, origin="t",
                       base_dir=tmp_path)
