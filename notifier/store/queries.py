"""Read-side queries shared by the CLI, the feed and the web pages.

Call :func:`list_events` / :func:`find_event` / :func:`history`. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, or_, select

from ..display import closest
from ..errors import NotifierError
from ..specs import When
from .models import CalendarFile, Case, Change, Event

# Multi-day or long events that started a little before now are still upcoming.
_SLACK = timedelta(days=60)


@dataclass(frozen=True)
class EventView:
    event: Event
    case: Case

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.case.timezone)

    @property
    def when(self) -> When:
        e = self.event
        return When(date=e.date, end_date=e.end_date, start=e.start_utc, end=e.end_utc)

    def as_dict(self) -> dict[str, object]:
        e, tz = self.event, self.tz
        return {
            "uid": e.uid, "case": e.case_id, "id": e.event_id, "kind": e.kind, "title": e.title,
            "status": "removed" if e.removed_at else e.status,
            "date": e.date.isoformat() if e.date else None,
            "end_date": e.end_date.isoformat() if e.end_date else None,
            "start": e.start_utc.astimezone(tz).isoformat() if e.start_utc else None,
            "end": e.end_utc.astimezone(tz).isoformat() if e.end_utc else None,
            "when": self.when.describe(tz), "timezone": self.case.timezone,
            "location": e.location, "judge": e.judge, "notes": e.notes, "url": e.url,
            "source": e.source, "sequence": e.sequence,
        }


def list_events(s: Session, *, case: str | None = None, upcoming_after: datetime | None = None,
                include_removed: bool = False) -> list[EventView]:
    """Events with their case, dated ones in date order, then those still to be dated.

    ``upcoming_after`` keeps events that have not ended by then, plus undated ones
    that are still open (tbd/postponed).
    """
    q = select(Event, Case).join(Case, col(Event.case_id) == col(Case.id))
    if case:
        q = q.where(Event.case_id == case)
    if not include_removed:
        q = q.where(col(Event.removed_at).is_(None))
    if upcoming_after is not None:
        q = q.where(or_(
            col(Event.sort_utc).is_(None) & col(Event.status).in_(["tbd", "postponed"]),
            (col(Event.sort_utc) >= upcoming_after - _SLACK) & col(Event.status).not_in(
                ["cancelled", "completed"]),
        ))
    rows = s.exec(q).all()
    views = [EventView(e, c) for e, c in rows]
    if upcoming_after is not None:
        views = [v for v in views if v.event.sort_utc is None or _not_over(v, upcoming_after)]
    far = datetime.max.replace(tzinfo=None)
    views.sort(key=lambda v: (v.event.sort_utc.replace(tzinfo=None) if v.event.sort_utc
                              else far, v.event.case_id, v.event.event_id))
    return views




def _not_over(v: EventView, now: datetime) -> bool:
    e = v.event
    if e.end_utc is not None:
        return e.end_utc > now
    if e.start_utc is not None:
        return e.start_utc > now
    last = e.end_date or e.date
    assert last is not None
    return last >= now.astimezone(v.tz).date()


def find_event(s: Session, ref: str) -> Event:
    """An event by UID, ``case/event-id``, or bare event id when unique."""
    ev = s.get(Event, ref)
    if ev is not None:
        return ev
    if "/" in ref:
        case_id, _, event_id = ref.partition("/")
        hit = s.exec(select(Event).where(Event.case_id == case_id,
                                         Event.event_id == event_id)).first()
        if hit:
            return hit
    hits = s.exec(select(Event).where(Event.event_id == ref)).all()
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        options = ", ".join(f"{h.case_id}/{h.event_id}" for h in hits)
        raise NotifierError(f"event {ref!r} is ambiguous; use one of: {options}")
    raise NotifierError(f"no event {ref!r} (use an id from `notifier events`, as "
                        "CASE/EVENT or the UID)")


def history(s: Session, uid: str) -> list[Change]:
    return list(s.exec(select(Change).where(Change.event_uid == uid)
                       .order_by(col(Change.at), col(Change.id))).all())


def require_case(s: Session, case_id: str) -> Case:
    """The case ``case_id``; a NotifierError listing the known cases when there is none."""
    case = s.get(Case, case_id)
    if case is not None:
        return case
    ids = list(s.exec(select(Case.id).order_by(col(Case.id)).limit(21)).all())
    if not ids:
        raise NotifierError(f"no case {case_id!r}: no cases yet (run `notifier sync` first?)")
    close = closest(case_id, ids)
    hint = f"; did you mean {close!r}?" if close else ""
    shown = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
    raise NotifierError(f"no case {case_id!r} (cases: {shown}{hint})")


def ever_synced(s: Session) -> bool:
    """Whether anything was ever synced into this database (a calendar file read, or
    an event from any source, removed ones included)."""
    return (s.exec(select(CalendarFile.source).limit(1)).first() is not None
            or s.exec(select(Event.uid).limit(1)).first() is not None)
