"""Parse one iCalendar file (a plain ``*.ics`` in a calendars folder) into specs.

Call :func:`parse_ics`. The file is one case: its id is ``X-NOTIFIER-CASE`` or the
file name, its title ``X-WR-CALNAME``, its time zone ``X-WR-TIMEZONE`` (else UTC).
Events keep their UIDs. Recurring events are read as their first occurrence, or,
when an ``expand`` window is given (remote sources), expanded into one event per
occurrence in the window with UID ``<uid>/<recurrence-id>``; the result is then
an :class:`IcsSpec` recording which events are occurrences.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from ..config.tomltext import CONTROL
from ..errors import CalendarError
from ..specs import MAX_YEAR, MIN_YEAR, RESERVED_CASE_IDS, CalendarSpec, CaseSpec, EventSpec, When
from ..timeutil import MAX_DURATION, clip, local_to_utc, to_utc, zone
from .recurrence import ExpandLimits, RecurrenceLimitError
from .recurrence import expand as expand_series

# Text that reaches feeds and messages; a NUL or ESC in it is refused at input.
_TEXT_PROPS = ("SUMMARY", "DESCRIPTION", "LOCATION", "URL", "UID", "CATEGORIES",
               "X-NOTIFIER-KIND")
_CAL_TEXT_PROPS = ("X-WR-CALNAME", "X-NOTIFIER-CASE", "X-NOTIFIER-COURT", "X-NOTIFIER-JUDGE")
_STATUS = {"CONFIRMED": "scheduled", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return s or "calendar"


def _text(comp: Any, name: str) -> str | None:
    v = comp.get(name)
    if v is None:
        return None
    if isinstance(v, list):
        v = v[0]
    s = str(v).strip()
    return s or None


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    assert isinstance(value, datetime)
    return to_utc(value) if value.tzinfo else local_to_utc(value, tz)


def _rid(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return to_utc(value).strftime("%Y%m%dT%H%M%SZ") if value.tzinfo else \
            value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


@dataclass
class IcsSpec(CalendarSpec):
    """A parsed iCalendar file.

    When recurring events were expanded, ``expanded`` holds the occurrences' UIDs
    and ``series`` the recurring VEVENTs (masters and overrides) as canonical text
    without DTSTAMP: what the series are, whatever the window. Together with the
    other events they fingerprint the content independently of when it was parsed.
    """

    expanded: frozenset[str] = frozenset()
    series: tuple[str, ...] = ()


_VOLATILE = ("DTSTAMP", "LAST-MODIFIED")


def _canonical(comp: Any) -> str:
    """A component's content lines, unfolded and sorted, without volatile stamps."""
    text = comp.to_ical().decode("utf-8", "replace").replace("\r\n ", "").replace("\r\n\t", "")
    lines = [ln for ln in text.split("\r\n")
             if ln and ln.split(":", 1)[0].split(";", 1)[0].upper() not in _VOLATILE]
    return "\n".join(sorted(lines))


def _recurring(events: list[Any]) -> set[str | None]:
    """UIDs of the recurring masters (RRULE or RDATE) among ``events``."""
    out = {_text(ev, "UID") for ev in events
           if ("RRULE" in ev or "RDATE" in ev) and "RECURRENCE-ID" not in ev}
    out.discard(None)
    return out


