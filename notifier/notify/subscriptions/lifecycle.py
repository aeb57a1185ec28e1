"""A followed case's end: the final "no more dates" email, and purging after ``retention``.

A case has **something left** while :func:`notifier.store.queries.list_events` finds
an upcoming event of it (what ``notifier events --upcoming`` lists): a dated event,
not removed, cancelled or completed, that has not ended; or an undated one whose date
is still to be set (``tbd``, or ``postponed`` awaiting a new date). So a case whose
only remaining item is "third trial, date to be set" still has something coming, and
its followers hear the moment that date is set rather than a goodbye.

:func:`plan_finals` (at every re-plan and after every sync that recorded changes)
writes one ``sub_final`` outbox row per active follower of a followed case with
nothing left; :func:`check_final` runs at dispatch and withdraws it when the case
has a date again. An *ending* is named by the latest date the case ever had
(:func:`ending`), which is in the row's dedupe key ``sub:<id>:final:<case>:<ending>``:
one email per ending, and a new one after a new date was set and is over too.
Those rows are kept while the subscription exists (:func:`notifier.notify.outbox.prune`
leaves them), so the email is never repeated.

:func:`purge` (the daemon's housekeeping) deletes the subscriptions, in any state, of
a case that has had nothing left for ``[subscriptions] retention`` (and that were
made at least that long ago), with their outbox rows and delivery history; a
subscriber left with no subscription at all is erased as by "delete everything
about me".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import func
from sqlmodel import Session, col, select

from ...config import Settings
from ...store.models import Case, Change, Event, Notification
from ...store.queries import list_events
from ...store.subscribers import Subscription
from .. import outbox_rows as outbox
from . import registry
from .planning import active_followers
from .registry import CHANNEL, key_of

FINAL = "sub_final"
TOOK_PLACE = ("scheduled", "tentative", "completed")  # a past date of these happened


def upcoming_cases(s: Session, case_ids: set[str] | list[str], now: datetime) -> set[str]:
    """The cases among ``case_ids`` that have something left (see the module docstring)."""
    return {cid for cid in case_ids if list_events(s, case=cid, upcoming_after=now)}


def ending(s: Session, case_id: str) -> str:
    """The name of the case's current ending: its latest date ever (removed or
    cancelled ones included), or ``none`` when it never had one."""
    last = s.exec(select(func.max(Event.sort_utc)).where(Event.case_id == case_id)).one()
    return last.strftime("%Y%m%dT%H%M%SZ") if last is not None else "none"


def plan_finals(s: Session, settings: Settings, now: datetime,
                case_ids: set[str] | None = None) -> int:
    """Queue the final email for every active follower of a followed case (of
    ``case_ids``, or any) that has nothing left; returns how many rows were offered
    (rows planned before are skipped by their dedupe key)."""
    if not settings.subscriptions.enabled:
        return 0
    # The cases first, the followers only of those that ended: a sync's changes to a
    # case with 10,000 followers and dates ahead read no follower.
    q = select(Subscription.case_id).distinct().where(Subscription.state == "active")
    if case_ids is not None:
        q = q.where(col(Subscription.case_id).in_(list(case_ids)))
    followed = set(s.exec(q).all())
    ended = followed - upcoming_cases(s, list(followed), now)
    if not ended:
        return 0
    marks = {cid: ending(s, cid) for cid in ended}
    rows = []
    for f in active_followers(s, ended):
        mark = marks[f.case_id]
        payload = {"subscriber": f.subscriber, "subscription": f.subscription,
                   "case_id": f.case_id, "ending": mark}
        rows.append(outbox.new_row(f"{key_of(f.subscriber)}final:{f.case_id}:{mark}",
                                   FINAL, CHANNEL, now, now, payload, case_id=f.case_id))
    outbox.insert_rows(s, rows)
    return len(rows)


def check_final(s: Session, n: Notification, now: datetime) -> tuple[str, str] | None:
    """At dispatch: (``withdrawn``, why) when the final email is no longer true."""
    payload = json.loads(n.payload)
    case_id = str(payload.get("case_id"))
    if upcoming_cases(s, [case_id], now):
        return "withdrawn", "the case has a date again"
    if ending(s, case_id) != payload.get("ending"):
        return "withdrawn", "replaced: the case had a new date since, now over too"
    return None


def final_text(case_id: str, case_title: str, settings: Settings) -> tuple[str, str]:
    """(title, body) of the final email; the caller adds the footer."""
    page = f"{settings.server.base_url}/cases/{quote(case_id, safe='')}"
    days = settings.subscriptions.retention // timedelta(days=1)  # at least 1
    keep = f"{days} day{'s' if days > 1 else ''}"
    return (f"No more dates: {case_title}",
            f"The case \"{case_title}\" has no dates left: no hearing, trial or deadline "
            f"is coming, and none is waiting to be set ({page}).\n\n"
            "You still follow it: if a new date is set, you will hear about it. If none "
            f"is set within {keep}, your subscription to this case ends and is deleted.\n")


@dataclass(frozen=True)
class Purged:
    subscriptions: int = 0
    subscribers: int = 0  # erased: they had no subscription left
    rows: int = 0  # outbox and delivery rows deleted with them


def ended_at(s: Session, case_id: str, now: datetime) -> datetime | None:
    """Since when a case with nothing left has had nothing: the later of its last
    date that took place (not cancelled or removed) and its last recorded change (a
    cancellation, a removal). A date-only event counts from its day's start."""
    end = func.coalesce(Event.end_utc, Event.sort_utc)
    last_date = s.exec(select(func.max(end)).where(
        Event.case_id == case_id, end <= now, col(Event.removed_at).is_(None),
        col(Event.status).in_(TOOK_PLACE))).one()
    last_change = s.exec(select(func.max(Change.at)).where(Change.case_id == case_id)).one()
    case = s.get(Case, case_id)
    found = [t for t in (last_date, last_change, case.created_at if case else None)
             if t is not None]
    return max(found) if found else None


def purge(s: Session, settings: Settings, now: datetime) -> Purged:
    """Delete the subscriptions of cases with nothing left for ``retention``."""
    cutoff = now - settings.subscriptions.retention
    cases = set(s.exec(select(Subscription.case_id).distinct()).all())
    touched: set[int] = set()
    n_subs = n_rows = 0
    for cid in sorted(cases - upcoming_cases(s, list(cases), now)):
        since = ended_at(s, cid, now)
        if since is not None and since > cutoff:
            continue
        for row in s.exec(select(Subscription).where(
                Subscription.case_id == cid, Subscription.created_at <= cutoff)).all():
            ids = [i for i in s.exec(select(Notification.id).where(
                col(Notification.dedupe_key).startswith(key_of(row.subscriber_id)),
                Notification.case_id == cid)).all() if i is not None]
            n_rows += outbox.delete_rows(s, ids)
            s.delete(row)
            touched.add(row.subscriber_id)
            n_subs += 1
    s.flush()
    gone = 0
    for sid in sorted(touched):
        if s.exec(select(Subscription.id).where(Subscription.subscriber_id == sid)).first() \
                is None:
            registry.forget(s, sid)
            gone += 1
    return Purged(n_subs, gone, n_rows)
