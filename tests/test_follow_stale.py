"""A stale-calendar follow-up whose change alert is still being retried waits for the
alert's outcome: sent once the alert is, withdrawn if the alert ends unsent or the
calendar fetches the change meanwhile, and never waits without end. The real web
server, a real SMTP server (aiosmtpd), the real dispatcher (on a clock the test moves)
over a real SQLite file (and PostgreSQL)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from followkit import Site, confirm, follow_site, subject
from sqlmodel import col, select
from test_follow import db_url  # noqa: F401  (db_url: the fixture)
from test_follow_calendar import ADDRESS, APPLE, GOOGLE, _calendar_url, _manage_url, _rows

from notifier.notify.dispatch import Dispatcher
from notifier.notify.subscriptions import stale
from notifier.store.models import Delivery, Notification

STALE_AFTER = timedelta(minutes=10)
LATE_GRACE = timedelta(minutes=5)
# A retry waits 30-60 min: longer than stale_after, so the follow-up falls due while
# its alert waits for its second (and last) attempt.
CONFIG = {"delivery": {"backoff": "1h", "backoff_max": "6h", "max_attempts": 2},
          "reminders": {"late_grace": "5m"}}
BUSY = "450 4.2.1 mailbox busy, try again later"
ALERT, STALE = "Hearing moved later", "Your calendar still shows the old date"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def moved_with_alert_refused(tmp_path: Path, db_url: str  # noqa: F811
                             ) -> Iterator[tuple[Site, httpx.Client, str, dict[str, str],
                                                 Clock, Dispatcher]]:
    """A follower whose calendar link is in use; the hearing moves and the change alert's
    first attempt is refused for now (4xx): it waits for its retry. Yields the site,
    a web client, the calendar URL, the SMTP refusals (change them to let mail
    through), the test's clock and a dispatcher on it."""
    refuse: dict[str, str] = {}
    with follow_site(tmp_path, lead_in=timedelta(days=3), db_url=db_url, refuse=refuse,
                     stale_after="10m", config=CONFIG) as site, site.client() as client:
        confirm(site, client, ADDRESS)
        url = _calendar_url(client.get(_manage_url(site)).text)
        assert client.get(url, headers={"User-Agent": GOOGLE}).status_code == 200
        refuse[ADDRESS] = BUSY
        site.resync(site.start + timedelta(days=1))
        clock = Clock()
        d = Dispatcher(site.store, site.settings, clock=clock, rng=random.Random(7))
        try:
            before = len(site.mails)
            assert d.run_once().failed == 1
            [alert] = _rows(site, "sub_change")
            [follow] = _rows(site, "sub_stale")
            assert alert.status == "failed" and len(site.mails) == before
            assert follow.status == "pending" and follow.due_at < alert.next_attempt_at
            yield site, client, url, refuse, clock, d
        finally:
            d.close()


def _kinds(site: Site, since: int = 0) -> list[str]:
    """What the emails from ``since`` on are, by their subject's start."""
    return [subject(m).split(":", 1)[0] for m in site.mails[since:]]


def _one(site: Site, ntype: str) -> Notification:
    [row] = _rows(site, ntype)
    return row


def _history(site: Site, n: Notification) -> list[str]:
    with site.store.read() as s:
        return [d.outcome for d in s.exec(select(Delivery).where(
            Delivery.notification_id == n.id).order_by(col(Delivery.id))).all()]


def _postponed(site: Site, clock: Clock, d: Dispatcher) -> Notification:
    """Run the dispatcher when the follow-up falls due; it is postponed, not sent."""
    sent = len(site.mails)
    first = _one(site, "sub_stale")
    clock.now = first.due_at + timedelta(seconds=1)
    assert d.run_once().postponed == 1
    follow = _one(site, "sub_stale")
    assert len(site.mails) == sent
    assert follow.status == "pending" and follow.attempts == 0  # not counted as an attempt
    assert follow.due_at == follow.next_attempt_at > first.due_at
    assert "waiting for the change alert" in (follow.last_error or "")
    assert _history(site, follow) == []  # no delivery attempt recorded
    return follow


