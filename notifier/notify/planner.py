"""Planning: which notifications should exist. Pure functions, no I/O.

Call :func:`plan_reminders` with an event, its case and the ``[reminders]``
settings to get the reminders that event should have (whatever their due time;
the caller decides what to do with the ones already due), :func:`routes` for the
channels a notification goes to, and :func:`plan_alert` for the change alert of
one sync's changes to one event.

Rules, in one place:

- Offsets come from, most specific first: the case's per-kind offsets, the case's
  offsets, ``[reminders] kinds`` for the event kind, ``[reminders] offsets``.
- **Timed events**: a reminder is due ``offset`` before the start in real elapsed
  time. Across a daylight-saving change a "1d" reminder is therefore exactly
  24 h before, which on the wall clock is 08:30 or 10:30 for a 09:30 hearing.
- **Date-only events** (the time is not announced yet): an offset of whole days
  fires at ``date_only_time`` court-local time that many days before the date
  (a "1d" reminder for 2 July fires 1 July 09:00 local). Offsets of less than a
  day do not apply (there is no start time to count back from); longer offsets
  that are not whole days are rounded down to whole days.
- Only ``scheduled`` and ``tentative`` events get reminders: ``tbd`` ones have no
  date, ``cancelled``/``completed`` ones need none, and ``postponed`` ones get
  none until the calendar gives them a new date (sets the status back to
  scheduled or tentative). Removed events get none.
- A reminder's identity (:meth:`PlannedReminder.key`) includes the event's start,
  so a moved hearing gets new reminders and the old ones no longer match.
- A change alert is urgent when the hearing moved earlier and now starts less
  than :data:`URGENT_WITHIN` from ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config import ChannelSettings, ReminderSettings
from ..specs import When
from ..store.models import Case, Change, Event
from ..timeutil import day_start_utc, format_duration

REMINDABLE = ("scheduled", "tentative")
URGENT_WITHIN = timedelta(hours=72)
LOG_CHANNEL = "log"
DAY = timedelta(days=1)
_MOVES = ("rescheduled_earlier", "time_changed")


def when_of(ev: Event) -> When:
    return When(date=ev.date, end_date=ev.end_date, start=ev.start_utc, end=ev.end_utc)


def start_key(when: When) -> str | None:
    """The part of a reminder's identity that changes when the event moves."""
    if when.start is not None:
        return when.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if when.date is not None:
        return when.date.isoformat()
    return None


def start_instant(when: When, tz: ZoneInfo) -> datetime | None:
    """When the event begins: its start, or local midnight for a date-only event."""
    return when.sort_utc(tz)


def end_instant(when: When, tz: ZoneInfo) -> datetime | None:
    """When the event is over: its end (or start), or the midnight after its last day."""
    if when.start is not None:
        return when.end or when.start
    last = when.end_date or when.date
    return None if last is None else day_start_utc(last + timedelta(days=1), tz)


def is_over(when: When, tz: ZoneInfo, now: datetime) -> bool:
    """True for a dated event that has ended (undated events are never over)."""
    end = end_instant(when, tz)
    return end is not None and end <= now


