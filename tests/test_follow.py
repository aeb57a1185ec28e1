"""Following a case by email, end to end: the real web server, a real SMTP server
(aiosmtpd), the real dispatcher over a real SQLite file."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from followkit import CASE, body_of, follow_site, link, subject
from sqlmodel import col, select

from notifier.store.models import Delivery, Notification
from notifier.store.subscribers import Subscriber, Subscription

ADDRESS = "jane.doe@example.org"


def _confirm(site, client: httpx.Client, address: str = ADDRESS) -> None:  # type: ignore[no-untyped-def]
    before = len(site.to(address))
    r = site.sign_up(client, address)
    assert r.status_code == 200 and "Check your inbox" in r.text
    site.dispatch_until(len(site.mails) + 1, "the confirmation email")
    mail = site.to(address)[before]
    assert subject(mail) == "Confirm: follow People v. Doe"
    url = link(mail, "/follow/confirm")
    page = client.get(url)
    assert page.status_code == 200 and "Confirm" in page.text
    token = url.split("token=", 1)[1]
    done = client.post("/follow/confirm", data={"token": httpx.QueryParams(
        f"token={token}")["token"]})
    assert done.status_code == 200 and "You now follow" in done.text, done.text


def test_sign_up_confirm_remind_alert_and_one_click_unsubscribe(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with follow_site(tmp_path) as site, site.client() as client:
        r = site.sign_up(client, ADDRESS)
        assert r.status_code == 200 and "Check your inbox" in r.text
        site.dispatch_until(1, "the confirmation email")
        [mail] = site.mails
        assert mail["To"] == ADDRESS
        assert "example.org" not in link(mail, "/follow/confirm")  # no address in links
        # Nothing but that one email before the click: signing up again sends nothing.
        assert site.sign_up(client, ADDRESS).status_code == 200
        site.dispatcher.run_once()
        time.sleep(0.3)
        assert len(site.mails) == 1

        url = link(mail, "/follow/confirm")
        token = httpx.URL(url).params["token"]
        assert client.post("/follow/confirm", data={"token": token}).status_code == 200
        # Used once: the same link again changes nothing.
        again = client.post("/follow/confirm", data={"token": token})
        assert again.status_code == 410 and "already used" in again.text

        # The 1-day reminder is due 4 s after the start of the test; it comes on time.
        due = site.start - timedelta(days=1)
        site.dispatch_until(2, "the reminder")
        arrived = datetime.now(UTC)
        assert due <= arrived < due + timedelta(seconds=5)
        reminder = site.mails[1]
        assert reminder["To"] == ADDRESS
        assert subject(reminder).startswith("Reminder: Hearing in 1 day")
        unsub = reminder["List-Unsubscribe"]
        assert unsub.startswith("<" + site.url + "/follow/unsubscribe?token=")
        assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        body = body_of(reminder)
        assert "You get this email because you follow \"People v. Doe\"" in body
        assert "Stop following this case: " + unsub[1:-1] in body

        # A change alert reaches the subscriber (one row for them in the outbox).
        site.resync(site.start + timedelta(days=3))
        site.dispatch_until(3, "the change alert")
        alert = site.mails[2]
        assert alert["To"] == ADDRESS and "List-Unsubscribe" in alert
        with site.store.read() as s:
            rows = s.exec(select(Notification).where(
                Notification.channel == "subscribers")).all()
            assert {n.type for n in rows} >= {"sub_confirm", "sub_reminder", "sub_change"}
            assert all(ADDRESS not in n.payload and ADDRESS not in n.dedupe_key for n in rows)

        # One-click unsubscribe (RFC 8058): a bare POST, no cookie, no form token.
        r = httpx.post(alert["List-Unsubscribe"][1:-1], content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and "no more emails" in r.text
        with site.store.read() as s:
            assert s.exec(select(Subscription)).one().state == "unsubscribed"
        site.resync(site.start + timedelta(days=5))
        site.dispatcher.run_once()
        time.sleep(0.3)
        assert len(site.mails) == 3
    # Everything notifier, Apprise, uvicorn and httpx logged (not the test's SMTP server).
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records
                       if not r.name.startswith("mail.log"))
    assert ADDRESS not in logged
    assert "Sent Email to j***@" in logged  # Apprise says it, masked


def test_manage_page_changes_take_effect_and_forget_erases(tmp_path: Path) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site, site.client() as client:
        _confirm(site, client)
        with site.store.read() as s:
            [planned] = s.exec(select(Notification).where(
                Notification.type == "sub_reminder")).all()  # due in 2 days
            assert planned.offset_s == 86400 and planned.status == "pending"
        site.resync(site.start + timedelta(hours=1))
        site.dispatch_until(2, "the change alert")
        manage_url = link(site.mails[1], "/follow/manage")
        fresh = httpx.Client(base_url=site.url, timeout=10)  # any browser, no cookie
        page = fresh.get(manage_url)
        assert page.status_code == 200 and "People v. Doe" in page.text
        token = httpx.URL(manage_url).params["token"]

        r = fresh.post("/follow/manage", data={"token": token, "action": "lead",
                                                "case": CASE, "lead": "604800"})
        assert r.status_code == 200
        with site.store.read() as s:
            assert s.exec(select(Subscription)).one().lead_s == 604800
            # The 1-day reminders (of the first and the moved date) are withdrawn;
            # 7 days before a hearing 3 days away is past, so none replaces them.
            rows = s.exec(select(Notification).where(
                Notification.type == "sub_reminder")).all()
            assert {(n.offset_s, n.status) for n in rows} == {(86400, "withdrawn")}

        assert fresh.post("/follow/manage", data={"token": token, "action": "pause"}
                          ).status_code == 200
        site.resync(site.start + timedelta(hours=2))
        site.dispatcher.run_once()
        time.sleep(0.3)
        assert len(site.mails) == 2  # paused: no alert
        with site.store.read() as s:
            assert s.exec(select(Subscriber)).one().paused

        bad = fresh.post("/follow/manage", data={"token": token, "action": "drop-tables"})
        assert bad.status_code == 400 and "Nothing was changed" in bad.text

        gone = fresh.post("/follow/manage", data={"token": token, "action": "forget"})
        assert gone.status_code == 200 and "deleted" in gone.text
        with site.store.read() as s:
            assert s.exec(select(Subscriber)).all() == []
            assert s.exec(select(Subscription)).all() == []
            assert s.exec(select(Notification).where(
                col(Notification.dedupe_key).startswith("sub:"))).all() == []
            assert s.exec(select(Delivery).where(
                Delivery.channel == "subscribers")).all() == []
        after = fresh.get(manage_url)
        assert after.status_code == 410
        fresh.close()
