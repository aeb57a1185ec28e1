"""VTIMEZONE components that every calendar client reads the same way.

Call :func:`vtimezone` with an IANA zone name and a window (the years of the feed's
events); it returns one serialised VTIMEZONE. Why not icalendar's
``Timezone.from_tzid``: it states each sub-component's later onsets in one multi-valued
RDATE and its onsets in the local time *after* the change, and ical.js (Thunderbird,
Nextcloud, many web apps) reads only the first value of a multi-valued RDATE, so it put
every event of the window's first DST period one offset off.

What is written:

- the transitions come from :mod:`zoneinfo` (the same data the rest of notifier turns
  court-local times into instants with), from the last one before the window through
  the window's end;
- transitions with the same offsets and name form one STANDARD (or DAYLIGHT, when
  zoneinfo's ``dst()`` is not zero) sub-component. Where a yearly rule such as
  ``FREQ=YEARLY;BYMONTH=3;BYDAY=2SU`` generates exactly those onsets (every generated
  onset is checked against the real transitions up to the window's end) it is written
  as an RRULE, with UNTIL when the rule stops inside the window; otherwise each onset
  gets its own RDATE property, the first one included;
- DTSTART and RDATE are the local time *before* the change (TZOFFSETFROM), as RFC 5545
  defines them;
- a zone with no transition in the window gets a single STANDARD.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil import rrule
from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

_DAY = 86400
_LOOKBACK = timedelta(days=400)  # reaches the last change before the window in DST zones
_WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class Transition:
    """One change of a zone's offset or name, at ``at`` (UTC)."""

    at: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: timedelta  # zoneinfo's dst() after the change: negative in tzdata's Dublin winter

    @property
    def onset(self) -> datetime:
        """The wall time the change happens at, before it (naive, as RFC 5545 wants)."""
        return (self.at + self.offset_from).replace(tzinfo=None)


def _state(tz: ZoneInfo, ts: int) -> tuple[timedelta, str, timedelta]:
    local = datetime.fromtimestamp(ts, tz)
    off = local.utcoffset()
    assert off is not None
    return off, local.tzname() or "", local.dst() or timedelta(0)