@dataclass(frozen=True)
class CaseRules:
    """A case's reminder overrides (``Case.reminders`` JSON), parsed once."""

    offsets: tuple[timedelta, ...] | None = None
    kinds: Mapping[str, tuple[timedelta, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> CaseRules:
        if not text:
            return cls()
        data = json.loads(text)
        raw = data.get("offsets")
        return cls(
            offsets=None if raw is None else tuple(timedelta(seconds=s) for s in raw),
            kinds={k: tuple(timedelta(seconds=s) for s in v)
                   for k, v in (data.get("kinds") or {}).items()},
        )

    def offsets_for(self, kind: str, cfg: ReminderSettings) -> tuple[timedelta, ...]:
        if kind in self.kinds:
            return self.kinds[kind]
        if self.offsets is not None:
            return self.offsets
        if kind in cfg.kinds:
            return tuple(cfg.kinds[kind])
        return tuple(cfg.offsets)


@dataclass(frozen=True)
class PlannedReminder:
    event_uid: str
    case_id: str
    offset: timedelta
    due_at: datetime
    start_key: str

    def key(self, channel: str) -> str:
        secs = int(self.offset.total_seconds())
        return f"reminder:{self.event_uid}:{secs}:{self.start_key}:{channel}"


def next_of_case(upcoming: Iterable[Event], tz: ZoneInfo, now: datetime) -> str | None:
    """The case's next dated, scheduled or tentative event not yet over, as text
    (court time). ``upcoming``: the case's next events in time order
    (:meth:`notifier.notify.dispatch_sql.EventNow.upcoming`)."""
    for ev in upcoming:
        when = when_of(ev)
        if not is_over(when, tz, now):
            return f"{when.describe(tz)}: {ev.title}"
    return None


def plan_reminders(ev: Event, case: Case, cfg: ReminderSettings,
                   rules: CaseRules | None = None) -> list[PlannedReminder]:
    """Every reminder ``ev`` should have, whatever its due time (see module docstring)."""
    if ev.removed_at is not None or ev.status not in REMINDABLE or ev.date is None:
        return []
    rules = rules if rules is not None else CaseRules.parse(case.reminders)
    when = when_of(ev)
    skey = start_key(when)
    assert skey is not None
    offsets = sorted(set(rules.offsets_for(ev.kind, cfg)), reverse=True)
    if ev.start_utc is not None:
        return [PlannedReminder(ev.uid, ev.case_id, o, ev.start_utc - o, skey)
                for o in offsets if o > timedelta(0)]
    out: list[PlannedReminder] = []
    seen: set[int] = set()
    tz = ZoneInfo(case.timezone)
    for offset in offsets:
        days = offset // DAY
        if days < 1 or days in seen:
            continue
        seen.add(days)
        due = _local(ev.date - timedelta(days=days), cfg.date_only_time, tz)
        out.append(PlannedReminder(ev.uid, ev.case_id, offset, due, skey))
    return out


def max_offset(cfg: ReminderSettings, rules: Iterable[CaseRules]) -> timedelta:
    """The longest offset any event may have (how far ahead of a window to look)."""
    every = [*cfg.offsets, *(o for v in cfg.kinds.values() for o in v)]
    for r in rules:
        every += [*(r.offsets or ()), *(o for v in r.kinds.values() for o in v)]
    return max(every, default=timedelta(0))


def _local(day: Any, at: time, tz: ZoneInfo) -> datetime:
    # A wall time skipped by spring-forward maps to the instant just after the gap
    # (zoneinfo's fold=0 arithmetic), which is the sensible "09:00" on such a day.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def routes(channels: Sequence[ChannelSettings], ntype: str, case_id: str,
           case_tags: Sequence[str], kind: str) -> list[str]:
    """Names of the channels that want this notification (the log channel when none exist)."""
    if not channels:
        return [LOG_CHANNEL]
    return [c.name for c in channels
            if ntype in c.notify and c.wants_case(case_id, list(case_tags))
            and c.wants_kind(kind)]


def case_tags(case: Case) -> list[str]:
    return list(json.loads(case.tags or "[]"))


def event_snapshot(ev: Event, case: Case) -> dict[str, Any]:
    """What a message needs to describe the event, as JSON-able data."""
    tz = ZoneInfo(case.timezone)
    return {
        "uid": ev.uid, "case_id": ev.case_id, "event_id": ev.event_id, "kind": ev.kind,
        "title": ev.title, "status": "removed" if ev.removed_at else ev.status,
        "when": when_of(ev).describe(tz), "start_key": start_key(when_of(ev)),
        "location": ev.location, "judge": ev.judge or case.judge, "url": ev.url,
        "notes": ev.notes,
        "case_title": case.title, "court": case.court, "timezone": case.timezone,
    }


def reminder_payload(p: PlannedReminder, ev: Event, case: Case) -> dict[str, Any]:
    return {"event": event_snapshot(ev, case), "offset": int(p.offset.total_seconds()),
            "offset_text": format_duration(p.offset), "start_key": p.start_key}


def is_urgent(change: Change, tz: ZoneInfo, now: datetime) -> bool:
    """A hearing moved earlier that now starts less than 72 h from ``now``."""
    if change.kind not in _MOVES:
        return False
    before, after = When.from_json(change.before), When.from_json(change.after)
    b, a = start_instant(before, tz), start_instant(after, tz)
    if a is None or b is None or a >= b:
        return False
    return a - now < URGENT_WITHIN


@dataclass(frozen=True)
class PlannedAlert:
    """One change alert: the changes one sync recorded for one event."""

    event_uid: str
    case_id: str
    change_ids: tuple[int, ...]
    urgent: bool
    payload: dict[str, Any]

    def key(self, channel: str) -> str:
        return f"change:{self.change_ids[0]}:{channel}"


def plan_alert(changes: Sequence[Change], ev: Event, case: Case, now: datetime,
               corrections: Iterable[str] = ()) -> PlannedAlert:
    """The alert for ``changes`` (all of one event, in order), with before -> after."""
    tz = ZoneInfo(case.timezone)
    items = [{"id": c.id, "kind": c.kind, "field": c.field, "summary": c.summary,
              "before": json.loads(c.before) if c.before else None,
              "after": json.loads(c.after) if c.after else None} for c in changes]
    return PlannedAlert(
        event_uid=ev.uid, case_id=ev.case_id,
        change_ids=tuple(c.id for c in changes if c.id is not None),
        urgent=any(is_urgent(c, tz, now) for c in changes),
        payload={"event": event_snapshot(ev, case), "changes": items,
                 "corrections": list(corrections)},
    )


def invalidated_start(changes: Sequence[Change], ev: Event) -> str | None:
    """The start key whose sent reminders these changes made wrong, if any.

    A move makes the old date's reminders wrong; a cancellation, postponement or
    removal makes the current date's reminders wrong.
    """
    for c in changes:
        if c.field == "when":
            return start_key(When.from_json(c.before))
    if any(c.kind in ("cancelled", "postponed", "removed") for c in changes):
        return start_key(when_of(ev)) if ev.removed_at is None else \
            next((start_key(When.from_json(c.before)) for c in changes
                  if c.kind == "removed"), None)
    return None
