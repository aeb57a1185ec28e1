"""What an attack review of "follow by email" found, each closed, against the real
server, a real SMTP server (aiosmtpd) and a real SQLite file (PostgreSQL too where
marked): private mode needs a feed token that opens the case, internationalised
addresses are stored and sent in ASCII, each link opens only its own route,
one-click unsubscribe links do not expire, and a sign-up's answer neither waits
for nor shows the database work its address causes."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
import time_machine
from followkit import CASE, Site, follow_site, link, press_confirm, subject
from sqlmodel import col, select
from test_follow import db_url  # noqa: F401  (db_url: the fixture, SQLite and PostgreSQL)
from test_follow_calendar import _add_other_case, _calendar_url, _manage_url

from notifier.feeds.tokens import create_token, revoke_token
from notifier.notify.subscriptions.links import MANAGE, Links
from notifier.store import Store
from notifier.store.models import Notification
from notifier.store.subscribers import Subscriber, Subscription

ADDRESS = "jane.doe@example.org"
OTHER = "sam.roe@example.org"
ROE = "people-v-roe"
PRIVATE = {"feed": {"private": True}}


def _private_form(client: httpx.Client, token: str, case: str = CASE) -> dict[str, str]:
    """The follow form of a private case page opened with ``token``."""
    page = client.get(f"/cases/{case}", params={"token": token})
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    hidden = re.search(r'name="token" value="([^"]+)"', page.text)
    assert csrf, "the case page has no follow form"
    return {"csrf": csrf.group(1), "case": case, "lead": "86400",
            "token": hidden.group(1) if hidden else ""}


def _subscriptions(site: Site) -> set[tuple[str, str, int | None, str]]:
    with site.store.read() as s:
        return {(a, r.case_id, r.feed_token_id, r.state) for r, a in s.exec(
            select(Subscription, Subscriber.address).join(
                Subscriber, col(Subscriber.id) == Subscription.subscriber_id)).all()}


def _quiet(site: Site, count: int) -> None:
    site.dispatcher.run_once()
    time.sleep(0.3)
    site.dispatcher.run_once()
    assert len(site.mails) == count, [subject(m) for m in site.mails[count:]]


def test_private_sign_up_needs_a_token_opening_the_case_and_revoking_it_silences(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    with follow_site(tmp_path, lead_in=timedelta(days=3), config=PRIVATE,
                     db_url=db_url) as site, \
            site.client() as client:
        _add_other_case(site)
        tok_a_row, tok_a = create_token(site.store, CASE)
        tok_all_row, tok_all = create_token(site.store)
        form = _private_form(client, tok_a)
        assert form["token"] == tok_a  # the page's token goes with its form
        unknown = client.get("/cases/secret-guess", params={"token": tok_a})
        assert unknown.status_code == 404
        # Another case, an unknown one, no token, a wrong one: all the 404 of an
        # unknown case page, byte for byte; nothing stored, nothing sent.
        for over in ({"case": ROE}, {"case": "secret-guess"}, {"token": ""},
                     {"token": "x" * 43}, {"case": ROE, "token": ""}):
            r = client.post("/follow", data={**form, "email": OTHER, **over})
            assert (r.status_code, r.text) == (404, unknown.text), over
        r = client.post("/follow", data={**form, "token": tok_all, "case": "secret-guess",
                                          "email": OTHER})
        assert (r.status_code, r.text) == (404, unknown.text)
        site.stored()
        assert _subscriptions(site) == set()
        _quiet(site, 0)

        # The page's own case, and (token in ?token=) a case an all-cases token opens.
        r = client.post("/follow", data={**form, "email": ADDRESS})
        assert r.status_code == 200 and "Check your inbox" in r.text
        r = client.post("/follow", params={"token": tok_all},
                        data={**form, "token": "", "case": ROE, "email": OTHER})
        assert r.status_code == 200 and "Check your inbox" in r.text
        site.stored()
        assert _subscriptions(site) == {(ADDRESS, CASE, tok_a_row.id, "pending"),
                                        (OTHER, ROE, tok_all_row.id, "pending")}
        site.dispatch_until(2, "the two confirmations")
        assert sorted(subject(m) for m in site.mails) == [
            "Confirm: follow People v. Doe", "Confirm: follow People v. Roe"]
        press_confirm(client, site.to(ADDRESS)[0])
        cal = _calendar_url(client.get(_manage_url(site)).text)
        assert b"Bail hearing" in httpx.get(cal).content

        # An alert planned, then the token revoked: the alert is withdrawn at
        # dispatch, nothing new is planned, and the personal calendar drops the case.
        site.resync(site.start + timedelta(hours=1))
        revoke_token(site.store, tok_a_row.id or 0)
        _quiet(site, 2)
        with site.store.read() as s:
            [alert] = s.exec(select(Notification).where(
                Notification.type == "sub_change")).all()
        assert alert.status == "withdrawn" and "revoked" in (alert.last_error or "")
        site.resync(site.start + timedelta(hours=2))
        _quiet(site, 2)
        with site.store.read() as s:
            assert len(s.exec(select(Notification).where(
                Notification.type == "sub_change")).all()) == 1
        served = httpx.get(cal)
        assert served.status_code == 200 and b"Bail hearing" not in served.content
        assert "the link to this case's page was withdrawn" in client.get(
            _manage_url(site)).text
        # The revoked token opens nothing any more, not even a sign-up.
        r = client.post("/follow", data={**form, "email": ADDRESS})
        assert (r.status_code, r.text) == (404, unknown.text)

        # A new token for the case: signing up again asks for a new confirmation.
        new_row, new = create_token(site.store, CASE)
        r = client.post("/follow", data={**_private_form(client, new), "email": ADDRESS})
        assert r.status_code == 200
        site.stored()
        site.dispatch_until(3, "the new confirmation")
        press_confirm(client, site.to(ADDRESS)[1])
        assert (ADDRESS, CASE, new_row.id, "active") in _subscriptions(site)
        assert b"Bail hearing" in httpx.get(cal).content


def test_public_sign_up_takes_no_token_and_names_an_unknown_case(tmp_path: Path) -> None:
    with follow_site(tmp_path) as site, site.client() as client:
        assert 'name="token"' not in client.get(f"/cases/{CASE}").text
        r = site.sign_up(client, ADDRESS, case="secret-guess")
        assert r.status_code == 400 and "no such case" in r.text
        assert site.sign_up(client, ADDRESS).status_code == 200
        assert _subscriptions(site) == {(ADDRESS, CASE, None, "pending")}


def test_internationalised_addresses_are_sent_in_ascii_or_refused(tmp_path: Path) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site, site.client() as client:
        r = site.sign_up(client, "jürgen@example.org")
        assert r.status_code == 400 and "outside ASCII" in r.text
        assert "Nothing was saved" in r.text and "rgen" not in r.text
        for address in ("user@bücher.example", "user@xn--bcher-kva.example",
                        "User@BÜCHER.example"):
            r = site.sign_up(client, address)
            assert r.status_code == 200 and "Check your inbox" in r.text, address
        with site.store.read() as s:
            assert [x.address for x in s.exec(select(Subscriber)).all()] == [
                "user@xn--bcher-kva.example"]
        site.dispatch_until(1, "the confirmation")
        site.drain()
        [mail] = site.mails
        assert mail["To"] == "user@xn--bcher-kva.example"
        press_confirm(client, mail)
        with site.store.read() as s:
            assert s.exec(select(Notification).where(
                Notification.status == "dead")).all() == []
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text


def test_stored_unicode_addresses_are_converted_or_marked_bounced(
        db_url: str) -> None:  # noqa: F811
    old = Store(db_url, migrate=False)
    old.migrate("0012")
    now = datetime(2026, 1, 1)
    with old.engine.begin() as conn:
        for address in ("user@bücher.example", "jürgen@example.org", "plain@example.org"):
            conn.execute(sa.text(
                "INSERT INTO subscriber (address, key, paused, created_at) "
                "VALUES (:a, 'k', false, :now)"), {"a": address, "now": now})
    old.close()
    store = Store(db_url)
    try:
        with store.read() as s:
            rows = {x.address: x.bounced_at for x in s.exec(select(Subscriber)).all()}
    finally:
        store.close()
    assert set(rows) == {"user@xn--bcher-kva.example", "jürgen@example.org",
                         "plain@example.org"}
    assert rows["user@xn--bcher-kva.example"] is None and rows["plain@example.org"] is None
    assert rows["jürgen@example.org"] is not None  # cannot be sent to: nothing more is


def test_each_link_opens_only_its_own_route_and_unsubscribe_links_do_not_expire(
        tmp_path: Path) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site, site.client() as client:
        from followkit import confirm

        confirm(site, client, ADDRESS)
        site.resync(site.start + timedelta(hours=1))
        site.dispatch_until(2, "the change alert")
        alert = site.mails[1]
        unsub_url = alert["List-Unsubscribe"][1:-1]
        unsub = httpx.URL(unsub_url).params["token"]
        manage = httpx.URL(link(alert, "/follow/manage")).params["token"]
        fresh = httpx.Client(base_url=site.url, timeout=10)  # no cookie

        # The unsubscribe token opens no manage page and runs no manage action.
        page = fresh.get("/follow/manage", params={"token": unsub})
        assert page.status_code == 400 and "damaged" in page.text
        assert "/follow/calendar/" not in page.text and "People v. Doe" not in page.text
        for action in ("forget", "pause", "calendar_new", ""):
            r = fresh.post("/follow/manage", data={"token": unsub, "action": action})
            assert r.status_code == 400 and "Nothing was changed" in r.text, action
        # The manage token stops nothing.
        assert fresh.get("/follow/unsubscribe", params={"token": manage}).status_code == 400
        r = fresh.post("/follow/unsubscribe", params={"token": manage},
                       content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400
        with site.store.read() as s:
            sub = s.exec(select(Subscriber)).one()
            assert not sub.paused and sub.id is not None
            assert s.exec(select(Subscription)).one().state == "active"

        # Unsubscribe links 400 days old (manage_ttl is 180 days), also one written
        # before links had a salt per purpose, still work; the manage link that old not.
        links = Links(site.settings.subscriptions, site.url)
        with time_machine.travel(datetime.now(UTC) - timedelta(days=400)):
            old_url = links.unsubscribe_url(sub.id, sub.key, CASE)
            legacy = links.sign(MANAGE, [sub.id, sub.key, CASE])
            old_manage = links.manage_url(sub.id, sub.key)
            wrong_key = links.unsubscribe_url(sub.id, "not-the-key", CASE)
        assert fresh.get(old_manage).status_code == 410
        page = fresh.get(old_url)
        assert page.status_code == 200 and "Stop the emails" in page.text
        assert fresh.post("/follow/unsubscribe", data={"token": legacy}).status_code == 200
        with site.store.read() as s:
            assert s.exec(select(Subscription)).one().state == "unsubscribed"
        # Bound to the subscriber's key: a link with another key, or any link once the
        # address is forgotten, opens nothing.
        assert fresh.post(wrong_key).status_code == 410
        r = fresh.post("/follow/manage", data={"token": manage, "action": "forget"})
        assert r.status_code == 200 and "deleted" in r.text
        assert fresh.post(old_url).status_code == 410
        fresh.close()


def test_the_answer_does_not_wait_for_the_database_write(tmp_path: Path) -> None:
    """The sign-up is stored after the answer: while another transaction holds
    SQLite's write lock, a new address still gets its answer at once."""
    with follow_site(tmp_path) as site, site.client() as client:
        form = {**site.form(client), "email": ADDRESS}
        with site.store.write() as s:
            s.execute(sa.text("UPDATE \"case\" SET title = title WHERE 0"))  # lock taken
            began = time.perf_counter()
            r = client.post("/follow", data=form, timeout=3)
            took = time.perf_counter() - began
            assert r.status_code == 200 and "Check your inbox" in r.text
            assert took < 2
        site.stored()
        assert _subscriptions(site) == {(ADDRESS, CASE, None, "pending")}
        site.dispatch_until(1, "the confirmation")
