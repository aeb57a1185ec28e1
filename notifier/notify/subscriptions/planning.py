"""Which outbox rows subscribers should get: one row per subscriber, same outbox.

:func:`alert_rows` gives the change-alert rows for one planned alert (called by
:func:`notifier.notify.outbox.record_changes` in the sync's transaction);
:func:`plan_reminders` writes the reminders of every active subscription due within
``[reminders] horizon`` (called at every re-plan and when a subscription is
confirmed). Rows are keyed ``sub:<subscriber id>:...`` so planning twice never
duplicates a row; a reminder's key holds the event's start, so a moved hearing gets
a fresh one and the dispatcher withdraws the old one.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from ...config import Settings
from ...store.models import Case, Event
from ...store.subscribers import Subscriber, Subscription
from .. import planner
from . import rows as outbox
from .registry import CHANGE, CHANNEL, REMINDER, key_of


def _active(s: Session, case_ids: Collection[str] | None) -> list[tuple[Subscription, int]]:
    q = select(Subscription, Subscriber.id).join(
        Subscriber, col(Subscriber.id) == Subscription.subscriber_id).where(
        Subscription.state == "active", col(Subscriber.paused).is_(False),
        col(Subscriber.bounced_at).is_(None))
    if case_ids is not None:
        q = q.where(col(Subscription.case_id).in_(list(case_ids)))
    return [(row, int(sid)) for row, sid in s.exec(q).all() if sid is not None]


def alert_rows(s: Session, settings: Settings, alert: planner.PlannedAlert,
               now: datetime) -> list[dict[str, Any]]:
    """A change-alert row for every active follower of the alert's case."""
    if not settings.subscriptions.enabled or not alert.change_ids:
        return []
    rows = []
    for sub, sid in _active(s, [alert.case_id]):
        payload = {"subscriber": sid, "subscription": sub.id, "case_id": alert.case_id,
                   "event": alert.payload["event"], "changes": alert.payload["changes"]}
        rows.append(outbox.new_row(f"{key_of(sid)}change:{alert.change_ids[0]}", CHANGE,
                                   CHANNEL, now, now, payload, event_uid=alert.event_uid,
                                   case_id=alert.case_id, change_id=alert.change_ids[0],
                                   urgent=alert.urgent))
    return rows


def plan_reminders(s: Session, settings: Settings, now: datetime,
                   case_ids: Collection[str] | None = None) -> int:
    """Insert the subscribers' reminders due after ``now`` within the horizon."""
    if not settings.subscriptions.enabled:
        return 0
    subs = [(sub, sid) for sub, sid in _active(s, case_ids) if sub.lead_s > 0]
    if not subs:
        return 0
    wanted = {sub.case_id for sub, _sid in subs}
    cases = {c.id: c for c in s.exec(select(Case).where(col(Case.id).in_(wanted))).all()}
    reach = max(sub.lead_s for sub, _sid in subs)
    until = now + settings.reminders.horizon
    events = s.exec(select(Event).where(
        col(Event.case_id).in_(wanted), col(Event.removed_at).is_(None),
        col(Event.status).in_(planner.REMINDABLE), col(Event.sort_utc) > now,
        col(Event.sort_utc) <= until + timedelta(seconds=reach) + timedelta(days=1))).all()
    by_case: dict[str, list[Event]] = {}
    for ev in events:
        by_case.setdefault(ev.case_id, []).append(ev)
    rows = []
    for sub, sid in subs:
        case = cases.get(sub.case_id)
        if case is None:
            continue
        rules = planner.CaseRules(offsets=(timedelta(seconds=sub.lead_s),))
        for ev in by_case.get(sub.case_id, []):
            for p in planner.plan_reminders(ev, case, settings.reminders, rules):
                if not now < p.due_at <= until:
                    continue
                payload = {**planner.reminder_payload(p, ev, case), "subscriber": sid,
                           "subscription": sub.id, "case_id": case.id}
                rows.append(outbox.new_row(
                    f"{key_of(sid)}reminder:{ev.uid}:{sub.lead_s}:{p.start_key}", REMINDER,
                    CHANNEL, p.due_at, now, payload, event_uid=ev.uid, case_id=case.id,
                    offset_s=sub.lead_s))
    outbox.insert_rows(s, rows)
    return len(rows)