def _components(cal: Any, expand: tuple[datetime, datetime] | None,
                limits: ExpandLimits | None = None) -> list[tuple[Any, str | None]]:
    """(VEVENT, UID override) pairs: recurring masters expanded when a window is given.

    An override (RECURRENCE-ID) of a UID whose master is in the file is dropped
    here, wherever it comes in the file: the master stands for the series.
    """
    events = list(cal.walk("VEVENT"))
    masters = {_text(ev, "UID") for ev in events if "RECURRENCE-ID" not in ev}
    masters.discard(None)
    events = [ev for ev in events
              if "RECURRENCE-ID" not in ev or _text(ev, "UID") not in masters]
    if expand is None:
        return [(ev, None) for ev in events]
    recurring = _recurring(events)
    out: list[tuple[Any, str | None]] = [
        (ev, None) for ev in events if _text(ev, "UID") not in recurring]
    if recurring:
        for occ, uid in expand_series(cal, events, recurring, expand, limits or ExpandLimits(),
                                      singles=len(out)):
            rid = occ.decoded("RECURRENCE-ID") if "RECURRENCE-ID" in occ else \
                occ.decoded("DTSTART")
            out.append((occ, f"{uid}/{_rid(rid)}"))
    elif limits is not None and len(out) > limits.max_events:
        raise RecurrenceLimitError(f"{len(out)} events, more than max_events "
                                   f"({limits.max_events}); nothing was applied")
    return out


def parse_ics(raw: bytes, source: str, default_case_id: str, *, case_id: str | None = None,
              timezone: str = "UTC",
              expand: tuple[datetime, datetime] | None = None,
              limits: ExpandLimits | None = None) -> CalendarSpec:
    """Parse iCalendar bytes. Raises CalendarError listing every bad event.

    ``case_id`` forces the case (else ``X-NOTIFIER-CASE``, else ``default_case_id``);
    ``timezone`` is used when the calendar has no ``X-WR-TIMEZONE``; ``expand`` is
    the (start, end) window in which recurring events are expanded, within ``limits``
    (:mod:`.recurrence`; a calendar over them is a CalendarError naming the UID).
    """
    try:
        cal = Calendar.from_ical(raw)
    except (ValueError, IndexError, KeyError) as e:
        raise CalendarError(source, [f"{source}: not a valid iCalendar file: {e}"]) from e
    if isinstance(cal, list):
        if not cal:
            raise CalendarError(source, [f"{source}: not a valid iCalendar file: empty"])
        cal = cal[0]
    if getattr(cal, "name", None) != "VCALENDAR":
        raise CalendarError(source, [f"{source}: not a valid iCalendar file: no VCALENDAR"])
    problems: list[str] = [
        f"{source}: {name} = {clip(_text(cal, name))}: control characters (such as NUL) are "
        "not allowed in text; only tab and line breaks are"
        for name in _CAL_TEXT_PROPS if CONTROL.search(_text(cal, name) or "")]
    tz_name = _text(cal, "X-WR-TIMEZONE") or timezone
    try:
        tz = zone(tz_name)
    except ValueError as e:
        raise CalendarError(source, [f"{source}: X-WR-TIMEZONE: {e}"]) from e
    case_id = _slug(case_id or _text(cal, "X-NOTIFIER-CASE") or default_case_id)
    if case_id.lower() in RESERVED_CASE_IDS:
        raise CalendarError(source, [f"{source}: case id {case_id!r} is reserved (the feed of "
                                     "every case is /calendars/all.ics); rename the file or "
                                     "set X-NOTIFIER-CASE"])
    try:
        components = _components(cal, expand, limits)
    except ValueError as e:
        raise CalendarError(source, [f"{source}: {e}"]) from e
    expanded = frozenset(o for _ev, o in components if o is not None)
    series: tuple[str, ...] = ()
    if expand is not None:
        every = list(cal.walk("VEVENT"))
        recurring = _recurring(every)
        series = tuple(sorted(_canonical(ev) for ev in every if _text(ev, "UID") in recurring))
    case = CaseSpec(id=case_id, title=_text(cal, "X-WR-CALNAME") or case_id, timezone=tz_name,
                    court=_text(cal, "X-NOTIFIER-COURT"), judge=_text(cal, "X-NOTIFIER-JUDGE"))
    events: list[EventSpec] = []
    seen: set[str] = set()
    for n, (ev, uid_override) in enumerate(components, start=1):
        summary = _text(ev, "SUMMARY") or "(untitled)"
        label = f"{source}: VEVENT #{n} ({clip(summary)})"
        uid = uid_override or _text(ev, "UID")
        try:
            start = ev.decoded("DTSTART") if "DTSTART" in ev else None
            when = _when(ev, start, tz)
        except (ValueError, TypeError, KeyError, AssertionError, OverflowError) as e:
            problems.append(f"{label}: DTSTART/DTEND: {e}")
            continue
        bad = [name for name in _TEXT_PROPS if CONTROL.search(_text(ev, name) or "")]
        if bad:
            problems += [f"{label}: {name} = {clip(_text(ev, name))}: control characters (such "
                         "as NUL) are not allowed in text; only tab and line breaks are"
                         for name in bad]
            continue
        if uid is None:
            # RFC 5545 requires a UID; derive a stable one so re-reads match.
            uid = hashlib.sha256(f"{summary}|{when.to_json()}".encode()).hexdigest()[:24] + \
                f"@{case_id}.notifier"
        if uid in seen:
            if "RECURRENCE-ID" in ev:
                continue  # overrides without a master in the file: keep the first
            problems.append(f"{label}: duplicate UID {uid!r}")
            continue
        seen.add(uid)
        status = _STATUS.get((_text(ev, "STATUS") or "CONFIRMED").upper(), "scheduled")
        if not when.dated and status == "scheduled":
            status = "tbd"
        cats = ev.get("CATEGORIES")
        kind = _text(ev, "X-NOTIFIER-KIND")
        if not kind and cats is not None:
            first = cats[0] if isinstance(cats, list) else cats
            kind = str(first.cats[0]) if getattr(first, "cats", None) else None
        kind = _slug(kind.lower()) if kind else "event"
        events.append(EventSpec(
            uid=uid, case_id=case_id, event_id=uid, kind=kind, title=summary, status=status,
            when=when, location=_text(ev, "LOCATION"), notes=_text(ev, "DESCRIPTION"),
            url=_text(ev, "URL"), judge=case.judge,
        ))
    if problems:
        raise CalendarError(source, problems)
    return IcsSpec(source=source, cases=[case], events=events, expanded=expanded,
                   series=series)


