"""Parse one calendar file in the contract's TOML format into a spec.

Call :func:`parse_toml_calendar` with the text and a source name (``label/file.toml``)
for messages; every problem becomes a :class:`~notifier.errors.CalendarError` naming the
file, line, key and value. :func:`event_uid` is the UID an event of such a file gets.
:mod:`notifier.calendars.folders` calls this for every ``*.toml`` file. No database access.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..config.base import (
    KIND,
    SLUG,
    Duration,
    Offsets,
    TimeZoneName,
    error_text,
    known_keys,
)
from ..config.tomltext import (
    KeyLines,
    TomlTextError,
    control_chars,
    gc_paused,
    load_toml,
)
from ..display import closest, did_you_mean, toml_value
from ..errors import CalendarError
from ..specs import (
    MAX_YEAR,
    MIN_YEAR,
    RESERVED_CASE_IDS,
    STATUSES,
    CalendarSpec,
    CaseSpec,
    EventSpec,
    ReminderRules,
    When,
)
from ..timeutil import local_to_utc, to_utc, zone


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CaseIn(_In):
    id: str = Field(pattern=SLUG, max_length=200)
    title: str = Field(min_length=1)
    court: str | None = None
    judge: str | None = None
    timezone: TimeZoneName = "UTC"
    url: str | None = None
    tags: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v.lower() in RESERVED_CASE_IDS:
            raise ValueError(f"case id {v!r} is reserved (/calendars/{v}.ics is the feed of "
                             "every case); choose another id")
        return v


class EventIn(_In):
    id: str = Field(pattern=SLUG, max_length=200)
    kind: str = Field(default="event", pattern=KIND)
    title: str = Field(min_length=1)
    status: Literal[STATUSES] = "scheduled"  # type: ignore[valid-type]
    date: dt.date | None = None
    end_date: dt.date | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    duration: Duration | None = None
    location: str | None = None
    notes: str | None = None
    url: str | None = None
    judge: str | None = None

    @field_validator("date", "end_date", mode="before")
    @classmethod
    def _date_not_datetime(cls, v: Any) -> Any:
        if isinstance(v, dt.datetime):
            raise ValueError("must be a date such as 2025-07-02; for a time use "
                             "start = 2025-07-02T09:30:00")
        return v

    @field_validator("start", "end", mode="before")
    @classmethod
    def _datetime_not_date(cls, v: Any) -> Any:
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            raise ValueError("needs a time, e.g. 2025-07-02T09:30:00; for a date-only event "
                             "use date = 2025-07-02")
        return v

    @field_validator("date", "end_date", "start", "end")
    @classmethod
    def _plausible_year(cls, v: Any) -> Any:
        if v is not None and not MIN_YEAR <= v.year <= MAX_YEAR:
            raise ValueError(f"year {v.year} is outside {MIN_YEAR}-{MAX_YEAR}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> EventIn:
        if self.date and self.start:
            raise ValueError("give either date (date only) or start (timed), not both")
        if self.end and self.duration:
            raise ValueError("give either end or duration, not both")
        if (self.end or self.duration) and not self.start:
            raise ValueError("end/duration need a start time")
        if self.end_date and not self.date:
            raise ValueError("end_date needs a date")
        if self.end_date and self.date and self.end_date < self.date:
            raise ValueError(f"end_date {self.end_date} is before date {self.date}")
        if self.end and self.start:
            if (self.end.tzinfo is None) != (self.start.tzinfo is None):
                raise ValueError("start and end must both be local times, or both carry a "
                                 "UTC offset")
            if self.end <= self.start:
                raise ValueError(f"end {self.end.isoformat()} is not after start "
                                 f"{self.start.isoformat()}")
        dated = bool(self.date or self.start)
        if self.status == "tbd" and dated:
            raise ValueError("status \"tbd\" means the date is still to be set; remove the "
                             "date or change the status")
        if not dated and self.status in ("scheduled", "tentative", "completed"):
            raise ValueError(f"status {self.status!r} needs a date or start "
                             "(use status = \"tbd\" for a date still to be set)")
        return self


class RemindersIn(_In):
    offsets: Offsets | None = None
    kinds: dict[str, Offsets] = Field(default_factory=dict)


class CalendarFileIn(_In):
    case: CaseIn
    reminders: RemindersIn | None = None
    events: list[EventIn] = Field(default_factory=list)


def event_uid(case_id: str, event_id: str) -> str:
    """Stable, globally unique UID of an event defined in a TOML calendar file."""
    return f"{case_id}/{event_id}@notifier"


def _describe_loc(loc: tuple[Any, ...], data: dict[str, Any]) -> tuple[str, str, int | None]:
    """(table, key path, event index) from a pydantic error location."""
    table = str(loc[0]) if loc else ""
    index = loc[1] if table == "events" and len(loc) > 1 and isinstance(loc[1], int) else None
    rest = loc[2:] if index is not None else loc[1:]
    keys = ".".join(str(x) for x in rest)
    return table, keys, index


LineOf = Callable[[str, "int | None", "str | None"], "int | None"]


def _control_problems(text: str, data: dict[str, Any], where: str,
                      line_of: LineOf) -> list[str]:
    """A message for every string value holding a control character (NUL, ESC, ...)."""
    out = []
    for loc, value in control_chars(text, data):
        table, keys, index = _describe_loc(loc, data)
        line = line_of(table, index, keys.split(".")[0] if keys else None) if table else None
        pos = f"{where}:{line}" if line else where
        label = f"[[events]] #{index + 1}" if index is not None else f"[{table}]"
        out.append(f"{pos}: {label}: {keys or table} = {toml_value(value)}: control characters "
                   "(such as NUL) are not allowed in text; only tab and line breaks are")
    return out


def _format_validation(err: ValidationError, data: dict[str, Any], where: str,
                       line_of: LineOf) -> list[str]:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        table, keys, index = _describe_loc(loc, data)
        top_key = keys.split(".")[0] if keys else None
        line = line_of(table, index, top_key) if table else None
        pos = f"{where}:{line}" if line else where
        if not keys and e["type"] in ("extra_forbidden", "missing"):
            out.append(f"{pos}: {_top_level(table, e)}")
            continue
        label = f"[[events]] #{index + 1}" if index is not None else f"[{table}]"
        if index is not None:
            events = data.get("events") or []
            if index < len(events) and isinstance(events[index], dict) and "id" in events[index]:
                label += f" (id {toml_value(events[index]['id'])})"
        msg = error_text(e)
        if e["type"] == "extra_forbidden":
            known = known_keys(CalendarFileIn, loc[:-1])
            out.append(f"{pos}: {label}: unknown key {keys!r}"
                       f"{did_you_mean(str(loc[-1]), known)}")
        elif e["type"] == "missing":
            out.append(f"{pos}: {label}: missing key {keys!r}")
        elif keys:
            out.append(f"{pos}: {label}: {keys} = {toml_value(e.get('input'))}: {msg}")
        else:
            out.append(f"{pos}: {label}: {msg}")
    return out


def _top_level(name: str, error: Any) -> str:
    """An unknown or missing top-level key or table, said as the file writes it."""
    shape = {"events": "[[]]", "case": "[]", "reminders": "[]"}
    if error["type"] == "missing":
        return f"missing the {_bracketed(name, shape.get(name, '[]'))} table"
    value = error.get("input")
    close = closest(name, shape)
    suggestion = f" (did you mean {_bracketed(close, shape[close])}?)" if close else ""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"unknown table {_bracketed(name, '[[]]')}{suggestion}"
    if isinstance(value, dict):
        return f"unknown table {_bracketed(name, '[]')}{suggestion}"
    return f"unknown key {name!r}{suggestion}"


def _bracketed(name: str, brackets: str) -> str:
    half = len(brackets) // 2
    return f"{brackets[:half]}{name}{brackets[half:]}"


def parse_toml_calendar(text: str, source: str) -> CalendarSpec:
    """Parse one TOML calendar file. Raises CalendarError listing every problem."""
    with gc_paused():
        return _parse(text, source)


def _parse(text: str, source: str) -> CalendarSpec:
    try:
        # The schema allows 3 levels and pydantic rejects deeper values without
        # recursing, so the parser's own limit is the only one needed here.
        data = load_toml(text, check_depth=False)
    except TomlTextError as e:
        pos = f"{source}:{e.line}" if e.line else source
        raise CalendarError(source, [f"{pos}: invalid TOML: {e}"]) from None
    # Line numbers are only needed for messages: found when there is a problem.
    lines: KeyLines | None = None

    def line_of(table: str, index: int | None, key: str | None) -> int | None:
        nonlocal lines
        lines = lines or KeyLines(text)
        return lines.find(table, index, key)

    bad_text = _control_problems(text, data, source, line_of)
    if bad_text:
        raise CalendarError(source, bad_text + _all_problems(data, source, line_of))
    try:
        parsed = CalendarFileIn.model_validate(data)
    except ValidationError as e:
        raise CalendarError(source, _format_validation(e, data, source, line_of)
                            + _event_problems(data, source, line_of)) from None

    case = parsed.case
    events, problems = _events(case, list(enumerate(parsed.events)), source, line_of)
    if problems:
        raise CalendarError(source, problems)
    rules = ReminderRules()
    if parsed.reminders is not None:
        rules = ReminderRules(
            offsets=tuple(parsed.reminders.offsets) if parsed.reminders.offsets is not None
            else None,
            kinds=tuple((k, tuple(v)) for k, v in sorted(parsed.reminders.kinds.items())),
        )
    spec = CaseSpec(id=case.id, title=case.title, timezone=case.timezone, court=case.court,
                    judge=case.judge, url=case.url, tags=tuple(case.tags), reminders=rules)
    return CalendarSpec(source=source, cases=[spec], events=events)


def _events(case: CaseIn, indexed: list[tuple[int, EventIn]], source: str,
            line_of: LineOf) -> tuple[list[EventSpec], list[str]]:
    """The events' specs, and a message for each duplicate id or impossible local time."""
    tz = zone(case.timezone)
    problems: list[str] = []
    seen_ids: dict[str, int] = {}
    events: list[EventSpec] = []
    for i, ev in indexed:
        if ev.id in seen_ids:
            line = line_of("events", i, "id")
            pos = f"{source}:{line}" if line else source
            problems.append(f"{pos}: [[events]] #{i + 1}: duplicate event id {ev.id!r} "
                            f"(first used in [[events]] #{seen_ids[ev.id] + 1})")
            continue
        seen_ids[ev.id] = i
        try:
            when = _when(ev, tz)
        except (ValueError, OverflowError) as e:
            key = "start" if ev.start else "end"
            kline = line_of("events", i, key)
            problems.append(f"{source}:{kline}: [[events]] #{i + 1} (id {ev.id!r}): "
                            f"{key} = {toml_value(getattr(ev, key))}: {e}")
            continue
        events.append(EventSpec(
            uid=event_uid(case.id, ev.id), case_id=case.id, event_id=ev.id, kind=ev.kind,
            title=ev.title, status=ev.status, when=when, location=ev.location, notes=ev.notes,
            url=ev.url, judge=ev.judge or case.judge,
        ))
    return events, problems