def test_a_follow_up_waits_for_its_retried_alert_then_goes_out_once(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    with moved_with_alert_refused(tmp_path, db_url) as (site, _c, _url, refuse, clock, d):
        alert = _one(site, "sub_change")
        original_due = _one(site, "sub_stale").due_at
        follow = _postponed(site, clock, d)
        assert follow.due_at == alert.next_attempt_at + stale.RECHECK

        # The alert's retry goes through; the follow-up is not due yet.
        del refuse[ADDRESS]
        sent = len(site.mails)
        clock.now = alert.next_attempt_at + timedelta(seconds=1)
        assert d.run_once().sent == 1
        assert _one(site, "sub_change").status == "sent"
        assert _kinds(site, sent) == [ALERT]

        # Due again: sent, although far more than late_grace after it first fell due.
        clock.now = follow.due_at + timedelta(seconds=1)
        assert clock.now - original_due > LATE_GRACE
        assert d.run_once().sent == 1
        assert _kinds(site, sent) == [ALERT, STALE]
        assert subject(site.mails[-1]) == f"{STALE}: People v. Doe"
        follow = _one(site, "sub_stale")
        assert follow.status == "sent" and follow.attempts == 1
        assert _history(site, follow) == ["sent"]
        clock.now += timedelta(minutes=1)
        d.run_once()
        assert _kinds(site).count(STALE) == 1


def test_a_follow_up_of_an_alert_that_ended_dead_is_withdrawn(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    with moved_with_alert_refused(tmp_path, db_url) as (site, _c, _url, _refuse, clock, d):
        alert = _one(site, "sub_change")
        follow = _postponed(site, clock, d)
        sent = len(site.mails)
        clock.now = alert.next_attempt_at + timedelta(seconds=1)
        assert d.run_once().dead == 1  # refused again, and that was its last attempt
        clock.now = follow.due_at + timedelta(seconds=1)
        assert d.run_once().withdrawn == 1
        follow = _one(site, "sub_stale")
        assert follow.status == "withdrawn"
        assert follow.last_error == "the change alert it follows up was not sent"
        assert len(site.mails) == sent


def test_a_follow_up_is_withdrawn_when_the_calendar_fetches_while_it_waits(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    with moved_with_alert_refused(tmp_path, db_url) as (site, client, url, refuse, clock, d):
        follow = _postponed(site, clock, d)
        assert client.get(url, headers={"User-Agent": APPLE}).status_code == 200
        del refuse[ADDRESS]
        sent = len(site.mails)
        clock.now = follow.due_at + timedelta(seconds=1)
        stats = d.run_once()
        assert (stats.sent, stats.withdrawn) == (1, 1)  # the alert; the follow-up
        follow = _one(site, "sub_stale")
        assert follow.status == "withdrawn" and "fetched the change" in (follow.last_error or "")
        assert _kinds(site, sent) == [ALERT]


def test_a_follow_up_waits_only_so_long_for_an_alert_that_never_ends(
        tmp_path: Path, db_url: str) -> None:  # noqa: F811
    with moved_with_alert_refused(tmp_path, db_url) as (site, _c, _url, _refuse, clock, d):
        alert = _one(site, "sub_change")
        follow = _one(site, "sub_stale")
        limit = stale.wait_limit(datetime.fromisoformat(json.loads(follow.payload)
                                                        ["changed_at"]), site.settings)
        assert limit == follow.due_at + 2 * timedelta(hours=6)  # max_attempts x backoff_max

        def alert_is(**values: object) -> None:
            with site.store.write() as s:
                s.execute(sa.update(Notification).where(col(Notification.id) == alert.id)
                          .values(**values))

        # Being sent by someone (its lease runs for long): looked at again shortly.
        alert_is(status="sending", claimed_until=clock.now + timedelta(days=30))
        clock.now = follow.due_at + timedelta(seconds=1)
        assert d.run_once().postponed == 1
        assert _one(site, "sub_stale").due_at == clock.now + stale.RECHECK
        # Held back far beyond the limit (as a long rate limit would): waits until the
        # limit, not longer, and is withdrawn then.
        alert_is(status="failed", claimed_until=None,
                 next_attempt_at=clock.now + timedelta(days=30))
        clock.now += stale.RECHECK + timedelta(seconds=1)
        assert d.run_once().postponed == 1
        assert _one(site, "sub_stale").due_at == limit
        clock.now = limit + timedelta(seconds=1)
        assert d.run_once().withdrawn == 1
        follow = _one(site, "sub_stale")
        assert follow.status == "withdrawn"
        assert follow.last_error == ("the change alert it follows up was still not sent "
                                     "after waiting 12 hours for it")
