"""Plain data read from calendar files and sources, before it meets the database.

:class:`When` is an event's date/time (or the lack of one); :class:`CaseSpec` and
:class:`EventSpec` are what parsers produce and :mod:`notifier.tracking.sync` diffs.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .timeutil import day_start_utc

STATUSES = ("scheduled", "tentative", "tbd", "postponed", "cancelled", "completed")
# Court dates outside this range are typos (and would overflow date arithmetic).
MIN_YEAR, MAX_YEAR = 1900, 2200
# Reminder offsets per list (config and calendar files): each is a row per event.
MAX_OFFSETS = 20
# Case ids that would collide with a fixed route (/calendars/all.ics).
RESERVED_CASE_IDS = frozenset({"all"})
# Owner keys (``Event.source``/``Case.source``) of remote sources start with this;
# calendar files use their path ("calendars/<file>").
SOURCE_PREFIX = "source:"


def is_remote_source(key: str) -> bool:
    return key.startswith(SOURCE_PREFIX)


@dataclass(frozen=True)
class When:
    """When an event happens. All None means "date to be set".

    Date-only events have ``date`` (and optionally an inclusive ``end_date``).
    Timed events have ``start``/``end`` as aware UTC datetimes and ``date`` as the
    local start date.
    """

    date: dt.date | None = None
    end_date: dt.date | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def dated(self) -> bool:
        return self.date is not None

    @property
    def timed(self) -> bool:
        return self.start is not None

    def sort_utc(self, tz: ZoneInfo) -> datetime | None:
        """The instant used to order events: start, or local midnight for date-only."""
        if self.start is not None:
            return self.start
        if self.date is not None:
            return day_start_utc(self.date, tz)
        return None

    def describe(self, tz: ZoneInfo) -> str:
        """Human text in court-local time: ``Wed 2 Jul 2025`` or ``Wed 2 Jul 2025 09:30``."""
        if self.start is not None:
            local = self.start.astimezone(tz)
            text = f"{_day(local.date())} {local:%H:%M}"
            if self.end is not None:
                end = self.end.astimezone(tz)
                # Across a DST change the start keeps its own zone name ("00:30 EDT–
                # 02:30 EST"): one name for both would put one of them an hour off.
                if end.tzname() != local.tzname():
                    text += f" {local.tzname()}"
                text += f"–{end:%H:%M}" if end.date() == local.date() else \
                    f" – {_day(end.date())} {end:%H:%M}"
                return f"{text} {end.tzname()}"
            return f"{text} {local.tzname()}"
        if self.date is not None:
            if self.end_date and self.end_date != self.date:
                return f"{_day(self.date)} – {_day(self.end_date)}"
            return _day(self.date)
        return "date to be set"

    def to_json(self) -> str:
        # What json.dumps(..., sort_keys=True) gives, built directly: a sync writes
        # this for every event it records (ISO dates need no escaping).
        return (f'{{"date": {_iso(self.date)}, "end": {_iso(self.end)}, '
                f'"end_date": {_iso(self.end_date)}, "start": {_iso(self.start)}}}')

    @classmethod
    def from_json(cls, text: str | None) -> When:
        if not text:
            return cls()
        d = json.loads(text)
        return cls(
            date=date.fromisoformat(d["date"]) if d.get("date") else None,
            end_date=date.fromisoformat(d["end_date"]) if d.get("end_date") else None,
            start=datetime.fromisoformat(d["start"]).astimezone(UTC) if d.get("start") else None,
            end=datetime.fromisoformat(d["end"]).astimezone(UTC) if d.get("end") else None,
        )


def _iso(v: date | None) -> str:
    return "null" if v is None else f'"{v.isoformat()}"'


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(d: date) -> str:
    # As f"{d:%a} {d.day} {d:%b %Y}" in the C locale (Python's default), without
    # three strftime calls per date.
    return f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]} {d.year}"


@dataclass(frozen=True)
class ReminderRules:
    """Per-case reminder overrides from a calendar file (None = use the config)."""

    offsets: tuple[timedelta, ...] | None = None
    kinds: tuple[tuple[str, tuple[timedelta, ...]], ...] = ()


@dataclass(frozen=True)
class CaseSpec:
    id: str
    title: str
    timezone: str
    court: str | None = None
    judge: str | None = None
    url: str | None = None
    tags: tuple[str, ...] = ()
    reminders: ReminderRules = field(default_factory=ReminderRules)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# Not frozen: a frozen dataclass sets each of its 11 fields through object.__setattr__,
# which made building the specs of a 200,000-event file take 0.5 s instead of 0.17 s.
# Specs are still treated as values: build a changed copy with dataclasses.replace.
@dataclass(slots=True)
class EventSpec:
    uid: str
    case_id: str
    event_id: str
    kind: str
    title: str
    status: str
    when: When
    location: str | None = None
    notes: str | None = None
    url: str | None = None
    judge: str | None = None


@dataclass
class CalendarSpec:
    """Everything one calendar file or source fetch defines."""

    source: str
    cases: list[CaseSpec]
    events: list[EventSpec]
    # False for remote sources: their cases are placeholders, created when missing
    # but never overriding (or conflicting with) a case a calendar file defines.
    defines_cases: bool = True
