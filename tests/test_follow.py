"""Following a case by email, end to end: the real web server, a real SMTP server
(aiosmtpd), the real dispatcher over a real SQLite file."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from followkit import CASE, body_of, confirm, follow_site, link, subject
from sqlmodel import col, select

from notifier.store.models import Delivery, Notification
from notifier.store.subscribers import Subscriber, Subscription

ADDRESS = "jane.doe@example.org"


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
        [ics] = [p for p in reminder.walk() if p.get_content_type() == "text/calendar"]
        cal = ics.get_payload(decode=True)
        assert b"BEGIN:VEVENT" in cal and b"Bail hearing" in cal
        assert site.start.strftime("%Y%m%dT%H%M%SZ").encode() in cal
        body = body_of(reminder)
        assert "You get this email because you follow \"People v. Doe\"" in body
        assert "Stop following this case: " + unsub[1:-1] in body

        # A change alert reaches the subscriber (one row for them in the outbox).
        site.resync(site.start + timedelta(days=3))
        site.dispatch_until(3, "the change alert")
        alert = site.mails[2]
        assert alert["To"] == ADDRESS and "List-Unsubscribe" in alert
        # It names the case's next date (the moved hearing), as the channels' alerts do.
        nxt = next(line for line in body_of(alert).splitlines()
                   if line.startswith("Next date in this case:"))
        assert nxt.endswith(": Bail hearing"), nxt
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
    assert "Sent Email to j***@" in logged  # the mailer says it, masked


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notifier.db'}"
        return
    from clusterkit import ADMIN_URL, SKIP_REASON, pg_database

    if not ADMIN_URL:
        pytest.skip(SKIP_REASON)
    with pg_database() as url:
        yield url


def test_manage_page_changes_take_effect_and_forget_erases(tmp_path: Path, db_url: str) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db_url) as site, \
            site.client() as client:
        confirm(site, client, ADDRESS)
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


def _no_mail_after(site, count: int) -> None:  # type: ignore[no-untyped-def]
    site.dispatcher.run_once()
    time.sleep(0.3)
    assert len(site.mails) == count, [m["Subject"] for m in site.mails[count:]]


def test_bad_sign_ups_get_a_clear_answer_and_nothing_is_stored_or_sent(tmp_path: Path) -> None:
    with follow_site(tmp_path) as site, site.client() as client:
        for bad, why in [("not-an-address", "not a valid email address"),
                         ("", "enter an email address"),
                         ("a@b@example.org", "not a valid email address"),
                         ("x" * 300 + "@example.org", "not a valid email address")]:
            r = site.sign_up(client, bad)
            assert r.status_code == 400 and why in r.text and "Nothing was saved" in r.text
        # Header injection: CR/LF in every field.
        for name in ("email", "case", "lead", "csrf"):
            for brk in ("\r\n", "\n", "\r"):
                form = {**site.form(client), "email": ADDRESS}
                form[name] = form[name] + brk + "Bcc: victim@example.net"
                r = client.post("/follow", data=form)
                assert r.status_code in (400, 403), (name, r.status_code)
                assert "Nothing was saved" in r.text or "did not come from this site" in r.text
        r = site.sign_up(client, ADDRESS, lead="12345")
        assert r.status_code == 400 and "offered reminder times" in r.text
        r = site.sign_up(client, ADDRESS, case="no-such-case")
        assert r.status_code == 400 and "no such case" in r.text
        # No CSRF token; a token without its cookie; a token signed with another key.
        form = {**site.form(client), "email": ADDRESS}
        r = client.post("/follow", data={k: v for k, v in form.items() if k != "csrf"})
        assert r.status_code == 403 and "did not come from this site" in r.text
        r = httpx.post(site.url + "/follow", data=form)  # no cookie
        assert r.status_code == 403
        from itsdangerous import URLSafeTimedSerializer
        forged = URLSafeTimedSerializer("x" * 40, salt="notifier-form").dumps(
            client.cookies["notifier_follow"])
        r = client.post("/follow", data={**form, "csrf": forged})
        assert r.status_code == 403
        with site.store.read() as s:
            assert s.exec(select(Subscriber)).all() == []
            assert s.exec(select(Subscription)).all() == []
        _no_mail_after(site, 0)


def test_replayed_expired_and_forged_links_change_nothing(tmp_path: Path) -> None:
    import time_machine

    from notifier.notify.subscriptions.links import Links

    with follow_site(tmp_path) as site, site.client() as client:
        assert site.sign_up(client, ADDRESS).status_code == 200
        site.dispatch_until(1, "the confirmation email")
        url = link(site.mails[0], "/follow/confirm")
        token = httpx.URL(url).params["token"]
        with site.store.read() as s:
            row = s.exec(select(Subscription)).one()
            assert row.id is not None and row.confirm_nonce
            sub = s.exec(select(Subscriber)).one()
            assert sub.id is not None
        links = Links(site.settings.subscriptions, site.url)
        with time_machine.travel(datetime.now(UTC) - timedelta(days=3)):  # ttl 2 days
            old = links.confirm_url(row.id, row.confirm_nonce)
        with time_machine.travel(datetime.now(UTC) - timedelta(days=181)):  # ttl 180 days
            old_manage = links.manage_url(sub.id, sub.key)
        r = client.get(old)
        assert r.status_code == 410 and "expired" in r.text
        r = client.post("/follow/confirm", data={"token": httpx.URL(old).params["token"]})
        assert r.status_code == 410 and "Nothing was changed" in r.text
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        other = Links(site.settings.subscriptions.model_copy(
            update={"secret": type(site.settings.subscriptions.secret)("y" * 40)}), site.url)
        for bad in (tampered, httpx.URL(other.confirm_url(row.id, row.confirm_nonce)
                                        ).params["token"], "", "x" * 600):
            r = client.post("/follow/confirm", data={"token": bad})
            assert r.status_code == 400 and "damaged" in r.text, bad
            assert client.get("/follow/manage", params={"token": bad}).status_code == 400
            assert client.post("/follow/unsubscribe", params={"token": bad}).status_code == 400
        # A manage link of the right subscriber but signed with another secret, or expired.
        assert client.get(other.manage_url(sub.id, sub.key)).status_code == 400
        assert client.get(old_manage).status_code == 410
        with site.store.read() as s:
            assert s.exec(select(Subscription)).one().state == "pending"
        assert client.post("/follow/confirm", data={"token": token}).status_code == 200
        replay = client.post("/follow/confirm", data={"token": token})
        assert replay.status_code == 410 and "already used" in replay.text
        with site.store.read() as s:
            assert s.exec(select(Subscription)).one().state == "active"


def test_many_sign_ups_from_one_ip_and_the_same_answer_for_known_addresses(
        tmp_path: Path) -> None:
    other = "someone.else@example.org"
    with follow_site(tmp_path, lead_in=timedelta(days=3), per_ip=5, per_address=1) as site, \
            site.client() as client:
        confirm(site, client, ADDRESS)  # sign-up 1 from this IP; ADDRESS is known and active now
        known = site.sign_up(client, ADDRESS)  # 2
        unknown = site.sign_up(client, other)  # 3
        assert known.status_code == unknown.status_code == 200
        assert known.text == unknown.text  # no telling a known address from a new one
        again = site.sign_up(client, other)  # 4: over the per-address limit, same answer
        assert (again.status_code, again.text) == (unknown.status_code, unknown.text)
        site.dispatch_until(2, "the confirmation to the other address")
        form = site.form(client)
        answers: dict[int, int] = {}
        last = None
        for i in range(1000):
            last = client.post("/follow", data={**form, "email": f"flood{i}@example.org"})
            answers[last.status_code] = answers.get(last.status_code, 0) + 1
        assert answers == {200: 1, 429: 999}
        assert last is not None and "Too many sign-ups" in last.text
        assert int(last.headers["Retry-After"]) > 0
        site.dispatch_until(3, "the one flood sign-up's confirmation")
        _no_mail_after(site, 3)
        assert [len(site.to(a)) for a in (ADDRESS, other, "flood0@example.org")] == [1, 1, 1]
        with site.store.read() as s:
            assert len(s.exec(select(Subscriber)).all()) == 3


def test_rate_limit_counts_per_key_within_the_window() -> None:
    from notifier.server.follow import RateLimit

    now = [0.0]
    rl = RateLimit(2, 60, keys=3, clock=lambda: now[0])
    assert [rl.hit("a"), rl.hit("a"), rl.hit("a"), rl.hit("b")] == [True, True, False, True]
    now[0] = 61
    assert rl.hit("a")  # the window moved on
    for k in "cdef":
        rl.hit(k)
    assert len(rl._hits) == 3  # bounded memory: the least recently used keys go


def test_operator_lists_masked_subscribers_and_forgets_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from notifier.cli.main import main

    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site, site.client() as client:
        confirm(site, client, ADDRESS)
        assert site.sign_up(client, "pending.person@example.net").status_code == 200
        site.dispatch_until(2, "the second confirmation")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{site.settings.database_url()}"\n', encoding="utf-8")
    run = CliRunner().invoke(main, ["subscribers", "--config", str(cfg)])
    assert run.exit_code == 0, run.output
    assert "j***@e***.org" in run.output and "p***@e***.net" in run.output
    states = {ln.split()[1]: ln.split()[2] for ln in run.output.splitlines()
              if re.match(r"^\d+\s", ln)}
    assert states == {"j***@e***.org": "active", "p***@e***.net": "unconfirmed"}
    assert "jane" not in run.output and "example" not in run.output
    assert CASE in run.output
    js = CliRunner().invoke(main, ["subscribers", "--json", "--config", str(cfg)])
    assert '"active": 1' in js.output and '"pending": 1' in js.output and "jane" not in js.output

    bad = CliRunner().invoke(main, ["subscribers", "forget", "no address", "--config", str(cfg)])
    assert bad.exit_code == 1 and "not a valid email address" in bad.output
    gone = CliRunner().invoke(main, ["subscribers", "forget", "Jane.Doe@EXAMPLE.org",
                                     "--config", str(cfg)])
    assert gone.exit_code == 0 and "forgot j***@e***.org" in gone.output, gone.output
    assert "jane" not in gone.output.lower()
    store = site.store.__class__(site.settings.database_url())
    try:
        with store.read() as s:
            assert [x.address for x in s.exec(select(Subscriber)).all()] == [
                "pending.person@example.net"]
            assert len(s.exec(select(Subscription)).all()) == 1
            keys = [n.dedupe_key for n in s.exec(select(Notification).where(
                Notification.channel == "subscribers")).all()]
            assert len(keys) == 1 and all(not k.startswith("sub:1:") for k in keys)
    finally:
        store.close()
    again = CliRunner().invoke(main, ["subscribers", "forget", ADDRESS, "--config", str(cfg)])
    assert again.exit_code == 0 and "no subscriber j***@e***.org" in again.output


@pytest.mark.parametrize(("sub", "says"), [
    ({"enabled": True, "secret": "s" * 40}, "enabled = true needs email"),
    ({"enabled": True, "secret": "s" * 40, "email": "json://user:pw@127.0.0.1/"},
     "subscriptions.email: must be an Apprise mailto:// or mailtos:// URL (value: <hidden>)"),
    ({"enabled": True, "email": "mailto://127.0.0.1"}, "needs secret (at least 32"),
    ({"enabled": True, "email": "mailto://127.0.0.1", "secret": "short"}, "at least 32"),
    ({"offsets": ["-1d"]}, "offsets"),
])
def test_incomplete_subscription_settings_are_refused_naming_the_key(
        tmp_path: Path, sub: dict[str, object], says: str) -> None:
    from notifier.config import parse_settings
    from notifier.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse_settings({"subscriptions": sub}, origin="config.toml", base_dir=tmp_path)
    assert "subscriptions" in str(e.value) and says in str(e.value)
    assert "s" * 40 not in str(e.value) and "pw" not in str(e.value)


def test_off_by_default_no_form_and_no_routes(tmp_path: Path) -> None:
    from followkit import case_file
    from webhelpers import LiveServer

    from notifier.config import parse_settings
    from notifier.server.web import create_app
    from notifier.store import Store
    from notifier.tracking.sync import sync_calendars

    cal = tmp_path / "calendars"
    cal.mkdir()
    (cal / "doe.toml").write_text(case_file(datetime.now(UTC) + timedelta(days=2)))
    settings = parse_settings({"database": {"url": f"sqlite:///{tmp_path / 'n.db'}"}},
                              origin="test", base_dir=tmp_path)
    assert settings.subscriptions.enabled is False
    store = Store(settings.database_url())
    try:
        sync_calendars(store, [("calendars", cal)])
        with LiveServer(create_app(settings, store)) as srv:
            page = httpx.get(f"{srv.url}/cases/{CASE}", timeout=10)
            assert page.status_code == 200 and "People v. Doe" in page.text
            assert "Follow this case" not in page.text and "set-cookie" not in page.headers
            index = httpx.get(f"{srv.url}/", timeout=10)
            assert "People v. Doe" in index.text and "Follow a case" not in index.text
            assert httpx.post(f"{srv.url}/follow", data={"email": ADDRESS},
                              timeout=10).status_code in (404, 405)
    finally:
        store.close()


def test_the_daemon_sends_the_confirmation_at_once(tmp_path: Path) -> None:
    """`notifier run` wires it all: the form on its pages, the subscribers' lane in its
    dispatcher, and a sign-up waking that lane (the safety tick is 30 s away)."""
    from channelkit import free_port, smtp_server
    from followkit import case_file
    from waiting import wait_for

    from notifier.config import parse_settings
    from notifier.server.daemon import Daemon

    cal = tmp_path / "calendars"
    cal.mkdir()
    (cal / "doe.toml").write_text(case_file(datetime.now(UTC) + timedelta(days=3)))
    port = free_port()
    with smtp_server() as (smtp_port, mails):
        settings = parse_settings({
            "database": {"url": f"sqlite:///{tmp_path / 'n.db'}"},
            "calendars": {"paths": [str(cal)]},
            "server": {"base_url": f"http://127.0.0.1:{port}"},
            "delivery": {"poll_interval": "30s"},
            "subscriptions": {"enabled": True, "secret": "s" * 40,
                              "email": f"mailto://127.0.0.1:{smtp_port}?from=court@example.org"
                                       "&mode=insecure"}}, origin="test", base_dir=tmp_path)
        daemon = Daemon(settings, host="127.0.0.1", port=port)
        daemon.start()
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=10) as client:
                wait_for(lambda: client.get(f"/cases/{CASE}").status_code == 200, 20,
                         "the case page")
                page = client.get(f"/cases/{CASE}").text
                csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                r = client.post("/follow", data={"csrf": csrf, "case": CASE, "lead": "0",
                                                 "email": ADDRESS})
                assert r.status_code == 200
                wait_for(lambda: len(mails) == 1, 10, "the confirmation email")
                assert mails[0]["To"] == ADDRESS
        finally:
            assert daemon.stop(10)


def test_a_reminder_for_a_date_that_moved_is_not_sent(tmp_path: Path) -> None:
    with follow_site(tmp_path) as site, site.client() as client:
        confirm(site, client, ADDRESS)  # the 1-day reminder is due ~4 s after the site started
        site.resync(site.start + timedelta(days=2))  # moved before it fell due
        due = site.start - timedelta(days=1)
        time.sleep(max((due - datetime.now(UTC)).total_seconds(), 0) + 0.5)
        _no_mail_after(site, 2)  # the confirmation and the change alert, no reminder
        assert subject(site.mails[1]).startswith("Hearing moved later")
        with site.store.read() as s:
            rows = s.exec(select(Notification).where(
                Notification.type == "sub_reminder")).all()
        # The old date's row is withdrawn when it falls due; the new date's waits.
        assert sorted(n.status for n in rows) == ["pending", "withdrawn"]
        assert next(n for n in rows if n.status == "withdrawn").due_at == due


def test_a_channel_named_like_the_subscribers_lane_is_refused(tmp_path: Path) -> None:
    from notifier.config import parse_settings
    from notifier.errors import ConfigError
    from notifier.notify.dispatch import Dispatcher
    from notifier.store import Store

    settings = parse_settings({
        "database": {"url": f"sqlite:///{tmp_path / 'n.db'}"},
        "channels": [{"name": "subscribers", "url": "json://127.0.0.1:9/"}],
        "subscriptions": {"enabled": True, "secret": "s" * 40,
                          "email": "mailto://127.0.0.1:9?from=court@example.org"}},
        origin="config.toml", base_dir=tmp_path)
    store = Store(settings.database_url())
    try:
        with pytest.raises(ConfigError) as e:
            Dispatcher(store, settings)
        assert "config.toml: [[channels]] name 'subscribers' is taken" in str(e.value)
    finally:
        store.close()