def transitions(tz: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """Every change of offset, name or DST flag between two UTC instants.

    Probes once a day and bisects to the second: zones change at most a few times a
    year, never twice within a day.
    """
    out = []
    t, stop = int(start.timestamp()), int(end.timestamp())
    before = _state(tz, t)
    while t < stop:
        nxt = t + _DAY
        after = _state(tz, nxt)
        if after != before:
            lo, hi = t, nxt  # state(lo) == before, state(hi) != before
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _state(tz, mid) == before:
                    lo = mid
                else:
                    hi = mid
            now = _state(tz, hi)
            out.append(Transition(datetime.fromtimestamp(hi, UTC), before[0], now[0],
                                  now[1], now[2]))
            before, nxt = now, hi
        t = nxt
    return out


def _candidates(first: datetime) -> list[dict[str, object]]:
    """Yearly rules that could describe onsets like ``first`` (dateutil keywords)."""
    wd, day = first.weekday(), first.day
    last = calendar.monthrange(first.year, first.month)[1]
    out: list[dict[str, object]] = []
    if day + 7 > last:  # tried first: tzdata's rules say "lastSun" far more than "4th"
        out.append({"byweekday": _WEEKDAYS[wd](-1)})
    nth = (day - 1) // 7 + 1
    if nth <= 4:
        out.append({"byweekday": _WEEKDAYS[wd](nth)})
    # "weekday on or after day N" (tzdata's Sun>=8 style) for the N this onset allows.
    out += [{"byweekday": _WEEKDAYS[wd], "bymonthday": tuple(range(lo, lo + 7))}
            for lo in range(max(1, day - 6), day + 1) if lo + 6 <= 28]
    out.append({"bymonthday": day})
    return out


def _recur(first: datetime, rule: dict[str, object], until: datetime | None) -> vRecur:
    parts: dict[str, object] = {"FREQ": "YEARLY", "BYMONTH": first.month}
    wd = rule.get("byweekday")
    if isinstance(wd, rrule.weekday):
        parts["BYDAY"] = (f"{wd.n}" if wd.n else "") + _ICAL_DAYS[wd.weekday]
    if "bymonthday" in rule:
        md = rule["bymonthday"]
        parts["BYMONTHDAY"] = list(md) if isinstance(md, tuple) else md
    if until is not None:
        parts["UNTIL"] = until
    return vRecur(parts)


def _yearly_rule(group: list[Transition], window_end: datetime) -> vRecur | None:
    """An RRULE generating exactly the group's onsets up to ``window_end``, if one does."""
    onsets = [t.onset for t in group]
    first = onsets[0]
    if len(onsets) < 2 or any(o.time() != first.time() or o.month != first.month
                              for o in onsets):
        return None
    for rule in _candidates(first):
        gen = rrule.rrule(rrule.YEARLY, dtstart=first, bymonth=first.month,
                          until=window_end, **rule)  # type: ignore[arg-type]
        got = list(gen)
        if got == onsets:
            return _recur(first, rule, None)
        if got[: len(onsets)] == onsets:
            # The rule stops inside the window: UNTIL is the last onset, in UTC.
            return _recur(first, rule, group[-1].at)
    return None


def _component(group: list[Transition], window_end: datetime,
               daylight: bool) -> TimezoneStandard | TimezoneDaylight:
    head = group[0]
    sub = TimezoneDaylight() if daylight else TimezoneStandard()
    sub.add("TZNAME", head.name)
    sub.add("TZOFFSETFROM", head.offset_from)
    sub.add("TZOFFSETTO", head.offset_to)
    sub.add("DTSTART", head.onset)
    rule = _yearly_rule(group, window_end)
    if rule is not None:
        sub.add("RRULE", rule)
    elif len(group) > 1:
        # One property per onset: ical.js reads only the first value of a list.
        for t in group:
            sub.add("RDATE", t.onset)
    return sub


@lru_cache(maxsize=256)
def vtimezone(tzid: str, first_year: int, last_year: int) -> bytes:
    """The VTIMEZONE of ``tzid`` for events from 1 Jan ``first_year`` to 31 Dec ``last_year``."""
    tz = ZoneInfo(tzid)
    # A day of margin each side: the window is in local time, the probes in UTC.
    start = datetime(first_year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC) + timedelta(days=1)
    found = transitions(tz, start - _LOOKBACK, end)
    inside = [t for t in found if t.at > start]
    earlier = [t for t in found if t.at <= start]
    out = Timezone()
    out.add("TZID", tzid)
    off, name, dst = _state(tz, int(start.timestamp()))
    # Without a change before the window, a stated onset at the window's start.
    opening = Transition(datetime(first_year, 1, 1, tzinfo=UTC) - off, off, off, name, dst)
    if earlier:
        inside.insert(0, earlier[-1])
    elif not inside or opening.at < inside[0].at:
        inside.insert(0, opening)
    groups: dict[tuple[timedelta, timedelta, str, timedelta], list[Transition]] = {}
    for t in inside:
        groups.setdefault((t.offset_from, t.offset_to, t.name, t.dst), []).append(t)
    # DAYLIGHT is what tzdata marks as DST, negative DST included (Dublin's winter GMT,
    # Morocco's Ramadan +00): one STANDARD and one DAYLIGHT, as clients expect. (Calling
    # Morocco's +01 DAYLIGHT instead made vobject read its Ramadan changes wrong.)
    # Onsets are local times: stop where every real change before them has been probed.
    window_end = (end + min(t.offset_from for t in inside)).replace(tzinfo=None)
    for group in groups.values():
        out.add_component(_component(group, window_end, group[0].dst != timedelta(0)))
    return bytes(out.to_ical())
