"""Which outbox rows subscribers should get: one row per subscriber, same outbox.

:func:`alert_rows` gives the change-alert rows for the alerts a sync planned (called
once per sync by :func:`notifier.notify.changes.record_changes`, in the sync's
transaction, with one query for the followers of all their cases and one for the
followers' calendars, however many events changed);
:func:`plan_reminders` writes the reminders of every active subscription due within
``[reminders] horizon`` (called at every re-plan and when a subscription is
confirmed). Each alert row may bring a later "your calendar still shows the old date" row
(:mod:`.stale`). Rows are keyed ``sub:<subscriber id>:...`` so planning twice never
duplicates a row; a reminder's key holds the event's start, so a moved hearing gets
a fresh one and the dispatcher withdraws the old one.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from ...config import Settings
from ...store.models import Case, Event
from ...store.subscribers import Subscriber, Subscription
from .. import outbox_rows as outbox
from .. import planner
from . import access, calendar, stale
from .registry import CHANGE, CHANNEL, REMINDER, key_of


@dataclass(frozen=True)
class Follower:
    subscription: int
    subscriber: int
    case_id: str
    lead_s: int


def active_followers(s: Session, case_ids: Collection[str] | None, *,
                     reminders: bool = False) -> list[Follower]:
    """The active, unpaused, unbounced subscriptions whose private-feed token (if
    any) was not revoked (columns only: there may be
    tens of thousands of them), a case's in subscription order; one query per 500
    cases."""
    sub, who = Subscription.__table__, Subscriber.__table__  # type: ignore[attr-defined]
    q = sa.select(sub.c.id, sub.c.subscriber_id, sub.c.case_id, sub.c.lead_s).join(
        who, who.c.id == sub.c.subscriber_id).where(
        sub.c.state == "active", who.c.paused.is_(False), who.c.bounced_at.is_(None),
        access.allowed(sub.c.feed_token_id))
    if reminders:
        q = q.where(sub.c.lead_s > 0)
    if case_ids is None:
        return [Follower(*row) for row in s.execute(q.order_by(sub.c.id)).all()]
    ids = sorted(case_ids)
    return [Follower(*row) for i in range(0, len(ids), 500) for row in s.execute(
        q.where(sub.c.case_id.in_(ids[i:i + 500])).order_by(sub.c.id)).all()]


def alert_rows(s: Session, settings: Settings, alerts: Sequence[planner.PlannedAlert],
               now: datetime) -> list[dict[str, Any]]:
    """A change-alert row for every active follower of each alert's case, alert by
    alert, each alert's followed by its stale-calendar follow-ups (:mod:`.stale`).

    One followers query (per 500 cases) and one calendar query (per 500 followers)
    for all of ``alerts``: a sync that moves thousands of events of a followed case
    does not pay two queries per event."""
    alerts = [a for a in alerts if a.change_ids]
    if not settings.subscriptions.enabled or not alerts:
        return []
    by_case: dict[str, list[Follower]] = {}
    for f in active_followers(s, {a.case_id for a in alerts}):
        by_case.setdefault(f.case_id, []).append(f)
    if not by_case:
        return []
    dated = {f.subscriber for a in alerts if stale.date_changes(a)
             for f in by_case.get(a.case_id, ())}
    using = calendar.in_use(s, sorted(dated)) if dated else set()
    rows: list[dict[str, Any]] = []
    for alert in alerts:
        followers = by_case.get(alert.case_id)
        if followers:
            rows += _change_rows(alert, followers, now)
            rows += stale.rows(settings, alert, [(f.subscriber, f.subscription)
                                                 for f in followers], using, now)
    return rows


def _change_rows(alert: planner.PlannedAlert, followers: Sequence[Follower],
                 now: datetime) -> list[dict[str, Any]]:
    # The alert's part of the payload is the same for every follower: encoded once.
    shared = json.dumps({"case_id": alert.case_id, "event": alert.payload["event"],
                         "changes": alert.payload["changes"]}, sort_keys=True)[1:-1]
    cid = alert.change_ids[0]
    template = outbox.new_row(f"{key_of(0)}change:{cid}", CHANGE, CHANNEL, now, now, {},
                              event_uid=alert.event_uid, case_id=alert.case_id,
                              change_id=cid, urgent=alert.urgent)
    return [{**template, "dedupe_key": f"{key_of(f.subscriber)}change:{cid}",
             "payload": f'{{{shared}, "subscriber": {f.subscriber}, '
                        f'"subscription": {f.subscription}}}'} for f in followers]


def plan_reminders(s: Session, settings: Settings, now: datetime,
                   case_ids: Collection[str] | None = None) -> int:
    """Insert the subscribers' reminders due after ``now`` within the horizon."""
    if not settings.subscriptions.enabled:
        return 0
    subs = active_followers(s, case_ids, reminders=True)
    if not subs:
        return 0
    wanted = {sub.case_id for sub in subs}
    cases = {c.id: c for c in s.exec(select(Case).where(col(Case.id).in_(wanted))).all()}
    reach = max(sub.lead_s for sub in subs)
    until = now + settings.reminders.horizon
    events = s.exec(select(Event).where(
        col(Event.case_id).in_(wanted), col(Event.removed_at).is_(None),
        col(Event.status).in_(planner.REMINDABLE), col(Event.sort_utc) > now,
        col(Event.sort_utc) <= until + timedelta(seconds=reach) + timedelta(days=1))).all()
    by_case: dict[str, list[Event]] = {}
    for ev in events:
        by_case.setdefault(ev.case_id, []).append(ev)
    rows = []
    for sub in subs:
        sid = sub.subscriber
        case = cases.get(sub.case_id)
        if case is None:
            continue
        rules = planner.CaseRules(offsets=(timedelta(seconds=sub.lead_s),))
        for ev in by_case.get(sub.case_id, []):
            for p in planner.plan_reminders(ev, case, settings.reminders, rules):
                if not now < p.due_at <= until:
                    continue
                payload = {**planner.reminder_payload(p, ev, case), "subscriber": sid,
                           "subscription": sub.subscription, "case_id": case.id}
                rows.append(outbox.new_row(
                    f"{key_of(sid)}reminder:{ev.uid}:{sub.lead_s}:{p.start_key}", REMINDER,
                    CHANNEL, p.due_at, now, payload, event_uid=ev.uid, case_id=case.id,
                    offset_s=sub.lead_s))
    outbox.insert_rows(s, rows)
    return len(rows)