def _all_problems(data: dict[str, Any], source: str, line_of: LineOf) -> list[str]:
    """Schema, value, zone, DST and duplicate-id problems (after a text problem)."""
    try:
        CalendarFileIn.model_validate(data)
    except ValidationError as e:
        return _format_validation(e, data, source, line_of) + _event_problems(data, source,
                                                                               line_of)
    return _event_problems(data, source, line_of)


def _event_problems(data: dict[str, Any], source: str, line_of: LineOf) -> list[str]:
    """On the error path only: check each event that is valid on its own for what
    only a whole file's check finds (DST gaps, duplicate ids), so one run of
    ``notifier check`` reports every problem, not just the first kind."""
    raw_case = data.get("case")
    try:
        case = CaseIn.model_validate(raw_case)
    except ValidationError:
        if not isinstance(raw_case, dict):
            return []
        try:  # a bad case id or title must not hide the events' zone problems
            case = CaseIn(id="x", title="x", timezone=raw_case.get("timezone", "UTC"))
        except ValidationError:
            return []
    raw_events = data.get("events")
    indexed: list[tuple[int, EventIn]] = []
    for i, raw in enumerate(raw_events if isinstance(raw_events, list) else []):
        try:
            indexed.append((i, EventIn.model_validate(raw)))
        except ValidationError:
            continue  # already reported by the whole file's validation
    return _events(case, indexed, source, line_of)[1]


def _when(ev: EventIn, tz: Any) -> When:
    if ev.date:
        return When(date=ev.date, end_date=ev.end_date if ev.end_date != ev.date else None)
    if ev.start:
        start = to_utc(ev.start) if ev.start.tzinfo else local_to_utc(ev.start, tz)
        end = None
        if ev.end:
            end = to_utc(ev.end) if ev.end.tzinfo else local_to_utc(ev.end, tz)
        elif ev.duration:
            end = start + ev.duration  # elapsed time, correct across DST
        return When(date=start.astimezone(tz).date(), start=start, end=end)
    return When()
