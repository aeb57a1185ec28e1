"""Daily digests: one agenda message per channel per day, planned through the outbox.

Call :func:`plan_digests` (the engine does, at start and with every
housekeeping pass): for each channel with ``"digest"`` in ``notify`` and a
``digest_time``, it writes a pending row due at that court-local time today
(unless it is more than ``[reminders] late_grace`` past) and tomorrow, keyed
``digest:{channel}:{local date}`` so each day's digest exists once however often
it is planned. The agenda itself is built by :func:`agenda` right before sending
(the dispatcher calls it), so it shows the calendar as it is then; a day with
nothing dated in the window is recorded ``withdrawn`` and not sent. Events still
to be dated are listed at the end of a digest that is sent.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ..config import ChannelSettings, Settings
from ..specs import When
from ..store.models import Case, Event
from . import outbox, planner


def _day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def digest_key(channel: str, day: date) -> str:
    return f"digest:{channel}:{day.isoformat()}"


def digest_times(ch: ChannelSettings, now: datetime,
                 grace: timedelta) -> list[tuple[date, datetime]]:
    """(local date, due instant) of the digests to have planned at ``now``."""
    if ch.digest_time is None or "digest" not in ch.notify:
        return []
    tz = ZoneInfo(ch.timezone)
    today = now.astimezone(tz).date()
    out = []
    for d in (today, today + timedelta(days=1)):
        due = planner._local(d, ch.digest_time, tz)
        if due >= now - grace:
            out.append((d, due))
    return out


def plan_digests(s: Session, settings: Settings, now: datetime) -> int:
    """Write the pending digest rows (idempotent); returns how many were new or kept."""
    rows = []
    for ch in settings.channels:
        for d, due in digest_times(ch, now, settings.reminders.late_grace):
            rows.append(outbox.new_row(digest_key(ch.name, d), "digest", ch.name, due, now,
                                       {"channel": ch.name, "date": d.isoformat(),
                                        "days": ch.digest_days}))
    outbox.insert_rows(s, rows)
    return len(rows)


def _item(ev: Event, case: Case) -> dict[str, Any]:
    tz = ZoneInfo(case.timezone)
    if ev.start_utc is not None:
        local = ev.start_utc.astimezone(tz)
        time_text = f"{local:%H:%M} {local.tzname()}"
    else:
        time_text = "time TBA"
    return {"uid": ev.uid, "title": ev.title, "kind": ev.kind, "status": ev.status,
            "case_id": case.id, "case_title": case.title, "location": ev.location or "",
            "judge": ev.judge or case.judge or "", "notes": ev.notes or "",
            "time": time_text, "when": When(date=ev.date, start=ev.start_utc).describe(tz)}


def agenda(s: Session, ch: ChannelSettings, day: date, days: int | None = None
           ) -> dict[str, Any]:
    """Template variables for the digest of ``day``: the coming ``days`` days' events
    of the channel's cases (court-local dates), grouped by day, and those still undated."""
    n = days or ch.digest_days
    cases = {c.id: c for c in s.exec(select(Case)).all()
             if ch.wants_case(c.id, planner.case_tags(c))}
    dated = s.exec(select(Event).where(
        col(Event.removed_at).is_(None), col(Event.date).is_not(None),
        col(Event.date) >= day, col(Event.date) < day + timedelta(days=n),
        col(Event.status) != "completed",
    ).order_by(col(Event.sort_utc), col(Event.uid))).all()
    by_day: dict[date, list[dict[str, Any]]] = {}
    for ev in dated:
        case = cases.get(ev.case_id)
        if case is not None and ch.wants_kind(ev.kind) and ev.date is not None:
            by_day.setdefault(ev.date, []).append(_item(ev, case))
    undated = [_item(ev, cases[ev.case_id]) for ev in s.exec(select(Event).where(
        col(Event.removed_at).is_(None), col(Event.date).is_(None),
        col(Event.status).not_in(["cancelled", "completed"])).order_by(col(Event.uid))).all()
        if ev.case_id in cases and ch.wants_kind(ev.kind)]
    return {
        "agenda": [{"date": d.isoformat(), "label": _day(d), "items": items}
                   for d, items in sorted(by_day.items())],
        "agenda_count": sum(len(v) for v in by_day.values()),
        "undated": undated, "digest_date": _day(day), "digest_days": n,
        "timezone": ch.timezone,
    }


def payload_day(payload: str) -> date:
    return date.fromisoformat(json.loads(payload)["date"])
