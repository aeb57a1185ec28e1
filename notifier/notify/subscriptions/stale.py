""""Your calendar still shows the old date": one email after a change alert.

A follower who subscribed to their personal calendar link
(:mod:`.calendar`) sees a moved hearing there only once their calendar app
fetches the feed again, which Google does every 12 to 24 hours. So a change alert
is followed by one more email if the calendar has not fetched since the change
within ``[subscriptions] stale_after``.

How: :func:`rows` is called with every subscriber change alert planned
(:func:`.planning.alert_rows`, in the sync's transaction) and adds a ``sub_stale``
row due ``stale_after`` after the change, keyed ``sub:<id>:stale:<change id>`` (so
planning twice adds nothing, and ``forget`` erases it). At dispatch,
:func:`check` withdraws it unless all of these still hold:

- the change alert itself was sent (one that ended unsent, dead, withdrawn or
  missed, gets no follow-up: the follow-up refers to it);
- no newer change alert for the same event was planned for the subscriber
  (that one plans its own follow-up, with the newer date);
- the subscriber's calendar link has been fetched at least once, but not since
  the change.

An alert still waiting, being sent or being retried is not an outcome yet: the
follow-up is then postponed (:data:`~..outbox_rows.POSTPONED`: handed back unsent, due
again :data:`RECHECK` after the alert's next attempt, the attempt not counted) and
decided once the alert is. Its lateness (``[reminders] late_grace``) counts from the
time it was postponed to, so waiting for the alert never makes it ``missed``. It waits
at most :func:`wait_limit` (``[delivery] max_attempts`` x ``backoff_max`` after it first
fell due, as long as an alert's retries can last); an alert still unsent then (held
back by rate limits, a lane that never runs) leaves it withdrawn.

Choice: only followers whose *current* link has been fetched at least once get
it, both when planning and when sending. Someone who never added the link to a
calendar app (or made a new link and has not added that one yet) has no calendar
that could be out of date, and the email would only be noise. Only changes of
the date, time or status (moved, date set, cancelled, removed, ...) count: the
alert's other changes (location, judge, notes) do not change what a month view shows.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...config import Settings
from ...store import Store
from ...store.models import FINAL, WAITING, Notification
from ...timeutil import spell_duration
from .. import outbox_rows as outbox
from .. import planner
from . import calendar
from .registry import CHANGE, CHANNEL, key_of

STALE = "sub_stale"
_DATE_FIELDS = ("when", "status", "event")
_NT = Notification.__table__  # type: ignore[attr-defined]
# A postponed follow-up is checked again this long after its alert's next attempt: time
# for that attempt to be made and recorded.
RECHECK = timedelta(minutes=1)
POSTPONED = outbox.POSTPONED


def date_changes(alert: planner.PlannedAlert) -> list[dict[str, Any]]:
    """The alert's changes that a calendar's month view shows (date, time, status)."""
    return [c for c in alert.payload.get("changes", []) if c.get("field") in _DATE_FIELDS]


def rows(settings: Settings, alert: planner.PlannedAlert,
         followers: Sequence[tuple[int, int]], using: Container[int],
         now: datetime) -> list[dict[str, Any]]:
    """The follow-up rows for ``followers`` ((subscriber, subscription) pairs) of an
    alert: only when the alert changes a date and the follower's calendar is in use
    (``using``: the subscribers whose link a client has fetched, :func:`.calendar.in_use`)."""
    changes = date_changes(alert)
    if not changes or not followers:
        return []
    cid = alert.change_ids[0]
    # What every follower's payload shares, encoded once; the keys come out sorted
    # as json.dumps(..., sort_keys=True) writes them.
    shared = json.dumps({"case_id": alert.case_id, "change_id": cid,
                         "changed_at": now.isoformat(),
                         "changes": [c["summary"] for c in changes]}, sort_keys=True)[1:-1]
    template = outbox.new_row(f"{key_of(0)}stale:{cid}", STALE, CHANNEL,
                              now + settings.subscriptions.stale_after, now, {},
                              event_uid=alert.event_uid, case_id=alert.case_id, change_id=cid)
    return [{**template, "dedupe_key": f"{key_of(sub)}stale:{cid}",
             "payload": f'{{{shared}, "subscriber": {sub}, "subscription": {subscription}}}'}
            for sub, subscription in followers if sub in using]


def check(store: Store, n: Notification, payload: dict[str, Any], settings: Settings,
          now: datetime, extra: dict[str, Any]) -> tuple[str | None, str | None]:
    """(final status, :data:`~..outbox_rows.POSTPONED` or None to send, reason); adds what
    the message needs to ``extra`` (when postponed: ``until``, the time to try again)."""
    sid = int(payload["subscriber"])
    cid = int(payload["change_id"])
    changed_at = datetime.fromisoformat(payload["changed_at"])
    if now - n.due_at > settings.reminders.late_grace:
        return "missed", "not sent: more than late_grace late"
    with store.read() as s:
        alert = s.execute(sa.select(_NT.c.status, _NT.c.next_attempt_at).where(
            _NT.c.dedupe_key == f"{key_of(sid)}change:{cid}")).first()
        if alert is None or (alert.status in FINAL and alert.status != "sent"):
            return "withdrawn", "the change alert it follows up was not sent"
        newer = s.execute(sa.select(sa.func.count()).select_from(_NT).where(
            _NT.c.dedupe_key.startswith(f"{key_of(sid)}change:"), _NT.c.type == CHANGE,
            _NT.c.event_uid == n.event_uid, _NT.c.change_id > cid)).scalar()
        if newer:
            return "withdrawn", "a newer change of the event superseded it"
        fetched = calendar.fetched_since(s, sid, changed_at)
        if fetched is None:
            return "withdrawn", "the subscriber's calendar link is not in use"
        if fetched:
            return "withdrawn", "the calendar fetched the change in time"
        last = calendar.last_fetch(s, sid)
    if alert.status != "sent":  # waiting, being sent or to be retried: not known yet
        limit = wait_limit(changed_at, settings)
        if now >= limit:
            waited = settings.delivery.max_attempts * settings.delivery.backoff_max
            return "withdrawn", ("the change alert it follows up was still not sent after "
                                 f"waiting {spell_duration(waited)} for it")
        # Being sent now (or its sender died: claimed again once its lease ends).
        after = alert.next_attempt_at if alert.status in WAITING else now
        extra["until"] = min(max(after, now) + RECHECK, limit)
        return POSTPONED, ("waiting for the change alert it follows up to be sent; "
                           f"checked again at {extra['until']:%Y-%m-%d %H:%M:%S} UTC")
    extra["calendar_last"] = (f"{last.at:%Y-%m-%d %H:%M} UTC by {last.client}"
                              if last is not None else "never")
    return None, None


def wait_limit(changed_at: datetime, settings: Settings) -> datetime:
    """The latest a follow-up waits for its change alert's outcome: ``[delivery]
    max_attempts`` x ``backoff_max`` after it first fell due."""
    d = settings.delivery
    return changed_at + settings.subscriptions.stale_after + d.max_attempts * d.backoff_max


def text(payload: dict[str, Any], extra: dict[str, Any]) -> tuple[str, str]:
    """Title and body (the caller adds the footer)."""
    ev = extra["event"]
    name = str(ev.get("kind") or "event").replace("_", " ")
    status = ev.get("status")
    now_is = {"removed": "removed from the court calendar", "cancelled": "cancelled",
              "postponed": f"postponed ({ev['when']})",
              "tbd": "without a date (to be set)"}.get(status, ev["when"])
    if status == "tentative":
        now_is += " (tentative)"
    title = f"Your calendar still shows the old date: {extra['case_title']}"
    changed = "\n".join(f"- {c}" for c in payload.get("changes", []))
    body = (f"Your calendar still shows the old date; the {name} is now {now_is}.\n\n"
            f"{ev['title']} ({extra['case_title']}) changed:\n{changed}\n\n"
            "Your calendar app has not fetched your personal calendar of the cases you "
            "follow since then (it last did: "
            f"{extra.get('calendar_last', 'never')}). Calendar apps refresh subscribed "
            "calendars on their own schedule, some only once a day. Refresh it in your "
            "app, or open the attached event, to see the new date.\n")
    return title, body
