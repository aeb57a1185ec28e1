"""A followed case's end (the final "no more dates" email, purging after `retention`),
bounced addresses, the subscriber gauge and the index page's form: the real web server,
a real SMTP server (aiosmtpd, refusing some recipients), the real dispatcher and the
daemon's housekeeping over a real SQLite file."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from followkit import CASE, Site, body_of, confirm, follow_site, subject
from sqlmodel import col, select

from notifier.config import parse_settings
from notifier.errors import ConfigError
from notifier.notify.outbox import prune, replan_all
from notifier.notify.subscriptions import registry
from notifier.server.scheduler import Engine
from notifier.store.models import Delivery, Notification
from notifier.store.subscribers import Subscriber, Subscription

ADDRESS = "jane.doe@example.org"
HEAD = '[case]\nid = "people-v-doe"\ntitle = "People v. Doe"\ntimezone = "UTC"\n'
OTHER = ('[case]\nid = "state-v-roe"\ntitle = "State v. Roe"\ntimezone = "UTC"\n\n'
         '[[events]]\nid = "trial"\nkind = "trial"\ntitle = "Trial"\n'
         f'start = {(datetime.now(UTC) + timedelta(days=300)):%Y-%m-%dT%H:%M:%SZ}\n')


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The site's database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'notifier.db'}"
    return str(request.getfixturevalue("pg_url"))


def event(id_: str, *, start: datetime | None = None, status: str = "scheduled",
          kind: str = "hearing") -> str:
    when = f"start = {start:%Y-%m-%dT%H:%M:%SZ}\n" if start else ""
    return (f'\n[[events]]\nid = "{id_}"\nkind = "{kind}"\ntitle = "{id_.title()}"\n'
            f'{when}status = "{status}"\n')


def finals(site: Site, address: str = ADDRESS) -> list[str]:
    return [subject(m) for m in site.to(address) if subject(m).startswith("No more dates")]


def rows(site: Site, ntype: str) -> list[Notification]:
    with site.store.read() as s:
        return list(s.exec(select(Notification).where(Notification.type == ntype)
                           .order_by(col(Notification.id))).all())


def test_final_email_once_per_ending_and_not_while_a_date_is_to_be_set(tmp_path: Path,
                                                                       db: str) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db) as site, \
            site.client() as client:
        confirm(site, client, ADDRESS)
        soon = site.start
        # The hearing is cancelled, but a trial date is still to be set: something left.
        site.write_case(HEAD + event("hearing", start=soon, status="cancelled")
                        + event("third-trial", status="tbd", kind="trial"))
        site.drain()
        with site.store.write() as s:
            replan_all(s, site.settings, datetime.now(UTC))
        site.drain()
        assert finals(site) == [] and rows(site, "sub_final") == []
        assert any("cancelled" in subject(m).lower() for m in site.to(ADDRESS))

        # The trial is dropped too: nothing left. One final email, after the alerts.
        site.write_case(HEAD + event("hearing", start=soon, status="cancelled")
                        + event("third-trial", status="cancelled", kind="trial"))
        site.drain()
        assert finals(site) == ["No more dates: People v. Doe"]
        final = next(m for m in site.to(ADDRESS) if subject(m).startswith("No more dates"))
        assert site.to(ADDRESS)[-1] is final  # the alert came first
        body = body_of(final)
        assert "has no dates left" in body and "within 90 days" in body
        assert f"{site.url}/cases/{CASE}" in body
        assert final["List-Unsubscribe"].startswith(f"<{site.url}/follow/unsubscribe?token=")
        assert final["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "You get this email because you follow" in body
        assert not [p for p in final.walk() if p.get_content_type() == "text/calendar"]

        # Re-planning and syncing the same calendar again: still one.
        with site.store.write() as s:
            replan_all(s, site.settings, datetime.now(UTC))
        site.write_case(HEAD + event("hearing", start=soon, status="cancelled")
                        + event("third-trial", status="cancelled", kind="trial"))
        site.drain()
        assert len(finals(site)) == 1

        # A new date is set, then cancelled: a new ending, a new final email.
        later = soon + timedelta(days=10)
        site.write_case(HEAD + event("hearing", start=soon, status="cancelled")
                        + event("new-hearing", start=later))
        site.drain()
        site.write_case(HEAD + event("hearing", start=soon, status="cancelled")
                        + event("new-hearing", start=later, status="cancelled"))
        site.drain()
        assert len(finals(site)) == 2
        keys = [r.dedupe_key for r in rows(site, "sub_final")]
        assert len(set(keys)) == 2 and all(k.startswith("sub:1:final:people-v-doe:")
                                           for k in keys)

        # Checked at dispatch: planned, then a date is set before it goes out: withdrawn.
        latest = later + timedelta(days=5)
        site.write_case(HEAD + event("hearing-3", start=latest, status="cancelled"))
        assert [r.status for r in rows(site, "sub_final")][-1] == "pending"
        site.write_case(HEAD + event("hearing-3", start=latest))
        site.drain()
        last = rows(site, "sub_final")[-1]
        assert last.status == "withdrawn" and "has a date again" in (last.last_error or "")
        assert len(finals(site)) == 2


def test_no_final_email_for_paused_or_unsubscribed_followers(tmp_path: Path) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site, site.client() as client:
        confirm(site, client, ADDRESS)
        confirm(site, client, "paused.person@example.net")
        confirm(site, client, "gone.person@example.net")
        with site.store.write() as s:
            now = datetime.now(UTC)
            paused = registry.find(s, "paused.person@example.net")
            gone = registry.find(s, "gone.person@example.net")
            assert paused is not None and gone is not None
            registry.set_paused(s, paused.id or 0, True, now)
            registry.unsubscribe(s, gone.id or 0, None, now)
        site.write_case(HEAD + event("hearing", start=site.start, status="cancelled"))
        site.drain()
        assert len(finals(site)) == 1
        assert finals(site, "paused.person@example.net") == []
        assert finals(site, "gone.person@example.net") == []

        # Finished rows are pruned, but not the final email's: its dedupe key is what
        # stops a re-plan sending it again while the subscription lasts.
        later = datetime.now(UTC) + timedelta(days=1)
        with site.store.write() as s:
            assert prune(s, later, timedelta(0)) > 0
            replan_all(s, site.settings, later)
        assert [r.status for r in rows(site, "sub_final")] == ["sent"]
        assert rows(site, "sub_confirm") == []  # pruned
        site.drain()
        assert len(finals(site)) == 1


def _housekeeping_at(site: Site, at: datetime) -> None:
    engine = Engine(site.store, site.settings, sync=False, clock=lambda: at)
    try:
        engine.housekeeping()
    finally:
        engine.dispatcher.close()


def test_subscriptions_of_a_case_with_no_date_for_retention_days_are_purged(
        tmp_path: Path, db: str) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db) as site, \
            site.client() as client:
        site.write_case(OTHER, "roe.toml")
        confirm(site, client, ADDRESS)
        confirm(site, client, "both@example.net")
        confirm(site, client, "both@example.net", case="state-v-roe")
        assert site.sign_up(client, "never.confirmed@example.net").status_code == 200
        site.drain()
        ended = datetime.now(UTC)
        site.write_case(HEAD + event("hearing", start=site.start, status="cancelled"))
        site.drain()
        assert len(finals(site)) == 1 and len(finals(site, "both@example.net")) == 1
        with site.store.write() as s:  # someone follows the case long after it ended
            registry.request(s, site.settings.subscriptions, "late@example.com", CASE, 0,
                             ended + timedelta(days=60))

        def state() -> tuple[list[str], list[tuple[str, str]], int]:
            with site.store.read() as s:
                people = sorted(x.address for x in s.exec(select(Subscriber)).all())
                subs = sorted((str(x.subscriber_id), x.case_id)
                              for x in s.exec(select(Subscription)).all())
                n = len(s.exec(select(Notification)).all())
            return people, subs, n

        before = state()
        assert len(before[1]) == 5
        _housekeeping_at(site, ended + timedelta(days=89))
        assert state() == before  # not yet: 89 days

        _housekeeping_at(site, ended + timedelta(days=91))
        people, subs, _n = state()
        assert people == ["both@example.net", "late@example.com"]
        assert sorted(c for _sid, c in subs) == [CASE, "state-v-roe"]  # late's, both's
        with site.store.read() as s:
            both = registry.find(s, "both@example.net")
            late = registry.find(s, "late@example.com")
            assert both is not None and late is not None
            left = s.exec(select(Notification)).all()
            assert {(n.case_id, n.dedupe_key.split(":")[1]) for n in left
                    if n.channel == "subscribers"} <= {("state-v-roe", str(both.id)),
                                                      (CASE, str(late.id))}
            assert not [n for n in left if n.type == "sub_final"]  # deleted with them
            ids = {n.id for n in left}
            assert all(d.notification_id in ids for d in s.exec(select(Delivery)).all())


@pytest.mark.parametrize(("value", "says"), [
    ("0s", "cfg.toml: key subscriptions.retention: must be at least 1d (value: '0s')"),
    ("soon", "cfg.toml: key subscriptions.retention: invalid duration 'soon'"),
])
def test_a_bad_retention_is_refused_naming_the_key(tmp_path: Path, value: str,
                                                    says: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings({"subscriptions": {"retention": value}}, origin="cfg.toml",
                       base_dir=tmp_path)
    assert says in str(e.value)


def _gauge(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^notifier_subscribers\{state="(\w+)"\} (\S+)$', text, re.M)}


def test_a_refused_address_is_marked_bounced_until_it_confirms_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from click.testing import CliRunner

    from notifier.cli.main import main

    caplog.set_level(logging.DEBUG)
    refuse: dict[str, str] = {}
    with follow_site(tmp_path, lead_in=timedelta(days=3), refuse=refuse) as site, \
            site.client() as client:
        confirm(site, client, ADDRESS)
        confirm(site, client, "ok.person@example.net")
        # The mailbox is gone: the next email is refused for good (550 at RCPT TO).
        refuse[ADDRESS] = f"550 5.1.1 <{ADDRESS}>: no such user"
        site.resync(site.start + timedelta(hours=1))
        site.drain()
        assert len(site.to("ok.person@example.net")) == 2  # confirmation + the alert
        with site.store.read() as s:
            sub = registry.find(s, ADDRESS)
            assert sub is not None and sub.bounced_at is not None
            mine = s.exec(select(Notification).where(col(Notification.dedupe_key).startswith(
                f"sub:{sub.id}:"))).all()
        [dead] = [n for n in mine if n.status == "dead"]
        assert dead.type == "sub_change"
        assert "permanent: subscribers email: recipient refused: 550 5.1.1" in (
            dead.last_error or "")
        assert "jane" not in (dead.last_error or "") and "j***@e***.org" in (
            dead.last_error or "")
        assert all(n.status not in ("pending", "failed") for n in mine)  # reminder withdrawn
        logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records
                           if not r.name.startswith("mail.log"))  # aiosmtpd's own
        assert "recipient refused: 550" in logged and ADDRESS not in logged
        # Nothing more is planned for it: the next change has no row for this address.
        site.resync(site.start + timedelta(hours=2))
        site.drain()
        with site.store.read() as s:
            assert len(s.exec(select(Notification).where(
                col(Notification.dedupe_key).startswith(f"sub:{sub.id}:change"))).all()) == 1
        assert len(site.to("ok.person@example.net")) == 3

        # A temporary refusal (4xx) is retried, not a bounce.
        refuse["ok.person@example.net"] = "450 4.2.1 mailbox busy"
        site.resync(site.start + timedelta(hours=3))
        site.drain()
        with site.store.read() as s:
            ok = registry.find(s, "ok.person@example.net")
            assert ok is not None and ok.bounced_at is None
            waiting = s.exec(select(Notification).where(
                Notification.status == "failed", col(Notification.dedupe_key).startswith(
                    f"sub:{ok.id}:change"))).all()
            assert len(waiting) == 1 and "bounced" not in (waiting[0].last_error or "")
        del refuse["ok.person@example.net"]

        # A confirmation email refused for good bounces too.
        refuse["nobody@example.net"] = "550 no such user"
        assert site.sign_up(client, "nobody@example.net").status_code == 200
        site.drain()
        assert _gauge(client) == {"unconfirmed": 0, "active": 1, "paused": 0, "bounced": 2,
                                  "unsubscribed": 0}
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[database]\nurl = "{site.settings.database_url()}"\n',
                       encoding="utf-8")
        run = CliRunner().invoke(main, ["subscribers", "--config", str(cfg)])
        assert run.exit_code == 0, run.output
        lines = {ln.split()[1]: ln.split()[2] for ln in run.output.splitlines()
                 if re.match(r"^\d+\s", ln)}
        assert lines == {"j***@e***.org": "bounced", "o***@e***.net": "active",
                         "n***@e***.net": "bounced"}

        # The address works again: a new sign-up sends a confirmation (the subscription
        # was active), and using it clears the bounce; emails flow again.
        del refuse[ADDRESS]
        confirm(site, client, ADDRESS)
        with site.store.read() as s:
            sub = registry.find(s, ADDRESS)
            assert sub is not None and sub.bounced_at is None
        before = len(site.to(ADDRESS))
        site.resync(site.start + timedelta(hours=4))
        site.drain()
        assert len(site.to(ADDRESS)) == before + 1
        assert subject(site.to(ADDRESS)[-1]).startswith("Hearing time changed")
        assert _gauge(client)["bounced"] == 1 and _gauge(client)["active"] == 2


def test_subscriber_gauge_counts_every_state(tmp_path: Path, db: str) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db) as site, \
            site.client() as client:
        assert _gauge(client) == dict.fromkeys(
            ("unconfirmed", "active", "paused", "bounced", "unsubscribed"), 0.0)
        for who in ("a@example.net", "b@example.net", "c@example.net"):
            confirm(site, client, who)
        assert site.sign_up(client, "d@example.net").status_code == 200
        with site.store.write() as s:
            now = datetime.now(UTC)
            b, c = registry.find(s, "b@example.net"), registry.find(s, "c@example.net")
            assert b is not None and c is not None
            registry.set_paused(s, b.id or 0, True, now)
            registry.unsubscribe(s, c.id or 0, None, now)
        assert _gauge(client) == {"unconfirmed": 1, "active": 1, "paused": 1, "bounced": 0,
                                  "unsubscribed": 1}
        text = client.get("/metrics").text
        assert "@" not in "".join(ln for ln in text.splitlines() if "subscriber" in ln)


def test_the_index_page_has_the_form_with_a_choice_of_cases(tmp_path: Path) -> None:
    with follow_site(tmp_path, lead_in=timedelta(days=3)) as site, site.client() as client:
        site.write_case(OTHER, "roe.toml")
        page = client.get("/")
        assert page.status_code == 200 and "Follow a case by email" in page.text
        select_ = re.search(r'<select name="case" required>(.*?)</select>', page.text, re.S)
        assert select_, page.text
        assert re.findall(r'<option value="([^"]+)">', select_.group(1)) == [
            CASE, "state-v-roe"]  # by next date, as the page lists them
        # No third-party assets: every link, source and form action is on this site
        # (or inline in the page: the icon is a data: URL).
        for url in re.findall(r'(?:src|href|action)="([^"]+)"', page.text):
            if url.startswith("data:"):
                assert "://" not in url.split(",", 1)[0], url
                continue
            assert url.split("://", 1)[1].startswith(site.url.split("://", 1)[1] + "/"), url
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf and "notifier_follow" in page.headers.get("set-cookie", "")
        form = {"csrf": csrf.group(1), "lead": "0", "email": ADDRESS}
        for case, status, says in (("no-such-case", 400, "no such case"),
                                   ("", 400, "no such case"),
                                   ("state-v-roe\r\nBcc: x@evil.test", 400, "control")):
            bad = client.post("/follow", data={**form, "case": case})
            assert bad.status_code == status and says in bad.text, bad.text
        no_token = client.post("/follow", data={**form, "csrf": "", "case": CASE})
        assert no_token.status_code == 403
        site.dispatcher.run_once()
        assert site.mails == []
        ok = client.post("/follow", data={**form, "case": "state-v-roe"})
        assert ok.status_code == 200 and "Check your inbox" in ok.text
        site.drain()
        [mail] = site.mails
        assert subject(mail) == "Confirm: follow State v. Roe"