def _when(ev: Any, start: Any, tz: ZoneInfo) -> When:
    if start is None:
        return When()
    if isinstance(start, date) and not MIN_YEAR <= start.year <= MAX_YEAR:
        raise ValueError(f"year {start.year} is outside {MIN_YEAR}-{MAX_YEAR}")
    end = ev.decoded("DTEND") if "DTEND" in ev else None
    if isinstance(end, date) and not MIN_YEAR <= end.year <= MAX_YEAR:
        raise ValueError(f"DTEND year {end.year} is outside {MIN_YEAR}-{MAX_YEAR}")
    duration = ev.decoded("DURATION") if "DURATION" in ev else None
    # P99999999W is a valid timedelta, but added to any start it leaves datetime's range.
    if isinstance(duration, timedelta) and abs(duration) > MAX_DURATION:
        raise ValueError(f"DURATION of {duration.days} days is too long (at most "
                         f"{MAX_DURATION.days})")
    if isinstance(start, datetime):
        s = _instant(start, tz)
        e = None
        if isinstance(end, datetime):
            e = _instant(end, tz)
        elif isinstance(duration, timedelta):
            e = s + duration
        if e is not None and e <= s:
            e = None
        return When(date=s.astimezone(tz).date(), start=s, end=e)
    if isinstance(start, date):
        last = None
        if isinstance(end, date) and not isinstance(end, datetime) and end > start:
            last = end - timedelta(days=1)  # DTEND is exclusive
        elif isinstance(duration, timedelta) and duration.days > 1:
            last = start + timedelta(days=duration.days - 1)
        return When(date=start, end_date=last if last and last != start else None)
    raise ValueError(f"unsupported DTSTART value {start!r}")
